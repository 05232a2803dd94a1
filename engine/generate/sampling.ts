// Choosing the next token from a row of logits, with transformers' logits processors in their
// order: repetition penalty, then temperature, top-k, top-p (nucleus), then sampling — or the
// argmax when not sampling. All in float64 on a copy; the logits are not modified.

import type { Rng } from '../util/rng.ts';

export interface SamplingOptions {
  /** 0 (or doSample false) = greedy. */
  temperature: number;
  /** 0 = off. */
  topK: number;
  /** 1 = off. */
  topP: number;
  /** 1 = off; HF's CTRL rule: a seen token's logit is divided by it if positive, multiplied if negative. */
  repetitionPenalty: number;
  doSample: boolean;
}

export const DEFAULT_SAMPLING: SamplingOptions = { temperature: 1, topK: 50, topP: 1, repetitionPenalty: 1, doSample: false };

export function argmax(x: ArrayLike<number>): number {
  let best = 0, bv = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > bv) { bv = x[i]; best = i; }
  return best;
}

/** HF RepetitionPenaltyLogitsProcessor, in place on `scores`. */
export function applyRepetitionPenalty(scores: Float64Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const t of new Set(seen)) {
    const s = scores[t];
    scores[t] = s < 0 ? s * penalty : s / penalty;
  }
}

/**
 * The distribution sampling draws from: indices and probabilities (sorted, descending) after
 * temperature, top-k and top-p. Ties at the top-k boundary keep the lower ids.
 */
export function filteredDistribution(scores: Float64Array, o: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>): { ids: number[]; probs: number[] } {
  const V = scores.length;
  const t = o.temperature > 0 ? o.temperature : 1;
  let ids = Array.from({ length: V }, (_, i) => i);
  ids.sort((a, b) => scores[b] - scores[a] || a - b);
  if (o.topK > 0 && o.topK < V) ids = ids.slice(0, o.topK);
  const max = scores[ids[0]] / t;
  let probs = ids.map((i) => Math.exp(scores[i] / t - max));
  let z = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((p) => p / z);
  if (o.topP < 1) {
    // HF TopPLogitsWarper: in ascending order, drop tokens while the cumulative mass is
    // <= 1 - top_p; the most likely token always stays.
    let keep = probs.length, acc = 0;
    for (let i = probs.length - 1; i > 0; i--) {
      acc += probs[i];
      if (acc <= 1 - o.topP) keep = i;
      else break;
    }
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep);
    z = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / z);
  }
  return { ids, probs };
}

/** The next token for one row of logits. `seen` = prompt + generated ids (for the penalty). */
export function chooseToken(logits: ArrayLike<number>, seen: readonly number[], o: SamplingOptions, rng: Rng): number {
  const greedy = !o.doSample || o.temperature === 0;
  if (greedy && o.repetitionPenalty === 1) return argmax(logits);
  const scores = Float64Array.from(logits as ArrayLike<number>);
  applyRepetitionPenalty(scores, seen, o.repetitionPenalty);
  if (greedy) return argmax(scores);
  const { ids, probs } = filteredDistribution(scores, o);
  const u = rng.next();
  let acc = 0;
  for (let i = 0; i < ids.length; i++) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids[ids.length - 1];
}

/** Sampling options with their defaults, validated; N = sequences per prompt. */
export function resolveSampling(o: Partial<SamplingOptions> & { numReturnSequences?: number }): { s: SamplingOptions; N: number } {
  const s: SamplingOptions = {
    temperature: o.temperature ?? DEFAULT_SAMPLING.temperature,
    topK: o.topK ?? DEFAULT_SAMPLING.topK,
    topP: o.topP ?? DEFAULT_SAMPLING.topP,
    repetitionPenalty: o.repetitionPenalty ?? DEFAULT_SAMPLING.repetitionPenalty,
    doSample: o.doSample ?? DEFAULT_SAMPLING.doSample,
  };
  if (!(s.temperature >= 0)) throw new Error(`temperature must be >= 0, got ${s.temperature}`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new Error(`top_p must be in (0, 1], got ${s.topP}`);
  if (!(Number.isInteger(s.topK) && s.topK >= 0)) throw new Error(`top_k must be an integer >= 0, got ${s.topK}`);
  if (!(s.repetitionPenalty > 0)) throw new Error(`repetition_penalty must be > 0, got ${s.repetitionPenalty}`);
  const N = o.numReturnSequences ?? 1;
  if (!(Number.isInteger(N) && N >= 1)) throw new Error(`num_return_sequences must be a positive integer, got ${N}`);
  if (N > 1 && !(s.doSample && s.temperature > 0)) {
    throw new Error('num_return_sequences > 1 needs sampling (a temperature > 0): greedy decoding would return the same text N times');
  }
  return { s, N };
}
