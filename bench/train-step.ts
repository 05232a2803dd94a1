// Training-step benchmark: LoRA and full fine-tuning at the two shapes of the engine issue,
// ours and PyTorch CPU (when /usr/bin/python3 has torch) in the same run, each configuration in
// its own process. Writes the "Training step" section of docs/BENCHMARKS.md.
//   npm run bench            (or: node --import tsx bench/train-step.ts [--steps N] [--shapes small,gpt2])
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SHAPES } from './shapes.ts';
import { updateSection } from './report.ts';

const { values } = parseArgs({ options: { steps: { type: 'string' }, shapes: { type: 'string' }, 'no-torch': { type: 'boolean' } } });
const root = path.resolve(import.meta.dirname, '..');
const threads = availableParallelism();
const shapes = (values.shapes ?? 'small,gpt2').split(',');
const stepsFor = (shape: string) => Number(values.steps ?? (shape === 'gpt2' ? 4 : 8));

function torchAvailable(): boolean {
  if (values['no-torch']) return false;
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// PyTorch is measured the way the engine issue's table was: with OpenBLAS's env overrides off.
const torchEnv = { ...process.env };
delete torchEnv.OPENBLAS_CORETYPE;
delete torchEnv.OPENBLAS_L2_SIZE;

type Row = Record<string, number | string>;
const json = (out: string): Row => JSON.parse(out.trim().split('\n').at(-1)!);
const ours = (shape: string, method: string): Row => json(execFileSync(process.execPath, ['--import', 'tsx', 'bench/train-step-one.ts', shape, method, String(stepsFor(shape))], { cwd: root, encoding: 'utf8' }));
const torch = (shape: string, method: string): Row => json(execFileSync('/usr/bin/python3', ['bench/torch_train_step.py', shape, method, String(stepsFor(shape)), String(threads)], { cwd: root, encoding: 'utf8', env: torchEnv }));

const hasTorch = torchAvailable();
const peak = json(execFileSync(process.execPath, ['--import', 'tsx', 'bench/matmul-peak.ts'], { cwd: root, encoding: 'utf8' }));
const results: { shape: string; method: string; ours: Row; torch?: Row }[] = [];
for (const shape of shapes) {
  for (const method of ['lora', 'full']) {
    const r = { shape, method, ours: ours(shape, method), torch: hasTorch ? torch(shape, method) : undefined };
    results.push(r);
    console.error(JSON.stringify(r));
  }
}

const f = (x: unknown, d = 0) => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');
const lines = [
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${threads} threads; ORT intra-op threads = ${threads}; PyTorch threads = ${threads}.`,
  `ORT matmul peak on this machine ([1024,768]x[768,3072] float32): ${f(peak.gflops)} GFLOP/s.`,
  '',
  '| shape | method | ours ms/step | ours tok/s | PyTorch ms/step | PyTorch tok/s | speed vs PyTorch | ours peak RSS MB | PyTorch peak RSS MB |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.shape} | ${r.method} | ${f(r.ours.ms_per_step)} | ${f(r.ours.tokens_per_s)} | ${f(r.torch?.ms_per_step)} | ${f(r.torch?.tokens_per_s)} | ${r.torch ? `${f((r.ours.tokens_per_s as number) / (r.torch.tokens_per_s as number), 2)}×` : '—'} | ${f(r.ours.peak_rss_mb)} | ${f(r.torch?.peak_rss_mb)} |`),
  '',
  ...shapes.map((s) => {
    const lora = results.find((r) => r.shape === s && r.method === 'lora')!.ours;
    const full = results.find((r) => r.shape === s && r.method === 'full')!.ours;
    return `${SHAPES[s].name}: LoRA peak RSS / full peak RSS = ${f((lora.peak_rss_mb as number) / (full.peak_rss_mb as number), 2)}; optimizer share of the full step ${f(full.optimizer_ms, 0)} ms.`;
  }),
  '',
  'Steps timed: all but the first (graph build and first-run allocation excluded; session build time is separate).',
  'Reproduce: `npm run bench` (PyTorch from Debian: `apt-get install -y python3-torch libopenblas0-pthread`; without OpenBLAS, Debian\'s torch falls back to the reference BLAS, about 30x slower).',
];
updateSection(path.join(root, 'docs', 'BENCHMARKS.md'), 'Training step', lines.join('\n'));
console.log(lines.join('\n'));
