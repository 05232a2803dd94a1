// AdamW (Loshchilov & Hutter) exactly as torch.optim.AdamW computes it, on plain Float32Arrays,
// plus global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface ParamState {
  name: string;
  shape: number[];
  data: Float32Array;
  decay: boolean;
  m: Float32Array;
  v: Float32Array;
}

export class AdamW {
  readonly params: ParamState[];
  step = 0;

  constructor(params: { name: string; shape: number[]; data: Float32Array; decay: boolean }[], readonly cfg: AdamWConfig) {
    this.params = params.map((p) => ({ name: p.name, shape: p.shape, data: p.data, decay: p.decay, m: new Float32Array(p.data.length), v: new Float32Array(p.data.length) }));
  }

  /** One update with learning rate `lr`; `grads[i]` belongs to `params[i]`, scaled by `gradScale`. */
  update(grads: Float32Array[], lr: number, gradScale = 1): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps } = this.cfg;
    const bc1 = 1 - b1 ** this.step;
    const bc2sqrt = Math.sqrt(1 - b2 ** this.step);
    const stepSize = lr / bc1;
    this.params.forEach((p, i) => {
      const g = grads[i], w = p.data, m = p.m, v = p.v;
      const decay = p.decay ? 1 - lr * this.cfg.weightDecay : 1;
      for (let j = 0; j < w.length; j++) {
        const gj = g[j] * gradScale;
        const mj = (m[j] = b1 * m[j] + (1 - b1) * gj);
        const vj = (v[j] = b2 * v[j] + (1 - b2) * gj * gj);
        w[j] = w[j] * decay - (stepSize * mj) / (Math.sqrt(vj) / bc2sqrt + eps);
      }
    });
  }
}

/** The global L2 norm of all gradients. */
export function globalNorm(grads: Float32Array[]): number {
  let s = 0;
  for (const g of grads) for (let j = 0; j < g.length; j++) s += g[j] * g[j];
  return Math.sqrt(s);
}

/** torch's clip_grad_norm_ factor: min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
