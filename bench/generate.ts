// Generation benchmark: greedy tokens/s with the KV cache at the GPT-2 small shape (124M, random
// weights, batch 1), ours vs PyTorch (bench/torch_generate.py) in the same run, each in its own
// process. Writes the "Generation" section of docs/BENCHMARKS.md.
//   node --import tsx bench/generate.ts [--prompt N] [--new N] [--no-torch]
//   (internally: bench/generate.ts --one  runs our side and prints one JSON line)
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Generator } from '../engine/generate/generator.ts';
import type { LoadedModel } from '../engine/models/types.ts';
import { randomModel } from './random-model.ts';
import { Rng } from '../engine/util/rng.ts';
import { updateSection } from './report.ts';

const { values } = parseArgs({ options: { prompt: { type: 'string' }, new: { type: 'string' }, one: { type: 'boolean' }, 'no-torch': { type: 'boolean' }, 'no-cache': { type: 'boolean' } } });
const promptLen = Number(values.prompt ?? 32);
const newTokens = Number(values.new ?? 128);
const threads = availableParallelism();
const root = path.resolve(import.meta.dirname, '..');

function randomGPT2Small(): LoadedModel {
  return randomModel({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, eos_token_id: 50256, bos_token_id: 50256 });
}

async function one(): Promise<void> {
  const gen = await Generator.create(randomGPT2Small(), { cache: !values['no-cache'], threads });
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919) % 50257);
  await gen.generate(prompt, { maxNewTokens: 4, eosTokenId: null }); // warm-up
  const stepTimes: number[] = [];
  let last = performance.now();
  const r = await gen.generate(prompt, { maxNewTokens: newTokens, eosTokenId: null, onToken: () => { const t = performance.now(); stepTimes.push(t - last); last = t; } });
  await gen.release();
  const decode = stepTimes.slice(1);
  console.log(JSON.stringify({
    tokens_per_s: r.tokensPerS, ms_per_token: decode.reduce((a, b) => a + b, 0) / decode.length, prefill_ms: stepTimes[0],
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }));
}

if (values.one) {
  await one();
} else {
  type Row = Record<string, number | string>;
  const last = (out: string): Row => JSON.parse(out.trim().split('\n').at(-1)!);
  const args = ['--prompt', String(promptLen), '--new', String(newTokens)];
  const ours = last(execFileSync(process.execPath, ['--import', 'tsx', 'bench/generate.ts', '--one', ...args], { cwd: root, encoding: 'utf8' }));
  console.error('ours', JSON.stringify(ours));
  let torch: Row | undefined;
  if (!values['no-torch']) {
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    torch = last(execFileSync('/usr/bin/python3', ['bench/torch_generate.py', String(promptLen), String(newTokens), String(threads)], { cwd: root, encoding: 'utf8', env }));
    console.error('torch', JSON.stringify(torch));
  }
  const f = (x: unknown, d = 1) => (typeof x === 'number' ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—');
  const ratio = torch ? (ours.tokens_per_s as number) / (torch.tokens_per_s as number) : undefined;
  updateSection(path.join(root, 'docs', 'BENCHMARKS.md'), 'Generation', [
    `Greedy generation with a KV cache, GPT-2 small shape (124M parameters, random weights, F32), batch 1, ${promptLen}-token prompt, ${newTokens} new tokens; tokens/s = new tokens / wall time of the whole generation (prefill included), after a warm-up.`,
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${threads} threads (ORT intra-op threads = PyTorch threads = ${threads}).`,
    '',
    '| engine | tokens/s | ms/token (decode) | prefill ms | peak RSS MB |',
    '|---|---|---|---|---|',
    `| LoRA Studio (ONNX Runtime, KV-cache graph) | ${f(ours.tokens_per_s)} | ${f(ours.ms_per_token)} | ${f(ours.prefill_ms)} | ${f(ours.peak_rss_mb, 0)} |`,
    torch ? `| PyTorch ${torch.torch} (eager, KV cache, no_grad) | ${f(torch.tokens_per_s)} | ${f(torch.ms_per_token)} | ${f(torch.prefill_ms)} | ${f(torch.peak_rss_mb, 0)} |` : '',
    '',
    ratio ? `Speed vs PyTorch: **${ratio.toFixed(2)}×** (target ≥ 1.5×).` : '',
    '',
    `Reproduce: \`node --import tsx bench/generate.ts --prompt ${promptLen} --new ${newTokens}\`.`,
  ].filter((l, i, a) => l !== '' || a[i - 1] !== '').join('\n'));
}
