// Reverse-mode differentiation over our ONNX graphs: one gradient rule per op, each emitting
// ordinary ONNX nodes into the same graph, so the forward and backward run as one session.

import { type Graph, type Node, type Value, staticShape } from './graph.ts';

type Rule = (g: Graph, node: Node, dy: (Value | null)[], need: boolean[]) => (Value | null)[];

/** Sum a broadcast gradient back down to the shape of the operand it flows to. */
export function unbroadcast(g: Graph, grad: Value, target: Value): Value {
  const gs = staticShape(grad), ts = staticShape(target);
  if (gs.length === ts.length && gs.every((d, i) => d === ts[i])) return grad;
  const lead = gs.length - ts.length;
  const axes: number[] = [];
  for (let i = 0; i < gs.length; i++) {
    if (i < lead || (ts[i - lead] === 1 && gs[i] !== 1)) axes.push(i);
  }
  const reduced = axes.length ? g.reduceSum(grad, axes, true) : grad;
  return g.reshape(reduced, ts);
}

const swapLast = (rank: number): number[] => [...Array(rank - 2).keys(), rank - 1, rank - 2];

function matmulGrad(g: Graph, a: Value, b: Value, dy: Value, transA: boolean, transB: boolean, need: boolean[], alpha: number): (Value | null)[] {
  let da: Value | null = null, db: Value | null = null;
  const ra = a.shape.length, rb = b.shape.length;
  if (need[0]) {
    // y = op(a) op(b): d op(a) = dy op(b)^T
    da = transA ? g.matmulT(b, dy, transB, true, alpha) : g.matmulT(dy, b, false, !transB, alpha);
    if (ra === 2 && da.shape.length > 2) {
      da = g.reduceSum(da, [...Array(da.shape.length - 2).keys()], false);
    } else {
      da = unbroadcast(g, da, a);
    }
  }
  if (need[1]) {
    if (rb === 2 && ra > 2) {
      // A weight shared across the batch: fold the batch into the rows, one big GEMM.
      const k = staticShape(a).at(transA ? -2 : -1)!;
      const n = staticShape(dy).at(-1)!;
      if (transA) throw new Error('matmul grad: transposed batched A with a 2-D B is not supported');
      const a2 = g.reshape(a, [-1, k]);
      const dy2 = g.reshape(dy, [-1, n]);
      db = transB ? g.matmulT(dy2, a2, true, false, alpha) : g.matmulT(a2, dy2, true, false, alpha);
    } else {
      db = transB ? g.matmulT(dy, a, true, transA, alpha) : g.matmulT(a, dy, !transA, false, alpha);
      db = unbroadcast(g, db, b);
    }
  }
  return [da, db];
}

const rules: Record<string, Rule> = {
  Identity: (_g, _n, [dy]) => [dy],
  Add: (g, n, [dy], need) => [need[0] ? unbroadcast(g, dy!, n.inputs[0]!) : null, need[1] ? unbroadcast(g, dy!, n.inputs[1]!) : null],
  Sub: (g, n, [dy], need) => [need[0] ? unbroadcast(g, dy!, n.inputs[0]!) : null, need[1] ? unbroadcast(g, g.neg(dy!), n.inputs[1]!) : null],
  Sum: (g, n, [dy], need) => n.inputs.map((x, i) => (need[i] ? unbroadcast(g, dy!, x!) : null)),
  Mul: (g, n, [dy], need) => {
    const [a, b] = n.inputs as Value[];
    return [need[0] ? unbroadcast(g, g.mul(dy!, b), a) : null, need[1] ? unbroadcast(g, g.mul(dy!, a), b) : null];
  },
  Div: (g, n, [dy], need) => {
    const [a, b] = n.inputs as Value[];
    const y = n.outputs[0];
    return [
      need[0] ? unbroadcast(g, g.div(dy!, b), a) : null,
      need[1] ? unbroadcast(g, g.neg(g.div(g.mul(dy!, y), b)), b) : null,
    ];
  },
  Pow: (g, n, [dy], need) => {
    if (need[1]) throw new Error('Pow: gradient with respect to the exponent is not supported');
    const [a, p] = n.inputs as Value[];
    // d a^p = p a^(p-1)
    const pm1 = g.sub(p, g.scalar(1, p.dtype));
    return [unbroadcast(g, g.mul(dy!, g.mul(p, g.pow(a, pm1))), a), null];
  },
  Neg: (g, _n, [dy]) => [g.neg(dy!)],
  Sqrt: (g, n, [dy]) => [g.div(g.mul(dy!, g.scalar(0.5, dy!.dtype)), n.outputs[0])],
  Exp: (g, n, [dy]) => [g.mul(dy!, n.outputs[0])],
  Log: (g, n, [dy]) => [g.div(dy!, n.inputs[0]!)],
  Tanh: (g, n, [dy]) => {
    const y = n.outputs[0];
    return [g.mul(dy!, g.sub(g.scalar(1, y.dtype), g.mul(y, y)))];
  },
  Erf: (g, n, [dy]) => {
    const x = n.inputs[0]!;
    return [g.mul(dy!, g.mul(g.scalar(2 / Math.sqrt(Math.PI), x.dtype), g.exp(g.neg(g.mul(x, x)))))];
  },
  Sigmoid: (g, n, [dy]) => {
    const y = n.outputs[0];
    return [g.mul(dy!, g.mul(y, g.sub(g.scalar(1, y.dtype), y)))];
  },
  Relu: (g, n, [dy]) => {
    const x = n.inputs[0]!;
    return [g.where(g.compare('Greater', x, g.scalar(0, x.dtype)), dy!, g.scalar(0, x.dtype))];
  },
  FastGelu: (g, n, [dy]) => {
    // gelu_new(x) = x·σ(2u), u = c(x + k x³), so d/dx = s + x s (1 − s)·2c(1 + 3k x²) with
    // s = σ(2u), written as s·(1 + x b (1 − s)): 11 passes over the activation, not 16.
    const x = n.inputs[0]!;
    const c = Math.sqrt(2 / Math.PI), k = 0.044715;
    const sc = (v: number) => g.scalar(v, x.dtype);
    const x2 = g.mul(x, x);
    const s = g.sigmoid(g.mul(x, g.add(g.mul(x2, sc(2 * c * k)), sc(2 * c))));
    const xb = g.mul(x, g.add(g.mul(x2, sc(6 * c * k)), sc(2 * c)));
    const d = g.mul(s, g.add(g.mul(xb, g.sub(sc(1), s)), sc(1)));
    return [g.mul(dy!, d)];
  },
  Gelu: (g, n, [dy]) => {
    // d/dx of x Φ(x) = Φ(x) + x φ(x)
    const x = n.inputs[0]!;
    const s = (v: number) => g.scalar(v, x.dtype);
    const cdf = g.mul(s(0.5), g.add(s(1), g.erf(g.mul(x, s(Math.SQRT1_2)))));
    const pdf = g.mul(s(1 / Math.sqrt(2 * Math.PI)), g.exp(g.mul(s(-0.5), g.mul(x, x))));
    return [g.mul(dy!, g.add(cdf, g.mul(x, pdf)))];
  },
  Where: (g, n, [dy], need) => {
    const [c, a, b] = n.inputs as Value[];
    const zero = g.scalar(0, dy!.dtype);
    return [null, need[1] ? unbroadcast(g, g.where(c, dy!, zero), a) : null, need[2] ? unbroadcast(g, g.where(c, zero, dy!), b) : null];
  },
  Cast: (g, n, [dy]) => [g.cast(dy!, n.inputs[0]!.dtype)],
  MatMul: (g, n, [dy], need) => matmulGrad(g, n.inputs[0]!, n.inputs[1]!, dy!, false, false, need, 1),
  FusedMatMul: (g, n, [dy], need) => {
    const alpha = (n.attrs.alpha as { float: number } | undefined)?.float ?? 1;
    return matmulGrad(g, n.inputs[0]!, n.inputs[1]!, dy!, n.attrs.transA === 1, n.attrs.transB === 1, need, alpha);
  },
  Softmax: (g, n, [dy]) => {
    const y = n.outputs[0];
    const axis = n.attrs.axis as number;
    return [g.mul(y, g.sub(dy!, g.reduceSum(g.mul(dy!, y), [axis], true)))];
  },
  LogSoftmax: (g, n, [dy]) => {
    const y = n.outputs[0];
    const axis = n.attrs.axis as number;
    return [g.sub(dy!, g.mul(g.exp(y), g.reduceSum(dy!, [axis], true)))];
  },
  LayerNormalization: (g, n, dys, need) => {
    const [x, scale] = n.inputs as Value[];
    const [, mean, invStd] = n.outputs;
    const dy = dys[0]!;
    const xhat = g.mul(g.sub(x, mean), invStd);
    const rowsAxes = [...Array(x.shape.length - 1).keys()];
    let dx: Value | null = null;
    if (need[0]) {
      const dxhat = g.mul(dy, scale);
      const m1 = g.reduceMean(dxhat, [-1], true);
      const m2 = g.reduceMean(g.mul(dxhat, xhat), [-1], true);
      dx = g.mul(invStd, g.sub(g.sub(dxhat, m1), g.mul(xhat, m2)));
    }
    return [
      dx,
      need[1] ? g.reduceSum(g.mul(dy, xhat), rowsAxes, false) : null,
      need[2] ? g.reduceSum(dy, rowsAxes, false) : null,
    ];
  },
  SoftmaxCrossEntropyLoss: (g, n, [dy], need) => {
    // d loss_i / d logits_i = (softmax_i - onehot(label_i)) · dy_i; ignored labels have loss 0
    // and get no gradient. Built as exp(log_prob)·dy, then dy subtracted at each label (a
    // scatter of [N, 1, ...] values), so only three passes touch the [N, C, ...] tensor.
    if (need[1]) throw new Error('SoftmaxCrossEntropyLoss: labels are not differentiable');
    const [logits, labels] = n.inputs as Value[];
    const logProb = n.outputs[1];
    const ignore = n.attrs.ignore_index as number;
    const lab = g.unsqueeze(labels, [1]);
    const valid = g.compare('Equal', lab, g.constant(labels.dtype, [], [ignore]));
    const zero = g.scalar(0, dy!.dtype);
    const w = g.where(valid, zero, g.unsqueeze(dy!, [1])); // [N, 1, ...]
    const safeLab = g.where(valid, g.constant(labels.dtype, [], [0]), lab);
    const d = g.mul(g.exp(logProb), w);
    const atLabel = g.sub(g.gatherElements(d, safeLab, 1), w);
    return [g.node('ScatterElements', [d, safeLab, atLabel], [{ dtype: logits.dtype, shape: logits.shape }], { axis: 1 })[0], null];
  },
  ReduceSum: (g, n, [dy]) => [expandReduced(g, n, dy!, 1)],
  ReduceMean: (g, n, [dy]) => {
    const x = staticShape(n.inputs[0]!);
    const axes = constInts(g, n.inputs[1]!).map((a) => (a < 0 ? a + x.length : a));
    const count = axes.reduce((c, a) => c * x[a], 1);
    return [expandReduced(g, n, dy!, 1 / count)];
  },
  Reshape: (g, n, [dy]) => [g.reshape(dy!, staticShape(n.inputs[0]!))],
  Unsqueeze: (g, n, [dy]) => [g.reshape(dy!, staticShape(n.inputs[0]!))],
  Squeeze: (g, n, [dy]) => [g.reshape(dy!, staticShape(n.inputs[0]!))],
  Expand: (g, n, [dy]) => [unbroadcast(g, dy!, n.inputs[0]!)],
  Transpose: (g, n, [dy]) => {
    const perm = n.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [g.transpose(dy!, inv)];
  },
  Split: (g, n, dys) => {
    const axis = n.attrs.axis as number;
    const parts = dys.map((d, i) => d ?? g.zeros(staticShape(n.outputs[i]), n.outputs[i].dtype));
    return [g.concat(parts, axis)];
  },
  Concat: (g, n, [dy], need) => {
    const axis = n.attrs.axis as number;
    let off = 0;
    return n.inputs.map((x, i) => {
      const len = staticShape(x!)[axis];
      const part = need[i] ? g.slice(dy!, [off], [off + len], [axis]) : null;
      off += len;
      return part;
    });
  },
  Slice: (g, n, [dy]) => {
    // Scatter the slice back into zeros: Pad by the amounts cut at each end.
    const x = staticShape(n.inputs[0]!);
    const starts = constInts(g, n.inputs[1]!), ends = constInts(g, n.inputs[2]!), axes = constInts(g, n.inputs[3]!);
    const pads = new Array(2 * x.length).fill(0);
    axes.forEach((a, i) => {
      const ax = a < 0 ? a + x.length : a;
      const d = x[ax];
      const clamp = (v: number) => Math.max(0, Math.min(d, v < 0 ? v + d : v));
      pads[ax] = clamp(starts[i]);
      pads[ax + x.length] = d - clamp(ends[i]);
    });
    return [g.node('Pad', [dy!, g.ints(pads)], [{ dtype: dy!.dtype, shape: x }], { mode: 'constant' })[0], null, null, null];
  },
  Gather: (g, n, [dy], need) => {
    if (need[1]) throw new Error('Gather: indices are not differentiable');
    const [data, idx] = n.inputs as Value[];
    if ((n.attrs.axis ?? 0) !== 0) throw new Error('Gather: gradient only for axis 0');
    // Rows gathered several times get the sum of their gradients.
    const ds = staticShape(data);
    const idx2 = g.unsqueeze(g.cast(idx, 'int64'), [-1]);
    const zeros = g.zeros(ds, data.dtype);
    return [g.node('ScatterND', [zeros, idx2, dy!], [{ dtype: data.dtype, shape: ds }], { reduction: 'add' })[0], null];
  },
  GatherElements: (g, n, [dy], need) => {
    if (need[1]) throw new Error('GatherElements: indices are not differentiable');
    const [data, idx] = n.inputs as Value[];
    const ds = staticShape(data);
    return [g.node('ScatterElements', [g.zeros(ds, data.dtype), idx, dy!], [{ dtype: data.dtype, shape: ds }],
      { axis: n.attrs.axis as number, reduction: 'add' })[0], null];
  },
};

function constInts(g: Graph, v: Value): number[] {
  const init = g.initializers.get(v.name);
  if (!init) throw new Error(`${v.name} must be a constant`);
  return Array.from(init.data as BigInt64Array, Number);
}

function expandReduced(g: Graph, n: Node, dy: Value, scale: number): Value {
  const x = n.inputs[0]!;
  const xs = staticShape(x);
  const axes = constInts(g, n.inputs[1]!).map((a) => (a < 0 ? a + xs.length : a));
  let d = dy;
  if (n.attrs.keepdims === 0) d = g.reshape(d, xs.map((s, i) => (axes.includes(i) ? 1 : s)));
  if (scale !== 1) d = g.mul(d, g.scalar(scale, d.dtype));
  return g.expand(d, xs);
}

export const differentiableOps = (): string[] => Object.keys(rules);

/**
 * Appends the gradient of `loss` (a scalar; or any value, seeded with `seed`) with respect to
 * each of `wrt` to the graph and returns them in order. Gradients that do not depend on `loss`
 * come back as zeros.
 */
export interface GradientOptions {
  /**
   * Gradient checkpointing: ranges [start, end) of forward node indexes (a model's blocks)
   * whose forward is recomputed in the backward pass, so that only their inputs are kept from
   * the forward pass (each recomputation waits for the gradient arriving at its block).
   */
  recompute?: [number, number][];
}

export function gradients(g: Graph, loss: Value, wrt: Value[], seed?: Value, o: GradientOptions = {}): Value[] {
  // Nodes between wrt and loss: forward-reachable from wrt and backward-reachable from loss.
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o.name, n);
  const needed = new Set<string>();
  const stack = [loss.name];
  while (stack.length) {
    const name = stack.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    const p = producer.get(name);
    if (p) for (const i of p.inputs) if (i) stack.push(i.name);
  }
  const live = new Set(wrt.map((v) => v.name));
  const forwardNodes = g.nodes.slice();
  for (const n of forwardNodes) {
    if (n.inputs.some((i) => i && live.has(i.name))) for (const o of n.outputs) live.add(o.name);
  }
  const onPath = (v: Value | null): boolean => !!v && live.has(v.name) && needed.has(v.name);

  const grads = new Map<string, Value[]>();
  const push = (v: Value, d: Value) => {
    const list = grads.get(v.name);
    if (list) list.push(d);
    else grads.set(v.name, [d]);
  };
  const total = (v: Value): Value | null => {
    const list = grads.get(v.name);
    if (!list) return null;
    const s = g.sum(list);
    grads.set(v.name, [s]);
    return s;
  };

  push(loss, seed ?? g.constant(loss.dtype, staticShape(loss), new Array(staticShape(loss).reduce((a, b) => a * b, 1)).fill(1)));
  const segmentEnd = new Map<number, [number, number]>();
  for (const r of o.recompute ?? []) if (r[1] > r[0]) segmentEnd.set(r[1] - 1, r);
  let clones: Map<number, Node> | null = null;
  let segStart = -1;
  for (let k = forwardNodes.length - 1; k >= 0; k--) {
    const seg = segmentEnd.get(k);
    if (seg) {
      clones = recomputeSegment(g, forwardNodes, seg, grads, total);
      segStart = seg[0];
    }
    if (k < segStart) clones = null;
    const orig = forwardNodes[k];
    if (!orig.outputs.some(onPath)) continue;
    const need = orig.inputs.map(onPath);
    if (!need.some(Boolean)) continue;
    const dys = orig.outputs.map(total);
    if (dys.every((d) => d === null)) continue;
    // Rules read the recomputed node's values; gradients stay keyed by the original names.
    const n = clones?.get(k) ?? orig;
    const rule = n.grad ? (_g: Graph, _n: Node, d: (Value | null)[], nd: boolean[]) => n.grad!(d, nd) : rules[n.op];
    if (!rule) throw new Error(`autodiff: no gradient rule for ${n.op}`);
    const dxs = rule(g, n, dys, need);
    orig.inputs.forEach((x, i) => {
      const d = dxs[i];
      if (x && need[i] && d) push(x, d);
    });
  }
  return wrt.map((v) => total(v) ?? g.zeros(staticShape(v), v.dtype));
}

/**
 * Re-emits the forward nodes of [start, end) with fresh outputs, for the backward pass. Inputs
 * from outside the range that earlier nodes computed are passed through Graph.after on the
 * gradient already arrived at the range's outputs: the recomputation cannot start before the
 * backward pass reaches the block (ONNX Runtime runs a node as soon as its inputs exist), and
 * the common-subexpression pass cannot merge it back into the forward.
 */
function recomputeSegment(g: Graph, nodes: Node[], [start, end]: [number, number], grads: Map<string, Value[]>, total: (v: Value) => Value | null): Map<number, Node> {
  const inside = new Map<string, Value>();
  const produced = new Set<string>();
  for (const n of nodes) for (const out of n.outputs) produced.add(out.name);
  let dep: Value | null = null;
  for (let k = start; k < end && !dep; k++) {
    for (const out of nodes[k].outputs) if (grads.has(out.name)) { dep = total(out); break; }
  }
  const clones = new Map<number, Node>();
  if (!dep) return clones;
  const delayed = new Map<string, Value>();
  const mapIn = (v: Value | null): Value | null => {
    if (!v) return v;
    const c = inside.get(v.name);
    if (c) return c;
    if (!produced.has(v.name) || !v.dtype.startsWith('float') || !v.shape.every((d) => typeof d === 'number') || v.shape.length === 0) return v;
    let d = delayed.get(v.name);
    if (!d) { d = g.after(v, dep!); delayed.set(v.name, d); }
    return d;
  };
  for (let k = start; k < end; k++) {
    const n = nodes[k];
    const outs = n.outputs.map((v) => g.value(g.fresh(`re_${n.op.toLowerCase()}`), v.dtype, v.shape));
    const c: Node = { op: n.op, domain: n.domain, inputs: n.inputs.map(mapIn), outputs: outs, attrs: n.attrs, grad: n.grad };
    g.nodes.push(c);
    n.outputs.forEach((v, i) => inside.set(v.name, outs[i]));
    clones.set(k, c);
  }
  return clones;
}
