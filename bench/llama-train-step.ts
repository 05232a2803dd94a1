// Llama-family training-step benchmark at the SmolLM2-135M shape: LoRA (r=8 on q/k/v/o) and full
// fine-tuning, ours and PyTorch CPU (when /usr/bin/python3 has torch) in the same run, each
// configuration in its own process. Writes the "Training step (Llama family, SmolLM2-135M shape)"
// section of docs/BENCHMARKS.md.
//   node --import tsx bench/llama-train-step.ts [--steps N] [--no-torch]
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { updateSection } from './report.ts';

const { values } = parseArgs({ options: { steps: { type: 'string' }, 'no-torch': { type: 'boolean' } } });
const root = path.resolve(import.meta.dirname, '..');
const threads = availableParallelism();
const steps = values.steps ?? '3';

function torchAvailable(): boolean {
  if (values['no-torch']) return false;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const torchEnv = { ...process.env };
delete torchEnv.OPENBLAS_CORETYPE;
delete torchEnv.OPENBLAS_L2_SIZE;
type Row = Record<string, number | string>;
const json = (out: string): Row => JSON.parse(out.trim().split('\n').at(-1)!);
const ours = (method: string): Row => json(execFileSync(process.execPath, ['--import', 'tsx', 'bench/llama-train-step-one.ts', method, steps], { cwd: root, encoding: 'utf8' }));
const torch = (method: string): Row => json(execFileSync('/usr/bin/python3', ['bench/torch_llama_shapes.py', 'smollm2', method, steps, String(threads)], { cwd: root, encoding: 'utf8', env: torchEnv }));

const hasTorch = torchAvailable();
const load0 = loadavg()[0];
const results: { method: string; ours: Row; torch?: Row }[] = [];
for (const method of ['lora', 'full']) {
  const r = { method, ours: ours(method), torch: hasTorch ? torch(method) : undefined };
  results.push(r);
  console.error(JSON.stringify(r));
}
const load1 = loadavg()[0];
const f = (x: unknown, d = 0) => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');
const ratio = (r: (typeof results)[number]) => (r.torch ? (r.ours.tokens_per_s as number) / (r.torch.tokens_per_s as number) : NaN);
const lines = [
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${threads} threads; ORT intra-op threads = ${threads}; PyTorch threads = ${threads}. ` +
    `Load average (1 min) ${load0.toFixed(1)} before, ${load1.toFixed(1)} after: other work shared these cores, so absolute numbers are noisy; the two engines ran back to back under the same load.`,
  'Shape: SmolLM2-135M (LlamaForCausalLM: 30 layers, hidden 576, 9 heads / 3 KV heads, intermediate 1536, vocab 49152, tied), batch 4 × 256 tokens; LoRA r=8, alpha 16 on q/k/v/o_proj; random weights.',
  '',
  '| method | trainable | ours ms/step | ours tok/s | PyTorch ms/step | PyTorch tok/s | speed vs PyTorch | ours peak RSS MB | PyTorch peak RSS MB |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.method} | ${f(r.ours.trainable_params)} | ${f(r.ours.ms_per_step)} | ${f(r.ours.tokens_per_s)} | ${f(r.torch?.ms_per_step)} | ${f(r.torch?.tokens_per_s)} | ${r.torch ? `${f(ratio(r), 2)}×` : '—'} | ${f(r.ours.peak_rss_mb)} | ${f(r.torch?.peak_rss_mb)} |`),
  '',
  ...results.filter((r) => r.torch).map((r) => (ratio(r) >= 1.2 ? `${r.method}: meets the 1.2× target (${f(ratio(r), 2)}×).` : `${r.method}: MISSES the 1.2× target (${f(ratio(r), 2)}× PyTorch's tokens/s).`)),
  '',
  `Steps timed: ${Number(steps) - 1} (all but the first; graph build excluded). Reproduce: \`node --import tsx bench/llama-train-step.ts --steps ${steps}\`.`,
];
updateSection(path.join(root, 'docs', 'BENCHMARKS.md'), 'Training step (Llama family, SmolLM2-135M shape)', lines.join('\n'));
console.log(lines.join('\n'));
