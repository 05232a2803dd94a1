// The one data pipeline of training, evaluation and the app's previews: a dataset file or folder
// (or in-memory examples) -> the importers (the same ones `data inspect` runs, with the same
// options, rules and skip report) -> tokenized documents -> causal-LM blocks or classifier rows,
// and the one seeded hold-out split every task uses.
//
// Options every entry takes (DataOptions): format, textColumn, labelColumn, template, split,
// txtMode, delimiter, quote, header, labelNames, onSkip, onProgress. An option that does not
// apply to the data's format is refused (a text column on a .txt file), never ignored; rows the
// importers leave out reach `onSkip` as the skip report (`formatSkipReport` prints it on one line).

import { existsSync } from 'node:fs';
import { loadDataset, packForCausalLM, tokenizeDataset, type LoadDatasetOptions, type LoadedDataset } from './index.ts';
import { DataError } from './errors.ts';
import { holdOutSplit } from './preprocess.ts';
import { type TextTokenizer, loadTokenizer } from './tokenizer.ts';
import type { ProgressFn, SkipSummary } from './types.ts';

export { holdOutSplit, type HoldOutOptions } from './preprocess.ts';
export type { SkipSummary } from './types.ts';

/** Already tokenized documents (tests, benchmarks) instead of a file. */
export interface TokenizedData { documents: ArrayLike<number>[] }

/** How to read a dataset: the importer options, and where the skip report goes. */
export interface DataOptions {
  format?: LoadDatasetOptions['format'];
  textColumn?: string;
  labelColumn?: string;
  /** Text template for JSON records / Markdown recipes ({field}, {list:numbered}, …). */
  template?: string;
  /** aclImdb: train | test | unsup; parquet folders: the file prefix. Other formats: 'train' or nothing. */
  split?: string;
  /** Plain text: 'document' (the whole file; causal LM's default), 'lines', 'paragraphs', 'auto'. */
  txtMode?: LoadDatasetOptions['txtMode'];
  delimiter?: string;
  quote?: string | false;
  header?: boolean;
  labelNames?: string[];
  /** Called once with the skip report when the importers left rows out (count > 0). */
  onSkip?: (report: SkipSummary) => void;
  onProgress?: ProgressFn;
}

export interface CausalDataOptions extends DataOptions {
  /** The tokenized-dataset cache folder (default: the OS temp folder; null: no cache). */
  cacheDir?: string | null;
}

function importOptions(o: DataOptions, purpose: LoadDatasetOptions['purpose']): LoadDatasetOptions {
  const out: LoadDatasetOptions = { purpose };
  for (const k of ['format', 'textColumn', 'labelColumn', 'template', 'split', 'txtMode', 'delimiter', 'quote', 'header', 'labelNames', 'onProgress'] as const) {
    if (o[k] !== undefined) (out as Record<string, unknown>)[k] = o[k];
  }
  return out;
}

/** The skip report of a loaded dataset, for onSkip / the app / the CLI. */
export function skipSummary(file: string, ds: Pick<LoadedDataset, 'skipped'>): SkipSummary {
  return { file, count: ds.skipped.count, examples: [...ds.skipped.examples], reasons: { ...(ds.skipped.reasons ?? {}) } };
}

/** One line: `FILE: skipped 3 rows (invalid JSON 2, empty text 1); first: FILE:4: invalid JSON (…); …`. */
export function formatSkipReport(s: SkipSummary, shown = 3): string {
  const reasons = Object.entries(s.reasons).map(([k, n]) => `${k} ${n}`).join(', ');
  const first = s.examples.slice(0, shown).join('; ');
  return `${s.file}: skipped ${s.count} row${s.count === 1 ? '' : 's'}${reasons ? ` (${reasons})` : ''}${first ? `; first: ${first}` : ''}`;
}

function reportSkips(file: string, ds: LoadedDataset, o: DataOptions): SkipSummary {
  const s = skipSummary(file, ds);
  if (s.count > 0) o.onSkip?.(s);
  return s;
}

function requireData(file: string): void {
  if (!existsSync(file)) throw new DataError(`${file}: data file not found`, file);
}

/**
 * The documents of a dataset as causal-LM training reads them: a .txt file is one document (its
 * newlines kept; txtMode 'lines' or 'paragraphs' makes every line or paragraph a document), the
 * other formats give one document per example. Evaluation reads text through this too.
 */
export async function loadDocuments(file: string, o: DataOptions = {}): Promise<{ texts: string[]; format: string; skipped: SkipSummary }> {
  requireData(file);
  const ds = await loadDataset(file, importOptions(o, 'causal-lm'));
  return { texts: ds.examples.map((e) => e.text), format: ds.format, skipped: reportSkips(file, ds, o) };
}

export interface CausalData {
  blocks: ArrayLike<number>[];
  /** Documents read (before packing). */
  documents: number;
  format: string;
  skipped: SkipSummary;
}

/**
 * Token blocks of T tokens, like HF's group_texts: documents joined with EOS and cut into full
 * blocks, the remainder dropped — unless everything is shorter than one block, which then trains
 * as one short block. Every format goes through the dataset importers and the tokenized cache.
 */
export async function loadCausalData(data: string | TokenizedData, T: number, modelDir: string, o: CausalDataOptions = {}): Promise<CausalData> {
  const label = typeof data === 'string' ? data : 'data';
  let docs: ArrayLike<number>[];
  let eos: number | null = null;
  let format = 'tokens';
  let skipped: SkipSummary = { file: label, count: 0, examples: [], reasons: {} };
  if (typeof data !== 'string') {
    docs = data.documents;
  } else {
    requireData(data);
    const tok = await loadTokenizer(modelDir);
    eos = tok.eosTokenId;
    const ds = await loadDataset(data, importOptions(o, 'causal-lm'));
    format = ds.format;
    skipped = reportSkips(data, ds, o);
    docs = (await tokenizeDataset(ds.examples, tok, { cacheDir: o.cacheDir, addSpecialTokens: true /* BOS for Llama, as HF run_clm */, settings: { purpose: 'causal-lm' } })).toArrays();
  }
  let blocks = packForCausalLM(docs.map((d) => Array.from(d)), T, eos, { dropLast: true });
  if (blocks.length === 0) blocks = packForCausalLM(docs.map((d) => Array.from(d)), T, eos, { dropLast: false });
  blocks = blocks.filter((b) => b.length >= 2);
  if (blocks.length === 0) throw new DataError(`${label}: fewer than 2 tokens, nothing to train on`, typeof data === 'string' ? data : undefined);
  return { blocks, documents: docs.length, format, skipped };
}

/** loadCausalData's blocks (the skip report goes to o.onSkip). */
export async function loadBlocks(data: string | TokenizedData, T: number, modelDir: string, o: CausalDataOptions = {}): Promise<ArrayLike<number>[]> {
  return (await loadCausalData(data, T, modelDir, o)).blocks;
}

export interface LabelledData {
  texts: string[];
  labels: number[];
  labelNames?: string[];
  /** The skip report (files only). */
  skipped?: SkipSummary;
}

/** Options of labelled data: the importer options (textColumn, labelColumn, split, …). */
export type LabelledDataOptions = DataOptions;

/** A labelled dataset file (CSV, JSONL, aclImdb, parquet, ...) or in-memory texts and labels. */
export async function loadLabelled(data: string | LabelledData, o: LabelledDataOptions = {}): Promise<LabelledData> {
  if (typeof data !== 'string') return data;
  requireData(data);
  const ds = await loadDataset(data, importOptions(o, 'classification'));
  const texts: string[] = [], labels: number[] = [];
  for (const e of ds.examples) {
    if (typeof e.label !== 'number') {
      throw new DataError(`${data}: the data has no class labels; classification needs labelled data (choose the label column with --label-column)`, data);
    }
    texts.push(e.text);
    labels.push(e.label);
  }
  if (texts.length === 0) throw new DataError(`${data}: no labelled examples`, data);
  const skipped = reportSkips(data, ds, o);
  return { texts, labels, labelNames: ds.labelNames, skipped };
}

/**
 * A seeded hold-out of labelled data: holdOutSplit over the rows (stratified by label when
 * `stratify` is set, so both parts keep the class balance).
 */
export function holdOutLabelled(d: LabelledData, ratio: number, seed: number, o: { stratify?: boolean } = {}): { train: LabelledData; valid: LabelledData } {
  if (!(ratio > 0 && ratio < 1)) throw new DataError(`validation ratio must be in (0, 1), got ${ratio}`);
  if (d.texts.length < 2) throw new DataError('too few examples to hold out a validation set');
  const { train, val } = holdOutSplit([...d.texts.keys()], ratio, seed, o.stratify ? { stratify: (i) => d.labels[i]! } : {});
  const pick = (idx: number[]): LabelledData => ({ texts: idx.map((i) => d.texts[i]!), labels: idx.map((i) => d.labels[i]!), labelNames: d.labelNames });
  return { train: pick(train), valid: pick(val) };
}

/** Token ids for a classifier: [CLS] … [SEP] (truncated inside) for WordPiece, plain ids for BPE. */
export function encodeForClassification(tok: TextTokenizer, text: string, T: number): number[] {
  const ids = tok.encode(text);
  if (ids.length <= T) return ids;
  if (tok.kind === 'wordpiece') return [...ids.slice(0, T - 1), ids[ids.length - 1]!];
  return ids.slice(0, T);
}
