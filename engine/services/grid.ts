// The grid service: a grid search over LoRA's r, alpha, dropout (and the learning rate), scored by
// validation perplexity, each trial a run of the project (engine/experiments/grid.ts); and the
// project's saved grid searches as the contract describes them.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApiError, type GridReportData, GridReportSchema, type GridSettings, GridSettingsSchema, type Params, parse } from '../api.ts';
import { EXPERIMENTS_DIR } from '../experiments/compare.ts';
import { type GridOptions, type GridReport, gridIdOf, gridSearch } from '../experiments/grid.ts';
import type { TrialRunner } from '../experiments/trials.ts';
import type { TrainEvent } from '../train/types.ts';
import { requireDir, requirePath } from './files.ts';

/** The most trials one search from the app may have (each is a full training run). */
export const MAX_GRID_TRIALS = 256;

/** Runs (or resumes) the search; trials train in this process unless `o.runner` isolates them. */
export function grid(o: GridOptions): Promise<GridReport> {
  return gridSearch({ ...o, model: requireDir(o.model, 'model folder'), data: requirePath(o.data, 'dataset') });
}

export interface GridHooks {
  /** The search's trials as they stand; `running`: the index of the trial training now. */
  onUpdate?: (g: GridReportData, running: number | null) => void;
  /** A trainer event of a trial (its run id). */
  onEvent?: (runId: string, e: TrainEvent) => void;
  signal?: AbortSignal;
}

/** The options the app's settings stand for: what makes a search's id, so the same settings resume it. */
function studioTrain(s: GridSettings): GridOptions['train'] {
  // evalEvery only when given: an undefined key would override the default and change older grids' ids.
  return {
    maxSteps: s.maxSteps, epochs: 0, batchSize: s.batchSize, maxLength: s.maxLength, lr: s.lr[0], seed: s.seed, valRatio: s.valRatio, logEvery: 1,
    ...(s.evalEvery !== undefined ? { evalEvery: s.evalEvery } : {}),
  };
}

const axesOf = (s: GridSettings) => ({ r: s.r, alpha: s.alpha, dropout: s.dropout, lr: s.lr });

/** experiments.grid: the contract's params as a search of the project's (resumed when it was started before), summarized. */
export async function gridForStudio(p: Params<'experiments.grid'>, runner: TrialRunner, hooks: GridHooks = {}): Promise<GridReportData> {
  if (!p.project) throw new ApiError('failed', 'a grid search saves its trials as runs of a project: open or create a project first');
  const { model, data, project, ...settings } = p;
  for (const k of ['r', 'alpha', 'dropout', 'lr'] as const) if (settings[k].length === 0) throw new ApiError('invalid_params', `the grid needs at least one ${k === 'lr' ? 'learning rate' : `${k} value`}`);
  const total = settings.r.length * settings.alpha.length * settings.dropout.length * settings.lr.length;
  if (total > MAX_GRID_TRIALS) throw new ApiError('invalid_params', `the grid has ${total} settings; at most ${MAX_GRID_TRIALS} run from the app`);
  if (settings.earlyStop && settings.evalEvery === undefined) throw new ApiError('invalid_params', 'stopping weak trials early needs evaluations during training: say every how many steps to evaluate');
  let current: GridReport | null = null;
  const update = (running: number | null) => {
    const g = current && gridSummary(current as never);
    if (g) hooks.onUpdate?.(g, running);
  };
  const report = await grid({
    project, model, data, axes: axesOf(settings), train: studioTrain(settings), runner, signal: hooks.signal,
    earlyStop: settings.earlyStop ?? false, // as the CLI's --early-stop --min-trials
    onStart: (r) => ((current = r), update(null)),
    onTrialStart: (t) => update(t.index),
    onTrial: () => update(null),
    onEvent: (t, e) => hooks.onEvent?.(t.runId, e),
  });
  const summary = gridSummary(report as never);
  if (!summary) throw new ApiError('failed', 'the grid search finished but its report is incomplete');
  return summary;
}

type RawReport = Record<string, unknown> & {
  trials?: Record<string, unknown>[]; best?: { runId?: string } | null; axes?: Record<string, unknown>; train?: Record<string, unknown>; earlyStop?: unknown;
};

/** The app's settings of a saved search, when they give its id again (a search from the CLI with other options: none). */
function settingsOf(r: RawReport): GridSettings | undefined {
  const a = r.axes ?? {};
  const t = r.train ?? {};
  const lr = Array.isArray(a.lr) && a.lr.length ? a.lr : [t.lr];
  const s = {
    r: a.r, alpha: a.alpha, dropout: a.dropout, lr, maxSteps: t.maxSteps, batchSize: t.batchSize, maxLength: t.maxLength, seed: t.seed, valRatio: t.valRatio,
    // 0 (the default) is "only at the end": no field, so the id check below sees the same options.
    evalEvery: typeof t.evalEvery === 'number' && t.evalEvery > 0 ? t.evalEvery : undefined,
    earlyStop: r.earlyStop && typeof r.earlyStop === 'object' ? r.earlyStop : undefined,
  };
  try {
    const settings = parse(GridSettingsSchema, s, 'settings');
    if (typeof r.model !== 'string' || typeof r.data !== 'string') return undefined;
    return gridIdOf({ model: r.model, data: r.data, axes: axesOf(settings), train: studioTrain(settings) }) === r.id ? settings : undefined;
  } catch {
    return undefined;
  }
}

/** A grid report (in memory or read from its file) as the contract describes it (null when it doesn't fit). */
export function gridSummary(r: RawReport): GridReportData | null {
  const trials = (r.trials ?? []).map((t) => ({
    index: t.index, params: t.params, runId: t.runId, status: t.status, perplexity: t.perplexity ?? null, evalLoss: t.evalLoss ?? null,
    steps: t.steps ?? 0, wallS: t.wallS ?? 0, ...(typeof t.error === 'string' ? { error: t.error } : {}),
  }));
  const settings = settingsOf(r);
  try {
    return parse(GridReportSchema, {
      id: r.id, createdAt: r.createdAt, updatedAt: r.updatedAt ?? r.createdAt, model: r.model, data: r.data, trials,
      bestRunId: r.best?.runId ?? null, bestAdapter: r.bestAdapter ?? null, file: r.file, ...(settings ? { settings } : {}),
    }, `grid ${String(r.id)}`);
  } catch {
    return null;
  }
}

/** The saved grid searches of a project (experiments/grid-*.json), newest first, as summaries. */
export function listGrids(project: string): GridReportData[] {
  const dir = join(resolve(project), EXPERIMENTS_DIR);
  if (!existsSync(dir)) return [];
  const out: GridReportData[] = [];
  for (const f of readdirSync(dir).filter((x) => /^grid-.*\.json$/.test(x))) {
    try {
      const g = gridSummary({ ...(JSON.parse(readFileSync(join(dir, f), 'utf8')) as RawReport), file: join(dir, f) });
      if (g) out.push(g);
    } catch {
      // an unreadable or foreign file: left out
    }
  }
  return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
}
