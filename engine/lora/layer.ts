// One LoRA layer with PEFT's semantics (peft/tuners/lora/layer.py): it owns A [r, in] and
// B [out, r], the scaling (alpha/r, or alpha/√r with rsLoRA), dropout on its input, and merge.
// y = base(x) + B(A(dropout(x))) · scaling

import type { LinearModule } from '../models/types.ts';
import type { Graph, Value } from '../onnx/graph.ts';
import type { Rng } from '../util/rng.ts';

export class LoraLayer {
  readonly A: Float32Array;
  readonly B: Float32Array;

  constructor(
    readonly module: LinearModule,
    readonly r: number,
    readonly scaling: number,
    readonly dropout: number,
  ) {
    this.A = new Float32Array(r * module.inFeatures);
    this.B = new Float32Array(module.outFeatures * r);
  }

  get aName(): string { return `${this.module.name}.lora_A.weight`; }
  get bName(): string { return `${this.module.name}.lora_B.weight`; }
  get aShape(): number[] { return [this.r, this.module.inFeatures]; }
  get bShape(): number[] { return [this.module.outFeatures, this.r]; }
  get numParams(): number { return this.A.length + this.B.length; }

  /**
   * PEFT's reset_lora_parameters: A Kaiming-uniform with a = √5 (bound 1/√in), or normal with
   * std 1/r for 'gaussian'; B zero, so training starts from the base model exactly.
   */
  init(rng: Rng, mode: 'kaiming' | 'gaussian'): void {
    if (mode === 'gaussian') {
      for (let i = 0; i < this.A.length; i++) this.A[i] = rng.normal() / this.r;
    } else {
      const bound = 1 / Math.sqrt(this.module.inFeatures);
      for (let i = 0; i < this.A.length; i++) this.A[i] = rng.uniform(-bound, bound);
    }
    this.B.fill(0);
  }

  /** The update B(A(x·mask))·scaling as graph nodes; x is [..., in]. */
  delta(g: Graph, x: Value, A: Value, B: Value, dropoutMask?: Value): Value {
    const xin = dropoutMask ? g.mul(x, dropoutMask) : x;
    return g.matmulT(g.matmulT(xin, A, false, true), B, false, true, this.scaling);
  }

  /**
   * PEFT's merge: W += ΔW · scaling with ΔW = B A, into the weight as the module stores it —
   * nn.Linear [out, in] takes B A, Conv1D (in, out) takes its transpose.
   */
  mergeInto(W: Float32Array, sign: 1 | -1 = 1): void {
    const { inFeatures: nIn, outFeatures: nOut } = this.module;
    const r = this.r, s = this.scaling * sign;
    const conv1d = this.module.layout === 'conv1d';
    for (let o = 0; o < nOut; o++) {
      for (let i = 0; i < nIn; i++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += this.B[o * r + k] * this.A[k * nIn + i];
        W[conv1d ? i * nOut + o : o * nIn + i] += acc * s;
      }
    }
  }
}
