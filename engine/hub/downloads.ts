// The running pulls of one process, for the shells (the app's Models view, the web bridge): start
// a pull, follow its events, cancel it by id. One pull per repo and revision at a time: asking
// again while it runs returns the running one. Events carry the pull's id so one listener can
// serve every view.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { HubError } from './errors.ts';
import type { PullEvent } from './progress.ts';
import { pullModel, type PullOptions, type PullResult } from './pull.ts';

export type DownloadEvent =
  | (PullEvent & { id: string })
  | { id: string; type: 'failed'; repo: string; revision: string; message: string; code: string; cancelled: boolean };

export interface DownloadInfo {
  id: string;
  repo: string;
  revision: string;
  startedAt: string;
  /** The latest progress: bytes on disk of the total (0 of 0 until the file list is known). */
  bytes: number;
  totalBytes: number;
}

interface Running {
  info: DownloadInfo;
  abort: AbortController;
  done: Promise<PullResult>;
}

export class ModelDownloads extends EventEmitter<{ event: [DownloadEvent] }> {
  private running = new Map<string, Running>();

  constructor(private defaults: Omit<PullOptions, 'revision' | 'include' | 'signal' | 'onEvent'> = {}) {
    super();
  }

  /**
   * Starts (or joins) the pull of repo@revision; the promise settles when it ends. `id` names a
   * new pull (default: a random one); a joined pull keeps its own id.
   */
  start(repo: string, o: { revision?: string; include?: readonly string[]; id?: string } = {}): { id: string; done: Promise<PullResult> } {
    const revision = o.revision ?? 'main';
    const same = [...this.running.values()].find((r) => r.info.repo === repo && r.info.revision === revision);
    if (same) return { id: same.info.id, done: same.done };
    const id = o.id ?? randomUUID();
    if (this.running.has(id)) throw new Error(`a pull named ${id} is running already`);
    const info: DownloadInfo = { id, repo, revision, startedAt: new Date().toISOString(), bytes: 0, totalBytes: 0 };
    const abort = new AbortController();
    const done = pullModel(repo, {
      ...this.defaults, revision, include: o.include, signal: abort.signal,
      onEvent: (e) => {
        if (e.type === 'resolved') { info.totalBytes = e.totalBytes; info.bytes = e.cachedBytes; }
        if (e.type === 'progress') info.bytes = e.bytes;
        this.emit('event', { ...e, id });
      },
    }).then(
      (r) => {
        this.running.delete(id);
        return r;
      },
      (err: unknown) => {
        this.running.delete(id);
        const h = err instanceof HubError ? err : undefined;
        this.emit('event', { id, type: 'failed', repo, revision, message: (err as Error).message, code: h?.code ?? 'error', cancelled: h?.code === 'cancelled' });
        throw err;
      },
    );
    done.catch(() => undefined); // the failure is reported as an event; callers may ignore the promise
    this.running.set(id, { info, abort, done });
    return { id, done };
  }

  /** Cancels a running pull (its partial download stays, so the next pull resumes). False when no such pull runs. */
  cancel(id: string): boolean {
    const r = this.running.get(id);
    if (!r) return false;
    r.abort.abort();
    return true;
  }

  list(): DownloadInfo[] {
    return [...this.running.values()].map((r) => ({ ...r.info }));
  }

  /** Cancels every pull (the shell is closing) and waits for them to stop. */
  async close(): Promise<void> {
    const all = [...this.running.values()];
    for (const r of all) r.abort.abort();
    await Promise.allSettled(all.map((r) => r.done));
  }
}
