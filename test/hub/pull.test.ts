// pullModel against a loopback Hub (fake-hub.ts): the HF cache layout, resume, verification,
// gated repos, 404s, offline mode, cancellation. Every test uses its own temp HF_HUB_CACHE.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ModelDownloads, type DownloadEvent } from '../../engine/hub/downloads.ts';
import { HubError } from '../../engine/hub/errors.ts';
import { listModels } from '../../engine/hub/list.ts';
import type { PullEvent } from '../../engine/hub/progress.ts';
import { pullModel, type PullOptions } from '../../engine/hub/pull.ts';
import { resolveModelRef } from '../../engine/hub/resolve.ts';
import { inspectModel } from '../../engine/models/inspect.ts';
import { hasSharedData, tempDir } from '../helpers/tiny-model.ts';
import { FakeHub, gitBlobSha1, sha256 } from './fake-hub.ts';
import { DEFAULT_FILES, tinyRepoFiles } from './tiny-repo.ts';

const REPO = 'test-org/tiny-gpt2';
const WEIGHTS = 'model.safetensors';

(hasSharedData ? describe : describe.skip)('models pull over the Hub API (loopback)', () => {
  const hub = new FakeHub();
  let files: Record<string, Buffer>;
  let older: Record<string, Buffer>;
  let cache: string;
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    files = tinyRepoFiles(1);
    older = { ...files, 'config.json': Buffer.from(JSON.stringify({ ...JSON.parse(files['config.json']!.toString()), _name_or_path: 'tiny-v1' })) };
    hub.addRepo(REPO, [{ files: older, refs: ['v1.0'] }, { files, refs: ['main'] }]);
    hub.addRepo('test-org/gated', [{ files, refs: ['main'] }], { gatedToken: 'hf_good' });
    await hub.start();
  });
  afterAll(() => hub.close());
  beforeEach(() => {
    cache = tempDir('ls-hub-cache-');
    home = tempDir('ls-hub-home-');
    env = { HF_HUB_CACHE: cache, HF_HOME: home, HF_ENDPOINT: hub.endpoint };
    hub.log.length = 0;
    hub.lfsRedirect = 'relative';
    hub.ignoreRange = false;
  });
  afterEach(() => {
    for (const d of [cache, home]) rmSync(d, { recursive: true, force: true });
  });
  const repoDir = (repo = REPO) => path.join(cache, `models--${repo.replace('/', '--')}`);
  const pull = (o: PullOptions = {}, repo = REPO) => pullModel(repo, { env, ...o });
  const failure = async (p: Promise<unknown>): Promise<HubError> => {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(HubError);
      expect((e as Error).message).not.toContain('\n');
      return e as HubError;
    }
    throw new Error('expected the pull to fail');
  };
  const snapshotFiles = (commit: string): string[] => {
    const out: string[] = [];
    const walk = (d: string, pre: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name), `${pre}${e.name}/`);
        else out.push(pre + e.name);
      }
    };
    walk(path.join(repoDir(), 'snapshots', commit), '');
    return out.sort();
  };
  const blobs = () => readdirSync(path.join(repoDir(), 'blobs')).sort();

  it('pulls the default files into the HF cache layout: blobs by etag, relative symlinks, refs/main', async () => {
    const events: PullEvent[] = [];
    const r = await pull({ onEvent: (e) => events.push(e), progressIntervalMs: 0 });
    const main = hub.commit(REPO, 'main')!;
    expect(r.commit).toBe(main.sha);
    expect(r.dir).toBe(path.join(repoDir(), 'snapshots', main.sha));
    expect(r.files.map((f) => f.file).sort()).toEqual(DEFAULT_FILES);
    expect(snapshotFiles(main.sha)).toEqual(DEFAULT_FILES);
    expect(readFileSync(path.join(repoDir(), 'refs', 'main'), 'utf8')).toBe(main.sha);
    for (const f of DEFAULT_FILES) {
      const data = files[f]!;
      const lfs = f === WEIGHTS || f === 'tokenizer.json';
      const etag = lfs ? sha256(data) : gitBlobSha1(data);
      const link = path.join(r.dir, f);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe(`../../blobs/${etag}`);
      expect(readFileSync(link).equals(data)).toBe(true);
      expect(r.files.find((x) => x.file === f)).toMatchObject({ etag, lfs, size: data.length, cached: false });
    }
    expect(blobs().some((b) => b.endsWith('.incomplete'))).toBe(false);
    // LFS files were fetched from the storage path they redirect to; nothing else was downloaded.
    const gets = hub.requests('hub', 'GET').map((q) => q.path);
    expect(gets.filter((p) => p.startsWith('/storage/')).length).toBe(2);
    expect(gets.some((p) => /pytorch_model|onnx|README/.test(p))).toBe(false);
    expect(gets[0]).toBe(`/api/models/${REPO}/revision/main`);
    // Events: totals, monotone progress ending at the total, one file-done per file.
    const resolved = events.find((e) => e.type === 'resolved')!;
    const total = DEFAULT_FILES.reduce((a, f) => a + files[f]!.length, 0);
    expect(resolved).toMatchObject({ type: 'resolved', commit: main.sha, totalBytes: total, cachedBytes: 0 });
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThan(2);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.bytes).toBeGreaterThanOrEqual(progress[i - 1]!.bytes);
    expect(progress.at(-1)).toMatchObject({ bytes: total, totalBytes: total });
    expect(events.filter((e) => e.type === 'file-done').length).toBe(DEFAULT_FILES.length);
    expect(events.filter((e) => e.type === 'file-start').map((e) => (e as { file: string }).file).sort()).toEqual(DEFAULT_FILES);
    expect(events.at(-1)).toMatchObject({ type: 'done', dir: r.dir, downloadedBytes: total });
    expect(r.notes).toEqual([]);
    // The studio reads it: ORG/NAME resolves offline to the snapshot, which inspects as GPT-2.
    expect(resolveModelRef(REPO, { env })).toBe(r.dir);
    expect(inspectModel(r.dir).family).toBe('gpt2');
    const listed = listModels({ env, builtIn: [] });
    expect(listed).toMatchObject([{ ref: REPO, source: 'hf-cache', commit: main.sha, revisions: ['main'], family: 'gpt2', dtype: 'F32', trainable: true, sizeBytes: total }]);
  });

  it('a second pull transfers nothing: every file is already in the cache', async () => {
    await pull();
    hub.log.length = 0;
    const r = await pull();
    expect(r.downloadedBytes).toBe(0);
    expect(r.files.every((f) => f.cached)).toBe(true);
    expect(hub.requests('hub', 'GET').map((q) => q.path)).toEqual([`/api/models/${REPO}/revision/main`]);
  });

  it('--include adds files by fnmatch glob (* crosses folders; a trailing / means a folder)', async () => {
    const a = await pull({ include: ['*.onnx'] });
    expect(a.files.map((f) => f.file).sort()).toEqual([...DEFAULT_FILES, 'model.onnx', 'onnx/decoder_model.onnx'].sort());
    expect(readFileSync(path.join(a.dir, 'onnx', 'decoder_model.onnx')).equals(files['onnx/decoder_model.onnx']!)).toBe(true);
    expect(readlinkSync(path.join(a.dir, 'onnx', 'decoder_model.onnx'))).toMatch(/^\.\.\/\.\.\/\.\.\/blobs\/[0-9a-f]{64}$/);
    const b = await pull({ include: ['onnx/', '*.gguf'] });
    expect(b.files.map((f) => f.file)).toContain('onnx/decoder_model.onnx');
    expect(b.files.map((f) => f.file)).not.toContain('model.onnx');
    expect(b.notes).toEqual(['--include *.gguf matched no file of the repo']);
  });

  it('a tag pulls its own commit; blobs the commits share are stored once; refs and shas resolve', async () => {
    await pull();
    const v1 = await pull({ revision: 'v1.0' });
    const old = hub.commit(REPO, 'v1.0')!;
    expect(v1.commit).toBe(old.sha);
    expect(readFileSync(path.join(repoDir(), 'refs', 'v1.0'), 'utf8')).toBe(old.sha);
    expect(JSON.parse(readFileSync(path.join(v1.dir, 'config.json'), 'utf8'))._name_or_path).toBe('tiny-v1');
    // Only the config differs: one more blob, the weights were not downloaded again.
    expect(v1.files.find((f) => f.file === WEIGHTS)!.cached).toBe(true);
    expect(blobs().length).toBe(DEFAULT_FILES.length + 1);
    expect(resolveModelRef(`${REPO}@v1.0`, { env })).toBe(v1.dir);
    expect(resolveModelRef(`${REPO}@${old.sha}`, { env })).toBe(v1.dir);
    // A commit sha as the revision: no ref file is written for it.
    const bySha = await pull({ revision: old.sha });
    expect(bySha.dir).toBe(v1.dir);
    expect(existsSync(path.join(repoDir(), 'refs', old.sha))).toBe(false);
    expect(listModels({ env, builtIn: [] }).map((m) => m.ref).sort()).toEqual([REPO, `${REPO}@v1.0`]);
  });

  it('a gated repo: without a token, or with one that has no access, a one-line error says what to do', async () => {
    const none = await failure(pull({}, 'test-org/gated'));
    expect(none.code).toBe('gated');
    expect(none.message).toMatch(/^test-org\/gated: this model is gated: it needs a token \(set HF_TOKEN or save a token in \$HF_HOME\/token/);
    expect(none.message).toContain(`request`);
    expect(none.message).toContain(`${hub.endpoint}/test-org/gated`);
    const bad = await failure(pull({ env: { ...env, HF_TOKEN: 'hf_wrong' } }, 'test-org/gated'));
    expect(bad.code).toBe('gated');
    expect(bad.message).toContain(`access must be requested on ${hub.endpoint}/test-org/gated`);
    expect(bad.message).toContain('HF_TOKEN');
    expect(existsSync(path.join(repoDir('test-org/gated'), 'snapshots'))).toBe(false);
  });

  it('a gated repo with the token from $HF_HOME/token: the Hub gets it, the storage host never does', async () => {
    writeFileSync(path.join(home, 'token'), 'hf_good\n');
    hub.lfsRedirect = 'other-origin';
    const r = await pull({}, 'test-org/gated');
    expect(r.files.length).toBe(DEFAULT_FILES.length);
    expect(hub.requests('hub').every((q) => q.authorization === 'Bearer hf_good')).toBe(true);
    const storage = hub.requests('storage');
    expect(storage.length).toBe(2);
    expect(storage.every((q) => q.authorization === undefined)).toBe(true);
  });

  it('a transfer cut in the middle fails naming the file, leaves no snapshot entry, and the next pull resumes with Range', async () => {
    const size = files[WEIGHTS]!.length;
    const cutAt = Math.floor(size / 3);
    hub.cutOnce.set(WEIGHTS, cutAt);
    const e = await failure(pull({ retries: 0 }));
    expect(e.code).toBe('network');
    expect(e.message).toMatch(new RegExp(`^${REPO}: ${WEIGHTS}: the transfer broke off at \\d+ of ${size} bytes .*pull again to resume`));
    const main = hub.commit(REPO, 'main')!;
    const etag = sha256(files[WEIGHTS]!);
    const part = path.join(repoDir(), 'blobs', `${etag}.incomplete`);
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(cutAt);
    expect(existsSync(path.join(repoDir(), 'snapshots', main.sha, WEIGHTS))).toBe(false);
    expect(existsSync(path.join(repoDir(), 'blobs', etag))).toBe(false);
    expect(existsSync(path.join(repoDir(), 'refs', 'main'))).toBe(false);
    expect(() => resolveModelRef(REPO, { env })).toThrow(/revision "main" is not in the Hugging Face cache.*lora-studio models pull test-org\/tiny-gpt2/);

    hub.log.length = 0;
    const resumed: PullEvent[] = [];
    const r = await pull({ onEvent: (ev) => resumed.push(ev) });
    expect(resumed.find((ev) => ev.type === 'file-start' && ev.file === WEIGHTS)).toMatchObject({ resumeFrom: kept, size });
    const ranged = hub.requests('hub', 'GET').filter((q) => q.path.startsWith('/storage/') && q.range);
    expect(ranged.map((q) => q.range)).toEqual([`bytes=${kept}-`]);
    expect(r.files.find((f) => f.file === WEIGHTS)!.downloadedBytes).toBe(size - kept);
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
    expect(existsSync(part)).toBe(false);
  });

  it('a cut transfer resumes by itself (retries), with a retry event', async () => {
    hub.cutOnce.set(WEIGHTS, 100_000);
    const events: PullEvent[] = [];
    const r = await pull({ onEvent: (e) => events.push(e) });
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { file: string }).file)).toEqual([WEIGHTS]);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ reason: expect.stringMatching(/^the connection was lost/) });
    // The bytes before the cut count: the file came over the wire exactly once.
    expect(r.files.find((f) => f.file === WEIGHTS)!.downloadedBytes).toBe(files[WEIGHTS]!.length);
    expect(hub.requests('hub', 'GET').some((q) => q.range !== undefined)).toBe(true);
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
  });

  it('a stalled transfer is given up after HF_HUB_DOWNLOAD_TIMEOUT and resumed', async () => {
    hub.stallOnce.set(WEIGHTS, 200_000);
    const t0 = Date.now();
    const events: PullEvent[] = [];
    const r = await pull({ env: { ...env, HF_HUB_DOWNLOAD_TIMEOUT: '0.5' }, onEvent: (e) => events.push(e) });
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ file: WEIGHTS, reason: expect.stringContaining('no data for 0.5 s') });
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
  });

  it('bytes that do not match the sha256 (LFS) or the git sha1 are discarded; the retry finishes', async () => {
    const main = hub.commit(REPO, 'main')!;
    hub.corruptOnce.add('config.json');
    const c = await failure(pull());
    expect(c.code).toBe('integrity');
    expect(c.message).toMatch(new RegExp(`^${REPO}: config.json: git sha1 mismatch: the Hub says ${gitBlobSha1(files['config.json']!)}, .*discarded`));
    expect(existsSync(path.join(repoDir(), 'snapshots', main.sha, 'config.json'))).toBe(false);
    hub.corruptOnce.add(WEIGHTS);
    const e = await failure(pull());
    expect(e.code).toBe('integrity');
    expect(e.message).toMatch(new RegExp(`^${REPO}: ${WEIGHTS}: sha256 mismatch: the Hub says ${sha256(files[WEIGHTS]!)}, .*discarded`));
    expect(blobs().filter((b) => b.startsWith(sha256(files[WEIGHTS]!)))).toEqual([]);
    expect(existsSync(path.join(repoDir(), 'snapshots', main.sha, WEIGHTS))).toBe(false);
    expect(existsSync(path.join(repoDir(), 'snapshots', main.sha, 'config.json'))).toBe(true);
    const r = await pull();
    expect(snapshotFiles(main.sha)).toEqual(DEFAULT_FILES);
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
  });

  it('a storage host that ignores Range: the download starts over and still verifies', async () => {
    hub.cutOnce.set(WEIGHTS, 50_000);
    await failure(pull({ retries: 0 }));
    hub.ignoreRange = true;
    const r = await pull();
    expect(r.downloadedBytes).toBeGreaterThanOrEqual(files[WEIGHTS]!.length);
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
  });

  it('a 404 repo and a 404 revision: one line each, nothing cached', async () => {
    const repo = await failure(pull({}, 'test-org/missing'));
    expect(repo.code).toBe('repo-not-found');
    expect(repo.message).toBe(`test-org/missing: no such model on ${hub.endpoint} (check the name; a private model needs a token)`);
    const rev = await failure(pull({ revision: 'nope' }));
    expect(rev.code).toBe('revision-not-found');
    expect(rev.message).toBe(`${REPO}: no revision "nope" (a branch, tag or commit) on ${hub.endpoint}`);
    expect(existsSync(repoDir('test-org/missing'))).toBe(false);
    expect(existsSync(path.join(repoDir(), 'snapshots'))).toBe(false);
  });

  it('HF_HUB_OFFLINE=1: no request at all; a clear error when not cached, the cached snapshot when it is', async () => {
    const offline = { ...env, HF_HUB_OFFLINE: '1' };
    const e = await failure(pull({ env: offline }));
    expect(e.code).toBe('offline');
    expect(e.message).toContain('HF_HUB_OFFLINE is set, so nothing is downloaded');
    expect(hub.log).toEqual([]);
    const online = await pull();
    hub.log.length = 0;
    const r = await pull({ env: offline });
    expect(hub.log).toEqual([]);
    expect(r).toMatchObject({ offline: true, commit: online.commit, dir: online.dir, downloadedBytes: 0 });
    expect(r.files.map((f) => f.file)).toEqual(DEFAULT_FILES);
  });

  it('cancel (AbortSignal) stops the transfer, keeps the partial blob out of the snapshot, and the next pull resumes', async () => {
    const ac = new AbortController();
    const e = await failure(pull({
      signal: ac.signal, progressIntervalMs: 0,
      onEvent: (ev) => { if (ev.type === 'progress' && ev.file === WEIGHTS && ev.fileBytes > 0) ac.abort(); },
    }));
    expect(e.code).toBe('cancelled');
    expect(e.message).toBe(`${REPO}: ${WEIGHTS}: download cancelled`);
    const main = hub.commit(REPO, 'main')!;
    expect(existsSync(path.join(repoDir(), 'snapshots', main.sha, WEIGHTS))).toBe(false);
    const part = path.join(repoDir(), 'blobs', `${sha256(files[WEIGHTS]!)}.incomplete`);
    const kept = statSync(part).size;
    hub.log.length = 0;
    const r = await pull();
    expect(hub.requests('hub', 'GET').filter((q) => q.range && q.path.startsWith('/storage/')).map((q) => q.range)).toEqual([`bytes=${kept}-`]);
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
  });

  it('cancel right after the last chunk still stops at once; the complete partial file is verified without a request', async () => {
    const ac = new AbortController();
    const e = await failure(pull({
      signal: ac.signal, progressIntervalMs: 1e9, // progress only when a file is complete
      onEvent: (ev) => { if (ev.type === 'progress' && ev.file === WEIGHTS) ac.abort(); },
    }));
    expect(e.code).toBe('cancelled');
    const part = path.join(repoDir(), 'blobs', `${sha256(files[WEIGHTS]!)}.incomplete`);
    expect(statSync(part).size).toBe(files[WEIGHTS]!.length);
    hub.log.length = 0;
    const r = await pull();
    expect(r.files.find((f) => f.file === WEIGHTS)).toMatchObject({ cached: false, downloadedBytes: 0 });
    expect(hub.requests('hub', 'GET').some((q) => q.path.startsWith('/storage/') && q.path.includes(sha256(files[WEIGHTS]!)))).toBe(false);
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
  });

  it('copies instead of symlinks when asked (file systems without symlinks); a later pull counts them as cached', async () => {
    const r = await pull({ symlinks: false });
    for (const f of DEFAULT_FILES) {
      expect(lstatSync(path.join(r.dir, f)).isSymbolicLink()).toBe(false);
      expect(readFileSync(path.join(r.dir, f)).equals(files[f]!)).toBe(true);
    }
    const again = await pull({ symlinks: false });
    expect(again.downloadedBytes).toBe(0);
  });

  it('one writer per blob: a live pull\'s lock is refused in one line, a dead one\'s lock is taken over', async () => {
    const blobsDir = path.join(repoDir(), 'blobs');
    mkdirSync(blobsDir, { recursive: true });
    const lock = path.join(blobsDir, `${sha256(files[WEIGHTS]!)}.incomplete.lock`);
    writeFileSync(lock, String(process.ppid));
    const e = await failure(pull());
    expect(e.message).toBe(`${REPO}: ${WEIGHTS}: another pull (process ${process.ppid}) is downloading this file right now; wait for it to finish`);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(lock, String(dead));
    const r = await pull();
    expect(readFileSync(path.join(r.dir, WEIGHTS)).equals(files[WEIGHTS]!)).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });

  it('ModelDownloads (for the app): one pull per repo@rev, events tagged with the id, cancel by id, then resume', async () => {
    const downloads = new ModelDownloads({ env });
    const events: DownloadEvent[] = [];
    downloads.on('event', (e) => {
      events.push(e);
      if (e.type === 'progress' && e.file === WEIGHTS && e.fileBytes > 0) downloads.cancel(e.id);
    });
    const a = downloads.start(REPO);
    const b = downloads.start(REPO);
    expect(b.id).toBe(a.id);
    expect(downloads.list()).toMatchObject([{ id: a.id, repo: REPO, revision: 'main' }]);
    await expect(a.done).rejects.toThrow(`${REPO}: ${WEIGHTS}: download cancelled`);
    expect(events.every((e) => e.id === a.id)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'failed', cancelled: true, code: 'cancelled' });
    expect(downloads.list()).toEqual([]);
    expect(downloads.cancel(a.id)).toBe(false);
    downloads.removeAllListeners();
    const c = downloads.start(REPO);
    expect(c.id).not.toBe(a.id);
    const r = await c.done;
    expect(r.files.find((f) => f.file === WEIGHTS)!.downloadedBytes).toBeLessThan(files[WEIGHTS]!.length);
    await downloads.close();
  });

  const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');
  const cli = async (args: string[], extra: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, ...env, HF_TOKEN: '', HF_HUB_OFFLINE: '', ...extra }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('CLI: models pull (text, --json, --include with several globs), then --model ORG/NAME@REV uses it; failures are one line', async () => {
    const t = await cli(['models', 'pull', REPO, '--revision', 'v1.0']);
    expect(t.code).toBe(0);
    const old = hub.commit(REPO, 'v1.0')!;
    expect(t.stderr).toContain(`${REPO}@v1.0 = commit ${old.sha}: ${DEFAULT_FILES.length} files`);
    expect(t.stderr).toMatch(/^ {2}model\.safetensors +\S+ MB {2}downloaded, verified$/m);
    expect(t.stdout).toContain(`use it with --model ${REPO}@v1.0`);
    const j = await cli(['models', 'pull', REPO, '--include', '*.onnx', '*.bin', '--json']);
    expect(j.code).toBe(0);
    const r = JSON.parse(j.stdout);
    expect(r.files.map((f: { file: string }) => f.file)).toEqual(expect.arrayContaining(['model.onnx', 'onnx/decoder_model.onnx', 'pytorch_model.bin']));
    expect(r.files.find((f: { file: string }) => f.file === WEIGHTS).cached).toBe(true); // same blob as v1.0
    const info = await cli(['info', '--model', `${REPO}@v1.0`, '--json']);
    expect(JSON.parse(info.stdout)).toMatchObject({ dir: path.join(repoDir(), 'snapshots', old.sha), family: 'gpt2' });
    const miss = await cli(['models', 'pull', 'test-org/missing']);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toBe(`lora-studio models: test-org/missing: no such model on ${hub.endpoint} (check the name; a private model needs a token)\n`);
    const usage = await cli(['models', 'pull']);
    expect(usage.code).toBe(2);
  });

  it('refuses file names that would leave the snapshot, and bad repo ids, before any download', async () => {
    hub.addRepo('test-org/evil', [{ files: { 'config.json': '{}', '../../escape.json': '{}' }, refs: ['main'] }]);
    const e = await failure(pull({ include: ['*'] }, 'test-org/evil'));
    expect(e.message).toBe('test-org/evil: ../../escape.json: refused: a file name with an empty, "." or ".." part');
    expect(existsSync(path.join(cache, 'escape.json'))).toBe(false);
    const id = await failure(pull({}, '../etc'));
    expect(id.code).toBe('bad-ref');
  });
});
