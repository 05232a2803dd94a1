// Instruction data for causal-LM training: records (prompt/completion, Alpaca, ShareGPT, messages)
// -> conversations -> the chat template's text -> token rows with HF-style labels.
//
//   - One example per row, no packing; rows are cut at maxLength (the trainer right-pads them).
//   - Completion-only loss by default: only the assistant's tokens and the end-of-turn text that
//     closes each answer (<|im_end|>, <|eot_id|>, </s>, …) keep their labels; everything else is
//     -100. trainOn 'all' keeps every label.
//   - The text is tokenized without special tokens added; BOS goes in front only when the
//     tokenizer adds one by default and the template has not already written it.
//   - Rows with a problem (no assistant turn, roles out of order, a template that raises, a missing
//     field, no answer left within maxLength) are skipped and reported, one line each, naming the
//     file and row; a template problem that affects every row (an undefined variable, a template
//     that cannot be rendered turn by turn) stops with one line.
// See engine/data/chat/render.ts for how the assistant spans are found.

import { loadBlocks, type TokenizedData } from './pipeline.ts';
import { DataError } from './errors.ts';
import { IGNORE_INDEX } from './preprocess.ts';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer.ts';
import { SkipReport } from './types.ts';
import { checkFormatName, checkMappedColumns, columnsOf, detectInstructFormat, parseRecord } from './chat/formats.ts';
import { addsBos, labelsOf, tokenizeSpans } from './chat/masks.ts';
import { firstRecord, readRecords } from './chat/records.ts';
import { ChatTemplate, ChatTemplateError, type SpecialTokenStrings } from './chat/render.ts';
import { resolveTemplate } from './chat/templates.ts';
import { INSTRUCT_FORMATS, type ChatColumns, type ChatMessage, type DataFormatChoice, type InstructExample, type InstructFormat, type SourceRecord, type TrainOn } from './chat/types.ts';

export { INSTRUCT_FORMATS, type ChatColumns, type DataFormatChoice, type InstructFormat, type TrainOn } from './chat/types.ts';
export { BUILTIN_NAMES } from './chat/templates.ts';
export { FORMAT_FIELDS, parseColumns } from './chat/formats.ts';

export interface InstructOptions {
  /** auto (detected from the first record), an instruction format; 'text' is refused here. */
  format?: DataFormatChoice;
  /** auto (the model's template, else chatml), chatml, llama3, alpaca, zephyr, or a template file. */
  chatTemplate?: string;
  /** completions (default): only the assistant's tokens count in the loss; all: every token. */
  trainOn?: TrainOn;
  columns?: ChatColumns;
  /** Tokens per row; longer rows are cut. */
  maxLength: number;
  /** The date the template's strftime_now() sees (default: now). */
  now?: Date;
  /** Extra template variables. */
  templateVars?: Record<string, unknown>;
  /** Keep the text and ids of the first `keep` examples (for `data inspect`). */
  keep?: number;
  /** Only the first `limit` records (the app's preview of a large dataset). */
  limit?: number;
}

export interface InstructRow {
  ids: number[];
  /** HF-style labels: the id where the token is trained, -100 elsewhere. */
  labels: number[];
}

export interface KeptExample {
  where: string;
  text: string;
  ids: number[];
  labels: number[];
}

export interface InstructData {
  format: InstructFormat;
  /** The template's name ("chatml (built-in)", "MODEL/tokenizer_config.json", a file), or null (string pairs only). */
  template: string | null;
  /** The template's Jinja source, when one rendered the rows (saved with the run's output). */
  templateSource: string | null;
  trainOn: TrainOn;
  rows: InstructRow[];
  skipped: SkipReport;
  /** Rows whose answer was cut by maxLength (kept, with what fit). */
  truncated: number;
  /** Real tokens in the rows, and those predicted with a label (the loss's tokens). */
  tokens: number;
  trainedTokens: number;
  /** The text that closes an assistant turn, when the template has one. */
  endOfTurn: string | null;
  notes: string[];
  kept: KeptExample[];
}

/** The special tokens a template sees, as strings (from the tokenizer the model folder defines). */
export function specialTokenStrings(tok: LoadedTokenizer): SpecialTokenStrings {
  const s = (id: number | null) => (id === null ? undefined : tok.idToToken(id));
  return { bos_token: s(tok.bosTokenId) ?? '', eos_token: s(tok.eosTokenId) ?? '', unk_token: s(tok.unkTokenId), pad_token: s(tok.padTokenId) };
}

/** The instruction format of a data file: the one asked for, or detected; null = plain text (packed). */
export async function instructFormatOf(file: string, format: DataFormatChoice | undefined = 'auto', columns?: ChatColumns): Promise<InstructFormat | null> {
  checkFormatName(format);
  if (format === 'text') return null;
  if (format !== 'auto') return format;
  const r = await firstRecord(file);
  if (!r) return null;
  const detected = detectInstructFormat(r, columns);
  // Columns were mapped for instruction data: reading the file as plain text instead would hide a typo.
  const mapped = Object.entries(columns ?? {}).filter(([, v]) => v !== undefined);
  if (!detected && mapped.length) {
    throw new DataError(
      `${file}: the mapped columns ${mapped.map(([k, v]) => `${k}=${v}`).join(', ')} do not make instruction data: the fields are ${Object.keys(r).map((k) => JSON.stringify(k)).join(', ')}`,
      file,
    );
  }
  return detected;
}

export async function loadTemplate(modelDir: string, tok: LoadedTokenizer, o: Pick<InstructOptions, 'chatTemplate' | 'now' | 'templateVars'> = {}): Promise<{ template: ChatTemplate; fallback: boolean }> {
  const t = resolveTemplate(o.chatTemplate, modelDir);
  return { template: new ChatTemplate(t.source, t.name, specialTokenStrings(tok), { now: o.now, vars: o.templateVars }), fallback: !!t.fallback };
}

/** The format named, or the one the first record's fields show (`auto`). */
function resolveFormat(file: string, first: SourceRecord, o: InstructOptions): InstructFormat {
  if (o.format && o.format !== 'auto' && o.format !== 'text') return o.format;
  const f = detectInstructFormat(first.value, o.columns);
  if (f) return f;
  const c = columnsOf(o.columns);
  throw new DataError(
    `${first.where}: not instruction data: the fields are ${Object.keys(first.value).map((k) => JSON.stringify(k)).join(', ')}; ` +
      `expected ${JSON.stringify(c.messages)} (messages), ${JSON.stringify(c.conversations)} (sharegpt), ${JSON.stringify(c.instruction)} + ${JSON.stringify(c.output)} (alpaca) ` +
      `or ${JSON.stringify(c.prompt)} + ${JSON.stringify(c.completion)} (prompt-completion); map columns with --columns or train on the text with --format text`,
    file,
  );
}

/** One example as text with its answer spans; null (and counted) when its template raised. */
async function renderExample(
  ex: InstructExample,
  where: string,
  file: string,
  eosText: string,
  getTemplate: () => Promise<ChatTemplate>,
  skipped: SkipReport,
): Promise<{ text: string; spans: [number, number][] } | null> {
  // TRL's standard prompt-completion: prompt + completion + EOS, no template.
  if (ex.kind === 'text') {
    const text = ex.prompt + ex.completion + eosText;
    return { text, spans: [[ex.prompt.length, text.length]] };
  }
  const tpl = await getTemplate();
  try {
    return tpl.assistantSpans(ex.messages);
  } catch (e) {
    if (!(e instanceof ChatTemplateError)) throw e;
    if (/raised an exception|failed:/.test(e.message)) {
      skipped.add(where, e.message, 'template error');
      return null;
    }
    throw new DataError(`${where}: ${e.message}`, file);
  }
}

/** Tokenized ids and labels cut to `T`; a string saying why when nothing trainable is left. */
function fitExample(
  tok: LoadedTokenizer,
  r: { text: string; spans: [number, number][] },
  bos: number | null,
  T: number,
  trainAll: boolean,
): { ids: number[]; labels: number[]; truncated: boolean } | { skip: string; kind: string } {
  const t = tokenizeSpans(tok, r.text, r.spans, bos);
  const firstTrained = t.trained.findIndex((x) => x);
  const trainedBefore = countPredicted(labelsOf(t));
  const ids = t.ids.slice(0, T);
  const labels = labelsOf(t, trainAll).slice(0, T);
  if (ids.length < 2) return { skip: 'fewer than 2 tokens', kind: 'too short' };
  const answerPredicted = countPredicted(labelsOf({ ids, trained: t.trained.slice(0, ids.length) }));
  if (answerPredicted === 0) {
    return {
      skip: firstTrained < 0
        ? 'the rendered text has no answer tokens'
        : `no answer tokens within the max length of ${T} tokens (the answer starts at token ${firstTrained + 1}); raise --max-length`,
      kind: 'answer beyond max length',
    };
  }
  return { ids, labels, truncated: answerPredicted < trainedBefore };
}

/** Reads, renders and tokenizes an instruction dataset for the model in `modelDir`. */
export async function loadInstructionData(file: string, modelDir: string, o: InstructOptions): Promise<InstructData> {
  checkFormatName(o.format ?? 'auto');
  if (o.format === 'text') throw new DataError(`${file}: --format text is plain text, not instruction data`, file);
  if (!(Number.isInteger(o.maxLength) && o.maxLength >= 2)) throw new DataError(`max length must be an integer >= 2, got ${o.maxLength}`);
  const skipped = new SkipReport();
  const { records: read } = await readRecords(file, skipped);
  const records = o.limit !== undefined ? read.slice(0, o.limit) : read;
  if (records.length === 0) throw new DataError(`${file}: no records${skipped.count ? `; ${skipped.count} row(s) skipped, first: ${skipped.examples[0]}` : ''}`, file);
  const format = resolveFormat(file, records[0]!, o);
  checkMappedColumns(file, records.map((r) => r.value), format, o.columns);
  const trainOn = o.trainOn ?? 'completions';
  if (trainOn !== 'completions' && trainOn !== 'all') throw new DataError(`--train-on must be completions or all, got ${JSON.stringify(trainOn)}`);
  const tok = await loadTokenizer(modelDir);
  const bosId = addsBos(tok) ? tok.bosTokenId : null;
  const bosText = bosId === null ? '' : (tok.idToToken(bosId) ?? '');
  const eosText = tok.eosTokenId === null ? '' : (tok.idToToken(tok.eosTokenId) ?? '');
  let template: ChatTemplate | null = null;
  const notes: string[] = [];
  const getTemplate = async () => {
    if (!template) {
      template = (await loadTemplate(modelDir, tok, o)).template;
      notes.push(`chat template: ${template.name}`);
    }
    return template;
  };
  const out: InstructData = {
    format, template: null, templateSource: null, trainOn, rows: [], skipped, truncated: 0, tokens: 0, trainedTokens: 0, endOfTurn: null, notes, kept: [],
  };
  const T = o.maxLength;
  // Conversations need the template (and a wrong --chat-template is refused before any row);
  // TRL-style string pairs need none, so theirs is resolved only if a row is conversational.
  if (format !== 'prompt-completion') await getTemplate();
  for (const rec of records) {
    const parsed = parseRecord(rec, format, o.columns);
    if (!parsed.ok) {
      skipped.add(rec.where, parsed.problem, parsed.problem.replace(/[":].*$/, '').replace(/turn \d+/, 'turn N').trim());
      continue;
    }
    const r = await renderExample(parsed.example, rec.where, file, eosText, getTemplate, skipped);
    if (!r) continue;
    const bos = bosId !== null && !(bosText && r.text.startsWith(bosText)) ? bosId : null;
    const fit = fitExample(tok, r, bos, T, trainOn === 'all');
    if ('skip' in fit) {
      skipped.add(rec.where, fit.skip, fit.kind);
      continue;
    }
    if (fit.truncated) out.truncated++;
    out.rows.push({ ids: fit.ids, labels: fit.labels });
    out.tokens += fit.ids.length;
    out.trainedTokens += countPredicted(fit.labels);
    if (out.kept.length < (o.keep ?? 0)) out.kept.push({ where: rec.where, text: r.text, ids: fit.ids, labels: fit.labels });
  }
  const tpl = template as ChatTemplate | null;
  out.template = tpl?.name ?? null;
  out.templateSource = tpl?.source ?? null;
  out.endOfTurn = tpl ? tpl.endOfTurn() : eosText || null;
  if (out.truncated) notes.push(`${out.truncated} answer(s) cut at the max length of ${T} tokens`);
  if (out.rows.length === 0) {
    throw new DataError(`${file}: no usable examples; ${skipped.count} row(s) skipped, first: ${skipped.examples.slice(0, 3).join('; ')}`, file);
  }
  return out;
}

/** Labels that are predicted (position 0 never is: nothing comes before it). */
function countPredicted(labels: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) n++;
  return n;
}

/** What the trainer reads: a token row and, for instruction data, its labels. */
export interface CausalRow {
  ids: ArrayLike<number>;
  labels?: ArrayLike<number>;
}

/** A short account of the instruction data a run trains on (for the start event and the CLI). */
export interface InstructSummary {
  format: InstructFormat;
  template: string | null;
  trainOn: TrainOn;
  examples: number;
  skipped: number;
  skippedExamples: string[];
  truncated: number;
  /** Share of the rows' tokens that count in the loss. */
  trainedShare: number;
}

export interface CausalDataRequest {
  data: string | TokenizedData;
  model: string;
  format?: DataFormatChoice;
  chatTemplate?: string;
  trainOn?: TrainOn;
  chatColumns?: ChatColumns;
  cacheDir?: string | null;
}

/**
 * The causal-LM task's rows: instruction data -> one row per example with masked labels;
 * anything else -> packed blocks (loadBlocks), every token trained.
 */
export async function loadCausalRows(o: CausalDataRequest, T: number): Promise<{ rows: CausalRow[]; instruct?: InstructSummary; chatTemplate?: string }> {
  if (typeof o.data === 'string') {
    const format = await instructFormatOf(o.data, o.format ?? 'auto', o.chatColumns);
    if (format) {
      const d = await loadInstructionData(o.data, o.model, { format, chatTemplate: o.chatTemplate, trainOn: o.trainOn, columns: o.chatColumns, maxLength: T });
      return {
        rows: d.rows,
        instruct: {
          format: d.format, template: d.template, trainOn: d.trainOn, examples: d.rows.length, skipped: d.skipped.count,
          skippedExamples: d.skipped.examples.slice(0, 5), truncated: d.truncated, trainedShare: d.tokens ? d.trainedTokens / d.tokens : 0,
        },
        ...(d.templateSource !== null ? { chatTemplate: d.templateSource } : {}),
      };
    }
  } else if (o.format && o.format !== 'auto' && o.format !== 'text') {
    throw new DataError(`--format ${o.format} needs a data file, not pre-tokenized documents`);
  }
  const blocks = await loadBlocks(o.data, T, o.model, { cacheDir: o.cacheDir ?? undefined });
  return { rows: blocks.map((ids) => ({ ids })) };
}

// ---------------------------------------------------------------------------------------------
// `data inspect`: one rendered example with its trained spans marked, and the trained share.

export const MARK_OPEN = '«';
export const MARK_CLOSE = '»';

export interface InstructInspection {
  path: string;
  format: InstructFormat;
  template: string | null;
  trainOn: TrainOn;
  examples: number;
  skipped: { count: number; examples: string[] };
  truncated: number;
  tokens: number;
  trainedTokens: number;
  /** trainedTokens / tokens */
  trainedShare: number;
  endOfTurn: string | null;
  notes: string[];
  example?: {
    where: string;
    /** The rendered text. */
    text: string;
    /** The tokens decoded, trained runs between « and ». */
    marked: string;
    tokens: number;
    trainedTokens: number;
    /** [start, end) token index ranges whose labels count. */
    trainedRanges: [number, number][];
  };
}

/** Renders the dataset as training would and shows example `index` (0-based) with its trained tokens marked. */
export async function inspectInstruction(file: string, modelDir: string, o: InstructOptions & { index?: number }): Promise<InstructInspection> {
  const index = o.index ?? 0;
  const d = await loadInstructionData(file, modelDir, { ...o, keep: index + 1 });
  const tok = await loadTokenizer(modelDir);
  const r: InstructInspection = {
    path: file, format: d.format, template: d.template, trainOn: d.trainOn, examples: d.rows.length,
    skipped: { count: d.skipped.count, examples: [...d.skipped.examples] }, truncated: d.truncated, tokens: d.tokens, trainedTokens: d.trainedTokens,
    trainedShare: d.tokens ? d.trainedTokens / d.tokens : 0, endOfTurn: d.endOfTurn, notes: d.notes,
  };
  const ex = d.kept[index];
  if (ex) {
    const { ranges, segments } = trainedSegments(tok, ex);
    const marked = segments.map((g) => (g.trained ? MARK_OPEN + g.text + MARK_CLOSE : g.text)).join('');
    r.example = { where: ex.where, text: ex.text, marked, tokens: ex.ids.length, trainedTokens: countPredicted(ex.labels), trainedRanges: ranges };
  }
  return r;
}

/** A text piece of an example: the tokens of a run, decoded, and whether their labels count. */
export interface TrainedSegment {
  text: string;
  trained: boolean;
}

/**
 * The [start, end) token ranges whose labels count (position 0 never does: nothing predicts it),
 * and the example as decoded runs of untrained and trained tokens (for `data inspect` and the app).
 */
export function trainedSegments(tok: LoadedTokenizer, ex: { ids: readonly number[]; labels: readonly number[] }): { ranges: [number, number][]; segments: TrainedSegment[] } {
  const ranges: [number, number][] = [];
  for (let i = 1; i < ex.labels.length; i++) {
    if (ex.labels[i] === IGNORE_INDEX) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === i) last[1] = i + 1;
    else ranges.push([i, i + 1]);
  }
  const segments: TrainedSegment[] = [];
  let at = 0;
  for (const [a, b] of ranges) {
    if (a > at) segments.push({ text: tok.decode(ex.ids.slice(at, a)), trained: false });
    segments.push({ text: tok.decode(ex.ids.slice(a, b)), trained: true });
    at = b;
  }
  if (at < ex.ids.length) segments.push({ text: tok.decode(ex.ids.slice(at)), trained: false });
  return { ranges, segments };
}

// ---------------------------------------------------------------------------------------------
// `generate --chat`: the prompt as a user turn with the generation prompt, and where to stop.

export interface ChatPrompt {
  text: string;
  ids: number[];
  /** Stop at these ids: EOS and the end-of-turn token when it is a single token. */
  stopTokenIds: number[];
  /** Stop at these texts: the end-of-turn text when it is not a single token (chatml on GPT-2). */
  stopStrings: string[];
  template: string;
  endOfTurn: string | null;
}

/**
 * The prompt of a chat: `prompt` as a user turn (after an optional system turn), or a whole
 * conversation (`generate.text`'s chat.messages, ending with a user turn), rendered with the
 * generation prompt; `what` names the input in errors.
 */
export async function chatPrompt(
  modelDir: string,
  prompt: string | readonly ChatMessage[],
  o: { chatTemplate?: string; system?: string; now?: Date; what?: string } = {},
): Promise<ChatPrompt> {
  const tok = await loadTokenizer(modelDir);
  const { template } = await loadTemplate(modelDir, tok, o);
  const what = o.what ?? (typeof prompt === 'string' ? '--prompt' : 'chat.messages');
  const messages: ChatMessage[] = [];
  if (o.system) messages.push({ role: 'system', content: o.system });
  if (typeof prompt === 'string') messages.push({ role: 'user', content: prompt });
  else messages.push(...prompt.map((m) => ({ role: m.role, content: m.content })));
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'user') throw new DataError(`${what}: the conversation must end with a user turn (it ends with ${last ? `a ${last.role} turn` : 'nothing'})`);
  let text: string;
  try {
    text = template.render(messages, true);
  } catch (e) {
    throw new DataError(`${what}: ${(e as Error).message}`);
  }
  const bosId = addsBos(tok) ? tok.bosTokenId : null;
  const bosText = bosId === null ? '' : (tok.idToToken(bosId) ?? '');
  const body = tok.encode(text, { addSpecialTokens: false });
  const ids = bosId !== null && !(bosText && text.startsWith(bosText)) ? [bosId, ...body] : body;
  const eot = template.endOfTurn();
  const stopTokenIds: number[] = [];
  const stopStrings: string[] = [];
  if (tok.eosTokenId !== null) stopTokenIds.push(tok.eosTokenId);
  if (eot) {
    const one = tok.encode(eot, { addSpecialTokens: false });
    if (one.length === 1) {
      if (!stopTokenIds.includes(one[0]!)) stopTokenIds.push(one[0]!);
    } else stopStrings.push(eot);
  }
  return { text, ids, stopTokenIds, stopStrings, template: template.name, endOfTurn: eot };
}
