// The exports of the session's runs (runs.export): which one is being written, what was written
// where, and "open folder" (app.reveal; a browser shows the path with a Copy button instead).
// Kept per studio, so a result stays on screen when the user switches views.

import type { EXPORT_KINDS, Params, RunExportResult, RunSummary } from '../../../engine/api.ts';
import { errorText, type Studio } from './state.svelte.ts';

export type ExportKind = (typeof EXPORT_KINDS)[number];

export interface RunExportState {
  /** The export being written now. */
  busy: ExportKind | null;
  /** What was written, newest first. */
  results: RunExportResult[];
  error: string | null;
  /** A path the shell could not open: shown with a Copy button. */
  revealFailed: string | null;
  copied: string | null;
}

export const EXPORT_LABELS: Record<ExportKind, string> = { merged: 'Merged model (Hugging Face folder)', adapter: 'PEFT adapter', gguf: 'GGUF' };

/** Whether a run has something to export: it completed, or stopped or paused with its adapter or model saved. */
export function exportable(s: RunSummary): boolean {
  return Boolean(s.out) && (s.status === 'completed' || s.status === 'cancelled' || s.status === 'paused');
}

export class RunExports {
  private byRun = $state<Record<string, RunExportState>>({});

  constructor(private readonly studio: Studio) {}

  of(runId: string): RunExportState {
    return this.byRun[runId] ?? { busy: null, results: [], error: null, revealFailed: null, copied: null };
  }

  private state(runId: string): RunExportState {
    this.byRun[runId] ??= { busy: null, results: [], error: null, revealFailed: null, copied: null };
    return this.byRun[runId];
  }

  /** Exports a run; the result (or the one-line error) lands in its state. */
  async export(p: Params<'runs.export'>): Promise<RunExportResult | null> {
    const st = this.state(p.runId);
    if (st.busy) return null;
    Object.assign(st, { busy: p.kind, error: null, revealFailed: null, copied: null });
    try {
      const r = await this.studio.api.invoke('runs.export', p);
      st.results = [r, ...st.results.filter((x) => x.out !== r.out)];
      return r;
    } catch (e) {
      st.error = errorText(e);
      return null;
    } finally {
      st.busy = null;
    }
  }

  /** Shows an export in the system file manager; where the shell cannot, the path is offered to copy. */
  async reveal(runId: string, path: string): Promise<void> {
    const st = this.state(runId);
    st.error = null;
    try {
      const { opened } = await this.studio.api.invoke('app.reveal', { path });
      st.revealFailed = opened ? null : path;
    } catch (e) {
      st.error = errorText(e);
    }
  }

  async copy(runId: string, path: string): Promise<void> {
    const st = this.state(runId);
    try {
      await globalThis.navigator.clipboard.writeText(path);
      st.copied = path;
    } catch {
      st.error = `The clipboard is not available here: select the path and copy it (${path}).`;
    }
  }
}

const stores = new WeakMap<Studio, RunExports>();

export function runExports(studio: Studio): RunExports {
  let s = stores.get(studio);
  if (!s) stores.set(studio, (s = new RunExports(studio)));
  return s;
}
