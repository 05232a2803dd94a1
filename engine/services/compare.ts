// The compare service: LoRA vs full fine-tuning on the same model, data, token budget and seed, as
// two runs of a project, each always trained in its own process (an isolated trial runner, from
// host/trials.ts); and the project's saved experiments as the contract describes them.

import { ApiError, type CompareReportData, CompareReportSchema, type Params, type Result, parse } from '../api.ts';
import type { CompareOptions, CompareReport } from '../experiments/compare.ts';
import type { IsolatedTrialRunner } from '../experiments/trials.ts';
import type { LoraOptions, Method, TrainEvent, TrainOptions } from '../train/types.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir, requirePath } from './files.ts';
import { listGrids } from './grid.ts';

export interface CompareRequest {
  project: string;
  model: string;
  data: string;
  /** Shared training options (steps or epochs, batch, length, seed, schedule, lr, validation split). */
  train: Partial<Omit<TrainOptions, 'model' | 'data' | 'method' | 'lora' | 'out'>>;
  lora?: Partial<LoraOptions>;
  /** Learning rate for full fine-tuning (default: the shared lr). */
  fullLr?: number;
}

export interface CompareHooks {
  onEvent?: (method: Method, e: TrainEvent) => void;
  onRun?: (method: Method, run: { id: string; dir: string }) => void;
  signal?: AbortSignal;
}

export async function compare(req: CompareRequest, runner: IsolatedTrialRunner, hooks: CompareHooks = {}, fns: EngineFunctions = ENGINE): Promise<CompareReport> {
  const o: CompareOptions = {
    ...req, model: requireDir(req.model, 'model folder'), data: requirePath(req.data, 'dataset'), runner,
    ...(req.lora ? { lora: req.lora } : {}), ...(req.fullLr ? { fullLr: req.fullLr } : {}),
    onEvent: hooks.onEvent, onRun: hooks.onRun, signal: hooks.signal,
  };
  return fns.compareMethods(o);
}

/** experiments.compare: the contract's params as a comparison of the project's, summarized. */
export async function compareForStudio(p: Params<'experiments.compare'>, runner: IsolatedTrialRunner, hooks: CompareHooks, fns: EngineFunctions = ENGINE): Promise<Result<'experiments.compare'>> {
  if (!p.project) throw new ApiError('failed', 'a LoRA-vs-full comparison saves two runs in a project: open or create a project first');
  const report = await compare({
    project: p.project, model: p.model, data: p.data, lora: p.lora, fullLr: p.fullLr,
    train: { maxSteps: p.maxSteps, epochs: 0, batchSize: p.batchSize, maxLength: p.maxLength, lr: p.lr, seed: p.seed, valRatio: p.valRatio, logEvery: 1 },
  }, runner, hooks, fns);
  const summary = compareSummary(report as never);
  if (!summary) throw new ApiError('failed', 'the comparison finished but its report is incomplete');
  return summary;
}

const METHOD_KEYS = ['method', 'runId', 'trainableParams', 'totalParams', 'trainablePct', 'peakRssMb', 'steps', 'tokens', 'msPerStep', 'tokensPerS', 'wallS', 'finalTrainLoss', 'evalLoss', 'perplexity', 'lr', 'outputDir', 'outputBytes'];

/** A saved comparison as the contract describes it (null when the file doesn't fit). */
export function compareSummary(r: Record<string, unknown>): CompareReportData | null {
  const pick = (m: unknown) => {
    const o = (m ?? {}) as Record<string, unknown>;
    const known = Object.fromEntries(METHOD_KEYS.map((k) => [k, o[k] === undefined ? null : o[k]]));
    return typeof o.isolated === 'boolean' ? { ...known, isolated: o.isolated } : known;
  };
  try {
    return parse(CompareReportSchema, { id: r.id, createdAt: r.createdAt, model: r.model, data: r.data, lora: pick(r.lora), full: pick(r.full), file: r.file }, 'comparison');
  } catch {
    return null;
  }
}

/** The saved experiments of a project: comparisons and grid searches, newest first. */
export async function listExperiments(project: string | undefined, fns: EngineFunctions = ENGINE): Promise<Result<'experiments.list'>> {
  if (!project) return { comparisons: [], grids: [] };
  const comparisons = (await fns.listComparisons(project)).map((c) => compareSummary(c as never)).filter((x) => x !== null);
  return { comparisons, grids: listGrids(project) };
}
