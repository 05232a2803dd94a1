// The Datasets view's preview of instruction data (prompt/completion, Alpaca, ShareGPT, messages):
// the format detected, each row read as a conversation; with a model, the rows rendered and
// tokenized exactly as training does (loadInstructionData), the first examples as decoded runs of
// trained and untrained tokens, the share of tokens trained and the rows skipped.

import { statSync } from 'node:fs';
import type { DatasetPreview, InstructPreview } from '../api-shapes.ts';
import { FORMAT_FIELDS, checkMappedColumns, columnsOf, parseRecord } from './chat/formats.ts';
import { readRecords } from './chat/records.ts';
import type { ChatColumns, DataFormatChoice, InstructExample, InstructFormat, TrainOn } from './chat/types.ts';
import { DataError } from './errors.ts';
import { instructFormatOf, loadInstructionData, trainedSegments } from './instruct.ts';
import { loadTokenizer } from './tokenizer.ts';
import { SkipReport } from './types.ts';

export interface InstructPreviewOptions {
  /** The dataset mapping's importer format (only auto, jsonl, csv and parquet can hold instruction data). */
  importFormat?: string;
  /** A text column or template asks for plain text: no instruction preview then (unless `format` names an instruction format). */
  plainText?: boolean;
  /** The run's data format (RunConfig.chat.format): auto detects, text is plain text, else that format. */
  format?: DataFormatChoice;
  /** The dataset's instruction column mapping (DatasetSpec.chatColumns). */
  columns?: ChatColumns;
  model?: string;
  maxLength?: number;
  chatTemplate?: string;
  trainOn?: TrainOn;
  /** Rows shown in the sample table (default 20); rendered examples: 2. */
  sample?: number;
  rendered?: number;
  /** Rows rendered (default RENDER_LIMIT). */
  limit?: number;
}

/** The file's columns each field of `format` reads, after the mapping. */
const fieldsOf = (format: InstructFormat, columns?: ChatColumns) => FORMAT_FIELDS[format].map((f) => columnsOf(columns)[f]);

/**
 * The instruction format of the file as training reads it (the same choice trainingData makes),
 * or null when it is plain text: `format` text, a plain mapping (text column, label, template),
 * an importer that holds no records, or no instruction fields. A named format is taken as is; a
 * mapped column the file lacks is an error (one line), not plain text.
 */
export async function detectInstructData(path: string, o: Pick<InstructPreviewOptions, 'importFormat' | 'plainText' | 'format' | 'columns'> = {}): Promise<InstructFormat | null> {
  const format = o.format ?? 'auto';
  if (format === 'text') return null;
  if (format !== 'auto') return format;
  if (o.plainText || !['auto', 'jsonl', 'csv', 'parquet', undefined].includes(o.importFormat)) return null;
  try {
    if (!statSync(path).isFile() && o.importFormat !== 'parquet') return null;
  } catch {
    return null; // the plain importers say why
  }
  const mapped = Object.values(o.columns ?? {}).some((v) => v !== undefined);
  try {
    return await instructFormatOf(path, 'auto', o.columns);
  } catch (e) {
    if (e instanceof DataError && !mapped) return null; // not records: the plain importers say why
    throw e;
  }
}

/** One example as plain text for the sample table: each turn on its own lines, after its role. */
function plainText(ex: InstructExample): string {
  if (ex.kind === 'text') return `prompt: ${ex.prompt}\ncompletion: ${ex.completion}`;
  return ex.messages.map((m) => `${m.role}: ${m.content}`).join('\n');
}

/** Rows rendered and tokenized for a preview (the token statistics of larger datasets are from the first ones). */
export const RENDER_LIMIT = 2000;

const cut = (t: string) => (t.length > 600 ? `${t.slice(0, 600)}…` : t);

/** The rows read as examples, without a model: counts, skipped rows and the sample table. */
async function readExamples(path: string, format: InstructFormat, columns?: ChatColumns): Promise<{ examples: InstructExample[]; skipped: SkipReport }> {
  const skipped = new SkipReport();
  const { records } = await readRecords(path, skipped);
  if (records.length) checkMappedColumns(path, records.map((r) => r.value), format, columns);
  const examples: InstructExample[] = [];
  for (const rec of records) {
    const parsed = parseRecord(rec, format, columns);
    if (parsed.ok) examples.push(parsed.example);
    else skipped.add(rec.where, parsed.problem, parsed.problem.replace(/[":].*$/, '').trim());
  }
  return { examples, skipped };
}

/** The rows rendered and tokenized as training does: the instruct part and the token statistics. */
async function renderedPart(path: string, format: InstructFormat, model: string, o: InstructPreviewOptions): Promise<{ instruct: InstructPreview; lengths: number[]; skipped: SkipReport; examples: number; notes: string[] }> {
  const maxLength = o.maxLength ?? 1024;
  const d = await loadInstructionData(path, model, { format, chatTemplate: o.chatTemplate, trainOn: o.trainOn, columns: o.columns, maxLength, keep: o.rendered ?? 2, limit: o.limit ?? RENDER_LIMIT });
  const tok = await loadTokenizer(model);
  const instruct: InstructPreview = {
    format, fields: fieldsOf(format, o.columns), template: d.template, trainOn: d.trainOn, endOfTurn: d.endOfTurn,
    tokens: d.tokens, trainedTokens: d.trainedTokens, trainedShare: d.tokens ? d.trainedTokens / d.tokens : 0, truncated: d.truncated,
    examples: d.kept.map((k) => {
      const { ranges, segments } = trainedSegments(tok, k);
      return { where: k.where, tokens: k.ids.length, trainedTokens: ranges.reduce((a, [s, e]) => a + e - s, 0), segments, trainedRanges: ranges };
    }),
  };
  const notes = [...d.notes, `token lengths after rendering, one example per row, cut at max length ${maxLength}`];
  return { instruct, lengths: d.rows.map((row) => row.ids.length), skipped: d.skipped, examples: d.rows.length, notes };
}

/**
 * The preview of instruction data in `format` (see detectInstructData), without its token
 * statistics: with a model, `lengths` are the rendered rows' token counts (null without one).
 */
export async function previewInstructData(path: string, format: InstructFormat, o: InstructPreviewOptions = {}): Promise<{ preview: Omit<DatasetPreview, 'tokens'>; lengths: number[] | null }> {
  const { examples, skipped } = await readExamples(path, format, o.columns);
  const texts = examples.map(plainText);
  const chars = texts.map((t) => t.length);
  const total = chars.reduce((a, b) => a + b, 0);
  const base = {
    path, format, labelNames: null, labels: [],
    sample: texts.slice(0, o.sample ?? 20).map((t) => ({ text: cut(t), label: null })),
    columns: null,
    chars: { mean: chars.length ? total / chars.length : 0, min: chars.reduce((a, b) => Math.min(a, b), chars[0] ?? 0), max: chars.reduce((a, b) => Math.max(a, b), 0), total },
  };
  const skip = (r: SkipReport) => ({ count: r.count, examples: r.examples.slice(0, 10) });
  if (!o.model) {
    const instruct: InstructPreview = {
      format, fields: fieldsOf(format, o.columns), template: null, trainOn: o.trainOn ?? 'completions', endOfTurn: null,
      tokens: null, trainedTokens: null, trainedShare: null, truncated: 0, examples: [],
    };
    const notes = ['instruction data: open a model to see the examples rendered with its chat template and the tokens trained'];
    return { preview: { ...base, examples: examples.length, skipped: skip(skipped), instruct, notes }, lengths: null };
  }
  const r = await renderedPart(path, format, o.model, o);
  const rows = examples.length + skipped.count;
  const limit = o.limit ?? RENDER_LIMIT;
  if (rows <= limit) return { preview: { ...base, examples: r.examples, skipped: skip(r.skipped), instruct: r.instruct, notes: r.notes }, lengths: r.lengths };
  // A large dataset: the counts are of every row; what rendering finds (tokens, template problems), of the first ones.
  const notes = [...r.notes, `rendered and tokenized the first ${limit} of ${rows} rows: the token statistics, trained share and examples are from those`];
  return { preview: { ...base, examples: examples.length, skipped: skip(skipped), instruct: r.instruct, notes }, lengths: r.lengths };
}
