// Grid search over LoRA's r, lora_alpha, lora_dropout (and the learning rate). Every trial is a
// normal run of the project (run id <grid id>-t<k>), scored by validation perplexity
// (exp of the trainer's eval loss on a seeded hold-out); the best trial's adapter is copied to
// experiments/<grid id>/best-adapter. Optional median-rule early stopping (Optuna's
// MedianPruner): at each intermediate evaluation, a trial whose eval loss is worse than the
// median of the finished trials at the same step is stopped ("pruned").
// Resumable: the grid id derives from the options, so running the same search again skips the
// trials already finished (or pruned) and continues an interrupted trial from its checkpoint.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../store/atomic.ts';
import { openOrCreateProject } from '../store/project.ts';
import { copyFolder } from '../store/run-training.ts';
import { readMetrics, readRun, runDir } from '../store/runs.ts';
import { DEFAULT_TRAIN, type LoraOptions, type TrainEvent, type TrainOptions, type TrainResult } from '../train/types.ts';
import { EXPERIMENTS_DIR } from './compare.ts';
import { type TrialRunner, inProcessTrials } from './trials.ts';

export interface GridAxes {
  r: number[];
  alpha: number[];
  dropout: number[];
  /** Learning rates (default: the shared lr). */
  lr?: number[];
}

export interface TrialParams {
  r: number;
  alpha: number;
  dropout: number;
  lr: number;
}

export type TrialStatus = 'pending' | 'completed' | 'pruned' | 'failed';

export interface Trial {
  index: number;
  params: TrialParams;
  runId: string;
  status: TrialStatus;
  /** Validation perplexity (lower is better); null until scored. */
  perplexity: number | null;
  evalLoss: number | null;
  /** Eval loss at each intermediate evaluation step. */
  curve: { step: number; evalLoss: number }[];
  steps: number;
  wallS: number;
  error?: string;
}

export interface GridOptions {
  project: string;
  model: string;
  data: string;
  axes: GridAxes;
  /** Shared training options; valRatio defaults to 0.1 (a validation split is needed to score). */
  train?: Partial<Omit<TrainOptions, 'model' | 'data' | 'method' | 'out'>>;
  /** Median-rule early stopping; needs evalEvery > 0 for intermediate evaluations. */
  earlyStop?: boolean | { minTrials?: number };
  /** How each trial trains (default: in this process; host/trials.ts isolatedTrials: each in its own). */
  runner?: TrialRunner;
  /** Override the grid id (default: a hash of the options). */
  id?: string;
  /** The report as it starts (after the trials already finished, when resuming, are taken in). */
  onStart?: (r: GridReport) => void;
  /** A trial is about to train (or resume). */
  onTrialStart?: (t: Trial, total: number) => void;
  onTrial?: (t: Trial, total: number) => void;
  onEvent?: (t: Trial, e: TrainEvent) => void;
  signal?: AbortSignal;
}

export interface GridReport {
  format: 'lora-studio.grid';
  id: string;
  createdAt: string;
  updatedAt: string;
  model: string;
  data: string;
  axes: GridAxes;
  train: Record<string, unknown>;
  earlyStop: { minTrials: number } | null;
  trials: Trial[];
  best: Trial | null;
  bestAdapter: string | null;
  file: string;
}

export function gridTrials(axes: GridAxes, lr: number): TrialParams[] {
  const out: TrialParams[] = [];
  for (const r of axes.r) for (const alpha of axes.alpha) for (const dropout of axes.dropout) for (const l of axes.lr?.length ? axes.lr : [lr]) out.push({ r, alpha, dropout, lr: l });
  return out;
}

/** Median of the values, or null when there are none. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median rule: prune when the loss at `step` is worse than the median of finished trials there. */
export function shouldPrune(finished: Trial[], step: number, evalLoss: number, minTrials: number): boolean {
  const at = finished.filter((t) => t.status === 'completed').map((t) => t.curve.find((c) => c.step === step)?.evalLoss).filter((x): x is number => x !== undefined);
  if (at.length < minTrials) return false;
  return evalLoss > median(at)!;
}

function gridId(o: Pick<GridOptions, 'model' | 'data' | 'axes'>, shared: TrainOptions | Omit<TrainOptions, 'model' | 'data'>): string {
  const h = createHash('sha256').update(JSON.stringify({ model: path.resolve(o.model), data: path.resolve(o.data), axes: o.axes, shared })).digest('hex');
  return `grid-${h.slice(0, 10)}`;
}

/** The shared options a search trains with (valRatio 0.1 unless given). */
function sharedOptions(train: GridOptions['train']): Omit<TrainOptions, 'model' | 'data'> {
  return { ...DEFAULT_TRAIN, valRatio: 0.1, ...train };
}

/** The id a search with these options gets (what resuming it matches on); threads and logEvery don't count. */
export function gridIdOf(o: Pick<GridOptions, 'model' | 'data' | 'axes' | 'train'>): string {
  const { threads: _th, logEvery: _le, ...identity } = sharedOptions(o.train);
  void _th; void _le;
  return gridId(o, identity as never);
}

const fromResult = (t: Trial, r: TrainResult) => {
  t.steps = r.steps;
  t.wallS = r.wallS;
  t.evalLoss = r.evalLoss ?? null;
  t.perplexity = r.evalLoss === undefined ? null : Math.exp(r.evalLoss);
};

export async function gridSearch(o: GridOptions): Promise<GridReport> {
  const shared = sharedOptions(o.train);
  const lora: LoraOptions = { ...DEFAULT_TRAIN.lora, ...o.train?.lora };
  if (!(shared.valRatio > 0)) throw new Error('grid search scores trials by validation perplexity: give a validation ratio > 0');
  for (const [k, xs] of Object.entries(o.axes)) if (xs !== undefined && (!Array.isArray(xs) || (k !== 'lr' && xs.length === 0))) throw new Error(`grid: --${k} needs at least one value`);
  const project = path.resolve(o.project);
  openOrCreateProject(project);
  const id = o.id ?? gridIdOf(o);
  const dir = path.join(project, EXPERIMENTS_DIR);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${id}.json`);
  const es = o.earlyStop ? { minTrials: (typeof o.earlyStop === 'object' ? o.earlyStop.minTrials : undefined) ?? 2 } : null;
  const now = new Date().toISOString();
  const prev: GridReport | null = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as GridReport) : null;
  const params = gridTrials(o.axes, shared.lr);
  const trials: Trial[] = params.map((p, index) => {
    const runId = `${id}-t${index}`;
    const old = prev?.trials.find((t) => t.runId === runId && JSON.stringify(t.params) === JSON.stringify(p));
    return old ?? { index, params: p, runId, status: 'pending', perplexity: null, evalLoss: null, curve: [], steps: 0, wallS: 0 };
  });
  const report: GridReport = {
    format: 'lora-studio.grid', id, createdAt: prev?.createdAt ?? now, updatedAt: now, model: path.resolve(o.model), data: path.resolve(o.data),
    axes: o.axes, train: { ...shared, lora }, earlyStop: es, trials, best: null, bestAdapter: null, file,
  };
  const save = () => {
    report.updatedAt = new Date().toISOString();
    writeJsonAtomic(file, report as never);
  };
  save();
  o.onStart?.(report);

  for (const t of trials) {
    if (o.signal?.aborted) break;
    if (t.status === 'completed' || t.status === 'pruned') continue;
    o.onTrialStart?.(t, trials.length);
    const outcome = await runTrial(o, { project, id, shared, lora, es, trials }, t);
    if (outcome === 'stopped') break; // stopped from outside: resumable later
    save();
    o.onTrial?.(t, trials.length);
  }

  const done = trials.filter((t) => t.status === 'completed' && t.perplexity !== null);
  report.best = done.length ? done.reduce((a, b) => (b.perplexity! < a.perplexity! ? b : a)) : null;
  if (report.best) {
    const src = path.join(runDir(project, report.best.runId), 'adapter');
    const dest = path.join(dir, id, 'best-adapter');
    if (fs.existsSync(src)) {
      fs.rmSync(dest, { recursive: true, force: true });
      copyFolder(src, dest);
      writeJsonAtomic(path.join(dir, id, 'best.json'), { runId: report.best.runId, params: report.best.params, perplexity: report.best.perplexity } as never);
      report.bestAdapter = dest;
    }
  }
  save();
  return report;
}

interface GridContext {
  project: string;
  id: string;
  shared: Omit<TrainOptions, 'model' | 'data'>;
  lora: LoraOptions;
  es: { minTrials: number } | null;
  trials: Trial[];
}

/**
 * One trial: taken from its finished run, resumed from its checkpoint, or trained; pruned by the
 * median rule. Updates `t`; 'stopped' when the search was stopped from outside.
 */
async function runTrial(o: GridOptions, g: GridContext, t: Trial): Promise<'done' | 'stopped'> {
  const existing = runExists(g.project, t.runId) ? readRun(g.project, t.runId) : null;
  if (existing?.status === 'completed' && existing.result) {
    // Finished after the last save (the process died before writing the grid file).
    fromResult(t, existing.result);
    t.curve = readMetrics(existing.dir).evals.map((e) => ({ step: e.step, evalLoss: e.evalLoss }));
    t.status = 'completed';
    return 'done';
  }
  const ac = new AbortController();
  const stopOuter = () => ac.abort();
  o.signal?.addEventListener('abort', stopOuter, { once: true });
  let pruned = false;
  t.curve = [];
  const onEvent = (e: TrainEvent) => {
    if (e.type === 'eval') {
      t.curve.push({ step: e.step, evalLoss: e.evalLoss });
      if (g.es && !ac.signal.aborted && shouldPrune(g.trials, e.step, e.evalLoss, g.es.minTrials)) {
        pruned = true;
        t.evalLoss = e.evalLoss;
        t.perplexity = Math.exp(e.evalLoss);
        ac.abort();
      }
    }
    o.onEvent?.(t, e);
  };
  try {
    const opts = { ...g.shared, lr: t.params.lr, model: o.model, data: o.data, method: 'lora' as const, lora: { ...g.lora, r: t.params.r, alpha: t.params.alpha, dropout: t.params.dropout } };
    const name = `${g.id} r=${t.params.r} alpha=${t.params.alpha} dropout=${t.params.dropout} lr=${t.params.lr}`;
    // Through the runner both ways, so an isolated search resumes its trial in a process of its own too.
    const runner = o.runner ?? inProcessTrials();
    const result = existing
      ? (await runner.resume(g.project, t.runId, { onEvent, signal: ac.signal })).result
      : (await runner.run(g.project, opts, { runId: t.runId, name, onEvent, signal: ac.signal })).result;
    if (pruned) {
      t.status = 'pruned';
      t.steps = result.steps;
      t.wallS = result.wallS;
    } else if (result.stopped === 'cancelled') {
      return 'stopped';
    } else {
      fromResult(t, result);
      t.status = t.perplexity === null ? 'failed' : 'completed';
      if (t.perplexity === null) t.error = 'no validation loss (too little data for a validation split?)';
    }
  } catch (e) {
    t.status = 'failed';
    t.error = (e as Error).message;
  } finally {
    o.signal?.removeEventListener('abort', stopOuter);
  }
  return 'done';
}

function runExists(project: string, id: string): boolean {
  return fs.existsSync(path.join(runDir(project, id), 'run.json'));
}

/** The JSON the CLI prints. */
export function gridJson(r: GridReport): Record<string, unknown> {
  const one = (t: Trial) => ({ run_id: t.runId, status: t.status, params: t.params, metric: { name: 'perplexity', value: t.perplexity }, eval_loss: t.evalLoss, steps: t.steps, wall_s: t.wallS, ...(t.error ? { error: t.error } : {}) });
  return { id: r.id, file: r.file, trials: r.trials.map(one), best: r.best ? one(r.best) : null, best_adapter: r.bestAdapter };
}
