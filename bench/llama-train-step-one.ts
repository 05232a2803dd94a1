// One Llama-family benchmark configuration in its own process (peak RSS is its own):
//   node --import tsx bench/llama-train-step-one.ts lora|full STEPS
// The SmolLM2-135M shape (30 layers, hidden 576, 9 heads / 3 KV heads, intermediate 1536,
// vocab 49152, tied), batch 4 x 256, LoRA r=8 alpha=16 on q/k/v/o_proj. Prints one JSON line.
import { defaultLoraConfig } from '../engine/lora/config.ts';
import { fullPlan, loraPlan } from '../engine/lora/peft-model.ts';
import { makeBatch } from '../engine/train/batch.ts';
import { AdamW, clipScale, globalNorm } from '../engine/train/optimizer.ts';
import { runMicroBatch } from '../engine/train/step.ts';
import { buildStepGraph } from '../engine/train/step-graph.ts';
import { asTaskBatch, lmLoss } from '../engine/train/tasks/causal-lm.ts';
import { Rng } from '../engine/util/rng.ts';
import { randomModel } from './random-model.ts';

export const SMOLLM2 = {
  model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 49152, hidden_size: 576, intermediate_size: 1536,
  num_hidden_layers: Number(process.env.BENCH_LAYERS ?? 30), num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5,
  rope_theta: 100000, tie_word_embeddings: true, hidden_act: 'silu', bos_token_id: 0, eos_token_id: 0,
};
export const BATCH = 4, CTX = 256;

const [method = 'lora', stepsArg = '3'] = process.argv.slice(2);
const steps = Number(stepsArg);
const model = randomModel(SMOLLM2, { uniform: true });
const rng = new Rng(0);
const plan = method === 'full' ? fullPlan(model.spec) : loraPlan(model.spec, defaultLoraConfig({ r: 8, loraAlpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }));
for (const l of plan.layers) l.init(rng, 'kaiming');
const t0 = performance.now();
const sg = await buildStepGraph(model.weights, plan, model.spec.family.isNoDecay, lmLoss(model.spec, BATCH, CTX), { releaseFrozen: true });
const buildS = (performance.now() - t0) / 1000;
const opt = new AdamW(sg.trainables, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
const rows = Array.from({ length: BATCH }, () => Array.from({ length: CTX }, () => Math.floor(rng.next() * SMOLLM2.vocab_size)));
const batch = asTaskBatch(makeBatch(rows, BATCH, CTX));
const times: number[] = [];
let optMs = 0;
for (let i = 0; i < steps; i++) {
  const ts = performance.now();
  const { grads } = await runMicroBatch(sg, batch);
  const tr = performance.now();
  await opt.update(grads, 1e-4, clipScale(globalNorm(grads), 1));
  const te = performance.now();
  times.push(te - ts);
  if (i > 0) optMs += te - tr;
}
await sg.session.release();
const after = times.slice(1);
const ms = after.reduce((a, b) => a + b, 0) / after.length;
console.log(JSON.stringify({
  engine: 'lora-studio (onnxruntime-node)', shape: 'smollm2-135m', method, steps, build_s: buildS, ms_per_step: ms,
  tokens_per_s: (BATCH * CTX * 1000) / ms, optimizer_ms: optMs / after.length,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024, trainable_params: plan.trainableParams,
}));
