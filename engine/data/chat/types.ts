// Instruction data: the shapes every format is read into.

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

/** The instruction formats a dataset can be in ('auto' detects one from the first record). */
export const INSTRUCT_FORMATS = ['prompt-completion', 'alpaca', 'sharegpt', 'messages'] as const;
export type InstructFormat = (typeof INSTRUCT_FORMATS)[number];
/** What `--format` takes: an instruction format, `auto`, or `text` (plain causal-LM text, packed). */
export type DataFormatChoice = 'auto' | 'text' | InstructFormat;

/** Which trained tokens count in the loss. */
export type TrainOn = 'completions' | 'all';

/**
 * One instruction example, before rendering:
 * - `chat`: a conversation rendered through the chat template (messages, ShareGPT, Alpaca, and
 *   prompt/completion pairs whose fields are message lists);
 * - `text`: TRL's "standard" prompt/completion pair of strings, trained as prompt + completion + EOS
 *   with no template (as TRL's SFTTrainer does).
 */
export type InstructExample =
  | { kind: 'chat'; messages: ChatMessage[]; where: string }
  | { kind: 'text'; prompt: string; completion: string; where: string };

/** Column names of each format, when the data names them differently (`--columns prompt=question`). */
export interface ChatColumns {
  prompt?: string;
  completion?: string;
  instruction?: string;
  input?: string;
  output?: string;
  system?: string;
  messages?: string;
  conversations?: string;
}

/** A record read from a file, with where it came from (`file:line`, `file: row N`). */
export interface SourceRecord {
  value: Record<string, unknown>;
  where: string;
}
