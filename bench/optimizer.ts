// AdamW over a full fine-tuning's parameter count: the single-thread JavaScript kernel against the
// worker-thread WebAssembly kernel (engine/train/optimizer.ts), ms per update, best of --reps.
// The gradient norm too: in one pass, and sliced as the trainer runs it (the event loop's longest stall).
// Usage: node --import tsx bench/optimizer.ts [--params 134515008] [--tensors 64] [--reps 3] [--threads 2]
import { parseArgs } from 'node:util';
import { loadavg } from "node:os";
import { AdamW, globalNorm, globalNormYielding } from '../engine/train/optimizer.ts';

const { values: a } = parseArgs({ options: { params: { type: 'string', default: '134515008' }, tensors: { type: 'string', default: '64' }, reps: { type: 'string', default: '3' }, threads: { type: 'string' } } });
const total = Number(a.params), nT = Number(a.tensors), reps = Number(a.reps);
const sizes = Array.from({ length: nT }, (_, i) => Math.floor(total / nT) + (i === 0 ? total % nT : 0));
const mk = () => sizes.map((n, i) => { const d = new Float32Array(n); for (let j = 0; j < n; j += 97) d[j] = 0.01 * ((j % 13) - 6); return { name: `t${i}`, shape: [n], data: d, decay: true }; });
const grads = sizes.map((n) => { const g = new Float32Array(n); for (let j = 0; j < n; j++) g[j] = 1e-4 * ((j % 29) - 14); return g; });
const cfg = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
console.log(`AdamW over ${total.toLocaleString('en-US')} values in ${nT} tensors; load average ${loadavg()[0].toFixed(2)}`);
for (const [label, opts] of [['JavaScript, main thread', { threads: 0 }], [`WebAssembly, ${a.threads ?? 'default'} worker threads`, a.threads ? { threads: Number(a.threads) } : {}]] as const) {
  const opt = new AdamW(mk(), cfg, opts);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await opt.update(grads, 1e-4, 0.5);
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${label}: ${best.toFixed(0)} ms/update (${((best * 1e6) / total).toFixed(2)} ns/value), threaded=${opt.threaded}`);
}
const t = performance.now();
globalNorm(grads);
console.log(`globalNorm: ${(performance.now() - t).toFixed(0)} ms; load average after ${loadavg()[0].toFixed(2)}`);
// The trainer's yielding norm: its total time and the longest the event loop waited meanwhile.
let last = performance.now(), stall = 0, on = true;
const tick = () => { const now = performance.now(); stall = Math.max(stall, now - last); last = now; if (on) setImmediate(tick); };
setImmediate(tick);
const t2 = performance.now();
await globalNormYielding(grads);
on = false;
console.log(`globalNormYielding: ${(performance.now() - t2).toFixed(0)} ms, longest event-loop stall ${stall.toFixed(1)} ms`);
