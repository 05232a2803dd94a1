// The Compare view's experiments: the project's saved comparisons and grid searches, and the one
// running now (its progress, a grid's trials and their loss curves). Kept per studio connection,
// not per view, so leaving Compare while a grid search runs and coming back finds it still live.

import type { CompareReportData, GridReportData, GridSettings, Params, StudioApi, StudioEvent } from '../../../engine/api.ts';
import { errorText } from './state.svelte.ts';

export interface Progress {
  method: string;
  runId: string | null;
  step: number;
  totalSteps: number;
  loss: number;
}

export class Experiments {
  comparisons = $state<CompareReportData[]>([]);
  grids = $state<GridReportData[]>([]);
  error = $state<string | null>(null);
  notice = $state<string | null>(null);
  comparing = $state(false);
  searching = $state(false);
  stopping = $state(false);
  progress = $state<Progress | null>(null);
  /** The grid search running (or last run) here, the trial training now, and each trial's loss curve. */
  liveGrid = $state<GridReportData | null>(null);
  liveRunning = $state<number | null>(null);
  liveCurves = $state<Record<string, { x: number; y: number }[]>>({});
  /** The grid the user chose to see (null: the running one, else the newest). */
  selectedGrid = $state<string | null>(null);

  constructor(private readonly api: StudioApi, private readonly afterRun: () => Promise<void>) {
    api.on((e) => this.onEvent(e));
  }

  get busy(): boolean {
    return this.comparing || this.searching;
  }

  async load(): Promise<void> {
    try {
      const r = await this.api.invoke('experiments.list', {});
      this.comparisons = r.comparisons;
      this.grids = r.grids;
    } catch (e) {
      this.error = errorText(e);
    }
  }

  private onEvent(e: StudioEvent): void {
    if (e.type === 'grid.update') {
      this.liveGrid = e.grid;
      this.liveRunning = e.running;
    } else if (e.type === 'experiment.event' && e.event.type === 'step') {
      const ev = e.event;
      this.progress = { method: e.method, runId: e.runId, step: ev.step, totalSteps: ev.totalSteps, loss: ev.loss };
      if (e.runId) {
        // A resumed trial continues from its checkpoint: what came after it is replaced.
        const pts = (this.liveCurves[e.runId] ?? []).filter((p) => p.x < ev.step);
        this.liveCurves[e.runId] = [...pts, { x: ev.step, y: ev.loss }];
      }
    }
  }

  private begin(): void {
    this.stopping = false;
    this.error = null;
    this.notice = null;
    this.progress = null;
  }

  async compare(p: Params<'experiments.compare'>): Promise<void> {
    this.begin();
    this.comparing = true;
    try {
      const report = await this.api.invoke('experiments.compare', p);
      this.comparisons = [report, ...this.comparisons.filter((c) => c.id !== report.id)];
    } catch (e) {
      // Stopped on purpose: what finished is kept, which is no error.
      if (this.stopping) this.notice = 'Comparison stopped. The runs it trained so far are kept in the project.';
      else this.error = errorText(e);
    } finally {
      this.comparing = false;
      this.progress = null;
      await this.afterRun().catch(() => {});
    }
  }

  /** Starts a grid search, or resumes one: the same settings give the same grid, whose finished trials are kept. */
  async grid(settings: GridSettings, model: string, data: string): Promise<void> {
    this.begin();
    this.searching = true;
    this.liveRunning = null;
    try {
      const g = await this.api.invoke('experiments.grid', { ...settings, model, data });
      this.liveGrid = g;
      this.selectedGrid = g.id;
      this.grids = [g, ...this.grids.filter((x) => x.id !== g.id)];
      const left = g.trials.filter((t) => t.status === 'pending').length;
      if (left) this.notice = `Grid search stopped with ${left} of ${g.trials.length} trials to go. Resume continues it; finished trials are kept.`;
    } catch (e) {
      this.error = errorText(e);
    } finally {
      this.searching = false;
      this.liveRunning = null;
      this.progress = null;
      await this.afterRun().catch(() => {});
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    try {
      await this.api.invoke('experiments.stop', {});
    } catch (e) {
      this.error = errorText(e);
    }
  }
}

const byApi = new WeakMap<StudioApi, Experiments>();

/** The experiments of a studio connection (made on first use). */
export function experimentsOf(studio: { api: StudioApi; loadRuns(): Promise<void> }): Experiments {
  let x = byApi.get(studio.api);
  if (!x) {
    x = new Experiments(studio.api, () => studio.loadRuns());
    byApi.set(studio.api, x);
  }
  return x;
}
