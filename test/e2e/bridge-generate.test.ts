// EngineBridge: generation (generate.text with generate.token events, a real short generation
// with the tiny GPT-2 of test/helpers/tiny-model.ts — skipped without ../shared/data), cancel,
// classification metrics (eval.classify) and experiments (experiments.list / .compare).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { StudioEvent } from '../../engine/api.ts';
import type { EngineFunctions } from '../../engine/services/engine.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import type { EngineTransport } from '../../host/transport.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

if (!hasSharedData) console.warn('bridge-generate: the real generation test is skipped: ../shared/data (gpt2-tokenizer) is missing');

let dir: string;
beforeAll(() => {
  dir = tempDir('bridge-gen-');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bridgeWith(spawn: () => EngineTransport, project: string | null = null) {
  const events: StudioEvent[] = [];
  const b = new EngineBridge({ spawn, shell: 'test', project, onEvent: (e) => events.push(e), restart: { max: 2, windowMs: 10_000, delayMs: 10 }, log: () => {} });
  b.start();
  return { b, events };
}

const tokensOf = (events: StudioEvent[], streamId: string) =>
  events.filter((e): e is Extract<StudioEvent, { type: 'generate.token' }> => e.type === 'generate.token' && e.streamId === streamId);

describe('generation', () => {
  test.skipIf(!hasSharedData)('a real short generation with the tiny GPT-2, streamed as generate.token events; greedy is repeatable', async () => {
    const model = makeTinyGPT2(join(dir, 'tiny'));
    const { b, events } = bridgeWith(() => inProcessEngine());
    const p = { model, prompt: 'Whisk two eggs', maxNewTokens: 6, temperature: 0, topK: 0, topP: 1 };
    const t0 = performance.now();
    const r = await b.invoke('generate.text', { ...p, streamId: 'real-1' });
    const ms = performance.now() - t0;
    // Six new tokens, unless the end-of-text token came first (it is one of them).
    expect(r.finish).toHaveLength(1);
    if (r.finish[0] === 'length') expect(r.tokens).toBe(6);
    else expect([r.finish[0], r.tokens >= 1 && r.tokens <= 6]).toEqual(['eos', true]);
    expect(r.outputs).toEqual([r.text]);
    expect(r.promptTokens).toBeGreaterThan(0);
    const streamed = tokensOf(events, 'real-1');
    expect(streamed.length).toBe(r.tokens);
    // The streamed pieces add up to the text (a trailing partial character may be held back).
    expect(r.text.startsWith(streamed.map((e) => e.text).join(''))).toBe(true);
    const again = await b.invoke('generate.text', p);
    expect(again.text).toBe(r.text);
    // Sampling with a seed is repeatable too; several sequences need a temperature.
    const s1 = await b.invoke('generate.text', { ...p, temperature: 1, topK: 20, topP: 0.9, seed: 7, numReturnSequences: 2 });
    const s2 = await b.invoke('generate.text', { ...p, temperature: 1, topK: 20, topP: 0.9, seed: 7, numReturnSequences: 2 });
    expect(s1.outputs).toHaveLength(2);
    expect(s2.outputs).toEqual(s1.outputs);
    await expect(b.invoke('generate.text', { ...p, numReturnSequences: 2 })).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(b.invoke('generate.text', { ...p, adapter: join(dir, 'no-adapter') })).rejects.toMatchObject({ code: 'not_found' });
    console.log(`bridge-generate: 6 tokens through the bridge in ${ms.toFixed(0)} ms`);
    await b.close();
  }, 60_000);

  test('generate.cancel stops a running generation; its outputs so far come back', async () => {
    const fake: EngineFunctions['generate'] = async (p) => {
      let text = '';
      for (let i = 0; i < 1000 && !p.signal?.aborted; i++) {
        text += 'x';
        p.onToken?.({ sequence: 0, token: i, text: 'x' });
        await new Promise((r) => setTimeout(r, 2));
      }
      return { text, tokens: text.length, outputs: [text], promptTokens: 1, tokensPerS: 1, wallS: 1, finish: [p.signal?.aborted ? 'cancelled' : 'length'] };
    };
    const { b, events } = bridgeWith(() => inProcessEngine({ engine: { generate: fake } }));
    const running = b.invoke('generate.text', { model: dir, prompt: 'hi', maxNewTokens: 1000, temperature: 0, topK: 0, topP: 1, streamId: 's-1' });
    await expect.poll(() => tokensOf(events, 's-1').length).toBeGreaterThan(2);
    await expect(b.invoke('generate.text', { model: dir, prompt: 'hi', maxNewTokens: 4, temperature: 0, topK: 0, topP: 1, streamId: 's-1' })).rejects.toMatchObject({ code: 'busy' });
    expect(await b.invoke('generate.cancel', { streamId: 's-1' })).toEqual({ cancelled: true });
    const r = await running;
    expect(r.finish).toEqual(['cancelled']);
    expect(r.tokens).toBeLessThan(1000);
    expect(await b.invoke('generate.cancel', { streamId: 's-1' })).toEqual({ cancelled: false });
    await b.close();
  });
});

describe('classification metrics', () => {
  test('eval.classify passes the options through and returns the metrics', async () => {
    const seen: unknown[] = [];
    const data = join(dir, 'labelled.csv');
    writeFileSync(data, 'text,label\na,0\nb,1\n');
    const fake: EngineFunctions['evaluateClassifier'] = async (o) => {
      seen.push(o);
      return { accuracy: 0.5, f1: 0.5, precision: 0.5, recall: 0.5, macroF1: 0.5, perClass: [{ precision: 0.5, recall: 0.5, f1: 0.5, support: 1 }, { precision: 0.5, recall: 0.5, f1: 0.5, support: 1 }], confusion: [[0, 1], [0, 1]], labels: ['0', '1'], examples: 2, predictions: [1, 1] };
    };
    const { b } = bridgeWith(() => inProcessEngine({ engine: { evaluateClassifier: fake } }));
    const r = await b.invoke('eval.classify', { model: dir, data, labelColumn: 'label', maxLength: 64 });
    expect(r).toMatchObject({ accuracy: 0.5, confusion: [[0, 1], [0, 1]], labels: ['0', '1'] });
    expect(r).not.toHaveProperty('predictions');
    expect(seen).toEqual([{ model: dir, data, labelColumn: 'label', maxLength: 64 }]);
    await expect(b.invoke('eval.classify', { model: dir, data: join(dir, 'nope.csv') })).rejects.toMatchObject({ code: 'not_found' });
    await b.close();
  });
});

describe('experiments', () => {
  const method = (m: 'lora' | 'full') => ({
    method: m, runId: `r-${m}`, trainableParams: m === 'lora' ? 10 : 100, totalParams: 100, trainablePct: m === 'lora' ? 10 : 100, peakRssMb: 50, steps: 2, tokens: 64,
    msPerStep: 5, tokensPerS: 100, wallS: 1, finalTrainLoss: 3, evalLoss: null, perplexity: null, lr: 1e-3, outputDir: null, outputBytes: 10,
  });

  test('without a project: nothing listed, and a comparison is refused with a reason', async () => {
    const { b } = bridgeWith(() => inProcessEngine());
    expect(await b.invoke('experiments.list', {})).toEqual({ comparisons: [], grids: [] });
    await expect(b.invoke('experiments.compare', { model: dir, data: dir, maxSteps: 1, batchSize: 1, maxLength: 8, lr: 1e-3, seed: 1, valRatio: 0 })).rejects.toMatchObject({ code: 'failed', message: expect.stringContaining('open or create a project') });
    await b.close();
  });

  test('a comparison runs in the open project, streams experiment.event, and is listed (with saved grids) afterwards', async () => {
    const project = join(dir, 'proj');
    const data = join(dir, 'train.txt');
    writeFileSync(data, 'hello\n'.repeat(10));
    const seen: Record<string, unknown>[] = [];
    const fake: EngineFunctions['compareMethods'] = async (o) => {
      seen.push(o as never);
      for (const m of ['lora', 'full'] as const) {
        o.onRun?.(m, { id: `r-${m}`, dir: join(o.project, 'runs', `r-${m}`) });
        o.onEvent?.(m, { type: 'step', step: 1, totalSteps: 2, epoch: 0, loss: 3, lr: 1e-3, gradNorm: 1, tokensPerS: 10, elapsedS: 1, etaS: 1 });
      }
      const report = { format: 'lora-studio.compare', id: 'compare-20260101-000000', createdAt: '2026-01-01T00:00:00.000Z', model: o.model, data: o.data, options: {}, lora: method('lora'), full: method('full'), file: join(o.project, 'experiments', 'compare-20260101-000000.json') };
      mkdirSync(join(o.project, 'experiments'), { recursive: true });
      writeFileSync(report.file, JSON.stringify(report));
      return report as never;
    };
    const { b, events } = bridgeWith(() => inProcessEngine({ engine: { compareMethods: fake } }), project);
    const r = await b.invoke('experiments.compare', { model: dir, data, maxSteps: 2, batchSize: 1, maxLength: 8, lr: 1e-3, fullLr: 1e-4, seed: 1, valRatio: 0.1, lora: { r: 2 }, project: '/elsewhere' });
    expect(r).toMatchObject({ id: 'compare-20260101-000000', lora: { trainableParams: 10 }, full: { trainableParams: 100 } });
    expect(seen[0]).toMatchObject({ project, model: dir, data, fullLr: 1e-4, lora: { r: 2 }, train: { maxSteps: 2, epochs: 0, batchSize: 1, maxLength: 8, lr: 1e-3, seed: 1, valRatio: 0.1 } });
    expect(events.filter((e) => e.type === 'experiment.event').map((e) => e.type === 'experiment.event' && [e.method, e.runId])).toEqual([['lora', 'r-lora'], ['full', 'r-full']]);
    // A saved grid search (lora-studio grid) is listed too.
    writeFileSync(join(project, 'experiments', 'grid-0123456789.json'), JSON.stringify({
      format: 'lora-studio.grid', id: 'grid-0123456789', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-02T00:00:00Z', model: dir, data, axes: {}, train: {}, earlyStop: null,
      trials: [{ index: 0, params: { r: 4, alpha: 8, dropout: 0, lr: 1e-3 }, runId: 'grid-0123456789-t0', status: 'completed', perplexity: 12, evalLoss: Math.log(12), curve: [], steps: 2, wallS: 1 }],
      best: { runId: 'grid-0123456789-t0' }, bestAdapter: null, file: 'x',
    }));
    writeFileSync(join(project, 'experiments', 'grid-broken.json'), '{');
    const list = await b.invoke('experiments.list', {});
    expect(list.comparisons.map((c) => c.id)).toEqual(['compare-20260101-000000']);
    expect(list.grids).toMatchObject([{ id: 'grid-0123456789', bestRunId: 'grid-0123456789-t0', trials: [{ status: 'completed', perplexity: 12 }] }]);
    await b.close();
  });

  test.skipIf(!hasSharedData)('a real LoRA-vs-full comparison with the tiny GPT-2: two saved runs and a saved report', async () => {
    const project = join(dir, 'real-proj');
    const model = makeTinyGPT2(join(dir, 'tiny-cmp'));
    const data = join(dir, 'recipes.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const { b, events } = bridgeWith(() => inProcessEngine(), project);
    const t0 = performance.now();
    const r = await b.invoke('experiments.compare', { model, data, maxSteps: 2, batchSize: 2, maxLength: 16, lr: 1e-3, seed: 1, valRatio: 0.2, lora: { r: 2, alpha: 4 } });
    console.log(`bridge-generate: a real 2-step LoRA-vs-full comparison in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.lora.trainableParams).toBeLessThan(r.full.trainableParams);
    expect([r.lora.steps, r.full.steps]).toEqual([2, 2]);
    expect([r.lora.isolated, r.full.isolated]).toEqual([true, true]); // each method in its own process
    const steps = events.filter((e) => e.type === 'experiment.event' && e.event.type === 'step');
    expect(new Set(steps.map((e) => e.type === 'experiment.event' && e.method))).toEqual(new Set(['lora', 'full']));
    expect((await b.invoke('experiments.list', {})).comparisons.map((c) => c.id)).toEqual([r.id]);
    const runs = (await b.invoke('runs.list', {})).runs;
    expect(runs.map((x) => x.runId).sort()).toEqual([r.lora.runId, r.full.runId].sort());
    await b.close();
  }, 120_000);
});
