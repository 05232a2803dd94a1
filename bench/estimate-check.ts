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
  ['small lora', { spec: gpt2(SHAPES.small), method: 'lora', batchSize: 8, maxLength: 128 }, 259, 202, 'quiet'],
  ['small full', { spec: gpt2(SHAPES.small), method: 'full', batchSize: 8, maxLength: 128 }, 385, 492, 'quiet'],
  ['gpt2 lora', { spec: gpt2(SHAPES.gpt2), method: 'lora', batchSize: 4, maxLength: 256 }, 2641, 5912, 'quiet'],
  ['gpt2 full', { spec: gpt2(SHAPES.gpt2), method: 'full', batchSize: 4, maxLength: 256 }, 4672, 12081, 'quiet, old optimizer'],
  ['smollm2 lora', { spec: llama('smollm2'), method: 'lora', batchSize: 4, maxLength: 256, loraTargets: qkvo }, 4418, 20755, 'load 4-11'],
  ['smollm2 full', { spec: llama('smollm2'), method: 'full', batchSize: 4, maxLength: 256 }, 5980, 44680, 'load 4-11, old optimizer'],
  ['smollm2 full (12-03, threaded AdamW)', { spec: llama('smollm2'), method: 'full', batchSize: 4, maxLength: 256 }, 6004, 21000, 'load 3-4'],
  ['smollm2 lora (12-03)', { spec: llama('smollm2'), method: 'lora', batchSize: 4, maxLength: 256, loraTargets: qkvo }, 4459, 11226, 'load 4 (a rerun: 4,419 MB, 10,268 ms)'],
  ['smollm2 lora checkpointing', { spec: llama('smollm2'), method: 'lora', batchSize: 4, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: true }, 2672, 7024, 'load 4 (a rerun: 2,619 MB, 14,055 ms)'],
  ['tinyllama f32 lora', { spec: llama('tinyllama'), method: 'lora', batchSize: 1, maxLength: 256, loraTargets: qkvo }, 5683, 19598, 'load 3-6'],
  ['tinyllama int8 lora', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int8', batchSize: 1, maxLength: 256, loraTargets: qkvo }, 3427, 11057, 'load 3-6'],
  ['tinyllama int8 lora checkpointing', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int8', batchSize: 1, maxLength: 256, loraTargets: qkvo, gradientCheckpointing: true }, 2096, 18822, 'load 3'],
  ['tinyllama int4 lora', { spec: llama('tinyllama'), method: 'lora', baseDtype: 'int4', batchSize: 1, maxLength: 256, loraTargets: qkvo }, 3429, 12885, 'load 3-6'],
];
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| run | est. peak MB | measured | ratio | est. weights MB | est. activations MB | est. ms/step | measured | ratio | note |\n|---|---|---|---|---|---|---|---|---|---|');
  for (const [label, inp, rss, ms, note] of MEASURED) {
    const e = estimateRun(inp);
    console.log(`| ${label} | ${e.peakRssMb.toFixed(0)} | ${rss} | ${(e.peakRssMb / rss).toFixed(2)} | ${e.weightsMb.toFixed(0)} | ${e.activationsMb.toFixed(0)} | ${(e.stepS * 1000).toFixed(0)} | ${ms} | ${((e.stepS * 1000) / ms).toFixed(2)} | ${note} |`);
  }
}
