// Preprocessing: truncation and padding with attention masks, packing for causal LM, a seeded
// train/validation split, and statistics for the UI.

import { DataError } from './errors.ts';

/** Loss is not computed where the label is -100 (PyTorch's CrossEntropyLoss ignore_index). */
export const IGNORE_INDEX = -100;

export interface PackOptions {
  /** Drop the last block when it is shorter than blockSize (default false: keep it short). */
  dropLast?: boolean;
}

/**
 * Concatenate documents with EOS between them (none when eosId is null), then cut the stream
 * into blocks of blockSize tokens. The last partial block is kept (shorter) unless dropLast.
 */
export function packForCausalLM(docs: number[][], blockSize: number, eosId: number | null, opts: PackOptions = {}): Int32Array[] {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new DataError(`blockSize must be a positive integer, got ${blockSize}`);
  let total = 0;
  let nonEmpty = 0;
  for (const d of docs) {
    if (d.length === 0) continue;
    total += d.length;
    nonEmpty++;
  }
  if (eosId !== null && nonEmpty > 1) total += nonEmpty - 1;
  const stream = new Int32Array(total);
  let p = 0;
  let first = true;
  for (const d of docs) {
    if (d.length === 0) continue;
    if (!first && eosId !== null) stream[p++] = eosId;
    first = false;
    for (let i = 0; i < d.length; i++) stream[p++] = d[i]!;
  }
  const blocks: Int32Array[] = [];
  for (let s = 0; s < total; s += blockSize) {
    const e = Math.min(total, s + blockSize);
    if (e - s < blockSize && opts.dropLast) break;
    blocks.push(stream.slice(s, e));
  }
  return blocks;
}

export interface PaddedBatch {
  /** [batch * maxLength], row-major */
  inputIds: Int32Array;
  attentionMask: Int32Array;
  /** input ids where the mask is 1, IGNORE_INDEX (-100) on padding */
  labels: Int32Array;
}

export interface PadOptions {
  /** 'right' (default) or 'left' (generation-style). */
  side?: 'right' | 'left';
  /** Truncate from the end (default) or keep the last tokens ('left'). */
  truncation?: 'right' | 'left';
}

/** Truncate each sequence to maxLength and pad it with padId; flat [batch, maxLength] arrays. */
export function padBatch(seqs: ArrayLike<number>[], maxLength: number, padId: number, opts: PadOptions = {}): PaddedBatch {
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new DataError(`maxLength must be a positive integer, got ${maxLength}`);
  const n = seqs.length;
  const inputIds = new Int32Array(n * maxLength).fill(padId);
  const attentionMask = new Int32Array(n * maxLength);
  const labels = new Int32Array(n * maxLength).fill(IGNORE_INDEX);
  for (let b = 0; b < n; b++) {
    const s = seqs[b]!;
    const len = Math.min(s.length, maxLength);
    const from = opts.truncation === 'left' ? s.length - len : 0;
    const at = b * maxLength + (opts.side === 'left' ? maxLength - len : 0);
    for (let i = 0; i < len; i++) {
      const id = s[from + i]!;
      inputIds[at + i] = id;
      attentionMask[at + i] = 1;
      labels[at + i] = id;
    }
  }
  return { inputIds, attentionMask, labels };
}

/** Truncate to maxLength, keeping a trailing special token (e.g. [SEP]) when asked. */
export function truncate(ids: number[], maxLength: number, keepLast?: number): number[] {
  if (ids.length <= maxLength) return ids;
  if (keepLast !== undefined && ids[ids.length - 1] === keepLast && maxLength > 1) return [...ids.slice(0, maxLength - 1), keepLast];
  return ids.slice(0, maxLength);
}

/** Deterministic PRNG (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded Fisher–Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rnd = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export interface SplitOptions {
  /** Fraction for validation, 0 < ratio < 1 (default 0.1). */
  validationRatio?: number;
  seed?: number;
  /** Keep the label balance in both parts (needs a label on every item). */
  stratifyBy?: (item: unknown) => string | number | undefined;
}

/** A seeded train/validation split: the same seed gives the same split. */
export function trainValidationSplit<T>(items: readonly T[], opts: SplitOptions = {}): { train: T[]; validation: T[] } {
  const ratio = opts.validationRatio ?? 0.1;
  if (!(ratio > 0 && ratio < 1)) throw new DataError(`validation ratio must be between 0 and 1 (exclusive), got ${ratio}`);
  const seed = opts.seed ?? 42;
  if (opts.stratifyBy) {
    const groups = new Map<string, T[]>();
    for (const it of items) {
      const k = String(opts.stratifyBy(it));
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(it);
    }
    const train: T[] = [];
    const validation: T[] = [];
    let g = 0;
    for (const k of [...groups.keys()].sort()) {
      const part = shuffled(groups.get(k)!, seed + g++);
      const nVal = Math.round(part.length * ratio);
      validation.push(...part.slice(0, nVal));
      train.push(...part.slice(nVal));
    }
    return { train: shuffled(train, seed), validation: shuffled(validation, seed + 1) };
  }
  const all = shuffled(items, seed);
  let nVal = Math.round(all.length * ratio);
  if (all.length >= 2) nVal = Math.min(Math.max(nVal, 1), all.length - 1);
  return { validation: all.slice(0, nVal), train: all.slice(nVal) };
}

export interface DatasetStats {
  examples: number;
  characters: number;
  /** label name -> count (when labelled) */
  labels?: Record<string, number>;
  tokens?: number;
  maxTokens?: number;
  minTokens?: number;
  meanTokens?: number;
  medianTokens?: number;
  p95Tokens?: number;
  /** examples longer than maxLength (when given) */
  truncated?: number;
  /** token-length histogram: counts[i] examples with edges[i] <= length < edges[i+1] */
  histogram?: { edges: number[]; counts: number[] };
}

export function labelBalance(examples: { label?: number | string }[], labelNames?: string[]): Record<string, number> | undefined {
  if (!examples.some((e) => e.label !== undefined)) return undefined;
  const out: Record<string, number> = {};
  for (const n of labelNames ?? []) out[n] = 0;
  for (const e of examples) {
    if (e.label === undefined) continue;
    const name = typeof e.label === 'number' && labelNames ? (labelNames[e.label] ?? String(e.label)) : String(e.label);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/** A histogram with `bins` equal-width bins from 0 to the maximum (rounded up). */
export function lengthHistogram(lengths: ArrayLike<number>, bins = 20): { edges: number[]; counts: number[] } {
  let max = 0;
  for (let i = 0; i < lengths.length; i++) if (lengths[i]! > max) max = lengths[i]!;
  const width = Math.max(1, Math.ceil((max + 1) / bins));
  const edges = Array.from({ length: bins + 1 }, (_, i) => i * width);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < lengths.length; i++) counts[Math.min(bins - 1, Math.floor(lengths[i]! / width))]!++;
  return { edges, counts };
}

export function datasetStats(
  examples: { text: string; label?: number | string }[],
  opts: { labelNames?: string[]; tokenLengths?: ArrayLike<number>; maxLength?: number; bins?: number } = {},
): DatasetStats {
  let characters = 0;
  for (const e of examples) characters += e.text.length;
  const stats: DatasetStats = { examples: examples.length, characters };
  const labels = labelBalance(examples, opts.labelNames);
  if (labels) stats.labels = labels;
  const L = opts.tokenLengths;
  if (L && L.length) {
    const sorted = Float64Array.from(L as ArrayLike<number>).sort();
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
    stats.tokens = sum;
    stats.maxTokens = sorted[sorted.length - 1]!;
    stats.minTokens = sorted[0]!;
    stats.meanTokens = sum / sorted.length;
    stats.medianTokens = sorted[Math.floor((sorted.length - 1) / 2)]!;
    stats.p95Tokens = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
    stats.histogram = lengthHistogram(L, opts.bins);
    if (opts.maxLength !== undefined) {
      let t = 0;
      for (let i = 0; i < L.length; i++) if (L[i]! > opts.maxLength) t++;
      stats.truncated = t;
    }
  }
  return stats;
}
