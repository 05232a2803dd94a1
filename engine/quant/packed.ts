// Frozen weights in low precision inside a graph. Each form gives the forward product, the
// product the backward pass needs for the activations' gradient (dx = dy · Mᵀ), embedding
// lookups and, for any other use, a float32 copy, without ever letting ONNX Runtime hold a
// float32 copy of the whole model:
//   - the packed data are graph inputs fed from our buffers (Graph.feedInput; bfloat16, which
//     onnxruntime-node cannot feed, stays an initializer), so constant folding cannot turn a
//     cast or a dequantization back into a float32 initializer;
//   - float32 copies made in the backward pass are transient, one layer at a time: each is made
//     only once the gradient it multiplies exists (Graph.after), then freed after its product.
// Forms (engine/quant/formats.ts): f16 / bf16 (cast to float32 for MatMul), int8 (per-channel,
// com.microsoft DynamicQuantizeMatMul forward, dequantized for the backward), int4 (blockwise,
// com.microsoft MatMulNBits forward, dequantized for the backward).

import type { Graph, PackedWeight, Value } from '../onnx/graph.ts';
import type { Layout, Tensor } from '../models/types.ts';
import { type BaseDtype, INT4_BLOCK, quantizeInt4, quantizeInt8, toBfloat16, toFloat16 } from './formats.ts';

const zeros = new WeakMap<Graph, Value>();
/** A fed scalar 0: a dependency ONNX Runtime cannot see through (no constant folding). */
function fedZero(g: Graph): Value {
  let z = zeros.get(g);
  if (!z) {
    z = g.feedInput('quant:zero', 'float32', [1], new Float32Array(1));
    zeros.set(g, z);
  }
  return z;
}

/** Where a weight is: named in errors as "model M, layer L". */
export interface PackContext {
  model: string;
  layer: string;
}

export class PackError extends Error {}

/** Trailing dims of x joined to the product's output dim. */
const outShape = (x: Value, n: number) => [...x.shape.slice(0, -1), n];

abstract class Base implements PackedWeight {
  readonly placeholder: Value;
  constructor(protected g: Graph, readonly name: string, readonly shape: number[], readonly layout: Layout | null, protected ctx: PackContext) {
    this.placeholder = { name, dtype: 'float32', shape };
  }
  /** M [K, N] for x · M in the stored layout: linear W [N, K] (M = Wᵀ), conv1d W [K, N]. */
  protected get KN(): [number, number] {
    return this.layout === 'conv1d' ? [this.shape[0], this.shape[1]] : [this.shape[1], this.shape[0]];
  }
  protected checkUse(transB: boolean): void {
    const want = this.layout === 'linear';
    if (this.layout && transB !== want) {
      throw new PackError(`model ${this.ctx.model}, layer ${this.ctx.layer}: the weight is used as ${transB ? 'x·Wᵀ' : 'x·W'} but stored for ${want ? 'x·Wᵀ' : 'x·W'}`);
    }
  }
  abstract matmul(x: Value, transB: boolean): Value;
  abstract gather(indices: Value): Value;
  abstract materialize(): Value;
  /** Sets the product node's gradient: only the activations' (the weight is frozen). */
  protected withGrad(y: Value, dx: (dy: Value) => Value): Value {
    const node = this.g.nodes.at(-1)!;
    if (node.outputs[0] !== y) throw new Error('packed weight: product node not last');
    node.grad = ([dy], need) => [need[0] && dy ? dx(dy) : null, ...node.inputs.slice(1).map(() => null)];
    return y;
  }
}

/** f16 (fed) or bf16 (an initializer: onnxruntime-node has no bfloat16 tensor) cast to float32 at each use. */
class Half extends Base {
  private data: Value;
  constructor(g: Graph, name: string, w: Tensor, layout: Layout | null, ctx: PackContext, readonly kind: 'f16' | 'bf16') {
    super(g, name, w.shape, layout, ctx);
    this.data = kind === 'f16'
      ? g.feedInput(`${name}:f16`, 'float16', w.shape, toFloat16(w.data))
      : g.initializer(`${name}:bf16`, 'bfloat16', w.shape, toBfloat16(w.data));
  }
  private f32(dep: Value): Value { return this.g.cast(this.g.after(this.data, dep), 'float32'); }
  matmul(x: Value, transB: boolean): Value {
    const g = this.g;
    const y = g.matmulT(x, this.f32(x), false, transB);
    return this.withGrad(y, (dy) => g.matmulT(dy, this.f32(dy), false, !transB));
  }
  gather(indices: Value): Value { return this.g.cast(this.g.gather(this.data, indices, 0), 'float32'); }
  materialize(): Value { return this.f32(fedZero(this.g)); }
}

/** Per-channel int8: DynamicQuantizeMatMul forward (int8 activations, int32 accumulation). */
class Int8 extends Base {
  private q: Value;
  private s: Value;
  constructor(g: Graph, name: string, w: Tensor, layout: Layout, ctx: PackContext) {
    super(g, name, w.shape, layout, ctx);
    const [K, N] = this.KN;
    const m = quantizeInt8(w.data, K, N, layout === 'linear');
    this.q = g.feedInput(`${name}:int8`, 'int8', [K, N], m.q);
    this.s = g.feedInput(`${name}:int8_scale`, 'float32', [N], m.scales);
  }
  /** M [K, N] in float32. */
  private m(dep: Value): Value { return this.g.mul(this.g.cast(this.g.after(this.q, dep), 'float32'), this.s); }
  matmul(x: Value, transB: boolean): Value {
    this.checkUse(transB);
    const g = this.g;
    const [, N] = this.KN;
    const [y] = g.node('DynamicQuantizeMatMul', [x, this.q, this.s], [{ dtype: 'float32', shape: outShape(x, N) }], {}, 'com.microsoft');
    return this.withGrad(y, (dy) => g.matmulT(dy, this.m(dy), false, true));
  }
  gather(indices: Value): Value {
    const g = this.g;
    if (this.layout === 'conv1d') return g.mul(g.cast(g.gather(this.q, indices, 0), 'float32'), this.s);
    // Rows of W [N, K] are columns of M [K, N].
    const cols = g.mul(g.cast(g.gather(this.q, indices, 1), 'float32'), g.gather(this.s, indices, 0)); // [K, ...idx]
    const r = cols.shape.length;
    return g.transpose(cols, [...Array(r - 1).keys()].map((i) => i + 1).concat([0]));
  }
  materialize(): Value {
    const m = this.m(fedZero(this.g));
    return this.layout === 'linear' ? this.g.transpose(m, [1, 0]) : m;
  }
}

/** Blockwise int4: MatMulNBits forward (float32 accuracy), dequantized for the backward. */
class Int4 extends Base {
  private b: Value;
  private s: Value;
  private nb: number;
  constructor(g: Graph, name: string, w: Tensor, layout: Layout, ctx: PackContext) {
    super(g, name, w.shape, layout, ctx);
    const [K, N] = this.KN;
    if (K % INT4_BLOCK !== 0) {
      throw new PackError(`model ${ctx.model}, layer ${ctx.layer}: int4 needs the inner size (${K}) to be a multiple of the block (${INT4_BLOCK}); use --base-dtype int8 or f16`);
    }
    const m = quantizeInt4(w.data, K, N, layout === 'linear');
    this.nb = K / INT4_BLOCK;
    this.b = g.feedInput(`${name}:int4`, 'uint8', [N, this.nb, INT4_BLOCK / 2], m.q);
    this.s = g.feedInput(`${name}:int4_scale`, 'float32', [N * this.nb], m.scales);
  }
  /** Mᵀ [rows..., K] in float32 from packed rows [rows..., nb, block/2] and their scales [rows..., nb]. */
  private unpack(b: Value, s: Value): Value {
    const g = this.g;
    const lead = b.shape.slice(0, -2);
    const lo = g.node('BitwiseAnd', [b, g.constant('uint8', [], [15])], [{ dtype: 'uint8', shape: b.shape }])[0];
    const hi = g.node('BitShift', [b, g.constant('uint8', [], [4])], [{ dtype: 'uint8', shape: b.shape }], { direction: 'RIGHT' })[0];
    const both = g.concat([g.unsqueeze(lo, [-1]), g.unsqueeze(hi, [-1])], -1); // [..., nb, half, 2]
    const vals = g.sub(g.cast(g.reshape(both, [...lead, this.nb, INT4_BLOCK]), 'float32'), g.scalar(8));
    return g.reshape(g.mul(vals, g.unsqueeze(s, [-1])), [...lead, this.nb * INT4_BLOCK]);
  }
  private mT(dep: Value): Value {
    const [, N] = this.KN;
    return this.unpack(this.g.after(this.b, dep), this.g.reshape(this.s, [N, this.nb]));
  }
  matmul(x: Value, transB: boolean): Value {
    this.checkUse(transB);
    const g = this.g;
    const [K, N] = this.KN;
    const [y] = g.node('MatMulNBits', [x, this.b, this.s], [{ dtype: 'float32', shape: outShape(x, N) }],
      { K, N, bits: 4, block_size: INT4_BLOCK, accuracy_level: 0 }, 'com.microsoft');
    return this.withGrad(y, (dy) => g.matmul(dy, this.mT(dy)));
  }
  gather(indices: Value): Value {
    const g = this.g;
    if (this.layout === 'conv1d') return g.gather(this.materialize(), indices, 0);
    const [, N] = this.KN;
    return this.unpack(g.gather(this.b, indices, 0), g.gather(g.reshape(this.s, [N, this.nb]), indices, 0));
  }
  materialize(): Value {
    const mt = this.mT(fedZero(this.g));
    return this.layout === 'conv1d' ? this.g.transpose(mt, [1, 0]) : mt;
  }
}

/**
 * Puts frozen weight `name` into graph `g` in `dtype` and returns its placeholder value.
 * `layout` says how the model multiplies with it (null: not a product weight, e.g. a token
 * embedding; int8/int4 then store it as f16, which gathers cheaply).
 */
export function packWeight(g: Graph, name: string, w: Tensor, dtype: Exclude<BaseDtype, 'f32'>, layout: Layout | null, ctx: PackContext): Value {
  let pw: Base;
  if (w.shape.length !== 2 && layout) throw new PackError(`model ${ctx.model}, layer ${ctx.layer}: a ${w.shape.length}-D weight cannot be stored as ${dtype}`);
  if (dtype === 'f16' || dtype === 'bf16' || !layout) pw = new Half(g, name, w, layout, ctx, dtype === 'bf16' ? 'bf16' : 'f16');
  else if (dtype === 'int8') pw = new Int8(g, name, w, layout, ctx);
  else pw = new Int4(g, name, w, layout, ctx);
  g.packed.set(name, pw);
  return pw.placeholder;
}
