// A rough memory estimate for the Configure view (float32 everywhere, as the engine trains today).

export interface MemoryInputs {
  allParams: number;
  trainableParams: number;
  method: 'lora' | 'full';
  batchSize: number;
  maxLength: number;
  config: Record<string, number | string | boolean | null>;
}

export interface MemoryEstimate {
  weights: number;
  optimizer: number;
  activations: number;
  total: number;
}

const n = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);

export function estimateMemory(x: MemoryInputs): MemoryEstimate {
  const F = 4;
  const d = n(x.config.n_embd, 768), L = n(x.config.n_layer, 12), H = n(x.config.n_head, 12), V = n(x.config.vocab_size, 50257);
  const T = Math.min(x.maxLength, n(x.config.n_positions, x.maxLength));
  const B = x.batchSize;
  // Frozen base weights, plus LoRA's own weights (full fine-tuning trains the weights in place).
  const weights = (x.allParams) * F;
  // Gradients and AdamW's two moments for every trainable parameter.
  const optimizer = x.trainableParams * 3 * F;
  // Saved activations per layer (Korthikanti et al.: 34·d + 5·heads·T elements per token, in
  // 16-bit; doubled for float32), plus logits, their softmax and gradient.
  const activations = B * T * L * (34 * d + 5 * H * T) * 2 + B * T * V * 3 * F;
  return { weights, optimizer, activations, total: weights + optimizer + activations };
}
