// `lora-studio demo` (`npm run demo`): the whole tutorial, offline, on the built-in demo model
// (models/demo-gpt2) and the bundled samples: LoRA on recipes with perplexity and generation
// before/after, LoRA vs full fine-tuning, and sentiment classification on reviews. Everything
// lands in a demo project the app can open.
import fs from 'node:fs';
import path from 'node:path';
import { loadDataset } from '../../engine/data/index.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { compareMethods, fmtBytes, formatComparison, table } from '../../engine/experiments/compare.ts';
import { Generator } from '../../engine/generate/generator.ts';
import { mergeAdapter } from '../../engine/lora/apply.ts';
import { loadModel as loadGPT2 } from '../../engine/models/registry.ts';
import { writeJsonAtomic } from '../../engine/store/atomic.ts';
import { defaultProjectsRoot, openOrCreateProject, updateProject } from '../../engine/store/project.ts';
import { trainInProject } from '../../engine/store/run-training.ts';
import { recordEval, recordSamples } from '../../engine/store/runs.ts';
import { windowsNll } from '../../engine/train/eval.ts';
import type { TrainEvent } from '../../engine/train/types.ts';
import { Rng } from '../../engine/util/rng.ts';
import { parse, runCommand } from '../args.ts';
import { progressBar } from './compare.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const DEMO_MODEL = path.join(ROOT, 'models', 'demo-gpt2');
export const DEMO_PROMPT = 'Banana Bread\n\nIngredients:\n';

const HELP = `Usage: lora-studio demo [--project DIR] [--model DIR] [--quick] [--json]

The tutorial end to end, offline, on the built-in demo model (models/demo-gpt2) and the bundled
samples (samples/recipes.jsonl, samples/reviews.csv):
  1. perplexity of held-out recipes and a generated recipe, before fine-tuning
  2. LoRA fine-tuning on the other recipes (a run of the demo project)
  3. perplexity and generation again, after
  4. LoRA vs full fine-tuning on the same data, budget and seed
  5. sentiment classification of the reviews (LoRA + a classification head): accuracy before/after

Options:
  --project DIR   the demo project (default: <projects folder>/lora-studio-demo; the app lists it)
  --model DIR     another GPT-2 folder instead of the demo model
  --quick         a few steps of everything (a smoke test, numbers meaningless)
  --threads N     CPU threads (default: all cores)`;

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

/** One progress line: redrawn in place on a terminal, a line per update (throttled) otherwise. */
class Bar {
  private last = -1;
  private readonly tty: boolean;
  constructor(private readonly label: string, private readonly log: (m: string) => void) {
    this.tty = Boolean(process.stdout.isTTY) && log === console.log;
  }
  update(done: number, total: number, extra = ''): void {
    const f = total > 0 ? done / total : 1;
    const line = `  ${this.label.padEnd(14)} ${progressBar(f)} ${done}/${total} ${extra}`;
    if (this.tty) process.stdout.write(`\r${line.padEnd(100)}`);
    else if (done === total || Math.floor(f * 4) > this.last) this.log(line);
    this.last = Math.floor(f * 4);
    if (this.tty && done === total) process.stdout.write('\n');
  }
}

export interface DemoSummary {
  project: string;
  model: string;
  quick: boolean;
  perplexity: { before: number; after: number; heldOutRecipes: number; tokens: number };
  generation: { prompt: string; before: string; after: string };
  loraRun: string;
  compare: { file: string; lora: Record<string, unknown>; full: Record<string, unknown> };
  classification: { available: boolean; accuracyBefore?: number; accuracyAfter?: number; f1After?: number; examples?: number; adapter?: string; note?: string };
  wallS: number;
}

export async function runDemo(o: { project: string; model: string; quick: boolean; threads?: number; log?: (m: string) => void }): Promise<DemoSummary> {
  const t0 = performance.now();
  const log = o.log ?? console.log;
  const s = o.quick ? QUICK : FULL;
  const project = path.resolve(o.project);
  if (!fs.existsSync(path.join(o.model, 'config.json'))) throw new Error(`${o.model}: no demo model here (models/demo-gpt2 ships with the repository)`);
  openOrCreateProject(project);
  updateProject(project, (p) => { if (p.name === path.basename(project) || !p.name) p.name = 'LoRA Studio demo'; });
  const dataDir = path.join(project, 'datasets');
  fs.mkdirSync(dataDir, { recursive: true });

  // ---- data: a seeded hold-out of whole recipes
  const recipes = (await loadDataset(path.join(ROOT, 'samples', 'recipes.jsonl'), {})).examples.map((e) => e.text);
  const raw = fs.readFileSync(path.join(ROOT, 'samples', 'recipes.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  const order = Rng.derive(7, 1).shuffle([...recipes.keys()]);
  const held = new Set(order.slice(0, s.heldOut));
  const trainFile = path.join(dataDir, 'recipes-train.jsonl');
  const heldFile = path.join(dataDir, 'recipes-heldout.jsonl');
  fs.writeFileSync(trainFile, raw.filter((_, i) => !held.has(i)).join('\n') + '\n');
  fs.writeFileSync(heldFile, raw.filter((_, i) => held.has(i)).join('\n') + '\n');
  const tok = await loadTokenizer(o.model);
  const heldTexts = recipes.filter((_, i) => held.has(i));
  const windows = heldTexts.map((t) => tok.encode(t).slice(0, s.maxLength)).filter((w) => w.length >= 2);
  log(`\nLoRA Studio demo — model ${path.relative(process.cwd(), o.model) || o.model}, project ${project}`);
  log(`recipes: ${recipes.length - held.size} to train on, ${held.size} held out; reviews: samples/reviews.csv\n`);

  const ppl = async (adapter?: string) => {
    const m = loadGPT2(o.model);
    if (adapter) mergeAdapter(m, adapter);
    const { sum, count } = await windowsNll(m, windows, 4);
    return { perplexity: Math.exp(sum / count), tokens: count };
  };
  const generate = async (adapter?: string) => {
    const g = await Generator.load(o.model, adapter, { threads: o.threads });
    try {
      const r = await g.generate(tok.encode(DEMO_PROMPT), { maxNewTokens: s.genTokens, doSample: false, repetitionPenalty: 1.3 }, tok);
      return r.outputs[0];
    } finally {
      await g.release();
    }
  };
  const indent = (t: string) => t.trim().split('\n').map((l) => `    │ ${l}`).join('\n');

  // ---- 1. before
  log('1. Before fine-tuning');
  const before = await ppl();
  const genBefore = await generate();
  log(`  perplexity on ${held.size} held-out recipes: ${before.perplexity.toFixed(2)} (${before.tokens} tokens)`);
  log(`  generation for the prompt ${JSON.stringify(DEMO_PROMPT)}:\n${indent(DEMO_PROMPT + genBefore)}\n`);

  // ---- 2. LoRA
  log('2. LoRA fine-tuning on the recipes');
  const bar = new Bar('LoRA', log);
  let trainable = 0, all = 0;
  const onEvent = (e: TrainEvent) => {
    if (e.type === 'start') { trainable = e.trainableParams; all = e.allParams; }
    if (e.type === 'step') bar.update(e.step, e.totalSteps, `loss ${e.loss.toFixed(3)}  ${Math.round(e.tokensPerS)} tok/s  eta ${e.etaS.toFixed(0)} s`);
  };
  const lora = { r: 16, alpha: 32, dropout: 0.05, targets: ['c_attn', 'c_proj', 'c_fc'] };
  const run = await trainInProject(project, {
    model: o.model, data: trainFile, method: 'lora', lora: { ...FULL_LORA, ...lora },
    maxSteps: s.loraSteps, batchSize: s.batch, maxLength: s.maxLength, lr: s.loraLr, schedule: 'cosine', warmupSteps: Math.min(5, s.loraSteps - 1), seed: 42, logEvery: 1, threads: o.threads,
  }, { name: 'demo: LoRA on recipes', onEvent });
  const adapter = run.result.out!;
  log(`  trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / all).toFixed(4)}`);
  log(`  run ${run.runId}: ${run.result.steps} steps, final loss ${run.result.finalLoss.toFixed(3)}, ${run.result.wallS.toFixed(1)} s; adapter ${fmtBytes(dirBytes(adapter))}\n`);

  // ---- 3. after
  log('3. After LoRA fine-tuning');
  const after = await ppl(adapter);
  const genAfter = await generate(adapter);
  recordEval(project, run.runId, { loss: Math.log(after.perplexity), perplexity: after.perplexity, tokens: after.tokens });
  recordSamples(project, run.runId, [{ prompt: DEMO_PROMPT, text: genAfter }]);
  log(table(['held-out recipes', 'before', 'after'], [['perplexity', before.perplexity.toFixed(2), after.perplexity.toFixed(2)]]));
  log(`  generation after fine-tuning:\n${indent(DEMO_PROMPT + genAfter)}\n`);

  // ---- 4. LoRA vs full
  log('4. LoRA vs full fine-tuning (same data, token budget and seed; each in its own process)');
  const bars = { lora: new Bar('LoRA', log), full: new Bar('full', log) };
  const cmp = await compareMethods({
    project, model: o.model, data: trainFile,
    train: { maxSteps: s.compareSteps, batchSize: s.batch, maxLength: s.maxLength, lr: s.loraLr, schedule: 'cosine', seed: 42, valRatio: 0.1, logEvery: 1, threads: o.threads },
    lora: { ...FULL_LORA, ...lora }, fullLr: s.fullLr,
    onEvent: (m, e) => { if (e.type === 'step') bars[m].update(e.step, e.totalSteps, `loss ${e.loss.toFixed(3)}`); },
  });
  log(`\n${formatComparison(cmp)}\n  saved ${cmp.file}\n`);

  // ---- 5. classification
  log('5. Sentiment classification on samples/reviews.csv');
  const classification = await classify(o, s, project, log);

  const summary: DemoSummary = {
    project, model: o.model, quick: o.quick,
    perplexity: { before: before.perplexity, after: after.perplexity, heldOutRecipes: held.size, tokens: before.tokens },
    generation: { prompt: DEMO_PROMPT, before: genBefore, after: genAfter },
    loraRun: run.runId,
    compare: { file: cmp.file, lora: { ...cmp.lora }, full: { ...cmp.full } },
    classification,
    wallS: (performance.now() - t0) / 1000,
  };
  const file = path.join(project, 'experiments', `demo-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}.json`);
  writeJsonAtomic(file, summary as never);
  log('Summary');
  log(table(['', 'value'], [
    ['held-out perplexity', `${before.perplexity.toFixed(2)} → ${after.perplexity.toFixed(2)}`],
    ['LoRA trainable params', `${cmp.lora.trainableParams.toLocaleString('en-US')} (${cmp.lora.trainablePct.toFixed(2)} %)`],
    ['adapter vs checkpoint', `${fmtBytes(cmp.lora.outputBytes)} vs ${fmtBytes(cmp.full.outputBytes)}`],
    ['sentiment accuracy', classification.available ? `${pct(classification.accuracyBefore!)} → ${pct(classification.accuracyAfter!)}` : 'not available in this build'],
    ['wall time', `${summary.wallS.toFixed(0)} s`],
  ]));
  log(`\nThe demo project is ${project} (open it in the app, or \`lora-studio runs list --project ${project}\`); summary saved as ${file}`);
  return summary;
}

const FULL_LORA = { bias: 'none' as const, useRslora: false, init: 'kaiming' as const };
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

async function classify(o: { model: string; threads?: number }, s: Settings, project: string, log: (m: string) => void): Promise<DemoSummary['classification']> {
  let mod: typeof import('../../engine/train/classify.ts');
  try {
    mod = await import('../../engine/train/classify.ts');
  } catch (e) {
    const note = `the classification engine is not available in this build (${(e as Error).message})`;
    log(`  skipped: ${note}\n`);
    return { available: false, note };
  }
  const data = await mod.loadLabelled(path.join(ROOT, 'samples', 'reviews.csv'));
  const { train, valid } = mod.holdOut(data, 0.2, 42);
  const out = path.join(project, 'classifier', 'reviews-lora');
  const evalOn = async (adapter?: string) => (await mod.evaluateClassifier({ model: o.model, adapter, data: valid, maxLength: 64, threads: o.threads })).accuracy;
  const bar = new Bar('classifier', log);
  const r = await mod.trainClassifier({
    model: o.model, data: train, validation: valid, out, maxSteps: s.classifySteps, batchSize: 16, maxLength: 64, lr: s.classifyLr, warmupSteps: Math.min(10, s.classifySteps - 1), schedule: 'linear', seed: 42, logEvery: 1, threads: o.threads,
    lora: { ...mod.DEFAULT_CLASSIFY.lora, r: 16, alpha: 32, targets: ['c_attn', 'c_proj', 'c_fc'] },
  }, { onEvent: (e) => { if (e.type === 'step') bar.update(e.step, e.totalSteps, `loss ${e.loss.toFixed(3)} acc ${pct(e.accuracy ?? 0)}`); } });
  // "before": the base model with a fresh (untrained) classification head.
  const beforeAcc = await evalOn();
  const afterAcc = await evalOn(out);
  log(table(['held-out reviews', 'before', 'after'], [
    ['accuracy', pct(beforeAcc), pct(afterAcc)],
    ...(r.eval ? [['F1', '', r.eval.f1.toFixed(3)]] : []),
  ]));
  log(`  ${train.texts.length} reviews to train, ${valid.texts.length} held out; adapter with the classification head: ${out}\n`);
  return { available: true, accuracyBefore: beforeAcc, accuracyAfter: afterAcc, f1After: r.eval?.f1, examples: valid.texts.length, adapter: out };
}

export async function demoCommand(argv: string[]): Promise<number> {
  return runCommand('demo', HELP, async () => {
    const { values: v } = parse(argv, { project: { type: 'string' }, model: { type: 'string' }, quick: { type: 'boolean' }, threads: { type: 'string' } });
    if (v.help) { console.log(HELP); return 0; }
    const json = Boolean(v.json);
    const summary = await runDemo({
      project: v.project ?? path.join(defaultProjectsRoot(), 'lora-studio-demo'),
      model: path.resolve(v.model ?? DEMO_MODEL),
      quick: Boolean(v.quick),
      threads: v.threads ? Number(v.threads) : undefined,
      log: json ? (m) => console.error(m) : undefined,
    });
    if (json) console.log(JSON.stringify(summary));
    return 0;
  });
}
