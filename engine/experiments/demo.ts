// The demo service (`lora-studio demo`, `npm run demo`): the whole tutorial, offline, on the
// built-in demo model (models/demo-llama) and the bundled samples: LoRA on recipes with perplexity
// and generation before/after, LoRA vs full fine-tuning (each in its own process), and sentiment
// classification on reviews. Everything lands in a demo project the app can open. The caller says
// how to show progress (`log` lines, `progress` bars).
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset } from '../data/index.ts';
import { type LoadedTokenizer, loadTokenizer } from '../data/tokenizer.ts';
import { Generator } from '../generate/generator.ts';
import { mergeAdapter } from '../lora/apply.ts';
import { trainableLine } from '../lora/peft-model.ts';
import { loadModel } from '../models/registry.ts';
import { writeJsonAtomic } from '../store/atomic.ts';
import { openOrCreateProject, updateProject } from '../store/project.ts';
import { type RunOutcome, trainInProject } from '../store/run-training.ts';
import { recordEval, recordSamples } from '../store/runs.ts';
import { DEFAULT_CLASSIFY, evaluateClassifier, holdOut, loadLabelled, trainClassifier } from '../train/classify.ts';
import { windowsNll } from '../train/eval.ts';
import type { TrainEvent } from '../train/types.ts';
import { Rng } from '../util/rng.ts';
import { type CompareReport, compareMethods, fmtBytes, formatComparison, table } from './compare.ts';
import type { IsolatedTrialRunner } from './trials.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const DEMO_MODEL = path.join(ROOT, 'models', 'demo-llama');
export const DEMO_PROMPT = 'Banana Bread\n\nIngredients:\n';

interface Settings {
  heldOut: number;
  loraSteps: number;
  loraLr: number;
  compareSteps: number;
  fullLr: number;
  classifySteps: number;
  classifyLr: number;
  genTokens: number;
  batch: number;
  maxLength: number;
}

const FULL: Settings = { heldOut: 10, loraSteps: 160, loraLr: 1e-2, compareSteps: 40, fullLr: 1e-3, classifySteps: 120, classifyLr: 5e-3, genTokens: 60, batch: 8, maxLength: 128 };
const QUICK: Settings = { heldOut: 4, loraSteps: 2, loraLr: 1e-2, compareSteps: 1, fullLr: 1e-3, classifySteps: 2, classifyLr: 5e-3, genTokens: 6, batch: 2, maxLength: 32 };
const DEMO_LORA = { bias: 'none' as const, useRslora: false, init: 'kaiming' as const, r: 16, alpha: 32, dropout: 0.05, targets: 'all-linear' };

export interface DemoOptions {
  project: string;
  model: string;
  quick: boolean;
  threads?: number;
  /** Trains the two methods of the comparison, each in its own process. */
  runner: IsolatedTrialRunner;
  log: (m: string) => void;
  /** A progress bar's state: its label, steps done of total, and a note. */
  progress?: (label: string, done: number, total: number, extra: string) => void;
}

export interface DemoSummary {
  project: string;
  model: string;
  quick: boolean;
  perplexity: { before: number; after: number; heldOutRecipes: number; tokens: number };
  generation: { prompt: string; before: string; after: string };
  loraRun: string;
  compare: { file: string; lora: Record<string, unknown>; full: Record<string, unknown> };
  classification: { accuracyBefore: number; accuracyAfter: number; f1After?: number; examples: number; adapter: string };
  wallS: number;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const indent = (t: string) => t.trim().split('\n').map((l) => `    │ ${l}`).join('\n');

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/** The recipes, a seeded hold-out of whole recipes written as two files of the demo project. */
async function recipes(project: string, s: Settings, tok: LoadedTokenizer) {
  const file = path.join(ROOT, 'samples', 'recipes.jsonl');
  const texts = (await loadDataset(file, {})).examples.map((e) => e.text);
  const raw = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  const held = new Set(Rng.derive(7, 1).shuffle([...texts.keys()]).slice(0, s.heldOut));
  const dataDir = path.join(project, 'datasets');
  fs.mkdirSync(dataDir, { recursive: true });
  const trainFile = path.join(dataDir, 'recipes-train.jsonl');
  fs.writeFileSync(trainFile, raw.filter((_, i) => !held.has(i)).join('\n') + '\n');
  fs.writeFileSync(path.join(dataDir, 'recipes-heldout.jsonl'), raw.filter((_, i) => held.has(i)).join('\n') + '\n');
  const windows = texts.filter((_, i) => held.has(i)).map((t) => tok.encode(t).slice(0, s.maxLength)).filter((w) => w.length >= 2);
  return { trainFile, windows, train: texts.length - held.size, held: held.size };
}

/** Perplexity of the held-out recipes, and a greedy recipe for the demo prompt: the model with (or without) the adapter. */
async function measure(o: DemoOptions, s: Settings, tok: LoadedTokenizer, windows: number[][], adapter?: string) {
  const m = loadModel(o.model);
  if (adapter) mergeAdapter(m, adapter);
  const { sum, count } = await windowsNll(m, windows, 4);
  const g = await Generator.load(o.model, adapter, { threads: o.threads });
  try {
    const r = await g.generate(tok.encode(DEMO_PROMPT), { maxNewTokens: s.genTokens, doSample: false, repetitionPenalty: 1.3 }, tok);
    return { perplexity: Math.exp(sum / count), tokens: count, text: r.outputs[0] };
  } finally {
    await g.release();
  }
}

async function loraRun(o: DemoOptions, s: Settings, trainFile: string): Promise<RunOutcome> {
  let trainable = 0, all = 0;
  const onEvent = (e: TrainEvent) => {
    if (e.type === 'start') [trainable, all] = [e.trainableParams, e.allParams];
    if (e.type === 'step') o.progress?.('LoRA', e.step, e.totalSteps, `loss ${e.loss.toFixed(3)}  ${Math.round(e.tokensPerS)} tok/s  eta ${e.etaS.toFixed(0)} s`);
  };
  const run = await trainInProject(o.project, {
    model: o.model, data: trainFile, method: 'lora', lora: DEMO_LORA,
    maxSteps: s.loraSteps, batchSize: s.batch, maxLength: s.maxLength, lr: s.loraLr, schedule: 'cosine', warmupSteps: Math.min(5, s.loraSteps - 1), seed: 42, logEvery: 1, threads: o.threads,
  }, { name: 'demo: LoRA on recipes', onEvent });
  o.log(`  ${trainableLine(trainable, all)}`);
  o.log(`  run ${run.runId}: ${run.result.steps} steps, final loss ${run.result.finalLoss.toFixed(3)}, ${run.result.wallS.toFixed(1)} s; adapter ${fmtBytes(dirBytes(run.result.out!))}\n`);
  return run;
}

function compareRun(o: DemoOptions, s: Settings, trainFile: string): Promise<CompareReport> {
  return compareMethods({
    project: o.project, model: o.model, data: trainFile, runner: o.runner,
    train: { maxSteps: s.compareSteps, batchSize: s.batch, maxLength: s.maxLength, lr: s.loraLr, schedule: 'cosine', seed: 42, valRatio: 0.1, logEvery: 1, threads: o.threads },
    lora: DEMO_LORA, fullLr: s.fullLr,
    onEvent: (m, e) => { if (e.type === 'step') o.progress?.(m === 'lora' ? 'LoRA' : 'full', e.step, e.totalSteps, `loss ${e.loss.toFixed(3)}`); },
  });
}

/** LoRA + a classification head on samples/reviews.csv: held-out accuracy before (a fresh head) and after. */
async function classification(o: DemoOptions, s: Settings): Promise<DemoSummary['classification']> {
  const data = await loadLabelled(path.join(ROOT, 'samples', 'reviews.csv'));
  const { train, valid } = holdOut(data, 0.2, 42);
  const out = path.join(o.project, 'classifier', 'reviews-lora');
  const evalOn = async (adapter?: string) => (await evaluateClassifier({ model: o.model, adapter, data: valid, maxLength: 64, threads: o.threads })).accuracy;
  const r = await trainClassifier({
    model: o.model, data: train, validation: valid, out, maxSteps: s.classifySteps, batchSize: 16, maxLength: 64, lr: s.classifyLr, warmupSteps: Math.min(10, s.classifySteps - 1), schedule: 'linear', seed: 42, logEvery: 1, threads: o.threads,
    lora: { ...DEFAULT_CLASSIFY.lora, r: 16, alpha: 32, targets: 'all-linear' },
  }, { onEvent: (e) => { if (e.type === 'step') o.progress?.('classifier', e.step, e.totalSteps, `loss ${e.loss.toFixed(3)} acc ${pct(e.accuracy ?? 0)}`); } });
  const accuracyBefore = await evalOn();
  const accuracyAfter = await evalOn(out);
  o.log(table(['held-out reviews', 'before', 'after'], [['accuracy', pct(accuracyBefore), pct(accuracyAfter)], ...(r.eval ? [['F1', '', r.eval.f1.toFixed(3)]] : [])]));
  o.log(`  ${train.texts.length} reviews to train, ${valid.texts.length} held out; adapter with the classification head: ${out}\n`);
  return { accuracyBefore, accuracyAfter, f1After: r.eval?.f1, examples: valid.texts.length, adapter: out };
}

export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const t0 = performance.now();
  const s = opts.quick ? QUICK : FULL;
  const o = { ...opts, project: path.resolve(opts.project) };
  const log = o.log;
  if (!fs.existsSync(path.join(o.model, 'config.json'))) throw new Error(`${o.model}: no demo model here (models/demo-llama ships with the repository)`);
  openOrCreateProject(o.project);
  updateProject(o.project, (p) => { if (p.name === path.basename(o.project) || !p.name) p.name = 'LoRA Studio demo'; });
  const tok = await loadTokenizer(o.model);
  const data = await recipes(o.project, s, tok);
  log(`\nLoRA Studio demo — model ${path.relative(process.cwd(), o.model) || o.model}, project ${o.project}`);
  log(`recipes: ${data.train} to train on, ${data.held} held out; reviews: samples/reviews.csv\n`);

  log('1. Before fine-tuning');
  const before = await measure(o, s, tok, data.windows);
  log(`  perplexity on ${data.held} held-out recipes: ${before.perplexity.toFixed(2)} (${before.tokens} tokens)`);
  log(`  generation for the prompt ${JSON.stringify(DEMO_PROMPT)}:\n${indent(DEMO_PROMPT + before.text)}\n`);

  log('2. LoRA fine-tuning on the recipes');
  const run = await loraRun(o, s, data.trainFile);

  log('3. After LoRA fine-tuning');
  const after = await measure(o, s, tok, data.windows, run.result.out!);
  recordEval(o.project, run.runId, { loss: Math.log(after.perplexity), perplexity: after.perplexity, tokens: after.tokens });
  recordSamples(o.project, run.runId, [{ prompt: DEMO_PROMPT, text: after.text }]);
  log(table(['held-out recipes', 'before', 'after'], [['perplexity', before.perplexity.toFixed(2), after.perplexity.toFixed(2)]]));
  log(`  generation after fine-tuning:\n${indent(DEMO_PROMPT + after.text)}\n`);

  log('4. LoRA vs full fine-tuning (same data, token budget and seed; each in its own process)');
  const cmp = await compareRun(o, s, data.trainFile);
  log(`\n${formatComparison(cmp)}\n  saved ${cmp.file}\n`);

  log('5. Sentiment classification on samples/reviews.csv');
  const cls = await classification(o, s);

  const summary: DemoSummary = {
    project: o.project, model: o.model, quick: o.quick,
    perplexity: { before: before.perplexity, after: after.perplexity, heldOutRecipes: data.held, tokens: before.tokens },
    generation: { prompt: DEMO_PROMPT, before: before.text, after: after.text },
    loraRun: run.runId,
    compare: { file: cmp.file, lora: { ...cmp.lora }, full: { ...cmp.full } },
    classification: cls,
    wallS: (performance.now() - t0) / 1000,
  };
  const file = path.join(o.project, 'experiments', `demo-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}.json`);
  writeJsonAtomic(file, summary as never);
  log('Summary');
  log(table(['', 'value'], [
    ['held-out perplexity', `${before.perplexity.toFixed(2)} → ${after.perplexity.toFixed(2)}`],
    ['LoRA trainable params', `${cmp.lora.trainableParams.toLocaleString('en-US')} (${cmp.lora.trainablePct.toFixed(2)} %)`],
    ['adapter vs checkpoint', `${fmtBytes(cmp.lora.outputBytes)} vs ${fmtBytes(cmp.full.outputBytes)}`],
    ['sentiment accuracy', `${pct(cls.accuracyBefore)} → ${pct(cls.accuracyAfter)}`],
    ['wall time', `${summary.wallS.toFixed(0)} s`],
  ]));
  log(`\nThe demo project is ${o.project} (open it in the app, or \`lora-studio runs list --project ${o.project}\`); summary saved as ${file}`);
  return summary;
}
