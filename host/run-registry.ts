// The session's runs, kept by the host so that an engine crash loses no record; and the saved runs
// of a project (engine/store run folders) as the contract describes them.

import { join } from 'node:path';
import { ApiError, type RunConfig, type RunDetail, type RunEvent, type RunState, type RunSummary, type StudioEvent, applyRunEvent } from '../engine/api.ts';
import { LOG_FILE, listCheckpoints, readJsonl, readMetrics, readSamples, runDir, runName, type RunInfo } from '../engine/store/runs.ts';

interface RunRecord extends RunState {
  /** The project the run is saved in (null: a session-only run, no project open). */
  project: string | null;
}

const copy = (r: RunState): RunDetail => ({ run: { ...r.summary }, points: [...r.points], evalPoints: [...r.evalPoints], logs: [...r.logs], samples: [...(r.samples ?? [])] });

export class RunRegistry {
  private readonly runs = new Map<string, RunRecord>();

  add(runId: string, config: RunConfig, project: string | null = null): RunSummary {
    const summary: RunSummary = {
      runId,
      name: runName(config, config.dataset.path),
      status: 'starting',
      config,
      out: config.out ?? null,
      startedAt: new Date().toISOString(),
      endedAt: null,
      step: 0,
      totalSteps: null,
      lastLoss: null,
      lastEvalLoss: null,
      trainableParams: null,
      allParams: null,
      result: null,
      error: null,
      ...(project ? { dir: runDir(project, runId), lastCheckpoint: null } : {}),
    };
    this.runs.set(runId, { summary, points: [], evalPoints: [], logs: [], project });
    return summary;
  }

  /** Takes a saved run (read from its folder) into the session, e.g. to resume it. */
  restore(detail: RunDetail, project: string): void {
    const summary = { ...detail.run };
    this.runs.set(summary.runId, { summary, points: [...detail.points], evalPoints: [...detail.evalPoints], logs: [...detail.logs], samples: [...(detail.samples ?? [])], project });
  }

  remove(runId: string): boolean {
    return this.runs.delete(runId);
  }

  has(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** The project a session run is saved in (undefined: not in this session). */
  projectOf(runId: string): string | null | undefined {
    return this.runs.get(runId)?.project;
  }

  get(runId: string): RunDetail {
    const r = this.runs.get(runId);
    if (!r) throw new ApiError('not_found', `no run ${runId} in this session`);
    return copy(r);
  }

  /** The session's runs (of one project, when given: null = the runs made with no project open). */
  list(project?: string | null): RunSummary[] {
    return [...this.runs.values()].filter((r) => project === undefined || r.project === project).map((r) => ({ ...r.summary })).reverse();
  }

  /**
   * Runs that live in the engine process: starting, running, or paused with the checkpoint in
   * the engine's temporary project (a session-only run; a saved run's pause checkpoint is in its project).
   */
  active(): string[] {
    return [...this.runs.values()]
      .filter((r) => r.summary.status === 'starting' || r.summary.status === 'running' || (r.summary.status === 'paused' && r.project === null))
      .map((r) => r.summary.runId);
  }

  /** Applies an event (engine/api.ts applyRunEvent); returns false when it names an unknown run. */
  apply(e: StudioEvent): boolean {
    if (e.type !== 'run.event' && e.type !== 'run.status') return true;
    const r = this.runs.get(e.runId);
    if (!r) return false;
    applyRunEvent(r, e as RunEvent);
    return true;
  }

  /**
   * The engine process died under the unfinished runs: a saved run is marked interrupted (it
   * resumes from its last checkpoint on disk), a session-only run failed.
   */
  interruptAll(reason: (saved: boolean) => string): { runId: string; status: 'interrupted' | 'failed'; error: string }[] {
    return this.active().map((runId) => {
      const saved = this.runs.get(runId)!.project !== null;
      const status = saved ? ('interrupted' as const) : ('failed' as const);
      const error = reason(saved);
      this.apply({ type: 'run.status', runId, status, error });
      return { runId, status, error };
    });
  }
}

function storedConfig(info: RunInfo): RunConfig {
  const c = info.config;
  const config: RunConfig = {
    model: c.model,
    dataset: { path: c.data.kind === 'file' ? c.data.path : join(info.dir, c.data.file) },
    method: c.method,
    lora: { r: c.lora.r, alpha: c.lora.alpha, dropout: c.lora.dropout, bias: c.lora.bias, targets: c.lora.targets, useRslora: c.lora.useRslora, init: c.lora.init },
    lr: c.lr,
    epochs: c.epochs,
    maxSteps: c.maxSteps,
    batchSize: c.batchSize,
    gradAccum: c.gradAccum,
    maxLength: c.maxLength,
    warmupSteps: c.warmupSteps,
    warmupRatio: c.warmupRatio,
    weightDecay: c.weightDecay,
    maxGradNorm: c.maxGradNorm,
    schedule: c.schedule,
    seed: c.seed,
    logEvery: c.logEvery,
    ...(info.checkpointEvery ? { checkpointEvery: info.checkpointEvery } : {}),
    valRatio: c.valRatio,
    evalEvery: c.evalEvery,
    device: c.device,
    name: info.name.slice(0, 200),
  };
  if (c.threads !== undefined) config.threads = c.threads;
  if (info.exportTo) config.out = info.exportTo;
  return config;
}

/** A saved run as the runs table and the charts see it (its metrics from metrics.jsonl). */
export function savedRunDetail(info: RunInfo): RunDetail {
  const { steps, evals } = readMetrics(info.dir);
  const lastEval = evals.length ? evals[evals.length - 1].evalLoss : null;
  const result = info.result ? { ...info.result } : null;
  if (result && info.output) result.out = join(info.dir, info.output);
  const run: RunSummary = {
    runId: info.id,
    name: info.name || info.id,
    status: info.effectiveStatus,
    config: storedConfig(info),
    out: info.output ? join(info.dir, info.output) : null,
    startedAt: info.createdAt,
    endedAt: info.endedAt,
    step: info.step,
    totalSteps: info.totalSteps,
    lastLoss: info.lastLoss,
    lastEvalLoss: lastEval ?? result?.evalLoss ?? null,
    trainableParams: info.trainableParams,
    allParams: info.allParams,
    result,
    error: info.error ?? (info.effectiveStatus === 'interrupted' ? 'The process training this run stopped (crash, or the app was closed); resume continues from its last checkpoint.' : null),
    dir: info.dir,
    lastCheckpoint: listCheckpoints(info.dir).at(-1)?.step ?? null,
    ...(info.instruct ? { instruct: info.instruct } : {}),
  };
  const level = (l: unknown): 'info' | 'warn' | 'error' => (l === 'warn' || l === 'error' ? l : 'info');
  return {
    run,
    points: steps.map(({ time: _time, ...p }) => p),
    evalPoints: evals.map((e) => ({ step: e.step, evalLoss: e.evalLoss, perplexity: e.evalPerplexity ?? Math.exp(e.evalLoss), tokens: e.tokens ?? 0 })),
    logs: readJsonl(join(info.dir, LOG_FILE)).map((o) => ({ level: level(o.level), message: String(o.message ?? ''), at: String(o.time ?? '') })),
    samples: readSamples(info.dir).filter((x) => Number.isInteger(x.step) && x.step >= 0).map(({ step, prompt, text }) => ({ step, prompt, text })),
  };
}
