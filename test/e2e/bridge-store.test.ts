// EngineBridge with a project open: runs are saved in the project's store (engine/store): a run
// folder with run.json, metrics.jsonl, TensorBoard events, checkpoints and the adapter; listed
// (with its metrics) after the bridge restarts; pause = stop with a checkpoint on disk, resume =
// resumeRun; an interrupted run resumes from its last checkpoint; delete removes the folder.
// Real trainer on the tiny GPT-2 of ../shared/data (skips without it).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { RunConfig, StudioEvent } from '../../engine/api.ts';
import { tinyRunConfig } from './run-config.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { stepPauser } from './step-pauser.ts';
import { readRun } from '../../engine/store/runs.ts';

const SHARED = join(process.cwd(), '..', 'shared', 'data');
const haveShared = existsSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2')) && existsSync(join(SHARED, 'gpt2-tokenizer'));
if (!haveShared) console.warn('bridge-store tests skipped: ../shared/data (tiny-gpt2/fake_gpt2 + gpt2-tokenizer) is missing');

let dir: string;
let model: string;
let text: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bridge-store-'));
  if (!haveShared) return;
  model = join(dir, 'tiny-gpt2');
  cpSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2'), model, { recursive: true });
  for (const f of readdirSync(join(SHARED, 'gpt2-tokenizer'))) cpSync(join(SHARED, 'gpt2-tokenizer', f), join(model, f));
  text = join(dir, 'story.txt');
  writeFileSync(text, Array.from({ length: 120 }, (_, i) => `Line ${i}: the cat sat on the mat and looked at the ${i % 7} birds.`).join('\n'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (over: Partial<RunConfig> = {}): RunConfig =>
  tinyRunConfig(model, text, { lora: { r: 4, alpha: 8, dropout: 0.1, bias: 'none', targets: [], useRslora: false, init: 'kaiming' }, lr: 5e-3, maxSteps: 12, ...over });

function bridgeOn(project: string) {
  const events: StudioEvent[] = [];
  const pauser = stepPauser();
  const engines: ReturnType<typeof inProcessEngine>[] = [];
  const b = new EngineBridge({
    spawn: () => {
      const e = inProcessEngine();
      engines.push(e);
      return e;
    },
    shell: 'test',
    project,
    onEvent: (e) => { events.push(e); pauser.onEvent(e); },
    restart: { max: 3, windowMs: 10_000, delayMs: 10 },
    log: () => {},
  });
  b.start();
  pauser.attach(b);
  return { b, events, engines, pauseAfter: pauser.pauseAfter };
}

const statuses = (events: StudioEvent[], runId: string) => events.filter((e) => e.type === 'run.status' && e.runId === runId).map((e) => (e as { status: string }).status);

describe.skipIf(!haveShared)('runs saved in the project', () => {
  test('a run started through the bridge leaves a complete run folder and is listed after the bridge restarts', async () => {
    const project = join(dir, 'p1');
    mkdirSync(project);
    const first = bridgeOn(project);
    expect(existsSync(join(project, 'project.json'))).toBe(true); // the bridge opened (created) the project
    const { runId } = await first.b.invoke('runs.start', { config: config({ valRatio: 0.2, evalEvery: 6, checkpointEvery: 4, name: 'saved run' }) });
    await vi.waitFor(() => expect(first.b.runs.get(runId).run.status).toBe('completed'), { timeout: 60_000 });
    const live = await first.b.invoke('runs.get', { runId });
    const runFolder = join(project, 'runs', runId);
    expect(live.run).toMatchObject({ dir: runFolder, out: join(runFolder, 'adapter'), result: { steps: 12, stopped: 'completed', out: join(runFolder, 'adapter') } });
    expect(statuses(first.events, runId)).toEqual(['starting', 'running', 'completed']);

    // The folder: run.json, metrics.jsonl, TensorBoard events, checkpoints, the PEFT adapter.
    const files = readdirSync(runFolder);
    expect(files).toEqual(expect.arrayContaining(['run.json', 'metrics.jsonl', 'checkpoints', 'adapter']));
    expect(files.some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);
    expect(files).not.toContain('run.lock');
    expect(readdirSync(join(runFolder, 'checkpoints')).sort()).toEqual(['step-4', 'step-8']);
    expect(readdirSync(join(runFolder, 'adapter')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const lines = readFileSync(join(runFolder, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => 'loss' in l).map((l) => l.step)).toEqual(live.points.map((p) => p.step));
    expect(lines.filter((l) => 'eval_loss' in l).map((l) => l.step)).toEqual([6, 12]);
    expect(readRun(project, runId)).toMatchObject({ status: 'completed', name: 'saved run', checkpointEvery: 4, output: 'adapter', config: { model, data: { kind: 'file', path: text } } });
    await first.b.close();

    // A new bridge (the app restarted): the run is listed, with its metrics for the charts.
    const second = bridgeOn(project);
    const { runs } = await second.b.invoke('runs.list', {});
    expect(runs.map((r) => r.runId)).toEqual([runId]);
    expect(runs[0]).toMatchObject({ name: 'saved run', status: 'completed', step: 12, totalSteps: 12, dir: runFolder, out: join(runFolder, 'adapter'), lastCheckpoint: 8 });
    expect(runs[0].config).toMatchObject({ model, dataset: { path: text }, method: 'lora', maxSteps: 12, checkpointEvery: 4, valRatio: 0.2 });
    const saved = await second.b.invoke('runs.get', { runId });
    expect(saved.points.map((p) => p.step)).toEqual(live.points.map((p) => p.step));
    expect(saved.points.at(-1)!.loss).toBeCloseTo(live.points.at(-1)!.loss, 6);
    expect(saved.evalPoints.map((p) => p.step)).toEqual([6, 12]);
    expect(saved.run.lastEvalLoss).toBeCloseTo(live.evalPoints.at(-1)!.evalLoss, 6);
    // A completed run has nothing to resume; delete removes its folder.
    expect(await second.b.invoke('runs.resume', { runId })).toEqual({ resumed: false });
    expect(await second.b.invoke('runs.delete', { runId })).toEqual({ deleted: true });
    expect(existsSync(runFolder)).toBe(false);
    expect((await second.b.invoke('runs.list', {})).runs).toEqual([]);
    await expect(second.b.invoke('runs.delete', { runId })).rejects.toMatchObject({ code: 'not_found' });
    await second.b.close();
  }, 120_000);

  test('pause stops with a checkpoint on disk; resume (also after a restart) continues it; the result equals a straight run', async () => {
    const project = join(dir, 'p2');
    const first = bridgeOn(project);
    const cfg = config({ maxSteps: 24, checkpointEvery: 50 });
    const straight = (await first.b.invoke('runs.start', { config: cfg })).runId;
    await vi.waitFor(() => expect(first.b.runs.get(straight).run.status).toBe('completed'), { timeout: 60_000 });

    const firstPause = first.pauseAfter((id) => id !== straight, 2);
    const paused = (await first.b.invoke('runs.start', { config: cfg })).runId;
    expect(await firstPause).toEqual({ pausing: true });
    await vi.waitFor(() => expect(first.b.runs.get(paused).run.status).toBe('paused'), { timeout: 60_000 });
    const at = first.b.runs.get(paused).run.step;
    expect(at).toBeLessThan(24);
    expect(first.b.runs.get(paused).logs.at(-1)?.message).toBe(`paused after step ${at}`);
    // The pause's checkpoint is on disk (not in the engine's memory), the folder says cancelled.
    expect(readdirSync(join(project, 'runs', paused, 'checkpoints'))).toEqual([`step-${at}`]);
    expect(readRun(project, paused).status).toBe('cancelled');
    // Resume in this session, pause again, then restart the bridge and resume from there.
    const pausedAgain = first.pauseAfter((id) => id === paused, at);
    expect(await first.b.invoke('runs.resume', { runId: paused })).toEqual({ resumed: true });
    expect(await pausedAgain).toEqual({ pausing: true });
    await vi.waitFor(() => expect(first.b.runs.get(paused).run.status).toBe('paused'), { timeout: 60_000 });
    const at2 = first.b.runs.get(paused).run.step;
    expect(statuses(first.events, paused)).toEqual(['starting', 'running', 'paused', 'starting', 'running', 'paused']);
    await first.b.close();

    const second = bridgeOn(project);
    const listed = (await second.b.invoke('runs.list', {})).runs.find((r) => r.runId === paused)!;
    expect(listed).toMatchObject({ status: 'cancelled', step: at2, lastCheckpoint: at2 });
    expect(await second.b.invoke('runs.resume', { runId: paused })).toEqual({ resumed: true });
    await vi.waitFor(() => expect(second.b.runs.get(paused).run.status).toBe('completed'), { timeout: 60_000 });
    const a = (await second.b.invoke('runs.get', { runId: straight })), p = await second.b.invoke('runs.get', { runId: paused });
    expect(p.run.result!.steps).toBe(24);
    expect(p.points.map((x) => x.step)).toEqual(a.points.map((x) => x.step)); // one continuous curve
    expect(p.run.result!.finalLoss).toBeCloseTo(a.run.result!.finalLoss, 5);
    expect(readRun(project, paused).segments.map((s) => s.fromStep)).toEqual([0, at, at2]);
    expect(readdirSync(join(project, 'runs', paused, 'adapter')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    await second.b.close();
  }, 180_000);

  test('an interrupted run (its process died) is listed as interrupted and resumes from its last checkpoint', async () => {
    const project = join(dir, 'p3');
    const first = bridgeOn(project);
    const { runId } = await first.b.invoke('runs.start', { config: config({ maxSteps: 10, checkpointEvery: 3 }) });
    await vi.waitFor(() => expect(first.b.runs.get(runId).run.status).toBe('completed'), { timeout: 60_000 });
    const done = await first.b.invoke('runs.get', { runId });
    await first.b.close();
    // Make the folder look like a process died at step 9, right after its checkpoint there:
    // run.json says running, for a pid that does not exist.
    const file = join(project, 'runs', runId, 'run.json');
    const r = JSON.parse(readFileSync(file, 'utf8'));
    Object.assign(r, { status: 'running', step: 9, endedAt: null, result: null, output: null, process: { pid: 2 ** 22 + 12345, host: hostname(), startedAt: r.createdAt, heartbeatAt: r.updatedAt } });
    writeFileSync(file, JSON.stringify(r));
    rmSync(join(project, 'runs', runId, 'adapter'), { recursive: true });

    const second = bridgeOn(project);
    const listed = (await second.b.invoke('runs.list', {})).runs[0];
    expect(listed).toMatchObject({ runId, status: 'interrupted', lastCheckpoint: 9 });
    expect(listed.error).toMatch(/resume continues from its last checkpoint/);
    expect(await second.b.invoke('runs.resume', { runId })).toEqual({ resumed: true });
    await vi.waitFor(() => expect(second.b.runs.get(runId).run.status).toBe('completed'), { timeout: 60_000 });
    const resumed = await second.b.invoke('runs.get', { runId });
    expect(resumed.points.map((x) => x.step)).toEqual(done.points.map((x) => x.step));
    expect(resumed.run.result!.finalLoss).toBeCloseTo(done.run.result!.finalLoss, 5);
    expect(readRun(project, runId).segments.at(-1)!.fromStep).toBe(9);
    await second.b.close();
  }, 120_000);

  test('an engine crash marks a saved run interrupted (not failed); it resumes; a running run cannot be deleted', async () => {
    const project = join(dir, 'p4');
    const { b, events, engines } = bridgeOn(project);
    const { runId } = await b.invoke('runs.start', { config: config({ maxSteps: 400, checkpointEvery: 2 }) });
    await vi.waitFor(() => expect(b.runs.get(runId).run.step).toBeGreaterThanOrEqual(3), { timeout: 60_000 });
    await expect(b.invoke('runs.delete', { runId })).rejects.toMatchObject({ code: 'busy' });
    engines[0].crash(137);
    await vi.waitFor(() => expect(events.some((e) => e.type === 'engine.status' && e.status === 'ready')).toBe(true));
    expect(b.runs.get(runId).run).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/resume it from its last checkpoint/) });
    expect(await b.invoke('runs.resume', { runId })).toEqual({ resumed: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('running'), { timeout: 60_000 });
    expect(await b.invoke('runs.stop', { runId })).toEqual({ stopping: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('cancelled'), { timeout: 60_000 });
    expect(readRun(project, runId).segments.length).toBe(2);
    const steps = b.runs.get(runId).points.map((p) => p.step);
    expect(steps).toEqual(steps.map((_, i) => i + 1)); // continuous: the steps after the checkpoint were replaced
    await b.close();
  }, 120_000);
});

describe('projects', () => {
  test('create writes project.json; open refuses a folder without one; the open project is where runs go', async () => {
    const events: StudioEvent[] = [];
    const b = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'test', onEvent: (e) => events.push(e), log: () => {} });
    b.start();
    const p = join(dir, 'made', 'recipes');
    expect(await b.invoke('projects.create', { dir: p, name: 'Recipes' })).toEqual({ dir: p, name: 'Recipes' });
    expect(JSON.parse(readFileSync(join(p, 'project.json'), 'utf8'))).toMatchObject({ format: 'lora-studio.project', name: 'Recipes' });
    expect(existsSync(join(p, 'runs'))).toBe(true);
    mkdirSync(join(dir, 'plain'));
    await expect(b.invoke('projects.open', { dir: join(dir, 'plain') })).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('no project.json') });
    expect(await b.invoke('projects.open', { dir: p })).toEqual({ dir: p, name: 'Recipes' });
    expect(events.filter((e) => e.type === 'project.changed')).toHaveLength(2);
    expect((await b.invoke('app.info', {})).defaultOutDir).toBe(join(p, 'runs'));
    const listed = await b.invoke('projects.list', {});
    expect(listed.projects).toContainEqual({ dir: p, name: 'Recipes', runs: 0 });
    await b.close();
  });
});
