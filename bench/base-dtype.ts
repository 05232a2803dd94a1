// Low-precision frozen base benchmark (issue #16): LoRA r=8 on q/k/v/o at the SmolLM2-135M and
// TinyLlama-1.1B shapes for each base dtype, plus full fine-tuning at the SmolLM2 shape, ours
// and PyTorch CPU F32 (bench/torch_llama_shapes.py) in the same run, one process per
// configuration, one at a time (the 1.1B shape holds 4.4 GB of float32 weights). Writes the
// "Low-precision base" section of docs/BENCHMARKS.md.
//   node --import tsx bench/base-dtype.ts [--shapes smollm2,tinyllama] [--dtypes f32,f16,int8,int4] [--steps N] [--no-torch]
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { updateSection } from './report.ts';

const { values } = parseArgs({ options: { shapes: { type: 'string' }, dtypes: { type: 'string' }, steps: { type: 'string' }, 'no-torch': { type: 'boolean' }, full: { type: 'boolean' }, ckpt: { type: 'boolean' } } });
const root = path.resolve(import.meta.dirname, '..');
const threads = availableParallelism();
const shapes = (values.shapes ?? 'smollm2,tinyllama').split(',');
const dtypes = (values.dtypes ?? 'f32,f16,int8,int4').split(',');
const steps = values.steps ?? '3';
type Row = Record<string, number | string | boolean>;
const json = (out: string): Row => JSON.parse(out.trim().split('\n').at(-1)!);
const torchEnv = { ...process.env };
delete torchEnv.OPENBLAS_CORETYPE;
delete torchEnv.OPENBLAS_L2_SIZE;
const ours = (shape: string, method: string, dtype: string, ck = false): Row =>
  json(execFileSync(process.execPath, ['--import', 'tsx', 'bench/base-dtype-one.ts', shape, method, dtype, steps, ...(ck ? ['ckpt'] : [])], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 }));
const torch = (shape: string, method: string): Row => json(execFileSync('/usr/bin/python3', ['bench/torch_llama_shapes.py', shape, method, steps, String(threads)], { cwd: root, encoding: 'utf8', env: torchEnv }));

const rows: { shape: string; what: string; r: Row }[] = [];
const load0 = loadavg()[0];
for (const shape of shapes) {
  const runs: [string, () => Row][] = [];
  if (!values['no-torch']) runs.push(['PyTorch F32 lora', () => torch(shape, 'lora')]);
  for (const d of dtypes) runs.push([`ours ${d} lora`, () => ours(shape, 'lora', d)]);
  if (values.ckpt) runs.push(['ours f32 lora, checkpointing', () => ours(shape, 'lora', 'f32', true)]);
  if (values.full && shape === 'smollm2') {
    if (!values['no-torch']) runs.push(['PyTorch F32 full', () => torch(shape, 'full')]);
    runs.push(['ours f32 full', () => ours(shape, 'full', 'f32')]);
  }
  for (const [what, run] of runs) {
    const r = run();
    rows.push({ shape, what, r });
    console.error(JSON.stringify({ shape, what, ...r }));
  }
}
const f = (x: unknown, d = 0) => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');
const ref = (shape: string, method: string) => rows.find((x) => x.shape === shape && x.what === `PyTorch F32 ${method}`)?.r;
const lines = [
  `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${threads} threads (ORT intra-op = PyTorch threads = ${threads}); 1-minute load average ${load0.toFixed(1)} at the start and ${loadavg()[0].toFixed(1)} at the end: the 2 cores were shared with other work, so absolute times are slow and noisy; compare rows of one run.`,
  `Steps: ${steps} per configuration, all but the first timed.`,
  '',
  '| shape | configuration | ms/step | tokens/s | vs PyTorch F32 tokens/s | peak RSS MB | vs PyTorch peak RSS | RSS after build MB |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map(({ shape, what, r }) => {
    const t = ref(shape, what.includes('full') ? 'full' : 'lora');
    const isRef = what.startsWith('PyTorch');
    return `| ${shape} | ${what} | ${f(r.ms_per_step)} | ${f(r.tokens_per_s, 1)} | ${t && !isRef ? `${f((r.tokens_per_s as number) / (t.tokens_per_s as number), 2)}×` : '—'} | ${f(r.peak_rss_mb)} | ${t && !isRef ? f((r.peak_rss_mb as number) / (t.peak_rss_mb as number), 2) : '—'} | ${f(r.rss_after_build_mb)} |`;
  }),
  '',
  'Reproduce: `node --import tsx bench/base-dtype.ts --full` (PyTorch: Debian\'s `python3-torch` with `libopenblas0-pthread`). One configuration: `node --import tsx bench/base-dtype-one.ts tinyllama lora int8 3`.',
];
updateSection(path.join(root, 'docs', 'BENCHMARKS.md'), 'Low-precision base (issue #16)', lines.join('\n'));
console.log(lines.join('\n'));
