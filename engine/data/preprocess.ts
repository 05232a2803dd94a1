// Preprocessing: truncation and padding with attention masks, packing for causal LM, the one
// seeded hold-out split, and statistics for the UI.

import { Rng } from '../util/rng.ts';
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

/** Seeded Fisher–Yates shuffle of a copy (the project's one generator, util/rng.ts). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  return new Rng(seed).shuffle(items.slice());
}

export interface HoldOutOptions<T> {
  /** Keep each class's share in both parts: the class of an item (its label). */
  stratify?: (item: T, index: number) => string | number;
}

/**
 * The one seeded hold-out of every task (causal-LM blocks, classifier rows, dataset splits):
 * round(n·ratio) items (at least one, and at least one left to train on) drawn in the order of
 * the seed's split stream; both parts keep the items' original order. ratio 0 (or fewer than 2
 * items) holds out nothing. With `stratify`, each class holds out round(n_class·ratio) of its
 * items, drawn in the same stream order, so the classes keep their balance.
 */
export function holdOutSplit<T>(items: readonly T[], ratio: number, seed: number, o: HoldOutOptions<T> = {}): { train: T[]; val: T[] } {
  if (!(ratio > 0) || items.length < 2) return { train: [...items], val: [] };
  const order = Rng.derive(seed, 4).shuffle([...items.keys()]);
  const isVal = new Uint8Array(items.length);
  if (o.stratify) {
    const classOf = items.map((it, i) => String(o.stratify!(it, i)));
    const sizes = new Map<string, number>();
    for (const c of classOf) sizes.set(c, (sizes.get(c) ?? 0) + 1);
    const quota = new Map<string, number>();
    let total = 0;
    for (const [c, n] of sizes) {
      const q = Math.min(n, Math.round(n * ratio));
      quota.set(c, q);
      total += q;
    }
    if (total === 0) quota.set(classOf[order[0]!]!, 1); // at least one held out
    if (total >= items.length) quota.set(classOf[order[0]!]!, quota.get(classOf[order[0]!]!)! - 1); // and one left
    for (const i of order) {
      const c = classOf[i]!;
      const q = quota.get(c)!;
      if (q > 0) {
        isVal[i] = 1;
        quota.set(c, q - 1);
      }
    }
  } else {
    const nVal = Math.min(items.length - 1, Math.max(1, Math.round(items.length * ratio)));
    for (let k = 0; k < nVal; k++) isVal[order[k]!] = 1;
  }
  const train: T[] = [];
  const val: T[] = [];
  items.forEach((it, i) => (isVal[i] ? val : train).push(it));
  return { train, val };
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
