// Fits the activation constants of the run estimate (engine/train/estimate.ts REFERENCE_MACHINE:
// linearFloats, linearFloatsFull, attentionFloats, logitsCopies) to the peaks of
// bench/estimate-check.ts's current rows: non-negative least squares on the relative error, each
// row's target being its measured peak less the runtime and the weights the model already counts.
//   node --import tsx bench/estimate-fit.ts
import { type Machine, REFERENCE_MACHINE, estimateRun } from '../engine/train/estimate.ts';
import { MEASURED } from './estimate-check.ts';

const KEYS = ['linearFloats', 'linearFloatsFull', 'attentionFloats', 'logitsCopies'] as const;
const zero = Object.fromEntries(KEYS.map((k) => [k, 0])) as Record<(typeof KEYS)[number], number>;

/** Solves min |Ax - b| over x >= 0 by trying every set of free variables (4 of them: 16 sets). */
function nnls(A: number[][], b: number[]): number[] {
  const n = A[0]!.length;
  let best: { x: number[]; err: number } | null = null;
  for (let mask = 1; mask < 1 << n; mask++) {
    const free = [...Array(n).keys()].filter((j) => mask & (1 << j));
    // Normal equations on the free columns.
    const M = free.map((i) => free.map((j) => A.reduce((s, r) => s + r[i]! * r[j]!, 0)));
    const v = free.map((i) => A.reduce((s, r, k) => s + r[i]! * b[k]!, 0));
    const sol = solve(M, v);
    if (!sol || sol.some((x) => x < 0)) continue;
    const x = Array(n).fill(0) as number[];
    free.forEach((j, k) => (x[j] = sol[k]!));
    const err = A.reduce((s, r, k) => s + (r.reduce((t, a, j) => t + a * x[j]!, 0) - b[k]!) ** 2, 0);
    if (!best || err < best.err) best = { x, err };
  }
  return best!.x;
}

function solve(M: number[][], v: number[]): number[] | null {
  const n = v.length;
  const a = M.map((r, i) => [...r, v[i]!]);
  for (let c = 0; c < n; c++) {
    const p = a.reduce((bi, r, i) => (i >= c && Math.abs(r[c]!) > Math.abs(a[bi]![c]!) ? i : bi), c);
    if (Math.abs(a[p]![c]!) < 1e-12) return null;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let i = 0; i < n; i++) if (i !== c) { const f = a[i]![c]! / a[c]![c]!; for (let j = c; j <= n; j++) a[i]![j]! -= f * a[c]![j]!; }
  }
  return a.map((r, i) => r[n]! / r[i]!);
}

const rows = MEASURED.filter(([, , , , note]) => !/superseded/.test(note));
const A: number[][] = [];
const b: number[] = [];
for (const [, inp, rss] of rows) {
  const fixed = estimateRun({ ...inp, machine: { ...inp.machine, ...zero } });
  const feature = (k: (typeof KEYS)[number]) => estimateRun({ ...inp, machine: { ...inp.machine, ...zero, [k]: 1 } }).activationsMb - fixed.activationsMb;
  A.push(KEYS.map((k) => feature(k) / rss));
  b.push((rss - fixed.peakRssMb) / rss);
}
const x = nnls(A, b);
const fitted: Partial<Machine> = Object.fromEntries(KEYS.map((k, j) => [k, Number(x[j]!.toFixed(3))]));
console.log(JSON.stringify({ rows: rows.length, fitted, reference: Object.fromEntries(KEYS.map((k) => [k, REFERENCE_MACHINE[k]])) }));
for (const [label, inp, rss] of rows) console.log(`${label}: ${(estimateRun({ ...inp, machine: { ...inp.machine, ...fitted } }).peakRssMb / rss).toFixed(2)}`);
