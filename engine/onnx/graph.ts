// A small ONNX graph builder. Every value carries its dtype and shape (static numbers, or a
// symbolic name for dimensions such as a KV cache's growing length) so that models read like
// the math, and so that autodiff can reduce broadcast gradients without asking the runtime.

import { Msg, OnnxDataType } from './proto.ts';

export type DType = keyof typeof OnnxDataType;
export type Dim = number | string;
export type Shape = Dim[];

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] };

export interface Node {
  op: string;
  domain: string;
  inputs: (Value | null)[];
  outputs: Value[];
  attrs: Record<string, AttrValue>;
  /**
   * A gradient of its own (output gradients -> input gradients), used instead of the op's rule:
   * products with a low-precision frozen weight (engine/quant/packed.ts) differentiate through
   * another form of the weight.
   */
  grad?: (dys: (Value | null)[], need: boolean[]) => (Value | null)[];
}

/**
 * A frozen weight kept in a low-precision form (engine/quant/packed.ts). Its placeholder stands
 * for the float32 weight in model code; the builder routes products and gathers to the packed
 * form, and any other use gets a float32 copy made in the graph.
 */
export interface PackedWeight {
  readonly placeholder: Value;
  /** x · W (conv1d use: `transB` false) or x · Wᵀ (linear use: `transB` true). */
  matmul(x: Value, transB: boolean): Value;
  /** Rows of W (an embedding lookup). */
  gather(indices: Value): Value;
  /** W in float32, for any other op. */
  materialize(): Value;
}

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

export interface Initializer {
  value: Value;
  data: TensorData;
}

export const OPSET = 18;
const IR_VERSION = 8;

export const numel = (shape: Shape): number => {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') throw new Error(`shape [${shape.join(', ')}] is not static`);
    n *= d;
  }
  return n;
};

export const isStatic = (shape: Shape): shape is number[] => shape.every((d) => typeof d === 'number');

export function staticShape(v: Value): number[] {
  if (!isStatic(v.shape)) throw new Error(`${v.name}: shape [${v.shape.join(', ')}] must be static here`);
  return v.shape;
}

function broadcast(a: Shape, b: Shape, op: string): Shape {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
    const y = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    // Symbolic dims (generation) are checked by the runtime; a static one is the better guess.
    else if (typeof x === 'string') out.push(y);
    else if (typeof y === 'string') out.push(x);
    else throw new Error(`${op}: cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
  }
  return out;
}

const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers = new Map<string, Initializer>();
  /**
   * Graph inputs whose data the graph brings along: the session feeds them on every run, from
   * these very buffers (no copy). Large frozen weights live here instead of in the model bytes:
   * ONNX Runtime cannot constant-fold a cast of an input back into a float32 initializer, and
   * the protobuf stays under its 2 GB limit.
   */
  readonly constFeeds = new Map<string, { value: Value; data: TensorData }>();
  readonly packed = new Map<string, PackedWeight>();
  private counter = 0;
  private consts = new Map<string, Value>();

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  value(name: string, dtype: DType, shape: Shape): Value {
    return { name, dtype, shape };
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.value(name, dtype, shape);
    this.inputs.push(v);
    return v;
  }

  initializer(name: string, dtype: DType, shape: number[], data: TensorData): Value {
    if (this.initializers.has(name)) throw new Error(`duplicate initializer ${name}`);
    const v = this.value(name, dtype, shape);
    this.initializers.set(name, { value: v, data });
    return v;
  }

  /** A graph input fed from `data` by the session on every run (see constFeeds). */
  feedInput(name: string, dtype: DType, shape: number[], data: TensorData): Value {
    if (this.constFeeds.has(name) || this.initializers.has(name)) throw new Error(`duplicate constant ${name}`);
    const v = this.input(name, dtype, shape);
    this.constFeeds.set(name, { value: v, data });
    return v;
  }

  /**
   * `x`, but computed only once `dep` exists: a Slice whose end depends on dep's first value.
   * ONNX Runtime runs a node as soon as its inputs are ready; a float32 copy made from a
   * low-precision weight would otherwise be made at the start of the run and held until its use
   * in the backward pass. Costs one copy of x (the packed form) and a one-element read of dep.
   */
  after(x: Value, dep: Value): Value {
    const d0 = staticShape(x)[0];
    const first = this.slice(this.reshape(dep, [-1]), [0], [1], [0]);
    const zero = this.cast(this.mul(first, this.scalar(0, dep.dtype)), 'int64');
    const end = this.add(zero, this.ints([d0]));
    return this.node('Slice', [x, this.ints([0]), end, this.ints([0])], [{ dtype: x.dtype, shape: x.shape }])[0];
  }

  output(v: Value, name?: string): Value {
    if (name && name !== v.name) v = this.identity(v, name);
    this.outputs.push(v);
    return v;
  }

  /** A small constant, shared between users (same dtype, shape and values). */
  constant(dtype: DType, shape: number[], values: number[] | bigint[]): Value {
    const key = `${dtype}|${shape.join(',')}|${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    let data: TensorData;
    switch (dtype) {
      case 'float32': data = Float32Array.from(values as number[]); break;
      case 'float64': data = Float64Array.from(values as number[]); break;
      case 'int64': data = BigInt64Array.from((values as (number | bigint)[]).map((x) => BigInt(x))); break;
      case 'int32': data = Int32Array.from(values as number[]); break;
      case 'bool': case 'uint8': data = Uint8Array.from(values as number[]); break;
      default: throw new Error(`constant of dtype ${dtype} unsupported`);
    }
    const v = this.initializer(this.fresh('const'), dtype, shape, data);
    this.consts.set(key, v);
    return v;
  }

  scalar(x: number, dtype: DType = 'float32'): Value {
    return this.constant(dtype, [], [x]);
  }

  ints(xs: number[]): Value {
    return this.constant('int64', [xs.length], xs);
  }

  node(op: string, inputs: (Value | null)[], outs: { dtype: DType; shape: Shape }[], attrs: Record<string, AttrValue> = {}, domain = ''): Value[] {
    if (this.packed.size) inputs = inputs.map((i) => (i && this.packed.get(i.name)?.materialize()) ?? i);
    const outputs = outs.map((o) => this.value(this.fresh(op.toLowerCase()), o.dtype, o.shape));
    this.nodes.push({ op, domain, inputs, outputs, attrs });
    return outputs;
  }

  private unary(op: string, x: Value, attrs: Record<string, AttrValue> = {}): Value {
    return this.node(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0];
  }

  private binary(op: string, a: Value, b: Value): Value {
    return this.node(op, [a, b], [{ dtype: a.dtype, shape: broadcast(a.shape, b.shape, op) }])[0];
  }

  // ---- elementwise ----
  add(a: Value, b: Value): Value { return this.binary('Add', a, b); }
  sub(a: Value, b: Value): Value { return this.binary('Sub', a, b); }
  mul(a: Value, b: Value): Value { return this.binary('Mul', a, b); }
  div(a: Value, b: Value): Value { return this.binary('Div', a, b); }
  pow(a: Value, b: Value): Value { return this.binary('Pow', a, b); }
  neg(x: Value): Value { return this.unary('Neg', x); }
  sqrt(x: Value): Value { return this.unary('Sqrt', x); }
  exp(x: Value): Value { return this.unary('Exp', x); }
  log(x: Value): Value { return this.unary('Log', x); }
  tanh(x: Value): Value { return this.unary('Tanh', x); }
  erf(x: Value): Value { return this.unary('Erf', x); }
  sigmoid(x: Value): Value { return this.unary('Sigmoid', x); }
  relu(x: Value): Value { return this.unary('Relu', x); }
  /** GPT-2's gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), ORT's fused FastGelu kernel. */
  geluTanh(x: Value): Value {
    return this.node('FastGelu', [x], [{ dtype: x.dtype, shape: x.shape }], {}, 'com.microsoft')[0];
  }
  /** The exact GELU, x Φ(x) (BERT family), ORT's fused Gelu kernel. */
  geluErf(x: Value): Value {
    return this.node('Gelu', [x], [{ dtype: x.dtype, shape: x.shape }], {}, 'com.microsoft')[0];
  }
  identity(x: Value, name?: string): Value {
    const out = this.value(name ?? this.fresh('identity'), x.dtype, x.shape);
    this.nodes.push({ op: 'Identity', domain: '', inputs: [x], outputs: [out], attrs: {} });
    return out;
  }

  sum(xs: Value[]): Value {
    if (xs.length === 1) return xs[0];
    const shape = xs.slice(1).reduce((s, x) => broadcast(s, x.shape, 'Sum'), xs[0].shape);
    return this.node('Sum', xs, [{ dtype: xs[0].dtype, shape }])[0];
  }

  where(cond: Value, a: Value, b: Value): Value {
    const shape = broadcast(broadcast(cond.shape, a.shape, 'Where'), b.shape, 'Where');
    return this.node('Where', [cond, a, b], [{ dtype: a.dtype, shape }])[0];
  }

  compare(op: 'Greater' | 'Less' | 'Equal' | 'GreaterOrEqual' | 'LessOrEqual', a: Value, b: Value): Value {
    return this.node(op, [a, b], [{ dtype: 'bool', shape: broadcast(a.shape, b.shape, op) }])[0];
  }

  cast(x: Value, to: DType): Value {
    if (x.dtype === to) return x;
    return this.node('Cast', [x], [{ dtype: to, shape: x.shape }], { to: OnnxDataType[to] })[0];
  }

  // ---- linear algebra ----
  matmul(a: Value, b: Value): Value {
    const pw = this.packed.get(b.name);
    if (pw) return pw.matmul(a, false);
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error('matmul: operands must have rank >= 2');
    const [m, k1] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
      throw new Error(`matmul: [${a.shape.join(', ')}] x [${b.shape.join(', ')}]`);
    }
    const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2), 'MatMul');
    return this.node('MatMul', [a, b], [{ dtype: a.dtype, shape: [...batch, m, n] }])[0];
  }

  /**
   * MatMul with optional transposes of either operand (ORT's com.microsoft FusedMatMul), which
   * saves the separate Transpose the backward pass would otherwise materialize.
   */
  matmulT(a: Value, b: Value, transA: boolean, transB: boolean, alpha = 1): Value {
    if (!transA && !transB && alpha === 1) return this.matmul(a, b);
    const pw = this.packed.get(b.name);
    if (pw && !transA && alpha === 1) return pw.matmul(a, transB);
    const sa = a.shape, sb = b.shape;
    const [m, k1] = transA ? [sa.at(-1)!, sa.at(-2)!] : [sa.at(-2)!, sa.at(-1)!];
    const [k2, n] = transB ? [sb.at(-1)!, sb.at(-2)!] : [sb.at(-2)!, sb.at(-1)!];
    if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
      throw new Error(`matmulT: [${sa.join(', ')}]${transA ? 'ᵀ' : ''} x [${sb.join(', ')}]${transB ? 'ᵀ' : ''}`);
    }
    const batch = broadcast(sa.slice(0, -2), sb.slice(0, -2), 'FusedMatMul');
    return this.node('FusedMatMul', [a, b], [{ dtype: a.dtype, shape: [...batch, m, n] }],
      { transA: transA ? 1 : 0, transB: transB ? 1 : 0, alpha: { float: alpha } }, 'com.microsoft')[0];
  }

  // ---- normalization and activations ----
  softmax(x: Value, axis = -1): Value { return this.unary('Softmax', x, { axis }); }
  logSoftmax(x: Value, axis = -1): Value { return this.unary('LogSoftmax', x, { axis }); }

  /** LayerNormalization over the last axis; also returns mean and 1/std, which the backward reuses. */
  layerNorm(x: Value, scale: Value, bias: Value, epsilon: number): Value {
    const stat = [...x.shape.slice(0, -1), 1];
    // Statistics are kept in float32 (ONNX's stash_type) unless the input is float64.
    const sd: DType = x.dtype === 'float64' ? 'float64' : 'float32';
    const [y] = this.node('LayerNormalization', [x, scale, bias],
      [{ dtype: x.dtype, shape: x.shape }, { dtype: sd, shape: stat }, { dtype: sd, shape: stat }],
      { axis: -1, epsilon: { float: epsilon }, stash_type: OnnxDataType[sd] });
    return y;
  }

  /**
   * Per-token cross-entropy (ONNX SoftmaxCrossEntropyLoss, reduction none): logits [N, C, ...]
   * with class axis 1, labels [N, ...]; `ignoreIndex` positions give 0. Also returns log_prob.
   */
  softmaxCrossEntropy(logits: Value, labels: Value, ignoreIndex: number): [Value, Value] {
    const [loss, logProb] = this.node('SoftmaxCrossEntropyLoss', [logits, labels],
      [{ dtype: logits.dtype, shape: labels.shape }, { dtype: logits.dtype, shape: logits.shape }],
      { reduction: 'none', ignore_index: ignoreIndex });
    return [loss, logProb];
  }

  // ---- reductions ----
  private reduce(op: string, x: Value, axes: number[], keepdims: boolean): Value {
    const r = x.shape.length;
    const ax = axes.map((a) => normAxis(a, r));
    const shape = keepdims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
    return this.node(op, [x, this.ints(ax)], [{ dtype: x.dtype, shape }], { keepdims: keepdims ? 1 : 0 })[0];
  }
  reduceSum(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceSum', x, axes, keepdims); }
  reduceMean(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMean', x, axes, keepdims); }
  reduceSumSquare(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceSumSquare', x, axes, keepdims); }
  reduceMax(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMax', x, axes, keepdims); }

  // ---- shape manipulation ----
  reshape(x: Value, shape: Dim[]): Value {
    const known = shape.filter((d) => typeof d === 'number' && d !== -1) as number[];
    let out: Dim[] = shape;
    if (shape.includes(-1) && isStatic(x.shape)) {
      const rest = known.reduce((a, b) => a * b, 1);
      out = shape.map((d) => (d === -1 ? numel(x.shape) / rest : d));
    }
    const spec = shape.map((d) => (typeof d === 'number' ? d : 0));
    if (shape.some((d) => typeof d === 'string')) {
      // Symbolic dims are only allowed where they are copied from the same position of the input.
      shape.forEach((d, i) => {
        if (typeof d === 'string' && x.shape[i] !== d) throw new Error(`reshape: symbolic dim ${d} must come from input position ${i}`);
      });
    }
    return this.node('Reshape', [x, this.ints(spec)], [{ dtype: x.dtype, shape: out }])[0];
  }

  transpose(x: Value, perm: number[]): Value {
    return this.node('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], { perm })[0];
  }

  unsqueeze(x: Value, axes: number[]): Value {
    const shape = [...x.shape];
    for (const a of [...axes].sort((p, q) => p - q)) shape.splice(normAxis(a, shape.length + 1), 0, 1);
    return this.node('Unsqueeze', [x, this.ints(axes)], [{ dtype: x.dtype, shape }])[0];
  }

  split(x: Value, axis: number, sizes: number[]): Value[] {
    const ax = normAxis(axis, x.shape.length);
    return this.node('Split', [x, this.ints(sizes)],
      sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === ax ? s : d)) })), { axis: ax });
  }

  concat(xs: Value[], axis: number): Value {
    const ax = normAxis(axis, xs[0].shape.length);
    const total = xs.every((x) => typeof x.shape[ax] === 'number')
      ? xs.reduce((s, x) => s + (x.shape[ax] as number), 0)
      : this.fresh('concat_dim');
    return this.node('Concat', xs, [{ dtype: xs[0].dtype, shape: xs[0].shape.map((d, i) => (i === ax ? total : d)) }], { axis: ax })[0];
  }

  /** Static slice along the given axes (steps of 1). */
  slice(x: Value, starts: number[], ends: number[], axes: number[]): Value {
    const shape = [...x.shape];
    axes.forEach((a, i) => {
      const ax = normAxis(a, shape.length);
      const d = shape[ax];
      if (typeof d !== 'number') { shape[ax] = this.fresh('slice_dim'); return; }
      const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
      shape[ax] = Math.max(0, clamp(ends[i]) - clamp(starts[i]));
    });
    return this.node('Slice', [x, this.ints(starts), this.ints(ends), this.ints(axes)], [{ dtype: x.dtype, shape }])[0];
  }

  expand(x: Value, shape: number[]): Value {
    return this.node('Expand', [x, this.ints(shape)], [{ dtype: x.dtype, shape: broadcast(x.shape, shape, 'Expand') }])[0];
  }

  zeros(shape: number[], dtype: DType = 'float32'): Value {
    return this.expand(this.scalar(0, dtype), shape);
  }

  // ---- indexing ----
  gather(data: Value, indices: Value, axis = 0): Value {
    const pw = this.packed.get(data.name);
    if (pw && normAxis(axis, data.shape.length) === 0) return pw.gather(indices);
    const ax = normAxis(axis, data.shape.length);
    const shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
    return this.node('Gather', [data, indices], [{ dtype: data.dtype, shape }], { axis: ax })[0];
  }

  gatherElements(data: Value, indices: Value, axis: number): Value {
    return this.node('GatherElements', [data, indices], [{ dtype: data.dtype, shape: indices.shape }], { axis: normAxis(axis, data.shape.length) })[0];
  }

  // ---- serialization ----
  toModel(opts: { producer?: string } = {}): Uint8Array {
    if (this.packed.size) {
      for (const n of this.nodes) for (const i of n.inputs) {
        if (i && this.packed.has(i.name)) throw new Error(`${n.op} uses the low-precision weight ${i.name} directly`);
      }
    }
    let bytes = 0;
    for (const [, init] of this.initializers) bytes += init.data.byteLength;
    if (bytes > 2 ** 31 - 2 ** 26) {
      throw new Error(`the model's initializers take ${(bytes / 2 ** 30).toFixed(2)} GiB, over ONNX's 2 GiB protobuf limit (feed the large tensors as inputs instead)`);
    }
    const graph = new Msg();
    for (const n of this.nodes) graph.msg(1, encodeNode(n));
    graph.string(2, 'lora_studio');
    for (const [, init] of this.initializers) graph.msg(5, encodeTensor(init.value, init.data));
    for (const v of this.inputs) graph.msg(11, encodeValueInfo(v));
    for (const v of this.outputs) graph.msg(12, encodeValueInfo(v));
    const model = new Msg();
    model.int(1, IR_VERSION);
    model.msg(8, new Msg().string(1, '').int(2, OPSET));
    model.msg(8, new Msg().string(1, 'com.microsoft').int(2, 1));
    model.string(2, opts.producer ?? 'lora-studio');
    model.msg(7, graph);
    return model.toBytes();
  }
}

function encodeNode(n: Node): Msg {
  const m = new Msg();
  for (const i of n.inputs) m.string(1, i ? i.name : '');
  for (const o of n.outputs) m.string(2, o.name);
  m.string(3, n.outputs[0]?.name ?? n.op);
  m.string(4, n.op);
  for (const [name, v] of Object.entries(n.attrs)) m.msg(5, encodeAttr(name, v));
  if (n.domain) m.string(7, n.domain);
  return m;
}

function encodeAttr(name: string, v: AttrValue): Msg {
  const m = new Msg().string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: use {float: x} for floats`);
    m.int(3, v).int(20, 2);
  } else if (typeof v === 'string') {
    m.string(4, v).int(20, 3);
  } else if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') {
      for (const s of v as string[]) m.string(9, s);
      m.int(20, 8);
    } else {
      for (const x of v as number[]) m.int(8, x);
      m.int(20, 7);
    }
  } else if ('float' in v) {
    m.float(2, v.float).int(20, 1);
  } else {
    for (const x of v.floats) m.float(7, x);
    m.int(20, 6);
  }
  return m;
}

function encodeTensor(v: Value, data: TensorData): Msg {
  const m = new Msg();
  for (const d of v.shape) m.int(1, d as number);
  m.int(2, OnnxDataType[v.dtype]);
  m.string(8, v.name);
  m.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return m;
}

function encodeValueInfo(v: Value): Msg {
  const shape = new Msg();
  for (const d of v.shape) shape.msg(1, typeof d === 'number' ? new Msg().int(1, d) : new Msg().string(2, d));
  const tensorType = new Msg().int(1, OnnxDataType[v.dtype]).msg(2, shape);
  return new Msg().string(1, v.name).msg(2, new Msg().msg(1, tensorType));
}
