// Additive attention biases fed from JS: 0 where a query may attend, -1e9 elsewhere.

/**
 * Causal bias [B, 1, T, T] for a right- or left-padded batch: query t may attend key s when
 * s <= t and mask[s] = 1. Rows with nothing to attend to get a uniform (harmless) distribution.
 */
export function causalAttentionBias(mask: ArrayLike<number>, B: number, T: number): Float32Array {
  const out = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * T;
      for (let s = 0; s < T; s++) out[row + s] = s <= t && mask[b * T + s] ? 0 : -1e9;
    }
  }
  return out;
}

/** Padding-only bias [B, 1, 1, T] (bidirectional encoders). */
export function paddingAttentionBias(mask: ArrayLike<number>, B: number, T: number): Float32Array {
  const out = new Float32Array(B * T);
  for (let i = 0; i < B * T; i++) out[i] = mask[i] ? 0 : -1e9;
  return out;
}

/** The bias shape an attention kind takes for a [B, T] batch. */
export const attentionBiasShape = (kind: 'causal' | 'bidirectional', B: number, T: number): number[] =>
  kind === 'causal' ? [B, 1, T, T] : [B, 1, 1, T];

/** The bias for a padded batch of either kind. */
export const attentionBias = (kind: 'causal' | 'bidirectional', mask: ArrayLike<number>, B: number, T: number): Float32Array =>
  kind === 'causal' ? causalAttentionBias(mask, B, T) : paddingAttentionBias(mask, B, T);
