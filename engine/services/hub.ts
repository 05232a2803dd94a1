// The Hugging Face Hub service: the models the studio can open (the demo model and the shared HF
// cache) and downloads from the Hub with progress events and cancel (engine/hub/).
import { ApiError, type Params, type Result, type StudioEvent } from '../api.ts';
import { ModelDownloads, type DownloadEvent } from '../hub/downloads.ts';
import { HubError } from '../hub/errors.ts';
import { listModels } from '../hub/list.ts';
import { hubSettings, type Env } from '../hub/settings.ts';

export function listModelsForStudio(env: Env = process.env): Result<'models.list'> {
  const cacheDir = hubSettings(env).cacheDir;
  return { cacheDir, models: listModels({ cacheDir }) };
}

type PullEventData = Extract<StudioEvent, { type: 'model.pull' }>;

/** The pulls of one engine process, as the contract's models.pull / models.cancelPull / model.pull events. */
export class ModelPulls {
  private readonly downloads: ModelDownloads;
  private readonly state = new Map<string, { repo: string; bytes: number; totalBytes: number }>();

  constructor(emit: (e: StudioEvent) => void, env: Env = process.env) {
    this.downloads = new ModelDownloads({ env });
    this.downloads.on('event', (e) => {
      const ev = this.toEvent(e);
      if (ev) emit(ev);
    });
  }

  async pull(p: Params<'models.pull'>): Promise<Result<'models.pull'>> {
    this.state.set(p.pullId, { repo: p.repo, bytes: 0, totalBytes: 0 });
    let started: ReturnType<ModelDownloads['start']>;
    try {
      started = this.downloads.start(p.repo, { revision: p.revision, include: p.include, id: p.pullId });
    } catch (e) {
      this.state.delete(p.pullId);
      throw new ApiError('busy', (e as Error).message);
    }
    if (started.id !== p.pullId) {
      this.state.delete(p.pullId);
      throw new ApiError('busy', `${p.repo}@${p.revision ?? 'main'} is being downloaded already (pull ${started.id})`);
    }
    try {
      const { files, ...rest } = await started.done;
      return { ...rest, files: files.map(({ file, size, etag, lfs, cached, downloadedBytes }) => ({ file, size, etag, lfs, cached, downloadedBytes })) };
    } catch (e) {
      throw e instanceof HubError ? new ApiError(e.code === 'repo-not-found' || e.code === 'revision-not-found' || e.code === 'file-not-found' ? 'not_found' : 'failed', e.message) : e;
    } finally {
      this.state.delete(p.pullId);
    }
  }

  cancel(pullId: string): Result<'models.cancelPull'> {
    return { cancelled: this.downloads.cancel(pullId) };
  }

  close(): Promise<void> {
    return this.downloads.close();
  }

  private toEvent(e: DownloadEvent): PullEventData | null {
    const st = this.state.get(e.id);
    if (!st) return null;
    const base = { type: 'model.pull' as const, pullId: e.id, repo: st.repo, file: null as string | null, bytesPerSecond: 0, etaSeconds: null as number | null, message: null as string | null };
    switch (e.type) {
      case 'resolved':
        st.totalBytes = e.totalBytes;
        st.bytes = e.cachedBytes;
        return { ...base, phase: 'resolved', bytes: st.bytes, totalBytes: st.totalBytes, message: `${e.files.length} files at commit ${e.commit}` };
      case 'file-start':
        return { ...base, phase: 'progress', file: e.file, bytes: st.bytes, totalBytes: st.totalBytes };
      case 'progress':
        st.bytes = e.bytes;
        return { ...base, phase: 'progress', file: e.file, bytes: e.bytes, totalBytes: e.totalBytes, bytesPerSecond: Math.max(0, e.bytesPerSecond), etaSeconds: e.etaSeconds === null || !Number.isFinite(e.etaSeconds) ? null : Math.max(0, e.etaSeconds) };
      case 'file-done':
        return { ...base, phase: 'file-done', file: e.file, bytes: st.bytes, totalBytes: st.totalBytes };
      case 'retry':
        return { ...base, phase: 'retry', file: e.file, bytes: st.bytes, totalBytes: st.totalBytes, message: e.reason };
      case 'done':
        return { ...base, phase: 'done', bytes: st.totalBytes, totalBytes: st.totalBytes, message: e.dir };
      case 'failed':
        return { ...base, phase: 'failed', bytes: st.bytes, totalBytes: st.totalBytes, message: e.message };
      default:
        return null;
    }
  }
}
