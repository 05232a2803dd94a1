// The machine's matmul peak as ONNX Runtime sees it: [1024,768] x [768,3072], float32.
//   node --import tsx bench/matmul-peak.ts
import { Graph } from '../engine/onnx/graph.ts';
import { Session } from '../engine/onnx/runtime.ts';

const [M, K, N] = [1024, 768, 3072];
const g = new Graph();
const a = g.input('a', 'float32', [M, K]);
const w = new Float32Array(K * N).map(() => Math.random() - 0.5);
g.output(g.matmul(a, g.initializer('w', 'float32', [K, N], w)), 'y');
const s = await Session.create(g.toModel());
const feeds = { a: { dtype: 'float32' as const, shape: [M, K], data: new Float32Array(M * K).map(() => Math.random() - 0.5) } };
for (let i = 0; i < 3; i++) await s.run(feeds);
const reps = 20;
const t0 = performance.now();
for (let i = 0; i < reps; i++) await s.run(feeds);
const ms = (performance.now() - t0) / reps;
console.log(JSON.stringify({ shape: [M, K, N], ms, gflops: (2 * M * K * N) / ms / 1e6 }));
