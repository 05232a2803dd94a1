// The datasets service: a dataset's preview (format, counts, label balance, a sample, token
// statistics) and the training data a run's dataset mapping stands for.

import { statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { ApiError, type DatasetPreview, type DatasetSpec, type Params, type RunConfig } from '../api.ts';
import type { LoadDatasetOptions } from '../data/index.ts';
import { detectInstructData, previewInstructData } from '../data/instruct-preview.ts';
import type { ChatColumns, InstructFormat } from '../data/instruct.ts';
import type { LabelledData } from '../data/pipeline.ts';
import type { TrainOptions } from '../train/types.ts';
import { maxOf } from '../util/math.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir, requirePath } from './files.ts';

/** Column or field names of a CSV/TSV header or the first JSONL record (for the mapping UI). */
export async function sniffColumns(path: string): Promise<string[] | null> {
  const ext = extname(path).toLowerCase();
  if (!['.csv', '.tsv', '.jsonl', '.ndjson', '.json'].includes(ext)) return null;
  let st;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  const fh = await openFile(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(64 * 1024, st.size));
    await fh.read(buf, 0, buf.length, 0);
    const text = buf.toString('utf8').replace(/^\uFEFF/, '');
    if (ext === '.csv' || ext === '.tsv') {
      const line = text.split(/\r?\n/, 1)[0] ?? '';
      const delim = ext === '.tsv' || (line.includes('\t') && !line.includes(',')) ? '\t' : ',';
      return line.split(delim).map((c) => c.trim().replace(/^"(.*)"$/, '$1')).filter(Boolean);
    }
    const first = ext === '.json' ? text.replace(/^\s*\[/, '').split(/\n/)[0] : text.split(/\r?\n/, 1)[0];
    try {
      const obj = JSON.parse((first ?? '').replace(/,\s*$/, '')) as unknown;
      return obj && typeof obj === 'object' && !Array.isArray(obj) ? Object.keys(obj) : null;
    } catch {
      return null;
    }
  } finally {
    await fh.close();
  }
}

export function histogram(values: number[], bins = 20): { edges: number[]; counts: number[] } {
  if (values.length === 0) return { edges: [], counts: [] };
  const max = maxOf(values);
  const width = Math.max(1, Math.ceil((max + 1) / bins));
  const n = Math.ceil((max + 1) / width);
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor(v / width))]++;
  return { edges: Array.from({ length: n + 1 }, (_, i) => i * width), counts };
}

/** The importer options a dataset mapping stands for (only those given). */
export function importOptions(spec: DatasetSpec): LoadDatasetOptions {
  const o: LoadDatasetOptions = {};
  if (spec.format && spec.format !== 'auto') o.format = spec.format;
  if (spec.textColumn) o.textColumn = spec.textColumn;
  if (spec.labelColumn) o.labelColumn = spec.labelColumn;
  if (spec.split) o.split = spec.split;
  if (spec.template) o.template = spec.template;
  return o;
}

async function readDataset(spec: DatasetSpec, fns: EngineFunctions) {
  return fns.loadDataset(requirePath(spec.path, 'dataset'), importOptions(spec));
}

type Loaded = Awaited<ReturnType<typeof readDataset>>;

function skippedOf(ds: Loaded): { count: number; examples: string[] } {
  return ds.skipped ? { count: ds.skipped.count, examples: ds.skipped.examples.slice(0, 10) } : { count: 0, examples: [] };
}

/** Token counts of up to 2000 evenly spaced examples, their statistics and histogram. */
async function tokenStats(ds: Loaded, model: string, maxLength: number | undefined, notes: string[], fns: EngineFunctions): Promise<DatasetPreview['tokens']> {
  const tok = await fns.loadTokenizer(requireDir(model, 'model folder'));
  const count = ds.examples.length;
  const limit = 2000;
  const step = Math.max(1, count / limit);
  const lengths: number[] = [];
  for (let i = 0; i < count && lengths.length < limit; i = Math.floor(lengths.length * step)) {
    lengths.push(tok.encode(ds.examples[i].text).length);
    if (lengths.length % 200 === 0) await new Promise((r) => setImmediate(r)); // stay responsive
  }
  return lengthStats(lengths, count, maxLength, notes);
}

/** Statistics and histogram of token counts sampled from `count` examples. */
function lengthStats(lengths: number[], count: number, maxLength: number | undefined, notes: string[]): DatasetPreview['tokens'] {
  if (!lengths.length) return null;
  const sorted = [...lengths].sort((a, b) => a - b);
  const sum = lengths.reduce((a, b) => a + b, 0);
  if (maxLength) {
    const over = lengths.filter((n) => n > maxLength).length;
    if (over) notes.push(`${((100 * over) / lengths.length).toFixed(1)}% of the examples are longer than max length ${maxLength} tokens`);
  }
  if (lengths.length < count) notes.push(`token statistics from ${lengths.length} of ${count} examples, evenly spaced`);
  return {
    sampled: lengths.length,
    total: Math.round((sum / lengths.length) * count),
    mean: sum / lengths.length,
    max: sorted[sorted.length - 1],
    p95: sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))],
    histogram: histogram(lengths),
  };
}

/**
 * A run's instruction-data choices (RunConfig.chat) and the dataset's column mapping as the data
 * layer's options (`train --format --chat-template --train-on --columns`): what training and
 * evaluation both pass on. Only the given ones.
 */
export function instructOptions(chat: RunConfig['chat'], spec: DatasetSpec): Pick<TrainOptions, 'format' | 'chatTemplate' | 'trainOn' | 'chatColumns'> {
  const columns = Object.entries(spec.chatColumns ?? {}).filter(([, v]) => v);
  return {
    ...(chat?.format ? { format: chat.format } : {}),
    ...(chat?.template ? { chatTemplate: chat.template } : {}),
    ...(chat?.trainOn ? { trainOn: chat.trainOn } : {}),
    ...(columns.length ? { chatColumns: Object.fromEntries(columns) as ChatColumns } : {}),
  };
}

/**
 * The instruction format a causal LM reads the dataset in (null: plain text), from the run's data
 * format (RunConfig.chat.format) and the dataset's mapping: the one choice the preview and the
 * run both make, so that they read the file the same way.
 */
export function instructFormatFor(spec: DatasetSpec, chatFormat: NonNullable<RunConfig['chat']>['format']): Promise<InstructFormat | null> {
  const plain = Boolean(spec.textColumn || spec.labelColumn || spec.template);
  return detectInstructData(resolve(spec.path), { importFormat: spec.format, plainText: plain, format: chatFormat, columns: spec.chatColumns });
}

/** Instruction data's preview (engine/data/instruct-preview.ts), or null when the dataset is not instruction data. */
async function instructPreview(p: Params<'datasets.preview'>): Promise<DatasetPreview | null> {
  const file = requirePath(p.dataset.path, 'dataset');
  const format = await instructFormatFor(p.dataset, p.chatFormat);
  if (!format) return null;
  const model = p.model ? requireDir(p.model, 'model folder') : undefined;
  const r = await previewInstructData(file, format, {
    model, maxLength: p.maxLength, chatTemplate: p.chatTemplate, trainOn: p.trainOn, sample: p.sample, columns: p.dataset.chatColumns,
  });
  const notes = [...r.preview.notes];
  const tokens = r.lengths ? lengthStats(r.lengths, r.lengths.length, undefined, notes) : null;
  return { ...r.preview, columns: await sniffColumns(file), tokens, notes };
}

export async function previewDataset(p: Params<'datasets.preview'>, fns: EngineFunctions = ENGINE): Promise<DatasetPreview> {
  const instruct = await instructPreview(p);
  if (instruct) return instruct;
  const ds = await readDataset(p.dataset, fns);
  const labelName = (l: number | string | undefined): string | null =>
    l === undefined ? null : typeof l === 'number' && ds.labelNames?.[l] !== undefined ? ds.labelNames[l] : String(l);
  const balance = new Map<string, number>();
  let total = 0, min = Infinity, max = 0;
  for (const e of ds.examples) {
    const n = e.text.length;
    total += n;
    if (n < min) min = n;
    if (n > max) max = n;
    const l = labelName(e.label);
    if (l !== null) balance.set(l, (balance.get(l) ?? 0) + 1);
  }
  const count = ds.examples.length;
  const notes = [...(ds.notes ?? [])];
  return {
    path: resolve(p.dataset.path),
    format: ds.format,
    examples: count,
    skipped: skippedOf(ds),
    labelNames: ds.labelNames ?? null,
    labels: [...balance].map(([name, c]) => ({ name, count: c })),
    sample: ds.examples.slice(0, p.sample ?? 20).map((e) => ({ text: e.text.length > 600 ? `${e.text.slice(0, 600)}…` : e.text, label: labelName(e.label) })),
    columns: await sniffColumns(resolve(p.dataset.path)),
    chars: { mean: count ? total / count : 0, min: count ? min : 0, max, total },
    tokens: p.model ? await tokenStats(ds, p.model, p.maxLength, notes, fns) : null,
    notes,
  };
}

/**
 * The trainer's data for a run. A classifier gets the file (the trainer reads its text and label
 * columns and split, toTrainOptions passes them), or its labelled examples when a template or a
 * format is mapped. A causal LM gets the file when it is unmapped or holds instruction data (the
 * trainer renders it through the chat template, one example per row); a mapped plain-text dataset
 * (columns, split, template) is tokenized here as documents.
 */
export async function trainingData(config: RunConfig, signal: AbortSignal | undefined, fns: EngineFunctions = ENGINE): Promise<TrainOptions['data']> {
  const file = resolve(config.dataset.path);
  const mapping = importOptions(config.dataset);
  if (config.task === 'seq-cls') return mapping.template || mapping.format ? labelledData(config.dataset, fns) : file;
  if (await instructFormatFor(config.dataset, config.chat?.format)) return file;
  if (Object.keys(mapping).length === 0) return file;
  const ds = await readDataset(config.dataset, fns);
  const tok = await fns.loadTokenizer(resolve(config.model));
  const documents: number[][] = [];
  for (let i = 0; i < ds.examples.length; i++) {
    if (signal?.aborted) break;
    documents.push(tok.encode(ds.examples[i].text));
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  return { documents };
}

/** A mapped labelled dataset's examples, in memory, for a classifier. */
async function labelledData(spec: DatasetSpec, fns: EngineFunctions): Promise<LabelledData> {
  const ds = await fns.loadDataset(requirePath(spec.path, 'dataset'), { ...importOptions(spec), purpose: 'classification' });
  const texts: string[] = [], labels: number[] = [];
  for (const e of ds.examples) {
    if (typeof e.label !== 'number') throw new ApiError('invalid_params', `${spec.path}: the data has no class labels; a classifier needs a label column`);
    texts.push(e.text);
    labels.push(e.label);
  }
  return { texts, labels, labelNames: ds.labelNames };
}
