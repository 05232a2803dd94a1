// `lora-studio models pull`: a model repository from the Hugging Face Hub into the shared HF
// cache, as huggingface_hub's snapshot_download lays it out (see cache.ts).
//
//   1. GET  {endpoint}/api/models/{repo}/revision/{rev}      the commit sha and the file list
//   2. HEAD {endpoint}/{repo}/resolve/{commit}/{file}          X-Repo-Commit, ETag / X-Linked-Etag,
//                                                              Content-Length / X-Linked-Size; an LFS
//                                                              file answers with a redirect to storage
//   3. GET  the file (Range: bytes=N- to resume) into blobs/<etag>.incomplete, hashing as it comes:
//      sha256 for LFS files (their ETag), the git blob sha1 for the others; a mismatch deletes it.
//   4. rename to blobs/<etag>, link snapshots/<commit>/<file>, and once every file is in place
//      write refs/<rev>.
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { blobPath, isSafeEtag, linkSnapshotFile, mkdirs, readRef, repoCache, repoPathProblem, snapshotDir, snapshotFileExists, snapshotPath, snapshotSize, unlinkSnapshotFile, writeRef, type RepoCache } from './cache.ts';
import { HubError } from './errors.ts';
import { httpError, networkError, send, type FetchFn, type HubClient } from './http.ts';
import { SpeedMeter, type PullEvent, type PullFile, type PullListener } from './progress.ts';
import { isCommitSha, isRevision, repoIdProblem } from './repo-id.ts';
import { matchesGlob, selectFiles, SAFETENSORS_INDEX } from './select.ts';
import { hubSettings, type Env } from './settings.ts';

export interface PullOptions {
  /** A branch, a tag or a commit sha (default main). */
  revision?: string;
  /** fnmatch globs of more files to pull besides the defaults (`*.onnx`, `onnx/`, ...). */
  include?: readonly string[];
  /** The environment to read HF_* from (default process.env). */
  env?: Env;
  /** Overrides the cache folder the environment gives. */
  cacheDir?: string;
  signal?: AbortSignal;
  onEvent?: PullListener;
  /** Copies instead of symlinks in snapshots/ (they are also used when symlinks fail). */
  symlinks?: boolean;
  /** How many times a broken transfer resumes by itself before the pull fails (default 2). */
  retries?: number;
  /** Minimum milliseconds between two progress events (default 100). */
  progressIntervalMs?: number;
  fetch?: FetchFn;
}

export interface PulledFile extends PullFile {
  /** Already in the cache: nothing was transferred. */
  cached: boolean;
  /** Bytes of this file transferred by this pull (less than its size after a resume). */
  downloadedBytes: number;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  /** snapshots/<commit>: the model folder. */
  dir: string;
  files: PulledFile[];
  /** Bytes transferred by this pull. */
  downloadedBytes: number;
  /** HF_HUB_OFFLINE was set and the revision was already cached: nothing was asked of the network. */
  offline: boolean;
  /** Things a user should know (weights in a format this build does not read, patterns that matched nothing). */
  notes: string[];
}

interface Remote extends PullFile {
  /** The Hub's resolve URL at the commit. Each GET starts here: storage URLs are signed and expire. */
  url: string;
}

const normalizeEtag = (v: string | null): string | null => (v === null ? null : v.trim().replace(/^W\//, '').replace(/^"|"$/g, ''));

const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|onnx|gguf|h5|msgpack)$/;

export async function pullModel(repo: string, o: PullOptions = {}): Promise<PullResult> {
  const idProblem = repoIdProblem(repo);
  if (idProblem) throw new HubError(repo, undefined, `not a Hugging Face repo id: ${idProblem}`, 'bad-ref');
  const revision = o.revision ?? 'main';
  if (!isRevision(revision)) throw new HubError(repo, undefined, `"${revision}" is not a branch, tag or commit name`, 'bad-ref');
  const settings = hubSettings(o.env ?? process.env);
  const rc = repoCache(o.cacheDir ?? settings.cacheDir, repo);
  const emit = (e: PullEvent): void => o.onEvent?.(e);

  if (settings.offline) return offlinePull(rc, revision, emit);

  const c: HubClient = {
    repo, endpoint: settings.endpoint, token: settings.token, tokenSource: settings.tokenSource,
    signal: o.signal, fetch: o.fetch ?? globalThis.fetch, metadataTimeout: settings.metadataTimeout,
  };
  const { commit, siblings } = await repoInfo(c, revision);
  const include = o.include ?? [];
  const names = selectFiles(siblings, include);
  const notes: string[] = [];
  for (const g of include) if (!siblings.some((f) => matchesGlob(f, g))) notes.push(`--include ${g} matched no file of the repo`);
  if (!names.some((f) => f.endsWith('.safetensors'))) {
    const other = siblings.filter((f) => OTHER_WEIGHTS.test(f) && !names.includes(f));
    if (other.length) notes.push(`no safetensors weights at this revision; the weights are in ${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''} (a format this build does not train from; --include pulls them anyway)`);
  }
  if (names.length === 0) {
    throw new HubError(repo, undefined, `nothing to pull at revision "${revision}": no config, tokenizer or safetensors files (${siblings.length} files in the repo; --include GLOB pulls others)`, 'file-not-found');
  }
  for (const f of names) {
    const p = repoPathProblem(f);
    if (p) throw new HubError(repo, f, `refused: ${p}`, 'protocol');
  }

  // Metadata of every file first, so progress knows the total.
  const remote: Remote[] = [];
  for (const file of names) remote.push(await fileMetadata(c, commit, file));
  const inCache = (f: Remote): boolean => fs.existsSync(blobPath(rc, f.etag)) || (snapshotFileExists(rc, commit, f.file) && !isSymlink(snapshotPath(rc, commit, f.file)) && fileSize(snapshotPath(rc, commit, f.file)) === f.size);
  const cachedFlags = remote.map(inCache);
  const totalBytes = remote.reduce((a, f) => a + f.size, 0);
  const cachedBytes = remote.reduce((a, f, i) => a + (cachedFlags[i] ? f.size : 0), 0);
  emit({ type: 'resolved', repo, revision, commit, files: remote.map(({ url: _u, ...f }) => f), totalBytes, cachedBytes });

  const meter = new SpeedMeter();
  let done = cachedBytes;
  let downloaded = 0;
  const interval = o.progressIntervalMs ?? 100;
  let last = -Infinity;
  const files: PulledFile[] = [];
  for (let i = 0; i < remote.length; i++) {
    const f = remote[i]!;
    const { url: _u, ...info } = f;
    let sent = 0;
    try {
      if (!fs.existsSync(blobPath(rc, f.etag)) && !cachedFlags[i]) {
        const before = done;
        sent = await downloadBlob(c, rc, f, {
          retries: o.retries ?? 2,
          downloadTimeout: settings.downloadTimeout,
          emit,
          onBytes: (fileBytes, transferred) => {
            done = before + fileBytes;
            meter.add(downloaded + transferred);
            const now = performance.now();
            if (now - last < interval && fileBytes < f.size) return;
            last = now;
            const bps = meter.bytesPerSecond();
            emit({ type: 'progress', file: f.file, fileBytes, fileSize: f.size, bytes: done, totalBytes, bytesPerSecond: bps, etaSeconds: bps > 0 ? (totalBytes - done) / bps : null });
          },
        });
        downloaded += sent;
        done = before + f.size;
      }
      const placed = fs.existsSync(blobPath(rc, f.etag)) ? linkSnapshotFile(rc, commit, f.file, f.etag, { symlinks: o.symlinks }) : 'copy';
      files.push({ ...info, cached: cachedFlags[i]!, downloadedBytes: sent });
      emit({ type: 'file-done', file: f.file, size: f.size, cached: cachedFlags[i]!, placed });
    } catch (err) {
      if (!snapshotFileExists(rc, commit, f.file)) unlinkSnapshotFile(rc, commit, f.file);
      throw err;
    }
  }
  checkShards(rc, commit, repo);
  writeRef(rc, revision, commit);
  const dir = snapshotDir(rc, commit);
  emit({ type: 'done', repo, revision, commit, dir, downloadedBytes: downloaded });
  return { repo, revision, commit, dir, files, downloadedBytes: downloaded, offline: false, notes };
}

const isSymlink = (p: string): boolean => {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};
const fileSize = (p: string): number => {
  try {
    return fs.statSync(p).size;
  } catch {
    return -1;
  }
};

function offlinePull(rc: RepoCache, revision: string, emit: (e: PullEvent) => void): PullResult {
  const commit = isCommitSha(revision) ? revision : readRef(rc, revision);
  if (!commit || !fs.existsSync(snapshotDir(rc, commit))) {
    throw new HubError(rc.repo, undefined, `HF_HUB_OFFLINE is set, so nothing is downloaded, and revision "${revision}" is not in the cache (${rc.dir}); unset HF_HUB_OFFLINE to pull it`, 'offline');
  }
  const dir = snapshotDir(rc, commit);
  const { files } = snapshotSize(rc, commit);
  const pulled = files.map((file) => ({ file, size: Math.max(0, fileSize(path.join(dir, file))), etag: '', lfs: false, cached: true, downloadedBytes: 0 }));
  emit({ type: 'done', repo: rc.repo, revision, commit, dir, downloadedBytes: 0 });
  return { repo: rc.repo, revision, commit, dir, files: pulled, downloadedBytes: 0, offline: true, notes: [`HF_HUB_OFFLINE is set: using the cached snapshot ${commit} without asking the Hub for updates`] };
}

/** The repo's commit at `revision` and its file names. */
async function repoInfo(c: HubClient, revision: string): Promise<{ commit: string; siblings: string[] }> {
  const url = `${c.endpoint}/api/models/${c.repo}/revision/${encodeURIComponent(revision)}`;
  const { res } = await send(c, url, { signal: AbortSignal.timeout(c.metadataTimeout * 1000), headers: { accept: 'application/json' } });
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw httpError(c, res, { revision });
  }
  let json: unknown;
  try {
    json = JSON.parse(await res.text());
  } catch (err) {
    throw err instanceof SyntaxError ? new HubError(c.repo, undefined, `the Hub's file list (${url}) is not JSON`, 'protocol') : networkError(c, undefined, err);
  }
  const j = json as { sha?: unknown; siblings?: unknown };
  if (typeof j?.sha !== 'string' || !isCommitSha(j.sha)) throw new HubError(c.repo, undefined, `the Hub's answer for revision "${revision}" has no commit sha`, 'protocol');
  if (!Array.isArray(j.siblings)) throw new HubError(c.repo, undefined, `the Hub's answer for revision "${revision}" has no file list (siblings)`, 'protocol');
  const siblings = j.siblings.map((s) => (s as { rfilename?: unknown })?.rfilename).filter((f): f is string => typeof f === 'string');
  return { commit: j.sha, siblings };
}

/** HEAD of one file: its blob name (ETag), size, LFS or not, and where to GET it. */
async function fileMetadata(c: HubClient, commit: string, file: string): Promise<Remote> {
  const url = `${c.endpoint}/${c.repo}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
  let linkedEtag: string | null = null;
  let linkedSize: string | null = null;
  let repoCommit: string | null = null;
  const collect = (res: Response): void => {
    linkedEtag ??= res.headers.get('x-linked-etag');
    linkedSize ??= res.headers.get('x-linked-size');
    repoCommit ??= res.headers.get('x-repo-commit');
  };
  let downloadUrl: URL | undefined;
  const { res } = await send(c, url, {
    method: 'HEAD', file, signal: AbortSignal.timeout(c.metadataTimeout * 1000),
    onResponse: collect,
    // An LFS file redirects to its storage: its metadata is all on the redirect; GET goes there.
    stopAtRedirect: (r, loc) => {
      if (r.headers.get('x-linked-etag') === null) return false;
      downloadUrl = loc;
      return true;
    },
  });
  collect(res);
  if (!res.ok && !downloadUrl) throw httpError(c, res, { file, revision: commit });
  const lfs = linkedEtag !== null;
  const etag = normalizeEtag(linkedEtag ?? res.headers.get('etag'));
  const size = Number(linkedSize ?? res.headers.get('content-length'));
  if (repoCommit !== null && repoCommit !== commit) throw new HubError(c.repo, file, `the Hub answered for commit ${repoCommit}, not the ${commit} asked for`, 'protocol');
  if (!etag || !isSafeEtag(etag)) throw new HubError(c.repo, file, `the Hub gave no usable ETag for this file (${JSON.stringify(etag)})`, 'protocol');
  if (lfs && !/^[0-9a-f]{64}$/.test(etag)) throw new HubError(c.repo, file, `the Hub gave no sha256 for this LFS file (X-Linked-Etag ${JSON.stringify(etag)})`, 'protocol');
  if (!Number.isSafeInteger(size) || size < 0) throw new HubError(c.repo, file, 'the Hub gave no size for this file', 'protocol');
  return { file, size, etag, lfs, url };
}

/** What a blob's ETag lets us check: sha256 (LFS), the git blob sha1 (regular files), or the size only. */
function hasher(f: Remote): { hash: Hash; kind: string } | null {
  if (/^[0-9a-f]{64}$/.test(f.etag)) return { hash: createHash('sha256'), kind: 'sha256' };
  if (/^[0-9a-f]{40}$/.test(f.etag)) {
    const h = createHash('sha1');
    h.update(`blob ${f.size}\0`);
    return { hash: h, kind: 'git sha1' };
  }
  return null;
}

interface BlobOptions {
  retries: number;
  downloadTimeout: number;
  emit: (e: PullEvent) => void;
  /** (bytes of the file now on disk, bytes transferred by this pull for this file) */
  onBytes: (fileBytes: number, transferred: number) => void;
}

/** A transfer that broke: worth resuming (unlike a refusal or a bad checksum). */
class Broken extends Error {}

/** Downloads one blob into blobs/<etag>.incomplete, resuming, verifies it, renames it into place. */
async function downloadBlob(c: HubClient, rc: RepoCache, f: Remote, o: BlobOptions): Promise<number> {
  mkdirs(rc, rc.blobs, f.file);
  const blob = blobPath(rc, f.etag);
  const part = `${blob}.incomplete`;
  const release = lockBlob(c, f, `${part}.lock`);
  try {
    return await downloadLocked(c, f, blob, part, o);
  } finally {
    release();
  }
}

/**
 * One writer per blob: `<blob>.incomplete.lock` holds the pid of the pull writing it. A lock
 * whose process is gone (killed, crashed) is taken over; a live one is a one-line error.
 */
function lockBlob(c: HubClient, f: Remote, lock: string): () => void {
  for (let tries = 0; tries < 3; tries++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new HubError(c.repo, f.file, `cannot write in the cache (${(err as Error).message})`, 'cache');
    }
    const pid = Number(fs.readFileSync(lock, { encoding: 'utf8', flag: 'r' }).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new HubError(c.repo, f.file, `another pull (process ${pid}) is downloading this file right now; wait for it to finish`, 'cache');
    }
    if (pid === process.pid) throw new HubError(c.repo, f.file, 'this file is already being downloaded by another pull in this process', 'cache');
    fs.rmSync(lock, { force: true }); // stale
  }
  throw new HubError(c.repo, f.file, 'cannot take the download lock', 'cache');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function downloadLocked(c: HubClient, f: Remote, blob: string, part: string, o: BlobOptions): Promise<number> {
  const transferred = { bytes: 0 };
  o.emit({ type: 'file-start', file: f.file, size: f.size, resumeFrom: Math.max(0, fileSize(part)) });
  for (let attempt = 0; ; attempt++) {
    try {
      await transferOnce(c, f, part, o, transferred);
      break;
    } catch (err) {
      if (!(err instanceof Broken)) throw err;
      const have = fileSize(part);
      if (c.signal?.aborted) throw new HubError(c.repo, f.file, 'download cancelled', 'cancelled');
      if (attempt >= o.retries) {
        throw new HubError(c.repo, f.file, `the transfer broke off at ${Math.max(0, have)} of ${f.size} bytes (${err.message}); pull again to resume`, 'network');
      }
      o.emit({ type: 'retry', file: f.file, attempt: attempt + 1, reason: err.message });
    }
  }
  try {
    fs.renameSync(part, blob);
  } catch (err) {
    throw new HubError(c.repo, f.file, `cannot move the verified download into ${blob} (${(err as Error).message})`, 'cache');
  }
  return transferred.bytes;
}

/** One GET of the rest of the file, counting what arrives in `transferred`; throws Broken for a cut or stalled transfer. */
async function transferOnce(c: HubClient, f: Remote, part: string, o: BlobOptions, transferred: { bytes: number }): Promise<void> {
  let have = fileSize(part);
  if (have > f.size) { await rm(part, { force: true }); have = -1; }
  let check = hasher(f);
  if (have > 0 && check) {
    for await (const chunk of fs.createReadStream(part, { end: have - 1 })) check.hash.update(chunk as Buffer);
  }
  have = Math.max(0, have);

  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error(`no data for ${o.downloadTimeout} s`)), o.downloadTimeout * 1000);
  };
  try {
    if (have < f.size || f.size === 0) {
      arm();
      let res: Response;
      let from: URL;
      try {
        ({ res, url: from } = await send(c, f.url, { file: f.file, signal: idle.signal, headers: have > 0 ? { range: `bytes=${have}-` } : {} }));
      } catch (err) {
        if (err instanceof HubError && err.code === 'network') throw new Broken(idle.signal.aborted ? String(idle.signal.reason?.message) : err.problem);
        throw err;
      }
      if (res.status === 416 || (res.status === 206 && !rangeStartsAt(res, have))) {
        // The server will not resume from here: the next attempt starts over.
        await res.body?.cancel().catch(() => undefined);
        await rm(part, { force: true });
        throw new Broken(`the server did not resume at byte ${have} (HTTP ${res.status})`);
      }
      if (res.status === 200 && have > 0) {
        // The whole file came back instead of the rest: take it from the start.
        have = 0;
        check = hasher(f);
      }
      if (res.status !== 200 && res.status !== 206) {
        await res.body?.cancel().catch(() => undefined);
        if (res.status >= 500) throw new Broken(`HTTP ${res.status}`);
        if (from.origin !== new URL(c.endpoint).origin) throw new HubError(c.repo, f.file, `the storage server ${from.origin} answered HTTP ${res.status}`, 'http');
        throw httpError(c, res, { file: f.file, revision: 'this commit' });
      }
      const fh = await open(part, have > 0 ? 'a' : 'w');
      try {
        if (res.body) {
          const stop = c.signal ? AbortSignal.any([c.signal, idle.signal]) : idle.signal;
          for await (const chunk of bodyChunks(res.body, stop)) {
            arm();
            if (have + chunk.length > f.size) throw new HubError(c.repo, f.file, `the server sent more than the ${f.size} bytes announced`, 'integrity');
            await fh.write(chunk);
            check?.hash.update(chunk);
            have += chunk.length;
            transferred.bytes += chunk.length;
            o.onBytes(have, transferred.bytes);
          }
        }
        await fh.datasync();
      } catch (err) {
        if (err instanceof HubError) throw err;
        if (c.signal?.aborted) throw new HubError(c.repo, f.file, 'download cancelled', 'cancelled');
        throw new Broken(idle.signal.aborted ? String((idle.signal.reason as Error)?.message) : connectionProblem(err));
      } finally {
        await fh.close();
      }
      if (have < f.size) throw new Broken(`the connection closed early`);
    }
  } finally {
    clearTimeout(timer);
  }
  o.onBytes(have, transferred.bytes);
  if (check) {
    const got = check.hash.digest('hex');
    if (got !== f.etag) {
      await rm(part, { force: true });
      throw new HubError(c.repo, f.file, `${check.kind} mismatch: the Hub says ${f.etag}, the ${f.size} bytes received hash to ${got}; the download was discarded, pull again`, 'integrity');
    }
  } else if ((await stat(part)).size !== f.size) {
    await rm(part, { force: true });
    throw new HubError(c.repo, f.file, `size mismatch: expected ${f.size} bytes; the download was discarded, pull again`, 'integrity');
  }
}

/**
 * The body's chunks, ending with the signal's reason as soon as it aborts. (Iterating a fetch
 * body directly can wait forever when the request is aborted right after its last chunk.)
 */
async function* bodyChunks(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) return;
      yield value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    reader.cancel().catch(() => undefined);
  }
}

/** A cut connection in words (undici says "terminated", with UND_ERR_SOCKET or ECONNRESET as the cause). */
function connectionProblem(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string } };
  const code = e?.cause?.code;
  return code ? `the connection was lost (${code})` : `the connection was lost (${e?.message ?? String(err)})`;
}

function rangeStartsAt(res: Response, start: number): boolean {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m !== null && Number(m[1]) === start;
}

/** A sharded checkpoint's index must name only files the snapshot has. */
function checkShards(rc: RepoCache, commit: string, repo: string): void {
  const index = snapshotPath(rc, commit, SAFETENSORS_INDEX);
  if (!fs.existsSync(index)) return;
  let map: unknown;
  try {
    map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch {
    throw new HubError(repo, SAFETENSORS_INDEX, 'is not valid JSON', 'integrity');
  }
  if (!map || typeof map !== 'object') throw new HubError(repo, SAFETENSORS_INDEX, 'has no weight_map', 'integrity');
  const missing = [...new Set(Object.values(map as Record<string, unknown>).map(String))].filter((s) => repoPathProblem(s) !== null || !snapshotFileExists(rc, commit, s));
  if (missing.length) throw new HubError(repo, SAFETENSORS_INDEX, `names shards the repo does not have: ${missing.slice(0, 3).join(', ')}`, 'integrity');
}
