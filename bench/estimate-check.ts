// The run estimate (engine/train/estimate.ts) against measured runs of docs/BENCHMARKS.md (peak RSS
// MB, ms/step on the 2-core reference machine). Prints estimate / measured per row.
//   node --import tsx bench/estimate-check.ts
import { familyOf } from '../engine/models/registry.ts';
import { type EstimateInput, estimateRun } from '../engine/train/estimate.ts';
import { LLAMA_SHAPES } from './llama-shapes.ts';
import { SHAPES } from './shapes.ts';

const gpt2 = (s: (typeof SHAPES)[string]) => { const j = { model_type: 'gpt2', vocab_size: s.vocab, n_positions: Math.max(s.ctx, 1024), n_embd: s.d, n_layer: s.layers, n_head: s.heads }; return familyOf(j, 'x').parse(j, 'x'); };
const llama = (k: string) => { const j = LLAMA_SHAPES[k].config; return familyOf(j, 'x').parse(j, 'x'); };
const qkvo = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
// Measured: [label, input, peak RSS MB, ms/step, note]
export const MEASURED: [string, EstimateInput, number, number, string][] = [
  // 2026-12-03 late: quiet AVX-512 VNNI machine; frozen float32 weights fed (no initializer copies).
  ['small lora', { spec: gpt2(SHAPES.small), method: 'lora', batchSize: 8, maxLength: 128 }, 258, 88, 'quiet, VNNI'],
  ['small full', { spec: gpt2(SHAPES.small), method: 'full', batchSize: 8, maxLength: 128 }, 375, 182, 'quiet, VNNI'],
  ['gpt2 lora', { spec: gpt2(SHAPES.gpt2), method: 'lora', batchSize: 4, maxLength: 256 }, 1887, 1816, 'quiet, VNNI'],
  ['smollm2 lora', { spec: llama('smollm2'), method: 'lora', batchSize: 4, maxLength: 256, loraTargets: qkvo }, 3623, 3007, 'quiet, VNNI'],
  ['smollm2 lora checkpointing', { spec: llama('smollm2'), method: 'lora', batchSize: 4, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: true }, 1581, 2979, 'quiet, VNNI'],
  ['tinyllama f32 lora', { spec: llama('tinyllama'), method: 'lora', batchSize: 1, maxLength: 256, loraTargets: qkvo }, 5680, 3635, 'quiet, VNNI'],
  ['tinyllama int8 lora', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int8', batchSize: 1, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: false }, 3451, 2668, 'quiet, VNNI'],
  ['tinyllama int8 lora (default: checkpointing)', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int8', batchSize: 1, maxLength: 256, loraTargets: qkvo }, 2126, 3577, 'quiet, VNNI'],
  ['tinyllama int4 lora', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int4', batchSize: 1, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: false }, 3145, 11316, 'quiet, VNNI'],
  ['tinyllama int4 lora (default: checkpointing)', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int4', batchSize: 1, maxLength: 256, loraTargets: qkvo }, 2059, 19975, 'quiet, VNNI'],
  ['smollm2 int8 lora', { spec: llama('smollm2'), method: 'lora', baseDtype: 'int8', batchSize: 4, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: false }, 3243, 3110, 'quiet, VNNI'],
  // Earlier runs (the AVX2 machine, often under load); full fine-tuning has no frozen weights, so the change above does not touch it.
  ['gpt2 full', { spec: gpt2(SHAPES.gpt2), method: 'full', batchSize: 4, maxLength: 256 }, 4672, 12081, 'quiet, old optimizer'],
  ['smollm2 full (threaded AdamW)', { spec: llama('smollm2'), method: 'full', batchSize: 4, maxLength: 256 }, 6004, 21000, 'load 3-4'],
  ['tinyllama int8 lora checkpointing (AVX2)', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int8', batchSize: 1, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: true }, 2096, 18822, 'load 3'],
];
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| run | est. peak MB | measured | ratio | est. weights MB | est. activations MB | est. ms/step | measured | ratio | note |\n|---|---|---|---|---|---|---|---|---|---|');
  for (const [label, inp, rss, ms, note] of MEASURED) {
    const e = estimateRun(inp);
    console.log(`| ${label} | ${e.peakRssMb.toFixed(0)} | ${rss} | ${(e.peakRssMb / rss).toFixed(2)} | ${e.weightsMb.toFixed(0)} | ${e.activationsMb.toFixed(0)} | ${(e.stepS * 1000).toFixed(0)} | ${ms} | ${((e.stepS * 1000) / ms).toFixed(2)} | ${note} |`);
  }
}
