// The generate service: a continuation of a prompt with a model folder (and a LoRA adapter merged
// in), KV-cached, greedy or sampled, each new piece of text streamed as it comes.

import { ApiError, type GenerateResultData } from '../api.ts';
import { chatPrompt } from '../data/instruct.ts';
import { modelTemplate } from '../data/chat/templates.ts';
import type { ChatMessage } from '../data/chat/types.ts';
import { loadTokenizer } from '../data/tokenizer.ts';
import { Generator, type TokenEvent } from '../generate/generator.ts';
import type { Device } from '../onnx/runtime.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir } from './files.ts';

export interface GenerateRequest {
  model: string;
  adapter?: string;
  /** The text to continue; with `chat` (and no messages) the user turn; ignored when chat.messages is given. */
  prompt: string;
  /**
   * A chat: the prompt as a user turn of a chat template (the model's own, a built-in or a file),
   * after an optional system turn — or a whole conversation (`messages`, ending with a user turn).
   * It is rendered with the generation prompt and stops at the template's end of turn too.
   */
  chat?: { template?: string; system?: string; messages?: ChatMessage[] };
  /** New tokens per sequence (default 50 unless maxLength is given). */
  maxNewTokens?: number;
  /** Prompt + new tokens (HF max_length); maxNewTokens wins when both are given. */
  maxLength?: number;
  /** 0 = greedy; > 0 samples. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off. */
  repetitionPenalty: number;
  numReturnSequences: number;
  seed: number;
  /** Stop a sequence once its text contains one of these. */
  stop: string[];
  /** Do not stop at the end-of-text token. */
  noEos?: boolean;
  device?: Device;
  threads?: number;
  onToken?: (e: TokenEvent) => void;
  signal?: AbortSignal;
}

/** Checks the request, then generates (fns.generate: generateWithModel unless replaced). */
export async function generateText(p: GenerateRequest, fns: EngineFunctions = ENGINE): Promise<GenerateResultData> {
  const model = requireDir(p.model, 'model folder');
  const adapter = p.adapter ? requireDir(p.adapter, 'adapter folder') : undefined;
  if (p.chat?.messages ? p.chat.messages.length === 0 : !p.prompt) {
    throw new ApiError('invalid_params', p.chat?.messages ? 'chat.messages: the conversation is empty' : 'prompt: missing (give a prompt, or chat.messages)');
  }
  const last = p.chat?.messages?.at(-1);
  if (last && last.role !== 'user') throw new ApiError('invalid_params', `chat.messages: the conversation must end with a user turn (it ends with a ${last.role} turn)`);
  if (p.numReturnSequences > 1 && p.temperature === 0) {
    throw new ApiError('invalid_params', 'numReturnSequences: more than one sequence needs a temperature > 0 (greedy decoding returns one text)');
  }
  return fns.generate({ ...p, model, adapter });
}

/**
 * The chat template a chat uses: the one asked for; with none (or auto) and an adapter that was
 * saved with its run's template (chat_template.jinja / tokenizer_config.json), that one; else auto.
 */
function chatTemplateOf(p: GenerateRequest): string | undefined {
  const asked = p.chat?.template;
  if (asked && asked !== 'auto') return asked;
  return (p.adapter ? modelTemplate(p.adapter)?.name : undefined) ?? asked;
}

/** One generation: the model's tokenizer, the generator (adapter merged), then its weights released. */
export async function generateWithModel(p: GenerateRequest): Promise<GenerateResultData> {
  const tok = await loadTokenizer(p.model);
  const chat = p.chat ? await chatPrompt(p.model, p.chat.messages ?? p.prompt, { chatTemplate: chatTemplateOf(p), system: p.chat.system }) : null;
  const ids = chat ? chat.ids : tok.encode(p.prompt);
  if (ids.length === 0) throw new ApiError('invalid_params', 'prompt: it encodes to no tokens');
  // A chat turn ends at the template's end of turn: the text is returned without it.
  const unTurn = (x: string) => (chat ? chat.stopStrings.reduce((t, st) => (t.endsWith(st) ? t.slice(0, -st.length) : t), x) : x);
  const gen = await Generator.load(p.model, p.adapter, { device: p.device, threads: p.threads, releaseWeights: true });
  try {
    const r = await gen.generate(ids, {
      maxNewTokens: p.maxNewTokens,
      maxLength: p.maxLength,
      temperature: p.temperature,
      doSample: p.temperature > 0,
      topK: p.topK,
      topP: p.topP,
      repetitionPenalty: p.repetitionPenalty,
      numReturnSequences: p.numReturnSequences,
      seed: p.seed,
      stopStrings: [...p.stop, ...(chat?.stopStrings ?? [])],
      ...(chat ? { stopTokenIds: p.noEos ? chat.stopTokenIds.filter((x) => x !== tok.eosTokenId) : chat.stopTokenIds } : {}),
      ...(p.noEos ? { eosTokenId: null } : {}),
      onToken: p.onToken,
      signal: p.signal,
    }, tok);
    const outputs = r.outputs.map(unTurn);
    return { text: outputs[0] ?? '', tokens: r.newTokens, outputs, promptTokens: r.promptTokens, tokensPerS: r.tokensPerS, wallS: r.wallS, finish: r.finish };
  } finally {
    await gen.release();
  }
}
