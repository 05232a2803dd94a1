// The app's side of the hub: models.list / models.pull / models.cancelPull and model.pull events
// through the host bridge and an in-process engine (the same message boundary as the app), against
// the loopback Hub of fake-hub.ts, with a temp HF cache.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StudioEvent } from '../../engine/api.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { hasSharedData, tempDir } from '../helpers/tiny-model.ts';
import { FakeHub, sha256 } from './fake-hub.ts';
import { DEFAULT_FILES, tinyRepoFiles } from './tiny-repo.ts';

const REPO = 'test-org/tiny-gpt2';
type PullEv = Extract<StudioEvent, { type: 'model.pull' }>;

(hasSharedData ? describe : describe.skip)('models.* through the bridge', () => {
  const hub = new FakeHub();
  const cache = tempDir('ls-hub-contract-');
  const saved: Record<string, string | undefined> = {};
  const events: StudioEvent[] = [];
  let files: Record<string, Buffer>;
  let bridge: EngineBridge;

  beforeAll(async () => {
    files = tinyRepoFiles(2);
    hub.addRepo(REPO, [{ files, refs: ['main'] }]);
    await hub.start();
    const env = { HF_HUB_CACHE: cache, HF_HOME: cache, HF_ENDPOINT: hub.endpoint, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined };
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    bridge = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'test', project: null, onEvent: (e) => events.push(e), restart: { max: 1, windowMs: 10_000, delayMs: 10 }, log: () => {} });
    bridge.start();
  });
  afterAll(async () => {
    await bridge.close();
    await hub.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(cache, { recursive: true, force: true });
  });
  const pullEvents = (pullId: string) => events.filter((e): e is PullEv => e.type === 'model.pull' && e.pullId === pullId);

  it('models.list before anything is pulled: the demo model only', async () => {
    const r = await bridge.invoke('models.list', {});
    expect(r.cacheDir).toBe(cache);
    expect(r.models.map((m) => [m.name, m.source, m.trainable])).toEqual([['demo-llama', 'built-in', true]]);
  });

  it('a cancelled pull answers with the one-line error and a failed event; pulling again resumes and lists the model', async () => {
    hub.stallOnce.set('model.safetensors', 300_000);
    const pulling = bridge.invoke('models.pull', { repo: REPO, pullId: 'p1' });
    const failed = expect(pulling).rejects.toMatchObject({ code: 'failed', message: `${REPO}: model.safetensors: download cancelled` });
    // Cancel while the weights stall half-way (the bytes so far are on disk in blobs/<sha256>.incomplete).
    const part = path.join(cache, 'models--test-org--tiny-gpt2', 'blobs', `${sha256(files['model.safetensors']!)}.incomplete`);
    await expect.poll(() => (existsSync(part) ? statSync(part).size : 0), { timeout: 10_000 }).toBe(300_000);
    expect(pullEvents('p1').some((e) => e.phase === 'progress' && e.file === 'model.safetensors')).toBe(true);
    expect(await bridge.invoke('models.cancelPull', { pullId: 'p1' })).toEqual({ cancelled: true });
    await failed;
    await expect.poll(() => pullEvents('p1').at(-1)?.phase).toBe('failed');
    expect(pullEvents('p1').at(-1)!.message).toBe(`${REPO}: model.safetensors: download cancelled`);
    expect(await bridge.invoke('models.cancelPull', { pullId: 'p1' })).toEqual({ cancelled: false });

    const r = await bridge.invoke('models.pull', { repo: REPO, pullId: 'p2' });
    expect(r.files.map((f) => f.file).sort()).toEqual(DEFAULT_FILES);
    const weights = r.files.find((f) => f.file === 'model.safetensors')!;
    expect(weights.downloadedBytes).toBe(files['model.safetensors']!.length - 300_000); // resumed
    expect(readFileSync(path.join(r.dir, 'model.safetensors')).equals(files['model.safetensors']!)).toBe(true);
    await expect.poll(() => pullEvents('p2').at(-1)?.phase).toBe('done');
    const ev = pullEvents('p2');
    expect(ev[0]).toMatchObject({ phase: 'resolved', repo: REPO, totalBytes: DEFAULT_FILES.reduce((a, f) => a + files[f]!.length, 0) });
    expect(ev.at(-1)).toMatchObject({ phase: 'done', bytes: ev[0]!.totalBytes, message: r.dir });
    const list = await bridge.invoke('models.list', {});
    expect(list.models.find((m) => m.ref === REPO)).toMatchObject({ source: 'hf-cache', dir: r.dir, family: 'gpt2', trainable: true });
  });

  it('errors keep their meaning: a missing repo is not_found, bad params are refused before the engine', async () => {
    await expect(bridge.invoke('models.pull', { repo: 'test-org/missing', pullId: 'p3' })).rejects.toMatchObject({ code: 'not_found', message: `test-org/missing: no such model on ${hub.endpoint} (check the name; a private model needs a token)` });
    const bad = await bridge.handle({ type: 'request', id: 'r1', method: 'models.pull', params: { repo: REPO, pullId: 'no spaces' } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
  });
});
