// Fixed-shape [B, T] batches for the step graph: ids, causal attention bias, shifted targets
// and the per-token loss weights (1/count on predicted tokens).

import { causalAttentionBias } from '../models/attention.ts';
import { IGNORE_INDEX, shiftLabels } from './loss.ts';
import type { Feed } from '../onnx/runtime.ts';
import type { DType } from '../onnx/graph.ts';

export interface Batch {
  B: number;
  T: number;
  ids: BigInt64Array;
  attnBias: Float32Array;
  targets: BigInt64Array;
  lossWeights: Float32Array;
  /** Tokens that are predicted (the loss's denominator). */
  predicted: number;
  /** Real (non-padding) tokens. */
  tokens: number;
}

/**
 * Rows of token ids (each at most T long) into a right-padded batch of B rows; missing rows are
 * all padding. Labels are the ids (causal LM), -100 on padding.
 */
export function makeBatch(rows: ArrayLike<number>[], B: number, T: number, padId = 0): Batch {
  const ids = new BigInt64Array(B * T).fill(BigInt(padId));
  const mask = new Uint8Array(B * T);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  let tokens = 0;
  rows.forEach((row, b) => {
    if (b >= B) throw new Error(`makeBatch: ${rows.length} rows for a batch of ${B}`);
    const n = Math.min(row.length, T);
    for (let t = 0; t < n; t++) {
      ids[b * T + t] = BigInt(row[t]);
      mask[b * T + t] = 1;
      labels[b * T + t] = row[t];
    }
    tokens += n;
  });
  return fromArrays(ids, mask, labels, B, T, tokens);
}

/**
 * Rows with optional HF-style labels (-100 = not trained; instruction data) into a right-padded
 * batch of B rows; a row without labels trains on every token (makeBatch). Rows are cut at T.
 */
export function makeLabelledBatch(rows: { ids: ArrayLike<number>; labels?: ArrayLike<number> }[], B: number, T: number, padId = 0): Batch {
  if (rows.length > B) throw new Error(`makeLabelledBatch: ${rows.length} rows for a batch of ${B}`);
  const ids = new BigInt64Array(B * T).fill(BigInt(padId));
  const mask = new Uint8Array(B * T);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  let tokens = 0;
  rows.forEach((row, b) => {
    const n = Math.min(row.ids.length, T);
    for (let t = 0; t < n; t++) {
      ids[b * T + t] = BigInt(row.ids[t]);
      mask[b * T + t] = 1;
      labels[b * T + t] = row.labels ? row.labels[t] : row.ids[t];
    }
    tokens += n;
  });
  return fromArrays(ids, mask, labels, B, T, tokens);
}

export function fromArrays(ids: BigInt64Array, mask: ArrayLike<number>, labels: ArrayLike<number>, B: number, T: number, tokens?: number): Batch {
  const sh = shiftLabels(labels, B, T);
  const w = new Float32Array(B * T);
  if (sh.count > 0) for (let i = 0; i < w.length; i++) w[i] = sh.predicted[i] / sh.count;
  let real = tokens ?? 0;
  if (tokens === undefined) for (let i = 0; i < B * T; i++) real += mask[i] ? 1 : 0;
  return { B, T, ids, attnBias: causalAttentionBias(mask, B, T), targets: sh.targets, lossWeights: w, predicted: sh.count, tokens: real };
}

export function batchFeeds(b: Batch): Record<string, { dtype: DType; shape: number[]; data: Feed }> {
  return {
    ids: { dtype: 'int64', shape: [b.B, b.T], data: b.ids },
    attn_bias: { dtype: 'float32', shape: [b.B, 1, b.T, b.T], data: b.attnBias },
    targets: { dtype: 'int64', shape: [b.B, b.T], data: b.targets },
    loss_weights: { dtype: 'float32', shape: [b.B, b.T], data: b.lossWeights },
  };
}
