// One benchmark configuration in its own process (so peak RSS is its own):
//   node --import tsx bench/train-step-one.ts SHAPE lora|full STEPS
// Prints one JSON line: ms/step, tokens/s (steps after the first), peak RSS.
import { defaultLoraConfig } from '../engine/lora/config.ts';
import { fullPlan, loraPlan } from '../engine/lora/peft-model.ts';
import { asTaskBatch, lmLoss } from '../engine/train/tasks/causal-lm.ts';
import { randomModel } from './random-model.ts';
import { makeBatch } from '../engine/train/batch.ts';
import { AdamW, clipScale, globalNorm } from '../engine/train/optimizer.ts';
import { runMicroBatch } from '../engine/train/step.ts';
import { buildStepGraph } from '../engine/train/step-graph.ts';
import { Rng } from '../engine/util/rng.ts';
import { SHAPES } from './shapes.ts';

const [shapeName = 'small', method = 'lora', stepsArg = '5'] = process.argv.slice(2);
const s = SHAPES[shapeName];
const steps = Number(stepsArg);
const model = randomModel({ model_type: 'gpt2', vocab_size: s.vocab, n_positions: Math.max(s.ctx, 1024), n_embd: s.d, n_layer: s.layers, n_head: s.heads }, { uniform: true });
const rng = new Rng(0);
const plan = method === 'full' ? fullPlan(model.spec) : loraPlan(model.spec, defaultLoraConfig({ r: 8, loraAlpha: 16 }));
for (const l of plan.layers) l.init(rng, 'kaiming');
const t0 = performance.now();
const sg = await buildStepGraph(model.weights, plan, model.spec.family.isNoDecay, lmLoss(model.spec, s.batch, s.ctx), { releaseFrozen: true });
const buildS = (performance.now() - t0) / 1000;
const trace = (what: string) => { if (process.env.LORA_STUDIO_MEMTRACE) console.error(`${what}: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB, peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`); };
trace('after build');
const opt = new AdamW(sg.trainables, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
const rows = Array.from({ length: s.batch }, () => Array.from({ length: s.ctx }, () => Math.floor(rng.next() * s.vocab)));
const batch = asTaskBatch(makeBatch(rows, s.batch, s.ctx));
const times: number[] = [];
const phases = { run: 0, optimizer: 0 };
for (let i = 0; i < steps; i++) {
  const ts = performance.now();
  const { grads } = await runMicroBatch(sg, batch);
  const tr = performance.now();
  await opt.update(grads, 1e-4, clipScale(globalNorm(grads), 1));
  const te = performance.now();
  times.push(te - ts);
  trace(`after step ${i + 1}`);
  if (i > 0) { phases.run += tr - ts; phases.optimizer += te - tr; }
}
await sg.session.release();
const after = times.slice(1);
const ms = after.reduce((a, b) => a + b, 0) / after.length;
console.log(JSON.stringify({
  engine: 'lora-studio (onnxruntime-node)', shape: shapeName, method, steps, build_s: buildS, ms_per_step: ms,
  tokens_per_s: (s.batch * s.ctx * 1000) / ms, run_ms: phases.run / after.length, optimizer_ms: phases.optimizer / after.length,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024, trainable_params: plan.trainableParams,
}));
