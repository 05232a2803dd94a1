// Causal-LM cross-entropy with HF semantics: position t predicts token t+1; label -100 is
// ignored; the loss is the mean over all predicted tokens of the batch.

import type { Graph, Value } from '../onnx/graph.ts';

export const IGNORE_INDEX = -100;

export interface ShiftedTargets {
  /** [B, T] next-token ids (-100 where nothing is predicted). */
  targets: BigInt64Array;
  /** [B, T] 1 where a token is predicted, else 0. */
  predicted: Float32Array;
  count: number;
}

/** Shift HF-style labels ([B, T], -100 = ignore) left by one: what each position predicts. */
export function shiftLabels(labels: ArrayLike<number>, B: number, T: number): ShiftedTargets {
  const targets = new BigInt64Array(B * T).fill(BigInt(IGNORE_INDEX));
  const predicted = new Float32Array(B * T);
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const y = labels[b * T + t + 1];
      if (y === IGNORE_INDEX) continue;
      targets[b * T + t] = BigInt(y);
      predicted[b * T + t] = 1;
      count++;
    }
  }
  return { targets, predicted, count };
}

/**
 * Per-token negative log-likelihood [B, T] of `targets` under `logits` [B, T, V]. Multiply by
 * a weight input (predicted / count) and sum to get the mean loss.
 */
export function tokenNll(g: Graph, logits: Value, targets: Value): Value {
  const [B, T] = targets.shape as number[];
  const V = logits.shape[2] as number;
  const [nll] = g.softmaxCrossEntropy(g.reshape(logits, [B * T, V]), g.reshape(targets, [B * T]), IGNORE_INDEX);
  return g.reshape(nll, [B, T]);
}

/** Mean NLL over predicted tokens, weights = predicted / count fed from JS. */
export function weightedLoss(g: Graph, nll: Value, weights: Value): Value {
  return g.reduceSum(g.mul(nll, weights), [0, 1], false);
}
