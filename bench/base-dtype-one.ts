// One low-precision-base configuration in its own process (peak RSS is its own):
//   node --import tsx bench/base-dtype-one.ts SHAPE lora|full DTYPE STEPS [ckpt]
// SHAPE: smollm2 (SmolLM2-135M, batch 4 x 256) or tinyllama (TinyLlama-1.1B, batch 1 x 256); LoRA
// r=8 alpha=16 on q/k/v/o_proj. Random weights are made tensor by tensor when the graph binds
// them (and dropped once packed), so the peak RSS is the run's own, not a float32 copy of the
// model held by the benchmark. Prints one JSON line.
import { defaultLoraConfig } from '../engine/lora/config.ts';
import { fullPlan, loraPlan } from '../engine/lora/peft-model.ts';
import { familyOf } from '../engine/models/registry.ts';
import { type Tensor, lmParamShapes } from '../engine/models/types.ts';
import type { BaseDtype } from '../engine/quant/formats.ts';
import { makeBatch } from '../engine/train/batch.ts';
import { AdamW, clipScale, globalNorm } from '../engine/train/optimizer.ts';
import { runMicroBatch } from '../engine/train/step.ts';
import { baseStorage, buildStepGraph } from '../engine/train/step-graph.ts';
import { asTaskBatch, lmLoss } from '../engine/train/tasks/causal-lm.ts';
import { Rng } from '../engine/util/rng.ts';
import { LLAMA_SHAPES } from './llama-shapes.ts';

export { LLAMA_SHAPES };

/** Weights made on first read of their data (uniform ±0.02·√3, norms 1), deterministic per name. */
function lazyWeights(shapes: [string, number[]][]): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  shapes.forEach(([name, shape], idx) => {
    let data: Float32Array | null = null;
    m.set(name, {
      shape,
      get data() {
        if (!data) {
          data = new Float32Array(shape.reduce((a, b) => a * b, 1));
          if (/norm\.weight$/.test(name)) data.fill(1);
          else { const r = new Rng(idx + 1); for (let i = 0; i < data.length; i++) data[i] = (r.next() - 0.5) * 0.07; }
        }
        return data;
      },
    });
  });
  return m;
}

const [shapeName = 'smollm2', method = 'lora', dtype = 'f32', stepsArg = '3', ck] = process.argv.slice(2);
const S = LLAMA_SHAPES[shapeName];
const steps = Number(stepsArg);
const spec = familyOf(S.config, 'bench').parse(S.config, 'bench');
const weights = lazyWeights(lmParamShapes(spec));
const rng = new Rng(0);
const plan = method === 'full' ? fullPlan(spec) : loraPlan(spec, defaultLoraConfig({ r: 8, loraAlpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }));
for (const l of plan.layers) l.init(rng, 'kaiming');
const t0 = performance.now();
const sg = await buildStepGraph(weights, plan, spec.family.isNoDecay, lmLoss(spec, S.batch, S.ctx), {
  releaseFrozen: true, base: baseStorage(spec, dtype as BaseDtype, { model: shapeName, method: method as 'lora' }), checkpointing: ck === 'ckpt',
});
const buildS = (performance.now() - t0) / 1000;
const rssAfterBuild = process.memoryUsage().rss / 2 ** 20;
const peakAfterBuild = process.resourceUsage().maxRSS / 1024;
const trace = (what: string) => { if (process.env.LORA_STUDIO_MEMTRACE) console.error(`${what}: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB, peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`); };
trace('after build');
const opt = new AdamW(sg.trainables, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
const rows = Array.from({ length: S.batch }, () => Array.from({ length: S.ctx }, () => Math.floor(rng.next() * (S.config.vocab_size as number))));
const batch = asTaskBatch(makeBatch(rows, S.batch, S.ctx));
const times: number[] = [];
let optMs = 0, loss = NaN;
for (let i = 0; i < steps; i++) {
  const ts = performance.now();
  const out = await runMicroBatch(sg, batch);
  loss = out.loss;
  const tr = performance.now();
  await opt.update(out.grads, 1e-4, clipScale(globalNorm(out.grads), 1));
  const te = performance.now();
  times.push(te - ts);
  if (i > 0) optMs += te - tr;
  trace(`after step ${i + 1}`);
}
await sg.session.release();
const after = times.slice(1);
const ms = after.reduce((a, b) => a + b, 0) / after.length;
console.log(JSON.stringify({
  engine: 'lora-studio (onnxruntime-node)', shape: shapeName, method, dtype, checkpointing: ck === 'ckpt', steps, build_s: buildS, ms_per_step: ms,
  tokens_per_s: (S.batch * S.ctx * 1000) / ms, optimizer_ms: optMs / after.length, loss,
  rss_after_build_mb: rssAfterBuild, peak_after_build_mb: peakAfterBuild, peak_rss_mb: process.resourceUsage().maxRSS / 1024, trainable_params: plan.trainableParams,
}));
