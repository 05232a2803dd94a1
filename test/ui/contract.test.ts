// @vitest-environment node
// The contract (engine/api.ts): every message is validated, errors are precise, nothing crashes.
import { describe, expect, test } from 'vitest';
import {
  API,
  ApiError,
  DEFAULT_TRAINING,
  type RunState,
  applyRunEvent,
  METHOD_NAMES,
  RunConfigSchema,
  StudioEventSchema,
  ValidationError,
  decodeMessage,
  encodeMessage,
  parse,
  parseParams,
  parseRequest,
  parseResult,
  parseServerMessage,
  s,
} from '../../engine/api.ts';

const runConfig = { model: '/m', dataset: { path: '/d.txt' }, ...DEFAULT_TRAINING };

describe('schemas', () => {
  test('objects are strict, report every problem with its path', () => {
    const S = s.object({ a: s.int({ min: 1 }), b: s.optional(s.string()), c: s.object({ d: s.enum(['x', 'y']) }) });
    expect(parse(S, { a: 2, c: { d: 'x' } }, 'thing')).toEqual({ a: 2, c: { d: 'x' } });
    let err: ValidationError | undefined;
    try {
      parse(S, { a: 0, b: 3, c: { d: 'z' }, e: 1 }, 'thing');
    } catch (e) {
      err = e as ValidationError;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect(err!.issues).toEqual([
      'unknown field "e" (expected "a", "b", "c")',
      'a: expected an integer ≥ 1, got 0',
      'b: expected a string, got 3',
      'c.d: expected one of "x", "y", got "z"',
    ]);
    expect(() => parse(S, null, 'thing')).toThrow('invalid thing: expected an object, got null');
  });

  test('numbers: NaN and Infinity only where allowed', () => {
    expect(() => parse(s.number({ finite: true }), NaN, 'n')).toThrow('expected a finite number');
    expect(() => parse(s.int(), 1.5, 'n')).toThrow('expected an integer');
    expect(parse(s.number(), NaN, 'n')).toBeNaN();
  });

  test('a RunConfig with a bad field names it', () => {
    expect(parse(RunConfigSchema, runConfig, 'config')).toEqual(runConfig);
    expect(() => parse(RunConfigSchema, { ...runConfig, lora: { ...runConfig.lora, r: 0 } }, 'config')).toThrow('lora.r: expected an integer ≥ 1');
    expect(() => parse(RunConfigSchema, { ...runConfig, schedule: 'step' }, 'config')).toThrow('schedule: expected one of "constant", "linear", "cosine"');
    expect(() => parse(RunConfigSchema, { ...runConfig, lora: { ...runConfig.lora, targets: 5 } }, 'config')).toThrow('lora.targets');
    expect(parse(RunConfigSchema, { ...runConfig, lora: { ...runConfig.lora, targets: 'all-linear' } }, 'config').lora.targets).toBe('all-linear');
  });

  test('every method has params and result schemas', () => {
    for (const m of METHOD_NAMES) {
      expect(API[m].params.check, m).toBeTypeOf('function');
      expect(API[m].result.check, m).toBeTypeOf('function');
      expect(API[m].summary.length, m).toBeGreaterThan(10);
    }
  });
});

describe('envelopes', () => {
  test('a valid request passes with typed params', () => {
    const r = parseRequest({ type: 'request', id: 'r1', method: 'models.inspect', params: { dir: '/x', method: 'full' } });
    expect(r).toEqual({ ok: true, id: 'r1', method: 'models.inspect', params: { dir: '/x', method: 'full' } });
  });

  test.each([
    [null, 'invalid_request', ''],
    ['hello', 'invalid_request', ''],
    [{ type: 'request', id: 'a b', method: 'app.info' }, 'invalid_request', ''],
    [{ type: 'request', id: 'r2', method: 'rm -rf', params: {} }, 'unknown_method', 'r2'],
    [{ type: 'request', id: 'r3', method: 'models.inspect', params: {} }, 'invalid_params', 'r3'],
    [{ type: 'request', id: 'r4', method: 'models.inspect', params: { dir: '/x', extra: 1 } }, 'invalid_params', 'r4'],
    [{ type: 'request', id: 'r5', method: '__proto__', params: {} }, 'unknown_method', 'r5'],
    [{ type: 'request', id: 'r6', method: 'runs.start', params: { config: { ...runConfig, lr: -1 } } }, 'invalid_params', 'r6'],
  ])('%j → %s', (raw, code, id) => {
    const r = parseRequest(raw);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.response).toMatchObject({ type: 'response', id, ok: false, error: { code } });
    expect(r.response.ok === false && r.response.error.message.length).toBeGreaterThan(5);
  });

  test('server messages: responses and events are validated', () => {
    expect(parseServerMessage({ type: 'response', id: 'x', ok: true, result: { a: 1 } })).toMatchObject({ ok: true });
    expect(() => parseServerMessage({ type: 'response', id: 'x', ok: false, error: { code: 'nope', message: 'm' } })).toThrow();
    expect(() => parseServerMessage({ type: 'event', event: { type: 'run.event', runId: 'r', event: { type: 'step' } } })).toThrow(/event\.event\.step: missing/);
    const ok = { type: 'event', event: { type: 'run.event', runId: 'run-1', event: { type: 'log', level: 'info', message: 'hi' } } };
    expect(parseServerMessage(ok)).toEqual(ok);
    const ev = { type: 'event', event: { type: 'run.event', runId: 'run-1', event: { type: 'eval', step: 4, evalLoss: 2.1, perplexity: 8.17, tokens: 300 } } };
    expect(parseServerMessage(ev)).toEqual(ev);
    expect(() => parse(StudioEventSchema, { type: 'run.event', runId: '../etc', event: { type: 'log', level: 'info', message: 'x' } }, 'event')).toThrow('runId');
  });

  test('saved runs: the interrupted status, resume and delete', () => {
    expect(parse(StudioEventSchema, { type: 'run.status', runId: 'run-1', status: 'interrupted', error: 'the engine stopped' }, 'event')).toMatchObject({ status: 'interrupted' });
    expect(() => parse(StudioEventSchema, { type: 'run.status', runId: 'run-1', status: 'lost', error: null }, 'event')).toThrow(/status: expected one of/);
    expect(parseParams('runs.resume', { runId: 'run-1' })).toEqual({ runId: 'run-1' });
    expect(parseParams('runs.delete', { runId: 'run-1' })).toEqual({ runId: 'run-1' });
    expect(() => parseParams('runs.delete', { runId: '../other-project' })).toThrow('runId');
    expect(parseResult('runs.delete', { deleted: true })).toEqual({ deleted: true });
    expect(parseParams('projects.create', { dir: '/p', name: 'Recipes' })).toEqual({ dir: '/p', name: 'Recipes' });
    expect(parseResult('projects.list', { root: '/r', defaultProject: '/r/default', projects: [{ dir: '/r/default', name: 'default', runs: 3 }] })).toMatchObject({ projects: [{ runs: 3 }] });
  });

  test('results are checked against the method', () => {
    expect(() => parseResult('runs.start', { runId: 5 })).toThrow('invalid result of runs.start');
    expect(parseParams('app.info', undefined)).toEqual({});
  });

  test('JSON transport keeps NaN and Infinity', () => {
    const msg = { a: NaN, b: [Infinity, -Infinity, 1], c: { d: 'x' } };
    const back = decodeMessage(encodeMessage(msg)) as typeof msg;
    expect(back.a).toBeNaN();
    expect(back.b).toEqual([Infinity, -Infinity, 1]);
    expect(back.c).toEqual({ d: 'x' });
  });

  test('ApiError.from maps errors to codes', () => {
    expect(ApiError.from(Object.assign(new Error('no such file'), { code: 'ENOENT' })).code).toBe('not_found');
    expect(ApiError.from(new ValidationError('x', ['a: bad'])).code).toBe('invalid_params');
    expect(ApiError.from('boom').toJSON()).toEqual({ code: 'failed', message: 'boom' });
  });
});

describe('generation, classification and experiments', () => {
  const gen = { model: '/m', prompt: 'Once', maxNewTokens: 8, temperature: 0, topK: 0, topP: 1 };

  test('generate.text: sampling options are checked; a streamId names the token events', () => {
    expect(parseParams('generate.text', { ...gen, repetitionPenalty: 1.2, numReturnSequences: 2, seed: 3, stop: ['\n'], streamId: 'pg-1' })).toMatchObject({ streamId: 'pg-1', stop: ['\n'] });
    expect(() => parseParams('generate.text', { ...gen, prompt: '' })).toThrow(/prompt: expected a string \(not empty\)/);
    expect(() => parseParams('generate.text', { ...gen, topP: 0 })).toThrow(/topP: expected a number > 0 and ≤ 1, got 0/);
    expect(() => parseParams('generate.text', { ...gen, numReturnSequences: 17 })).toThrow(/numReturnSequences/);
    expect(() => parseParams('generate.text', { ...gen, stop: [''] })).toThrow(/stop\[0\]/);
    expect(() => parseParams('generate.text', { ...gen, streamId: 'a b' })).toThrow(/streamId/);
    const result = { text: ' a', tokens: 1, outputs: [' a'], promptTokens: 1, tokensPerS: 5, wallS: 0.2, finish: ['length'] };
    expect(parseResult('generate.text', result)).toEqual(result);
    expect(() => parseResult('generate.text', { ...result, finish: ['tired'] })).toThrow(/finish\[0\]/);
    expect(parse(StudioEventSchema, { type: 'generate.token', streamId: 'pg-1', sequence: 0, token: 7, text: ' a' }, 'event')).toMatchObject({ text: ' a' });
    expect(() => parse(StudioEventSchema, { type: 'generate.token', streamId: 'pg-1', sequence: -1, token: 7, text: '' }, 'event')).toThrow(/sequence/);
    expect(parseParams('generate.cancel', { streamId: 'pg-1' })).toEqual({ streamId: 'pg-1' });
  });

  test('eval.classify: params and the metrics with the confusion matrix', () => {
    expect(parseParams('eval.classify', { model: '/m', data: '/d.csv', labelColumn: 'y', batchSize: 8 })).toMatchObject({ labelColumn: 'y' });
    expect(() => parseParams('eval.classify', { model: '/m' })).toThrow(/data: missing/);
    const r = { accuracy: 1, f1: 1, precision: 1, recall: 1, macroF1: 1, perClass: [{ precision: 1, recall: 1, f1: 1, support: 2 }], confusion: [[2]], labels: ['a'], examples: 2 };
    expect(parseResult('eval.classify', r)).toEqual(r);
    expect(() => parseResult('eval.classify', { ...r, confusion: [[1.5]] })).toThrow(/confusion\[0\]\[0\]/);
  });

  test('experiments: list and compare, with experiment.event progress', () => {
    expect(parseParams('experiments.list', {})).toEqual({});
    const p = { model: '/m', data: '/d.txt', maxSteps: 5, batchSize: 2, maxLength: 32, lr: 1e-3, seed: 1, valRatio: 0.1, lora: { r: 4 } };
    expect(parseParams('experiments.compare', p)).toEqual(p);
    expect(() => parseParams('experiments.compare', { ...p, maxSteps: 0 })).toThrow(/maxSteps/);
    expect(() => parseParams('experiments.compare', { runIds: [] })).toThrow(/unknown field "runIds"/);
    const step = { type: 'step', step: 1, totalSteps: 5, epoch: 0, loss: 3, lr: 1e-3, gradNorm: 1, tokensPerS: 10, elapsedS: 1, etaS: 4 };
    expect(parse(StudioEventSchema, { type: 'experiment.event', method: 'full', runId: null, event: step }, 'event')).toMatchObject({ method: 'full' });
    expect(() => parse(StudioEventSchema, { type: 'experiment.event', method: 'qlora', runId: null, event: step }, 'event')).toThrow(/method/);
  });
});

describe('the run-event reducer (the host registry and the renderer both use it)', () => {
  const fresh = (): RunState => ({
    summary: {
      runId: 'run-1', name: 'r', status: 'starting', config: { ...runConfig, method: 'lora' }, out: '/out', startedAt: 't0', endedAt: null, step: 0, totalSteps: null,
      lastLoss: null, lastEvalLoss: null, trainableParams: null, allParams: null, result: null, error: null,
    },
    points: [], evalPoints: [], logs: [],
  });
  const step = (n: number, loss: number) => ({ type: 'run.event' as const, runId: 'run-1', event: { type: 'step' as const, step: n, totalSteps: 4, epoch: n / 4, loss, lr: 1e-3, gradNorm: 1, tokensPerS: 10, elapsedS: n, etaS: 4 - n, accuracy: 0.5 } });
  const result = { steps: 4, finalLoss: 1.5, trainableParams: 8, allParams: 100, tokensPerS: 10, peakRssMb: 1, wallS: 1, stopped: 'completed' as const, out: '/runs/run-1/adapter' };

  test('start, steps, evals, done: the summary and the curves (classification extras stay out of the points)', () => {
    const r = fresh();
    applyRunEvent(r, { type: 'run.event', runId: 'run-1', event: { type: 'start', totalSteps: 4, trainableParams: 8, allParams: 100, examples: 3, tokensPerStep: 32 } }, 't1');
    for (const n of [1, 2]) applyRunEvent(r, step(n, 3 - n), 't2');
    applyRunEvent(r, { type: 'run.event', runId: 'run-1', event: { type: 'eval', step: 2, evalLoss: 2.5, perplexity: Math.exp(2.5), tokens: 9, accuracy: 0.5, f1: 0.4 } }, 't3');
    expect(r.summary).toMatchObject({ status: 'running', step: 2, totalSteps: 4, lastLoss: 1, lastEvalLoss: 2.5, trainableParams: 8, allParams: 100 });
    expect(r.points.map((p) => p.step)).toEqual([1, 2]);
    expect(r.points[0]).not.toHaveProperty('accuracy');
    expect(r.evalPoints).toEqual([{ step: 2, evalLoss: 2.5, perplexity: Math.exp(2.5), tokens: 9 }]);
    expect(r.logs).toEqual([{ level: 'info', message: 'training 8 of 100 parameters on 3 blocks, 4 steps', at: 't1' }]);
    applyRunEvent(r, { type: 'run.event', runId: 'run-1', event: { type: 'done', result } }, 't4');
    expect(r.summary).toMatchObject({ status: 'completed', step: 4, lastLoss: 1.5, result, out: '/runs/run-1/adapter', endedAt: 't4' });
    // An ended run ignores later statuses, until a resume starts it again.
    applyRunEvent(r, { type: 'run.status', runId: 'run-1', status: 'failed', error: 'late' }, 't5');
    expect(r.summary.status).toBe('completed');
    applyRunEvent(r, { type: 'run.status', runId: 'run-1', status: 'starting', error: null }, 't6');
    expect(r.summary).toMatchObject({ status: 'starting', result: null, error: null, endedAt: null });
  });

  test('a resumed run continues from its checkpoint: the points after it are replaced', () => {
    const r = fresh();
    for (const n of [1, 2, 3]) applyRunEvent(r, step(n, 5 - n));
    applyRunEvent(r, { type: 'run.event', runId: 'run-1', event: { type: 'eval', step: 3, evalLoss: 2, perplexity: Math.exp(2), tokens: 1 } });
    applyRunEvent(r, step(3, 0.25)); // resumed from the checkpoint at step 2
    expect(r.points.map((p) => [p.step, p.loss])).toEqual([[1, 4], [2, 3], [3, 0.25]]);
    expect(r.evalPoints).toEqual([]);
  });

  test('a failure ends the run with its message in the log', () => {
    const r = fresh();
    applyRunEvent(r, { type: 'run.status', runId: 'run-1', status: 'failed', error: 'training diverged' }, 't1');
    expect(r.summary).toMatchObject({ status: 'failed', error: 'training diverged', endedAt: 't1' });
    expect(r.logs).toEqual([{ level: 'error', message: 'training diverged', at: 't1' }]);
  });
});
