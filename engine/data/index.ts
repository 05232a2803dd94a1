// The data layer's entry points for the trainer, the CLI and the app.
//
//   loadDataset(path, opts)        -> examples with resolved labels, skipped-row report
//   streamDataset(path, opts)      -> the same, batch by batch (raw labels), for big inputs
//   tokenizeDataset(examples, tk)  -> token ids, cached on disk
//   packForCausalLM / padBatch     -> training tensors

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describeKind } from '../util/files.ts';
import { detectFormat, head } from './detect.ts';
import { DataError, FormatError } from './errors.ts';
import { importAclImdb } from './importers/aclimdb.ts';
import { importCsv } from './importers/csv.ts';
import { importJsonl } from './importers/jsonl.ts';
import { importMarkdown } from './importers/markdown.ts';
import { importParquet } from './importers/parquet.ts';
import { importTxt } from './importers/txt.ts';
import { labelKey, planLabels } from './labels.ts';
import { tokenizeDataset, type TokenizedDataset } from './cache.ts';
import { holdOutSplit, packForCausalLM, truncate } from './preprocess.ts';
import { checkNotBinary } from './text-stream.ts';
import type { TextTokenizer } from './tokenizer.ts';
import { TemplateError } from './template.ts';
import { newContext, type DatasetFormat, type Example, type ImportContext, type ImportOptions, type RawExample, type TxtMode } from './types.ts';

export { loadTokenizer, loadTokenizerCached, type TextTokenizer, type LoadedTokenizer, type EncodeOptions } from './tokenizer.ts';
export { packForCausalLM, padBatch, holdOutSplit, datasetStats, labelBalance, lengthHistogram, truncate, shuffled, IGNORE_INDEX } from './preprocess.ts';
export type { PackOptions, PaddedBatch, PadOptions, HoldOutOptions, DatasetStats } from './preprocess.ts';
export { tokenizeDataset, TokenizedDataset, contentHash, cacheKey, defaultCacheDir, tokenizerIdentity, type TokenizeOptions } from './cache.ts';
export { DataError, FormatError } from './errors.ts';
export { detectFormat } from './detect.ts';
export { RECIPE_TEMPLATE, compileTemplate, TemplateError } from './template.ts';
export { SkipReport, type DatasetFormat, type Example, type ImportOptions, type Progress, type ProgressFn, type RawExample, type SkipSummary, type TxtMode } from './types.ts';

export const DATASET_FORMATS: readonly DatasetFormat[] = ['aclimdb', 'csv', 'jsonl', 'txt', 'parquet', 'md'];

export interface LoadDatasetOptions {
  format?: 'auto' | DatasetFormat;
  textColumn?: string;
  labelColumn?: string;
  split?: string;
  template?: string;
  onProgress?: (p: { done: number; total?: number; phase: string }) => void;
  /** CSV/TSV and text extras (see ImportOptions). */
  delimiter?: string;
  quote?: string | false;
  header?: boolean;
  txtMode?: TxtMode;
  labelNames?: string[];
  /** What the data is for: 'causal-lm' reads plain text as one document (txtMode 'document')
   * unless txtMode says otherwise; the rules and the skip report are the same for every purpose. */
  purpose?: 'causal-lm' | 'classification' | 'inspect';
}

export interface LoadedDataset {
  format: string;
  examples: Example[];
  /** Class names, index = label value; present when the data has labels. */
  labelNames?: string[];
  skipped: { count: number; examples: string[]; reasons?: Record<string, number> };
  /** How the data was read (delimiter, columns, template…), for `data inspect`. */
  notes?: string[];
}

function importerFor(format: DatasetFormat) {
  switch (format) {
    case 'aclimdb':
      return importAclImdb;
    case 'csv':
      return importCsv;
    case 'jsonl':
      return importJsonl;
    case 'txt':
      return importTxt;
    case 'parquet':
      return importParquet;
    case 'md':
      return importMarkdown;
  }
}

async function checkPath(path: string, format: DatasetFormat): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new DataError(`${path} does not exist`, path);
  }
  // A FIFO, a socket or a device is never opened (reading one could block forever).
  if (!st.isDirectory() && !st.isFile()) throw new DataError(`${path}: is ${describeKind(st)}; expected a dataset file or folder`, path);
  const dirOk = format === 'aclimdb' || format === 'parquet' || format === 'md';
  if (st.isDirectory() && !dirOk) throw new DataError(`${path} is a folder; the ${format} format needs a file`, path);
  if (!st.isDirectory() && format === 'aclimdb') throw new DataError(`${path} is a file; an aclImdb dataset is a folder (aclImdb/train/pos/…)`, path);
  if (st.isFile() && st.size === 0) throw new DataError(`${path} is empty`, path);
  // Text formats: binary data or UTF-16 is refused up front (not read as U+FFFD text).
  if (st.isFile() && format !== 'parquet') checkNotBinary(path, await head(path));
}

const FORMAT_NAMES: Record<DatasetFormat, string> = {
  aclimdb: 'an aclImdb folder', csv: 'CSV/TSV', jsonl: 'JSON/JSONL', txt: 'plain text (txt)', parquet: 'parquet', md: 'Markdown',
};

/** Options that mean nothing for the detected format are refused, never silently ignored. */
function checkOptions(path: string, format: DatasetFormat, o: LoadDatasetOptions): void {
  const bad = (what: string, why: string): never => {
    throw new DataError(`${path}: ${what} does not apply to ${FORMAT_NAMES[format]}: ${why}`, path);
  };
  const columns = format === 'csv' || format === 'jsonl' || format === 'parquet';
  if (!columns && o.textColumn !== undefined) bad(`a text column (${JSON.stringify(o.textColumn)})`, format === 'aclimdb' ? 'the text is each review file' : 'it has no columns');
  if (!columns && o.labelColumn !== undefined) bad(`a label column (${JSON.stringify(o.labelColumn)})`, format === 'aclimdb' ? 'the label is the pos/neg folder' : 'it has no columns');
  if (o.template !== undefined && format !== 'jsonl' && format !== 'md') bad('a template', 'templates render JSON records and Markdown recipes');
  if (format !== 'csv') {
    if (o.delimiter !== undefined) bad('a delimiter', 'only CSV/TSV has one');
    if (o.quote !== undefined) bad('a quote character', 'only CSV/TSV has one');
    if (o.header !== undefined) bad('a header setting', 'only CSV/TSV has a header row');
  }
  if (format !== 'txt' && o.txtMode !== undefined && o.txtMode !== 'auto' && !(o.purpose === 'causal-lm' && o.txtMode === 'document')) {
    bad(`txtMode ${JSON.stringify(o.txtMode)}`, 'it is for plain text');
  }
  if (o.split !== undefined && o.split !== 'train' && format !== 'aclimdb' && format !== 'parquet') bad(`split ${JSON.stringify(o.split)}`, 'this data has no splits (only aclImdb and parquet folders do)');
}

/**
 * Stream a dataset batch by batch (labels are raw values; loadDataset resolves them).
 * The context collects skipped rows, notes and label names as the stream goes.
 */
export async function streamDataset(
  path: string,
  opts: LoadDatasetOptions = {},
): Promise<{ format: DatasetFormat; ctx: ImportContext; batches: AsyncGenerator<RawExample[]> }> {
  const abs = resolve(path);
  if (opts.format && opts.format !== 'auto' && !DATASET_FORMATS.includes(opts.format)) {
    throw new DataError(`${abs}: unknown format ${JSON.stringify(opts.format)}; use one of auto, ${DATASET_FORMATS.join(', ')}`, abs);
  }
  opts.onProgress?.({ done: 0, phase: 'detect' });
  const format = !opts.format || opts.format === 'auto' ? await detectFormat(abs) : opts.format;
  await checkPath(abs, format);
  checkOptions(abs, format, opts);
  const ctx = newContext(opts.onProgress);
  const txtMode = opts.txtMode ?? (opts.purpose === 'causal-lm' ? 'document' : undefined);
  const importOpts: ImportOptions = { ...opts, format, txtMode: format === 'txt' ? txtMode : undefined };
  return { format, ctx, batches: importerFor(format)(abs, importOpts, ctx) };
}

/** Load a whole dataset: import, map labels to class indices, report what was skipped. */
export async function loadDataset(path: string, opts: LoadDatasetOptions = {}): Promise<LoadedDataset> {
  const abs = resolve(path);
  const { format, ctx, batches } = await streamDataset(abs, opts);
  const raw: RawExample[] = [];
  try {
    for await (const batch of batches) for (const ex of batch) raw.push(ex);
  } catch (e) {
    if (e instanceof TemplateError) throw new DataError(e.message, abs);
    throw e;
  }
  // Not UTF-8 (Latin-1, Windows-1252, binary): when most rows fail to decode, the file as a
  // whole is refused, naming the first bad byte, instead of training on what is left.
  const badUtf8 = ctx.skipped.byReason.get('invalid UTF-8') ?? 0;
  const units = ctx.units ?? raw.length + ctx.skipped.count;
  if (badUtf8 > 0 && badUtf8 * 2 > units) {
    const first = ctx.skipped.examples.find((e) => e.includes('invalid UTF-8')) ?? ctx.skipped.examples[0]!;
    throw new FormatError(abs, `is not UTF-8 text: ${badUtf8} of ${units} ${format === 'aclimdb' || format === 'md' ? 'files' : 'rows'} hold invalid UTF-8, first ${first.startsWith(abs) ? first.slice(abs.length).replace(/^:/, 'at ') : first} (Latin-1 or Windows-1252? convert it, e.g. iconv -f latin1 -t utf-8)`);
  }
  if (raw.length === 0) {
    if (ctx.skipped.count > 0) {
      throw new DataError(
        `${abs}: no usable examples; ${ctx.skipped.count} row(s) skipped, first: ${ctx.skipped.examples.slice(0, 3).join('; ')}`,
        abs,
      );
    }
    throw new DataError(`${abs}: no examples found (the ${format} importer read nothing)`, abs);
  }
  let labelNames: string[] | undefined;
  let examples: Example[];
  const labelled = raw.some((r) => r.label !== undefined);
  if (labelled) {
    opts.onProgress?.({ done: 0, total: raw.length, phase: 'labels' });
    const counts = new Map<string, number>();
    const spelling = new Map<string, string>();
    for (const r of raw) {
      if (r.label === undefined) continue;
      const k = labelKey(r.label);
      counts.set(k, (counts.get(k) ?? 0) + 1);
      if (!spelling.has(k)) spelling.set(k, String(r.label));
    }
    const plan = planLabels(counts, { labelNames: opts.labelNames ?? ctx.labelNames, spelling, where: abs, column: opts.labelColumn });
    labelNames = plan.names;
    examples = [];
    const expected = plan.names.join(', ');
    for (const r of raw) {
      if (r.label === undefined) {
        examples.push(r.rating !== undefined ? { text: r.text, rating: r.rating } : { text: r.text });
        continue;
      }
      const idx = plan.index.get(labelKey(r.label));
      if (idx === undefined) {
        ctx.skipped.add(r.where, `unknown label value ${JSON.stringify(String(r.label))} (expected one of: ${expected})`, 'unknown label');
        continue;
      }
      const ex: Example = { text: r.text, label: idx };
      if (r.rating !== undefined) ex.rating = r.rating;
      examples.push(ex);
    }
    if (examples.length === 0) {
      throw new DataError(`${abs}: no usable examples; ${ctx.skipped.count} row(s) skipped, first: ${ctx.skipped.examples.slice(0, 3).join('; ')}`, abs);
    }
  } else {
    examples = raw.map((r) => (r.rating !== undefined ? { text: r.text, rating: r.rating } : { text: r.text }));
  }
  const out: LoadedDataset = {
    format,
    examples,
    skipped: { count: ctx.skipped.count, examples: [...ctx.skipped.examples], reasons: Object.fromEntries(ctx.skipped.byReason) },
    notes: ctx.notes,
  };
  if (labelNames) out.labelNames = labelNames;
  return out;
}

export interface TrainValidation {
  format: string;
  train: Example[];
  validation: Example[];
  labelNames?: string[];
  /** 'dataset' when the data's own test split was used, 'seeded' for a ratio split */
  splitBy: 'dataset' | 'seeded';
  skipped: { count: number; examples: string[] };
}

/**
 * Train and validation sets: the dataset's own test split when it has one (aclImdb folders,
 * parquet folders with test-* files) and `useDatasetSplit` is not false; otherwise a seeded
 * split of the train data (stratified by label when labelled).
 */
export async function loadTrainValidation(
  path: string,
  opts: LoadDatasetOptions & { validationRatio?: number; seed?: number; useDatasetSplit?: boolean } = {},
): Promise<TrainValidation> {
  const train = await loadDataset(path, { ...opts, split: opts.split ?? 'train' });
  if (opts.useDatasetSplit !== false && (train.format === 'aclimdb' || train.format === 'parquet')) {
    try {
      const test = await loadDataset(path, { ...opts, split: 'test', labelNames: train.labelNames ?? opts.labelNames });
      return {
        format: train.format,
        train: train.examples,
        validation: test.examples,
        ...(train.labelNames ? { labelNames: train.labelNames } : {}),
        splitBy: 'dataset',
        skipped: { count: train.skipped.count + test.skipped.count, examples: [...train.skipped.examples, ...test.skipped.examples].slice(0, 10) },
      };
    } catch (e) {
      // no test split here (a single parquet file, a split folder): fall back to a seeded split
      if (!(e instanceof DataError)) throw e;
    }
  }
  const labelled = train.examples.every((e) => e.label !== undefined);
  const ratio = opts.validationRatio ?? 0.1;
  if (!(ratio > 0 && ratio < 1)) throw new DataError(`validation ratio must be between 0 and 1 (exclusive), got ${ratio}`);
  // the one seeded hold-out rule of every task, stratified by label when labelled
  const { train: tr, val: validation } = holdOutSplit(train.examples, ratio, opts.seed ?? 42, labelled ? { stratify: (e) => e.label! } : {});
  return {
    format: train.format,
    train: tr,
    validation,
    ...(train.labelNames ? { labelNames: train.labelNames } : {}),
    splitBy: 'seeded',
    skipped: train.skipped,
  };
}

/** Causal LM data in one call: tokenize (cached) and pack into blocks with EOS between documents. */
export async function prepareCausalLM(
  examples: { text: string }[],
  tokenizer: TextTokenizer,
  opts: { blockSize: number; cacheDir?: string | null; dropLast?: boolean; onProgress?: LoadDatasetOptions['onProgress'] },
): Promise<{ blocks: Int32Array[]; tokenized: TokenizedDataset }> {
  const tokenized = await tokenizeDataset(examples, tokenizer, {
    cacheDir: opts.cacheDir,
    addSpecialTokens: true, // as HF's run_clm: BOS per document where the tokenizer adds it (Llama), nothing for GPT-2
    settings: { purpose: 'causal-lm' },
    onProgress: opts.onProgress,
  });
  const blocks = packForCausalLM(tokenized.toArrays(), opts.blockSize, tokenizer.eosTokenId, { dropLast: opts.dropLast });
  return { blocks, tokenized };
}

/** Classification data in one call: tokenize (cached, special tokens per the tokenizer's default)
 * and truncate to maxLength; pad per batch with padBatch. */
export async function prepareClassification(
  examples: Example[],
  tokenizer: TextTokenizer,
  opts: { maxLength: number; cacheDir?: string | null; onProgress?: LoadDatasetOptions['onProgress'] },
): Promise<{ inputs: number[][]; labels: Int32Array; tokenized: TokenizedDataset }> {
  const tokenized = await tokenizeDataset(examples, tokenizer, {
    cacheDir: opts.cacheDir,
    maxLength: opts.maxLength,
    settings: { purpose: 'classification' },
    onProgress: opts.onProgress,
  });
  const labels = new Int32Array(examples.length);
  examples.forEach((e, i) => {
    if (typeof e.label !== 'number') throw new DataError(`example ${i} has no class label; classification needs a label column`);
    labels[i] = e.label;
  });
  const inputs = tokenized.toArrays().map((ids) => truncate(ids, opts.maxLength));
  return { inputs, labels, tokenized };
}
