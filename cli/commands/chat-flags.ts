// The instruction-data flags of `train` and `data inspect`, and `generate --chat`'s, kept in one
// place so that the commands only spread them in (issue #15).

import { BUILTIN_NAMES, INSTRUCT_FORMATS, parseColumns, type DataFormatChoice, type InstructSummary, type TrainOn } from '../../engine/data/instruct.ts';
import type { TrainOptions } from '../../engine/train/types.ts';
import { UsageError } from '../args.ts';

export const CHAT_TRAIN_FLAGS = {
  format: { type: 'string' }, 'chat-template': { type: 'string' }, 'train-on': { type: 'string' }, columns: { type: 'string' },
} as const;

export const CHAT_TRAIN_HELP = `Instruction data (causal LM):
  --format auto|text|${INSTRUCT_FORMATS.join('|')}
                        auto (default) detects prompt/completion, Alpaca, ShareGPT and messages
                        records in JSONL, JSON, CSV or parquet; they train one example per row,
                        not packed; text trains on the text, packed into blocks
  --chat-template auto|${BUILTIN_NAMES.join('|')}|FILE
                        auto: the model's own (chat_template.jinja / tokenizer_config.json), else chatml
  --train-on completions|all   completions (default): only the assistant's tokens count in the loss
  --columns F=C,...     column names: prompt, completion, instruction, input, output, system,
                        messages, conversations (e.g. --columns prompt=question,completion=answer)`;

/** The flags as TrainOptions fields (only those given). */
export function chatFromFlags(v: Record<string, unknown>): Pick<TrainOptions, 'format' | 'chatTemplate' | 'trainOn' | 'chatColumns'> {
  const out: Pick<TrainOptions, 'format' | 'chatTemplate' | 'trainOn' | 'chatColumns'> = {};
  const format = v.format as string | undefined;
  if (format !== undefined) {
    if (format !== 'auto' && format !== 'text' && !(INSTRUCT_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`--format must be auto, text or one of ${INSTRUCT_FORMATS.join(', ')}, got "${format}"`);
    }
    out.format = format as DataFormatChoice;
  }
  if (typeof v['chat-template'] === 'string') out.chatTemplate = v['chat-template'];
  const trainOn = v['train-on'] as string | undefined;
  if (trainOn !== undefined) {
    if (trainOn !== 'completions' && trainOn !== 'all') throw new UsageError(`--train-on must be completions or all, got "${trainOn}"`);
    out.trainOn = trainOn as TrainOn;
  }
  if (typeof v.columns === 'string') {
    try {
      out.chatColumns = parseColumns(v.columns);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return out;
}

/** One line about the instruction data a run trains on, and one per skipped row shown. */
export function describeInstruct(s: InstructSummary): string[] {
  const lines = [
    `instruction data (${s.format}, template ${s.template ?? 'none: prompt + completion + EOS'}): ${s.examples} examples, one per row (before any validation split); ` +
      `${s.skipped} skipped; ${s.truncated} cut at --max-length; ${(100 * s.trainedShare).toFixed(1)}% of tokens trained (--train-on ${s.trainOn})`,
  ];
  for (const x of s.skippedExamples) lines.push(`  skipped ${x}`);
  if (s.skipped > s.skippedExamples.length) lines.push(`  … and ${s.skipped - s.skippedExamples.length} more (lora-studio data inspect FILE --model DIR lists them)`);
  return lines;
}

export const CHAT_GENERATE_FLAGS = { chat: { type: 'boolean' }, 'chat-template': { type: 'string' }, system: { type: 'string' } } as const;

export const CHAT_GENERATE_HELP = `  --chat                    the prompt is a user turn of the chat template (with the generation
                            prompt); stops at the template's end-of-turn token as well as EOS
  --chat-template T         auto (default: the model's own, else chatml), ${BUILTIN_NAMES.join(', ')} or a FILE
  --system TEXT             a system turn before the prompt (with --chat)`;

export const CHAT_INSPECT_FLAGS = { 'chat-template': { type: 'string' }, 'train-on': { type: 'string' }, columns: { type: 'string' }, example: { type: 'string' } } as const;

export const CHAT_INSPECT_USAGE = `       instruction data (${INSTRUCT_FORMATS.join(', ')}; --format auto detects them) with --model DIR:
                               [--chat-template T] [--train-on completions|all] [--columns F=C,...] [--example N]`;

/**
 * `data inspect` of instruction data: one example rendered through the chat template with its
 * trained tokens between « and », and the share of tokens trained. Returns null when the data is
 * not instruction data (the caller goes on with the plain-text inspection).
 */
export async function inspectInstructFromFlags(path: string, values: Record<string, unknown>): Promise<{ text: string; json: unknown } | null> {
  const format = (values.format as string | undefined) ?? 'auto';
  const explicit = (INSTRUCT_FORMATS as readonly string[]).includes(format);
  if (!explicit && format !== 'auto') return null;
  const chat = chatFromFlags({ 'chat-template': values['chat-template'], 'train-on': values['train-on'], columns: values.columns });
  const { inspectInstruction, instructFormatOf } = await import('../../engine/data/instruct.ts');
  const detected = await instructFormatOf(path, explicit ? (format as DataFormatChoice) : 'auto', chat.chatColumns);
  if (!detected) {
    if (values['chat-template'] !== undefined || values['train-on'] !== undefined || values.example !== undefined) {
      throw new UsageError(`${path} is not instruction data (no prompt/completion, instruction/output, conversations or messages fields): --chat-template, --train-on and --example do not apply`);
    }
    return null;
  }
  if (typeof values.model !== 'string') throw new UsageError(`${path} holds instruction data (${detected}): give --model DIR to render it through the model's chat template and count its tokens`);
  const ex = values.example === undefined ? 1 : Number(values.example);
  if (!Number.isInteger(ex) || ex < 1) throw new UsageError(`--example must be a positive integer, got "${String(values.example)}"`);
  const maxLength = values['max-length'] === undefined ? 1024 : Number(values['max-length']);
  const r = await inspectInstruction(path, values.model, { format: detected, chatTemplate: chat.chatTemplate, trainOn: chat.trainOn, columns: chat.chatColumns, maxLength, index: ex - 1 });
  const lines = [
    `path:      ${r.path}`,
    `format:    ${r.format} (instruction data; chat template: ${r.template ?? 'none, prompt + completion + EOS'})`,
    `examples:  ${r.examples}, one per row (not packed)`,
    `skipped:   ${r.skipped.count}`,
    ...r.skipped.examples.map((s) => `  - ${s}`),
    `tokens:    ${r.tokens} total; ${r.trainedTokens} trained (${(100 * r.trainedShare).toFixed(1)}%, --train-on ${r.trainOn}); ` +
      `${r.truncated} answer(s) cut at --max-length ${maxLength}`,
    `end of turn: ${r.endOfTurn === null ? 'none' : JSON.stringify(r.endOfTurn)}`,
  ];
  if (r.example) {
    lines.push(`example ${ex} (${r.example.where}): ${r.example.tokens} tokens, ${r.example.trainedTokens} trained, between « and »:`, r.example.marked);
  } else lines.push(`example ${ex}: there are only ${r.examples} usable examples`);
  return { text: lines.join('\n') + '\n', json: r };
}
