// The train service: every training is a run of a project (engine/store/run-training.ts) — the
// open project's, or a temporary project's when none is open, whose result is copied to `out`.
// LiveRuns holds the runs an engine process is training for the studio: start, stop, pause (stop
// with a checkpoint on disk) and resume.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, type ChatColumnsSchema, type Infer, type Params, type Result, type RunConfig, type StudioEvent, type TrainEventSchema, type TrainResultSchema } from '../api.ts';
import type { ChatColumns } from '../data/instruct.ts';
import { createProject } from '../store/project.ts';
import { type ProjectTrainHooks, type RunOutcome, resumeRun, trainInProject } from '../store/run-training.ts';
import { newRunId, runName } from '../store/runs.ts';
import type { TrainEvent, TrainOptions, TrainResult } from '../train/types.ts';
import { instructOptions, trainingData } from './datasets.ts';
import { ENGINE, type EngineFunctions, type TrainInput } from './engine.ts';
import { checkOutputFolder, requireDir, requirePath } from './files.ts';

export type { TrainInput };

// The contract's schemas must describe exactly the trainer's own types: a compile-time check.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameTrainEvent: Equals<Infer<typeof TrainEventSchema>, TrainEvent> = true;
const sameTrainResult: Equals<Infer<typeof TrainResultSchema>, TrainResult> = true;
const sameChatColumns: Equals<Infer<typeof ChatColumnsSchema>, ChatColumns> = true;
void [sameTrainEvent, sameTrainResult, sameChatColumns];

export interface TrainRequest {
  /** The trainer's options; `out` gets a copy of the result (required without a project). */
  options: TrainInput;
  /** The project the run is saved in; none: a temporary one, removed once the run completes. */
  project?: string;
  name?: string;
  runId?: string;
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Write into `options.out` even when it has files in it. */
  overwrite?: boolean;
}

export type TrainHooks = Pick<ProjectTrainHooks, 'onEvent' | 'signal' | 'onRun' | 'onCheckpoint'>;

export interface TrainOutcome extends RunOutcome {
  project: string;
  /** The run trained in a temporary project (gone once it completed; kept when it stopped early). */
  temporary: boolean;
}

/** A new, empty project in the OS temp folder. */
export function temporaryProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lora-studio-run-'));
  createProject(dir, { name: 'temporary' });
  return dir;
}

/** Trains one run: in `req.project`, or in a temporary project with the result copied to `out`. */
export async function trainRun(req: TrainRequest, hooks: TrainHooks = {}, fns: EngineFunctions = ENGINE): Promise<TrainOutcome> {
  const { options: o } = req;
  if (!req.project && !o.out) throw new ApiError('invalid_params', 'out: a run outside a project needs an output folder');
  checkOutputFolder(o.out, req.overwrite);
  const temporary = !req.project;
  const project = req.project ?? temporaryProject();
  const outcome = await trainInProject(project, o, {
    ...hooks, name: req.name, runId: req.runId, checkpointEvery: req.checkpointEvery, keepCheckpoints: req.keepCheckpoints, trainer: fns.train,
  });
  if (!temporary) return { ...outcome, project, temporary };
  const result = { ...outcome.result, out: o.out };
  if (result.stopped === 'completed') rmSync(project, { recursive: true, force: true });
  return { ...outcome, result, project, temporary };
}

/** Continues a saved run from its last checkpoint, with the options it started with. */
export function resumeTraining(project: string, runId: string, hooks: TrainHooks & Pick<ProjectTrainHooks, 'checkpointEvery' | 'keepCheckpoints'> = {}, fns: EngineFunctions = ENGINE): Promise<RunOutcome> {
  return resumeRun(project, runId, { ...hooks, trainer: fns.train });
}

/**
 * A RunConfig (the contract's) as the trainer's options, with its data: a classifier reads the
 * dataset's text and label columns and split; instruction data its format, column mapping, chat
 * template and train-on choice (as `train --format --columns --chat-template --train-on` pass them).
 */
export function toTrainOptions(config: RunConfig, data: TrainOptions['data']): TrainInput {
  const { dataset, name: _name, checkpointEvery: _every, chat, ...rest } = config;
  void [_name, _every];
  const o: TrainInput = { ...rest, lora: { ...config.lora }, data };
  if (config.task === 'seq-cls') {
    if (typeof data === 'string') {
      if (dataset.textColumn) o.textColumn = dataset.textColumn;
      if (dataset.labelColumn) o.labelColumn = dataset.labelColumn;
      if (dataset.split) o.split = dataset.split;
    }
  } else {
    const { chatColumns, ...choices } = instructOptions(chat, dataset);
    Object.assign(o, choices);
    // Only the file is read through the mapping (mapped plain text arrives as documents).
    if (typeof data === 'string' && chatColumns) o.chatColumns = chatColumns;
  }
  return o;
}

interface LiveRun {
  controller: AbortController;
  /** Stopping to pause (keep the checkpoint) rather than to cancel. */
  pausing: boolean;
  /** Step of the last checkpoint on disk. */
  savedStep?: number;
}

type RunStatusEvent = Extract<StudioEvent, { type: 'run.status' }>;

/**
 * The runs an engine process trains for the studio. A run of the open project is saved there; a
 * run made with no project open trains in this process's temporary project (a session run: the
 * host forgets about it when the engine restarts). Pause = stop with a checkpoint on disk;
 * resume continues from it. Status changes go out as run.status events, trainer events as
 * run.event.
 */
export class LiveRuns {
  private readonly active = new Map<string, LiveRun>();
  /** Session runs paused (stopped with a checkpoint in the temporary project). */
  private readonly paused = new Set<string>();
  private sessionProject: string | null = null;

  constructor(private readonly emit: (e: StudioEvent) => void, private readonly fns: EngineFunctions = ENGINE) {}

  get running(): ReadonlySet<string> {
    return new Set(this.active.keys());
  }

  /** Asks every running run to stop (after its current step). */
  stopAll(): void {
    this.active.forEach((r) => r.controller.abort());
  }

  /** The temporary project of the runs made with no project open (null until the first). */
  get sessionDir(): string | null {
    return this.sessionProject;
  }

  private status(runId: string, status: RunStatusEvent['status'], error: string | null = null, out?: string): void {
    this.emit({ type: 'run.status', runId, status, error, ...(out ? { out } : {}) });
  }

  private session(): string {
    this.sessionProject ??= temporaryProject();
    return this.sessionProject;
  }

  async start(p: Params<'runs.start'>): Promise<Result<'runs.start'>> {
    const runId = p.runId ?? newRunId();
    if (this.active.has(runId) || this.paused.has(runId)) throw new ApiError('busy', `run ${runId} exists already`);
    const config = p.config;
    requireDir(config.model, 'model folder');
    requirePath(config.dataset.path, 'dataset');
    checkOutputFolder(config.out, p.overwrite);
    const saved = Boolean(p.project);
    const project = p.project ?? this.session();
    const every = config.checkpointEvery ? { checkpointEvery: config.checkpointEvery } : {};
    void this.launch(runId, saved, 'fail', async (run, hooks) => {
      const data = await trainingData(config, run.controller.signal, this.fns);
      return trainInProject(project, toTrainOptions(config, data), { ...hooks, ...every, name: runName(config, config.dataset.path) });
    });
    return { runId };
  }

  stop(runId: string): Result<'runs.stop'> {
    const run = this.active.get(runId);
    if (run) {
      run.pausing = false;
      run.controller.abort();
      return { stopping: true };
    }
    if (this.paused.delete(runId)) {
      this.status(runId, 'cancelled');
      return { stopping: true };
    }
    return { stopping: false };
  }

  pause(runId: string): Result<'runs.pause'> {
    const run = this.active.get(runId);
    if (!run || run.controller.signal.aborted) return { pausing: false };
    run.pausing = true;
    run.controller.abort();
    return { pausing: true };
  }

  /** Resumes a saved run of `project`, or (no project) a paused session run. */
  async resume(p: Params<'runs.resume'>): Promise<Result<'runs.resume'>> {
    if (this.active.has(p.runId)) return { resumed: false };
    if (p.project) {
      await this.launch(p.runId, true, 'reject', (_run, hooks) => resumeRun(p.project!, p.runId, hooks));
      return { resumed: true };
    }
    if (!this.paused.delete(p.runId)) return { resumed: false };
    const project = this.session();
    try {
      await this.launch(p.runId, false, 'reject', (_run, hooks) => resumeRun(project, p.runId, hooks));
    } catch (e) {
      this.paused.add(p.runId); // nothing started: still paused
      throw e;
    }
    this.status(p.runId, 'running');
    return { resumed: true };
  }

  /**
   * Trains in the background. A saved run says 'running' once its folder is taken (a session run's
   * start event says so). Resolves then; with `early: 'reject'` it rejects when the run fails
   * before that, else such a failure is the run's status.
   */
  private launch(runId: string, saved: boolean, early: 'fail' | 'reject', go: (run: LiveRun, hooks: ProjectTrainHooks) => Promise<RunOutcome>): Promise<void> {
    const run: LiveRun = { controller: new AbortController(), pausing: false };
    this.active.set(runId, run);
    let begun = false;
    let started!: () => void;
    let failedEarly!: (e: ApiError) => void;
    const ready = new Promise<void>((ok, fail) => {
      started = ok;
      failedEarly = fail;
    });
    void (async () => {
      try {
        const outcome = await go(run, this.hooks(runId, run, saved, () => {
          begun = true;
          started();
        }));
        this.ended(runId, run, outcome, saved);
      } catch (e) {
        const err = ApiError.from(e);
        if (!begun && early === 'reject') failedEarly(err);
        else this.status(runId, 'failed', err.message);
      } finally {
        this.active.delete(runId);
        started(); // no-op once settled
      }
    })();
    return ready;
  }

  private hooks(runId: string, run: LiveRun, saved: boolean, onBegin: () => void): ProjectTrainHooks {
    return {
      runId,
      signal: run.controller.signal,
      trainer: this.fns.train,
      onRun: () => {
        if (saved) this.status(runId, 'running');
        onBegin();
      },
      onCheckpoint: ({ step }) => {
        run.savedStep = step;
      },
      onEvent: (event) => {
        // A pause ends the trainer's call like a cancel; the run itself goes on later.
        if (event.type === 'done' && run.pausing && event.result.stopped === 'cancelled') return;
        this.emit({ type: 'run.event', runId, event });
      },
    };
  }

  private ended(runId: string, run: LiveRun, outcome: RunOutcome, saved: boolean): void {
    if (run.pausing && outcome.result.stopped === 'cancelled') {
      if (!saved) this.paused.add(runId);
      this.emit({ type: 'run.event', runId, event: { type: 'log', level: 'info', message: `paused after step ${run.savedStep ?? outcome.result.steps}` } });
      this.status(runId, 'paused', null, outcome.result.out); // the adapter saved at the pause stays the run's result
    } else {
      this.status(runId, outcome.result.stopped === 'cancelled' ? 'cancelled' : 'completed');
    }
  }
}
