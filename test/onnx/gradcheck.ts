// Finite-difference gradient checking in float64 for graphs built with our builder.
import { gradients } from '../../engine/onnx/autodiff.ts';
import { Graph, type Value, numel } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';

export interface GradCheckInput {
  shape: number[];
  /** Values to use; random in [-1, 1) (or in [lo, hi)) by default. */
  data?: number[];
  range?: [number, number];
  /** Not differentiated (indices, masks): int64 data. */
  int64?: boolean;
  bool?: boolean;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Builds y = f(inputs), loss = sum(y * w) with a fixed random w, and compares the autodiff
 * gradient of every float input with central differences. Returns the worst relative error.
 */
export async function gradCheck(inputs: GradCheckInput[], f: (g: Graph, xs: Value[]) => Value, eps = 1e-6, seed = 1): Promise<number> {
  const rnd = lcg(seed);
  const g = new Graph();
  const feeds: Record<string, { dtype: 'float64' | 'int64' | 'bool'; shape: number[]; data: Float64Array | BigInt64Array | Uint8Array }> = {};
  const xs = inputs.map((inp, i) => {
    const dtype = inp.int64 ? 'int64' : inp.bool ? 'bool' : 'float64';
    const v = g.input(`x${i}`, dtype, inp.shape);
    const n = numel(inp.shape);
    if (inp.int64) feeds[v.name] = { dtype, shape: inp.shape, data: BigInt64Array.from(inp.data!.map(BigInt)) };
    else if (inp.bool) feeds[v.name] = { dtype, shape: inp.shape, data: Uint8Array.from(inp.data!) };
    else {
      const [lo, hi] = inp.range ?? [-1, 1];
      feeds[v.name] = { dtype, shape: inp.shape, data: Float64Array.from(inp.data ?? Array.from({ length: n }, () => lo + (hi - lo) * rnd())) };
    }
    return v;
  });
  const y = f(g, xs);
  const w = g.constant('float64', y.shape as number[], Array.from({ length: numel(y.shape) }, () => rnd() * 2 - 1));
  const loss = g.reduceSum(g.mul(y, w), [...y.shape.keys()], false);
  g.output(loss, 'loss');
  const diff = xs.filter((_, i) => !inputs[i].int64 && !inputs[i].bool);
  const grads = gradients(g, loss, diff);
  grads.forEach((d, i) => g.output(d, `grad_${i}`));
  const s = await Session.create(g.toModel(), { threads: 1 });
  const base = await s.run(feeds);
  let worst = 0;
  for (let k = 0; k < diff.length; k++) {
    const x = feeds[diff[k].name].data as Float64Array;
    const analytic = base[`grad_${k}`].data as Float64Array;
    for (let j = 0; j < x.length; j++) {
      const orig = x[j];
      x[j] = orig + eps;
      const lp = (await s.run(feeds, ['loss'])).loss.data[0] as number;
      x[j] = orig - eps;
      const lm = (await s.run(feeds, ['loss'])).loss.data[0] as number;
      x[j] = orig;
      const numeric = (lp - lm) / (2 * eps);
      const err = Math.abs(numeric - analytic[j]) / Math.max(1, Math.abs(numeric), Math.abs(analytic[j]));
      worst = Math.max(worst, err);
    }
  }
  await s.release();
  return worst;
}

/** y = LayerNorm(x) * s + b over the last axis, in float64 plain JS. */
function layerNormRef(x: Float64Array, s: Float64Array, b: Float64Array, rows: number, d: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0, v = 0;
    for (let j = 0; j < d; j++) mean += x[r * d + j];
    mean /= d;
    for (let j = 0; j < d; j++) v += (x[r * d + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - mean) * inv * s[j] + b[j];
  }
  return y;
}

/**
 * The LayerNormalization rule (run in float32, the only LN kernel ORT has) against float64
 * central differences of the formula computed in JS. Returns the worst relative error.
 */
export async function layerNormGradCheck(shape: [number, number], epsilon: number): Promise<number> {
  const [rows, d] = shape;
  const rnd = lcg(7);
  const x = Float64Array.from({ length: rows * d }, () => rnd() * 2 - 1);
  const s = Float64Array.from({ length: d }, () => 0.5 + rnd());
  const b = Float64Array.from({ length: d }, () => rnd() - 0.5);
  const w = Float64Array.from({ length: rows * d }, () => rnd() * 2 - 1);
  const lossOf = (xx: Float64Array, ss: Float64Array, bb: Float64Array) => layerNormRef(xx, ss, bb, rows, d, epsilon).reduce((a, v, i) => a + v * w[i], 0);

  const g = new Graph();
  const xv = g.input('x', 'float32', shape), sv = g.input('s', 'float32', [d]), bv = g.input('b', 'float32', [d]);
  const y = g.layerNorm(xv, sv, bv, epsilon);
  const loss = g.reduceSum(g.mul(y, g.constant('float32', shape, Array.from(w))), [0, 1], false);
  const grads = gradients(g, loss, [xv, sv, bv]);
  grads.forEach((v, i) => g.output(v, `grad_${i}`));
  const sess = await Session.create(g.toModel(), { threads: 1 });
  const out = await sess.run({
    x: { dtype: 'float32', shape, data: Float32Array.from(x) },
    s: { dtype: 'float32', shape: [d], data: Float32Array.from(s) },
    b: { dtype: 'float32', shape: [d], data: Float32Array.from(b) },
  });
  await sess.release();
  let worst = 0;
  const h = 1e-6;
  [x, s, b].forEach((arr, k) => {
    const analytic = out[`grad_${k}`].data as Float32Array;
    for (let j = 0; j < arr.length; j++) {
      const o = arr[j];
      arr[j] = o + h; const lp = lossOf(x, s, b);
      arr[j] = o - h; const lm = lossOf(x, s, b);
      arr[j] = o;
      const numeric = (lp - lm) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - analytic[j]) / Math.max(1, Math.abs(numeric)));
    }
  });
  return worst;
}
