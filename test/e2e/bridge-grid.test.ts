// Grid search from the app: the contract of experiments.grid / experiments.stop / grid.update, and
// EngineBridge running a real 2-trial grid with the tiny GPT-2 (test/helpers/tiny-model.ts; skipped
// without ../shared/data): live events, stop after a step, and the same settings again resume it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type StudioEvent, StudioEventSchema, parse, parseParams, parseResult } from '../../engine/api.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { isolatedTrials } from '../../host/trials.ts';
import { gridIdOf } from '../../engine/experiments/grid.ts';
import { gridForStudio, gridSummary } from '../../engine/services/grid.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir('bridge-grid-');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings = { r: [2, 4], alpha: [8], dropout: [0], lr: [0.01], maxSteps: 3, batchSize: 2, maxLength: 16, seed: 1, valRatio: 0.2 };

describe('the contract', () => {
  test('experiments.grid takes lists of values and the shared options; experiments.stop takes nothing', () => {
    const p = { model: '/m', data: '/d.txt', ...settings };
    expect(parseParams('experiments.grid', p)).toEqual(p);
    expect(() => parseParams('experiments.grid', { ...p, r: [0] })).toThrow(/r\[0\]/);
    expect(() => parseParams('experiments.grid', { ...p, dropout: [1] })).toThrow(/dropout\[0\]/);
    expect(() => parseParams('experiments.grid', { ...p, valRatio: 0 })).toThrow(/valRatio/);
    expect(() => parseParams('experiments.grid', { ...p, axes: {} })).toThrow(/unknown field "axes"/);
    const early = { ...p, evalEvery: 5, earlyStop: { minTrials: 2 } };
    expect(parseParams('experiments.grid', early)).toEqual(early);
    expect(() => parseParams('experiments.grid', { ...p, evalEvery: 0 })).toThrow(/evalEvery/);
    expect(() => parseParams('experiments.grid', { ...early, earlyStop: { minTrials: 0 } })).toThrow(/minTrials/);
    expect(parseParams('experiments.stop', {})).toEqual({});
    expect(parseResult('experiments.stop', { stopping: true })).toEqual({ stopping: true });
  });

  test('grid.update carries the grid summary and the trial that trains now', () => {
    const grid = {
      id: 'grid-1', createdAt: 't', updatedAt: 't', model: '/m', data: '/d', bestRunId: null, bestAdapter: null, file: '/f', settings,
      trials: [{ index: 0, params: { r: 2, alpha: 8, dropout: 0, lr: 0.01 }, runId: 'grid-1-t0', status: 'pending', perplexity: null, evalLoss: null, steps: 0, wallS: 0 }],
    };
    expect(parse(StudioEventSchema, { type: 'grid.update', grid, running: 0 }, 'event')).toMatchObject({ running: 0, grid: { id: 'grid-1' } });
    expect(() => parse(StudioEventSchema, { type: 'grid.update', grid: { ...grid, trials: [{ ...grid.trials[0], status: 'done' }] }, running: null }, 'event')).toThrow(/status/);
  });
});

function bridgeWith(project: string | null) {
  const events: StudioEvent[] = [];
  const b = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'test', project, onEvent: (e) => events.push(e), restart: { max: 2, windowMs: 10_000, delayMs: 10 }, log: () => {} });
  b.start();
  return { b, events };
}

describe('isolated trials resume in a process of their own', () => {
  test.skipIf(!hasSharedData)('a trial stopped after a step continues from its checkpoint in a fresh child process', async () => {
    const project = join(dir, 'resume-proj');
    const model = makeTinyGPT2(join(dir, 'tiny-resume'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = join(dir, 'resume.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const runner = isolatedTrials();
    const ac = new AbortController();
    const first = await runner.run(project, { model, data, maxSteps: 40, batchSize: 2, maxLength: 16, lr: 1e-2, valRatio: 0.2, logEvery: 1, threads: 1 }, {
      runId: 'trial-r', onEvent: (e) => void (e.type === 'step' && ac.abort()), signal: ac.signal,
    });
    expect(first.result.stopped).toBe('cancelled');
    expect(first.result.steps).toBeLessThan(40);
    const steps: number[] = [];
    const again = await runner.resume(project, 'trial-r', { onEvent: (e) => void (e.type === 'step' && steps.push(e.step)) });
    expect([again.isolated, again.runId, again.result.stopped, again.result.steps]).toEqual([true, 'trial-r', 'completed', 40]);
    expect(steps[0]).toBe(first.result.steps + 1); // continued from the checkpoint of the stop, not from step 1
  }, 60_000);
});

describe('early stopping from the app', () => {
  const model = '/models/tiny', data = '/data/train.txt';
  const ss = { r: [2, 4], alpha: [8], dropout: [0], lr: [0.001], maxSteps: 4, batchSize: 2, maxLength: 16, seed: 3, valRatio: 0.2 };
  const axes = { r: ss.r, alpha: ss.alpha, dropout: ss.dropout, lr: ss.lr };
  const train = { maxSteps: 4, epochs: 0, batchSize: 2, maxLength: 16, lr: 0.001, seed: 3, valRatio: 0.2, logEvery: 1 };
  const raw = (id: string, extra: Record<string, unknown> = {}) => ({ id, createdAt: 't', model, data, axes, train: { ...train, evalEvery: 0 }, earlyStop: null, trials: [], best: null, file: '/f', ...extra });

  test('asking for it without evaluations during training is refused in words', async () => {
    const p = { ...ss, model: dir, data: dir, project: join(dir, 'never-made'), earlyStop: { minTrials: 2 } };
    await expect(gridForStudio(p, isolatedTrials())).rejects.toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/^stopping weak trials early needs evaluations during training/) });
  });

  test('grids without it keep their ids; with it, the settings a saved grid gives back carry it', () => {
    expect(gridIdOf({ model, data, axes, train })).toBe('grid-68c98e76cc'); // the id before early stopping came to the app
    const plain = gridSummary(raw('grid-68c98e76cc'))!;
    expect(plain.settings).toEqual(ss);
    const id = gridIdOf({ model, data, axes, train: { ...train, evalEvery: 2 } });
    const g = gridSummary(raw(id, { train: { ...train, evalEvery: 2 }, earlyStop: { minTrials: 3 } }))!;
    expect(g.settings).toEqual({ ...ss, evalEvery: 2, earlyStop: { minTrials: 3 } });
  });
});

describe('grid search through the bridge', () => {
  test('without a project it is refused with a reason; stop with nothing running says so', async () => {
    const { b } = bridgeWith(null);
    await expect(b.invoke('experiments.grid', { model: dir, data: dir, ...settings })).rejects.toMatchObject({ code: 'failed', message: expect.stringContaining('open or create a project') });
    expect(await b.invoke('experiments.stop', {})).toEqual({ stopping: false });
    await b.close();
  });

  test.skipIf(!hasSharedData)('a real 2-trial grid: live events, stopped after a step, resumed by starting it again, best marked', async () => {
    const project = join(dir, 'proj');
    const model = makeTinyGPT2(join(dir, 'tiny'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = join(dir, 'recipes.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const { b, events } = bridgeWith(project);
    // Enough steps that the stop lands inside the first trial.
    const p = { model, data, ...settings, maxSteps: 60 };
    let stopAsked: Promise<unknown> | null = null;
    const watch = setInterval(() => {
      if (!stopAsked && events.some((e) => e.type === 'experiment.event' && e.event.type === 'step')) stopAsked = b.invoke('experiments.stop', {});
    }, 5);
    const t0 = performance.now();
    const stopped = await b.invoke('experiments.grid', p);
    clearInterval(watch);
    expect(await stopAsked).toEqual({ stopping: true });
    // The stop lands in the first trial (almost always) or, on a slow machine, in the second: from there on nothing is finished.
    const at = stopped.trials.findIndex((t) => t.status === 'pending');
    expect(at).toBeGreaterThanOrEqual(0);
    expect(stopped.trials.map((t) => t.status)).toEqual(stopped.trials.map((_, i) => (i < at ? 'completed' : 'pending')));
    expect(stopped.settings).toEqual({ ...settings, maxSteps: 60 });
    const updates = events.filter((e): e is Extract<StudioEvent, { type: 'grid.update' }> => e.type === 'grid.update');
    expect(updates.map((u) => u.running)).toEqual([null, ...Array.from({ length: at }, (_, i) => [i, null]).flat(), at]);
    const stoppedRun = (await b.invoke('runs.get', { runId: stopped.trials[at].runId })).run;
    expect(stoppedRun.status).toBe('cancelled');
    expect(stoppedRun.step).toBeLessThan(60);

    // A second search cannot start while one runs; the same settings again resume this one.
    events.length = 0;
    const again = b.invoke('experiments.grid', p);
    await expect(b.invoke('experiments.grid', { ...p, r: [8] })).rejects.toMatchObject({ code: 'busy' });
    const done = await again;
    console.log(`bridge-grid: a stopped and resumed real 2-trial grid in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(done.id).toBe(stopped.id);
    expect(done.trials.map((t) => [t.status, t.steps])).toEqual([['completed', 60], ['completed', 60]]);
    const best = done.trials.reduce((a, c) => (c.perplexity! < a.perplexity! ? c : a));
    expect(done.bestRunId).toBe(best.runId);
    expect(done.bestAdapter).toContain(join('experiments', stopped.id, 'best-adapter'));
    // Live: every trial's trainer events came as experiment.event with the trial's run id.
    const trialRuns = new Set(events.filter((e) => e.type === 'experiment.event' && e.event.type === 'step').map((e) => e.type === 'experiment.event' && e.runId));
    expect(trialRuns).toEqual(new Set(done.trials.slice(at).map((t) => t.runId)));
    expect(events.filter((e) => e.type === 'grid.update').map((e) => e.type === 'grid.update' && e.running)).toEqual([null, ...[0, 1].filter((i) => i >= at).flatMap((i) => [i, null])]);
    // Saved: listed with its settings (so the app can resume it), and its trials are runs of the project.
    const list = await b.invoke('experiments.list', {});
    expect(list.grids.map((g) => [g.id, g.bestRunId, g.settings?.maxSteps])).toEqual([[done.id, done.bestRunId, 60]]);
    // A saved grid whose options don't give its id again (say, from the CLI with more options) is listed, not resumable from the app.
    const saved = JSON.parse(readFileSync(done.file, 'utf8'));
    writeFileSync(join(project, 'experiments', 'grid-cli0000000.json'), JSON.stringify({ ...saved, id: 'grid-cli0000000', updatedAt: '2000-01-01T00:00:00Z' }));
    const both = (await b.invoke('experiments.list', {})).grids;
    expect(both.map((g) => [g.id, Boolean(g.settings)])).toEqual([[done.id, true], ['grid-cli0000000', false]]);
    const runs = (await b.invoke('runs.list', {})).runs.filter((r) => r.runId.startsWith(done.id));
    expect(runs.map((r) => r.status)).toEqual(['completed', 'completed']);
    expect(await b.invoke('experiments.stop', {})).toEqual({ stopping: false });
    await b.close();
  }, 120_000);
});
