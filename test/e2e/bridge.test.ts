// EngineBridge (the host side of the engine) and the engine's handlers, with fake engine
// functions: runs and their events, stop, crashes and restarts, invalid messages.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { RunConfig, StudioEvent } from '../../engine/api.ts';
import { tinyRunConfig } from './run-config.ts';
import type { EngineFunctions } from '../../engine/services/engine.ts';
import { histogram } from '../../engine/services/datasets.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { stepPauser } from './step-pauser.ts';
import type { EngineTransport } from '../../host/transport.ts';
import type { TrainEvent, TrainHooks, TrainResult } from '../../engine/train/types.ts';

let dir: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bridge-test-'));
  data = join(dir, 'data.txt');
  writeFileSync(data, 'hello world\n'.repeat(50));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (over: Partial<RunConfig> = {}): RunConfig => tinyRunConfig(dir, data, { out: join(dir, 'out'), ...over });

/** A trainer that takes `stepMs` per step and honours the abort signal, like the real one. */
function fakeTrain(stepMs = 5, seen: unknown[] = []): EngineFunctions['train'] {
  return async (opts, hooks: TrainHooks) => {
    seen.push({ ...opts, resumedFrom: hooks.resume?.step });
    const total = opts.maxSteps ?? 1;
    const emit = (e: TrainEvent) => hooks.onEvent?.(e);
    emit({ type: 'start', totalSteps: total, trainableParams: 32, allParams: 1000, examples: 10, tokensPerStep: 32 });
    let step = hooks.resume?.step ?? 0;
    for (; step < total; step++) {
      if (hooks.signal?.aborted) {
        await hooks.onCheckpoint?.({ step, loss: 3 - step * 0.1, tensors: [] });
        break;
      }
      await new Promise((r) => setTimeout(r, stepMs));
      emit({ type: 'step', step: step + 1, totalSteps: total, epoch: 0.1 * (step + 1), loss: 3 - step * 0.1, lr: 1e-3, gradNorm: 0.5, tokensPerS: 100, elapsedS: step, etaS: total - step });
      if (opts.evalEvery && (step + 1) % opts.evalEvery === 0) emit({ type: 'eval', step: step + 1, evalLoss: 3.2, perplexity: Math.exp(3.2), tokens: 20 });
    }
    const result: TrainResult = { steps: step, finalLoss: 3 - step * 0.1, trainableParams: 32, allParams: 1000, tokensPerS: 100, peakRssMb: 50, wallS: 1, stopped: hooks.signal?.aborted ? 'cancelled' : 'completed', out: opts.out };
    emit({ type: 'done', result });
    return result;
  };
}

function bridgeWith(spawn: () => EngineTransport, restart = { max: 2, windowMs: 10_000, delayMs: 10 }) {
  const events: StudioEvent[] = [];
  const pauser = stepPauser();
  const b = new EngineBridge({ spawn, shell: 'test', onEvent: (e) => { events.push(e); pauser.onEvent(e); }, restart, log: () => {} });
  pauser.attach(b);
  b.start();
  return { b, events, pauseAfter: pauser.pauseAfter };
}

describe('runs', () => {
  test('a run streams its events; the host keeps its record and points', async () => {
    const seen: unknown[] = [];
    const { b, events } = bridgeWith(() => inProcessEngine({ engine: { train: fakeTrain(2, seen) } }));
    const { runId } = await b.invoke('runs.start', { config: config({ valRatio: 0.2, evalEvery: 2 }) });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('completed'));
    const d = await b.invoke('runs.get', { runId });
    expect(d.points.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    expect(d.evalPoints).toEqual([2, 4].map((step) => ({ step, evalLoss: 3.2, perplexity: Math.exp(3.2), tokens: 20 })));
    expect(d.run.lastEvalLoss).toBe(3.2);
    expect(d.run).toMatchObject({ step: 5, totalSteps: 5, trainableParams: 32, allParams: 1000, out: join(dir, 'out'), result: { stopped: 'completed' } });
    expect(events.filter((e) => e.type === 'run.event')).toHaveLength(9);
    expect(events[0]).toEqual({ type: 'run.status', runId, status: 'starting', error: null });
    // The trainer got TrainOptions: the dataset path as `data`, no UI-only fields.
    expect(seen[0]).toMatchObject({ model: dir, data, method: 'lora', maxSteps: 5, lora: { r: 4 }, valRatio: 0.2, evalEvery: 2 });
    expect(seen[0]).not.toHaveProperty('dataset');
    expect((await b.invoke('runs.list', {})).runs.map((r) => r.runId)).toEqual([runId]);
    await b.close();
  });

  test('stop cancels after the current step', async () => {
    const { b } = bridgeWith(() => inProcessEngine({ engine: { train: fakeTrain(30) } }));
    const { runId } = await b.invoke('runs.start', { config: config({ maxSteps: 1000 }) });
    await vi.waitFor(() => expect(b.runs.get(runId).points.length).toBeGreaterThan(1));
    expect(await b.invoke('runs.stop', { runId })).toEqual({ stopping: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('cancelled'));
    expect(b.runs.get(runId).run.step).toBeLessThan(1000);
    expect(await b.invoke('runs.stop', { runId })).toEqual({ stopping: false });
    await b.close();
  });

  test('a failing run is marked failed with the engine’s message', async () => {
    const { b, events } = bridgeWith(() =>
      inProcessEngine({ engine: { train: async () => Promise.reject(new Error('training diverged: the loss is NaN at step 3')) } }),
    );
    const { runId } = await b.invoke('runs.start', { config: config() });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('failed'));
    expect(b.runs.get(runId).run.error).toMatch(/diverged/);
    expect(events).toContainEqual({ type: 'run.status', runId, status: 'failed', error: 'training diverged: the loss is NaN at step 3' });
    await b.close();
  });

  test('a missing model folder or dataset is refused up front', async () => {
    const { b } = bridgeWith(() => inProcessEngine({ engine: { train: fakeTrain() } }));
    await expect(b.invoke('runs.start', { config: config({ model: join(dir, 'nope') }) })).rejects.toMatchObject({ code: 'not_found' });
    await expect(b.invoke('runs.start', { config: config({ dataset: { path: join(dir, 'nope.txt') } }) })).rejects.toMatchObject({ code: 'not_found' });
    expect((await b.invoke('runs.list', {})).runs.map((r) => r.status)).toEqual(['failed', 'failed']);
    await b.close();
  });

  test('an output folder with files in it is refused unless runs.start says to overwrite it', async () => {
    const out = join(dir, 'taken');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'adapter_model.safetensors'), 'an earlier result');
    const seen: unknown[] = [];
    const { b } = bridgeWith(() => inProcessEngine({ engine: { train: fakeTrain(1, seen) } }));
    await expect(b.invoke('runs.start', { config: config({ out }) })).rejects.toMatchObject({ code: 'busy', message: expect.stringMatching(/^out: .*taken already has files in it/) });
    expect(seen).toHaveLength(0);
    expect(readFileSync(join(out, 'adapter_model.safetensors'), 'utf8')).toBe('an earlier result');
    const { runId } = await b.invoke('runs.start', { config: config({ out }), overwrite: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('completed'));
    expect(seen).toHaveLength(1);
    await b.close();
  });

  test('app.info: the shell and what it adds (native dialogs, reveal in the file manager); no per-feature flags', async () => {
    const { b } = bridgeWith(() => inProcessEngine());
    expect(await b.invoke('app.info', {})).toMatchObject({ shell: 'test', features: { dialogs: false, reveal: false }, project: null });
    expect(Object.keys((await b.invoke('app.info', {})).features)).toEqual(['dialogs', 'reveal']);
    // Without a file manager of its own the bridge answers reveal with opened: false (the UI shows the path).
    expect(await b.invoke('app.reveal', { path: '/tmp' })).toEqual({ opened: false });
    await b.close();
  });
});

describe('pause and resume', () => {
  test('pause keeps the checkpoint; resume continues from it; stop ends a paused run', async () => {
    const seen: unknown[] = [];
    const { b, events } = bridgeWith(() => inProcessEngine({ engine: { train: fakeTrain(15, seen) } }));
    const { runId } = await b.invoke('runs.start', { config: config({ maxSteps: 40 }) });
    await vi.waitFor(() => expect(b.runs.get(runId).points.length).toBeGreaterThan(2));
    expect(await b.invoke('runs.pause', { runId })).toEqual({ pausing: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('paused'));
    const at = b.runs.get(runId).run.step;
    expect(b.runs.get(runId).run.result).toBeNull(); // a pause is not an end
    expect(b.runs.get(runId).logs.at(-1)?.message).toBe(`paused after step ${at}`);
    expect(await b.invoke('runs.pause', { runId })).toEqual({ pausing: false });
    expect(await b.invoke('runs.resume', { runId })).toEqual({ resumed: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('running'));
    await vi.waitFor(() => expect(b.runs.get(runId).run.step).toBeGreaterThan(at + 1));
    expect(seen[1]).toMatchObject({ resumedFrom: at });
    const steps = b.runs.get(runId).points.map((p) => p.step);
    expect(steps).toEqual(steps.map((_, i) => i + 1)); // one continuous curve
    // Pause again, then stop the paused run.
    await b.invoke('runs.pause', { runId });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('paused'));
    expect(await b.invoke('runs.stop', { runId })).toEqual({ stopping: true });
    await vi.waitFor(() => expect(b.runs.get(runId).run.status).toBe('cancelled'));
    expect(await b.invoke('runs.resume', { runId })).toEqual({ resumed: false });
    expect(events.filter((e) => e.type === 'run.status').map((e) => (e as { status: string }).status)).toEqual(['starting', 'paused', 'running', 'paused', 'cancelled']);
    await b.close();
  });

  const SHARED = join(process.cwd(), '..', 'shared', 'data');
  const haveShared = existsSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2')) && existsSync(join(SHARED, 'gpt2-tokenizer'));
  test.skipIf(!haveShared)('with the real trainer: a paused and resumed run ends where a straight run ends', async () => {
    const model = join(dir, 'tiny-gpt2');
    cpSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2'), model, { recursive: true });
    for (const f of readdirSync(join(SHARED, 'gpt2-tokenizer'))) cpSync(join(SHARED, 'gpt2-tokenizer', f), join(model, f));
    const text = join(dir, 'story.txt');
    writeFileSync(text, Array.from({ length: 120 }, (_, i) => `Line ${i}: the cat sat on the mat and looked at the ${i % 7} birds.`).join('\n'));
    const { b, pauseAfter } = bridgeWith(() => inProcessEngine());
    const cfg = (name: string) => config({ model, dataset: { path: text }, maxSteps: 24, lr: 5e-3, out: join(dir, name), lora: { r: 4, alpha: 8, dropout: 0.1, bias: 'none', targets: [], useRslora: false, init: 'kaiming' } });
    const straight = (await b.invoke('runs.start', { config: cfg('straight') })).runId;
    await vi.waitFor(() => expect(b.runs.get(straight).run.status).toBe('completed'), { timeout: 60_000 });
    const pausing = pauseAfter((id) => id !== straight, 2);
    const paused = (await b.invoke('runs.start', { config: cfg('paused') })).runId;
    expect(await pausing).toEqual({ pausing: true });
    await vi.waitFor(() => expect(b.runs.get(paused).run.status).toBe('paused'), { timeout: 60_000 });
    const at = b.runs.get(paused).run.step;
    expect(at).toBeLessThan(24);
    await b.invoke('runs.resume', { runId: paused });
    await vi.waitFor(() => expect(b.runs.get(paused).run.status).toBe('completed'), { timeout: 60_000 });
    const a = b.runs.get(straight), p = b.runs.get(paused);
    expect(p.run.result!.steps).toBe(24);
    expect(p.points.map((x) => x.step)).toEqual(a.points.map((x) => x.step));
    expect(p.run.result!.finalLoss).toBeCloseTo(a.run.result!.finalLoss, 5);
    expect(readdirSync(join(dir, 'paused')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    await b.close();
  }, 120_000);
});

describe('crashes', () => {
  test('an engine crash interrupts the running run, keeps its record, restarts the engine and says so', async () => {
    const engines: ReturnType<typeof inProcessEngine>[] = [];
    const { b, events } = bridgeWith(() => {
      const e = inProcessEngine({ engine: { train: fakeTrain(20) } });
      engines.push(e);
      return e;
    });
    const { runId } = await b.invoke('runs.start', { config: config({ maxSteps: 1000 }) });
    await vi.waitFor(() => expect(b.runs.get(runId).points.length).toBeGreaterThan(0));
    engines[0].crash(139);
    await vi.waitFor(() => expect(events.some((e) => e.type === 'engine.status' && e.status === 'ready')).toBe(true));
    const crashed = events.find((e) => e.type === 'engine.status' && e.status === 'crashed');
    expect(crashed).toMatchObject({ message: expect.stringContaining('exit code 139') });
    const run = b.runs.get(runId);
    expect(run.run.status).toBe('failed');
    expect(run.run.error).toMatch(/engine stopped unexpectedly.*record is kept/);
    expect(run.points.length).toBeGreaterThan(0);
    expect(engines).toHaveLength(2);
    // The new engine works, and the old run is still listed.
    const { runId: second } = await b.invoke('runs.start', { config: config() });
    await vi.waitFor(() => expect(b.runs.get(second).run.status).toBe('completed'));
    expect((await b.invoke('runs.list', {})).runs.map((r) => r.runId)).toEqual([second, runId]);
    await b.close();
  });

  test('requests in flight when the engine dies are answered with engine_crashed', async () => {
    let engine!: ReturnType<typeof inProcessEngine>;
    let release!: () => void;
    const { b } = bridgeWith(() => (engine = inProcessEngine({ engine: { perplexity: () => new Promise((r) => (release = () => r({ perplexity: 1, meanNll: 0, tokens: 1 }))) } })));
    const p = b.invoke('eval.perplexity', { model: dir, text: data });
    await vi.waitFor(() => expect(release).toBeTypeOf('function'));
    engine.crash(1);
    await expect(p).rejects.toMatchObject({ code: 'engine_crashed' });
    await b.close();
  });

  test('after too many crashes it gives up and says to restart', async () => {
    const { b, events } = bridgeWith(() => {
      const e = inProcessEngine();
      queueMicrotask(() => e.crash(1));
      return e;
    }, { max: 2, windowMs: 60_000, delayMs: 1 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'engine.status' && e.status === 'failed')).toBe(true));
    await expect(b.invoke('app.info', {})).rejects.toMatchObject({ code: 'engine_crashed' });
    await b.close();
  });

  test('invalid messages from the engine are ignored, not trusted', async () => {
    let onMsg!: (m: unknown) => void;
    const log: string[] = [];
    const events: StudioEvent[] = [];
    const b = new EngineBridge({
      shell: 'test',
      onEvent: (e) => events.push(e),
      log: (m) => log.push(m),
      spawn: () => ({
        post: (m) => {
          if (m.method === 'app.info') queueMicrotask(() => onMsg({ type: 'response', id: m.id, ok: true, result: { version: 1 } }));
        },
        onMessage: (cb) => (onMsg = cb),
        onExit: () => {},
        kill: () => {},
      }),
    });
    b.start();
    onMsg({ type: 'ready', pid: 1 });
    onMsg({ type: 'event', event: { type: 'engine.status', status: 'exploded', message: 'x' } });
    onMsg({ type: 'event', event: { type: 'run.event', runId: 'ghost', event: { type: 'log', level: 'info', message: 'x' } } });
    onMsg('garbage');
    await expect(b.invoke('app.info', {})).rejects.toMatchObject({ code: 'failed', message: expect.stringContaining('invalid result') });
    expect(events).toEqual([]);
    expect(log.join('\n')).toMatch(/invalid message/);
    expect(log.join('\n')).toMatch(/unknown run/);
    await b.close();
  });
});

describe('datasets.preview', () => {
  test('statistics, label balance, sample, token histogram', async () => {
    const csv = join(dir, 'reviews.csv');
    writeFileSync(csv, 'text,label\n"good film",pos\n"bad film, really",neg\n"great",pos\n');
    const { b } = bridgeWith(() =>
      inProcessEngine({
        engine: {
          loadDataset: async () => ({
            format: 'csv',
            examples: [{ text: 'good film', label: 1 }, { text: 'bad film, really', label: 0 }, { text: 'great', label: 1 }],
            labelNames: ['neg', 'pos'],
            skipped: { count: 1, examples: ['reviews.csv:5: empty text'] },
          }),
          loadTokenizer: async () => ({ encode: (t: string) => t.split(/\s+/).map((_, i) => i) }),
        },
      }),
    );
    const p = await b.invoke('datasets.preview', { dataset: { path: csv }, model: dir, maxLength: 2 });
    expect(p).toMatchObject({ format: 'csv', examples: 3, columns: ['text', 'label'], labels: [{ name: 'pos', count: 2 }, { name: 'neg', count: 1 }], skipped: { count: 1 } });
    expect(p.sample[1]).toEqual({ text: 'bad film, really', label: 'neg' });
    expect(p.chars).toEqual({ mean: 10, min: 5, max: 16, total: 30 });
    expect(p.tokens).toMatchObject({ sampled: 3, mean: 2, max: 3, total: 6 });
    expect(p.tokens!.histogram.counts.reduce((a, c) => a + c, 0)).toBe(3);
    expect(p.notes.join(' ')).toMatch(/33\.3% of the examples are longer than max length 2/);
    await b.close();
  });

  test('histogram bins cover every value', () => {
    const h = histogram([0, 1, 5, 99, 100], 10);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(h.edges[0]).toBe(0);
    expect(h.edges[h.edges.length - 1]).toBeGreaterThan(100);
    expect(histogram([])).toEqual({ edges: [], counts: [] });
  });
});
