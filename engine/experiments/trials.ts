// How an experiment trains one of its runs: a TrialRunner. Every trial is a normal run of the
// project (engine/store/run-training.ts trainInProject). inProcessTrials trains here, so the peak
// memory (RSS) it reports is this process's, shared with whatever ran before; host/trials.ts
// isolatedTrials trains each in its own child process (its peak RSS is its own, and a crash cannot
// take the caller down). A LoRA-vs-full comparison always takes an isolated runner.
import { type ProjectTrainHooks, type RunOutcome, resumeRun, trainInProject } from '../store/run-training.ts';
import type { TrainEvent, TrainOptions } from '../train/types.ts';

export type TrialOptions = Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>;

export interface TrialHooks {
  name?: string;
  runId?: string;
  checkpointEvery?: number;
  onEvent?: (e: TrainEvent) => void;
  onRun?: (run: { id: string; dir: string }) => void;
  signal?: AbortSignal;
}

export interface TrialOutcome extends RunOutcome {
  /** Peak resident memory of the process that trained, in MB. */
  peakRssMb: number;
  /** Whether that process trained this run alone. */
  isolated: boolean;
}

export interface TrialRunner {
  readonly isolated: boolean;
  run(project: string, opts: TrialOptions, hooks?: TrialHooks): Promise<TrialOutcome>;
  /** Continues a run of the project from its last checkpoint, with the options it started with (a grid's interrupted trial). */
  resume(project: string, runId: string, hooks?: Pick<TrialHooks, 'onEvent' | 'signal'>): Promise<TrialOutcome>;
}

/** A runner whose trials each train in their own process. */
export type IsolatedTrialRunner = TrialRunner & { readonly isolated: true };

/** Trains in this process. `trainer` replaces the trainer (tests). */
export function inProcessTrials(trainer?: ProjectTrainHooks['trainer']): TrialRunner {
  return {
    isolated: false,
    async run(project, opts, o = {}) {
      const outcome = await trainInProject(project, opts, { name: o.name, runId: o.runId, checkpointEvery: o.checkpointEvery, onEvent: o.onEvent, onRun: o.onRun, signal: o.signal, trainer });
      return { ...outcome, peakRssMb: outcome.result.peakRssMb, isolated: false };
    },
    async resume(project, runId, o = {}) {
      const outcome = await resumeRun(project, runId, { onEvent: o.onEvent, signal: o.signal, trainer });
      return { ...outcome, peakRssMb: outcome.result.peakRssMb, isolated: false };
    },
  };
}
