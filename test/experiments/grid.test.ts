import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { type Trial, gridSearch, gridTrials, median, shouldPrune } from '../../engine/experiments/grid.ts';
import { listRuns } from '../../engine/store/runs.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const trial = (curve: [number, number][], status: Trial['status'] = 'completed'): Trial => ({
  index: 0, params: { r: 4, alpha: 8, dropout: 0, lr: 1e-3 }, runId: 'x', status, perplexity: null, evalLoss: null,
  curve: curve.map(([step, evalLoss]) => ({ step, evalLoss })), steps: 0, wallS: 0,
});

describe('grid search helpers', () => {
  it('enumerates r x alpha x dropout x lr', () => {
    expect(gridTrials({ r: [4, 8, 16], alpha: [16, 32], dropout: [0.05, 0.1] }, 2e-4)).toHaveLength(12);
    expect(gridTrials({ r: [4], alpha: [16], dropout: [0], lr: [1e-3, 1e-4] }, 2e-4).map((t) => t.lr)).toEqual([1e-3, 1e-4]);
  });
  it('median rule: prunes a trial worse than the median of finished trials at the same step', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    const done = [trial([[2, 3.0], [4, 2.0]]), trial([[2, 3.4], [4, 2.4]]), trial([[2, 9]], 'pruned')];
    expect(shouldPrune(done, 2, 3.3, 2)).toBe(true); // median 3.2 (the pruned trial does not count)
    expect(shouldPrune(done, 2, 3.1, 2)).toBe(false);
    expect(shouldPrune(done, 3, 99, 2)).toBe(false); // nobody evaluated at step 3
    expect(shouldPrune(done, 2, 99, 3)).toBe(false); // too few finished trials
  });
});

describe.skipIf(!hasSharedData)('grid search on a tiny model', () => {
  it('runs a 2x1x1 grid as project runs, keeps the best adapter, prints JSON, and resumes by skipping finished trials', async () => {
    const dir = tempDir('grid-');
    const model = makeTinyGPT2(path.join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(dir, 'data.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const project = path.join(dir, 'project');
    const flags = ['--model', model, '--data', data, '--project', project, '--r', '2,4', '--alpha', '8', '--dropout', '0', '--lr', '0.01',
      '--max-steps', '3', '--batch-size', '2', '--max-length', '16', '--val-ratio', '0.2', '--threads', '1'];
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['grid', ...flags, '--json'])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const j = JSON.parse(out.at(-1)!);
    expect(j.trials).toHaveLength(2);
    expect(j.trials.map((t: { params: { r: number } }) => t.params.r)).toEqual([2, 4]);
    for (const t of j.trials) {
      expect(t.status).toBe('completed');
      expect(t.metric.name).toBe('perplexity');
      expect(t.metric.value).toBeGreaterThan(1);
    }
    const best = Math.min(...j.trials.map((t: { metric: { value: number } }) => t.metric.value));
    expect(j.best.metric.value).toBe(best);
    expect(existsSync(path.join(j.best_adapter, 'adapter_config.json'))).toBe(true);
    expect(listRuns(project).runs.filter((r) => r.status === 'completed')).toHaveLength(2);

    // The same search again: both trials are already done, nothing trains.
    const events: string[] = [];
    const again = await gridSearch({
      project, model, data, axes: { r: [2, 4], alpha: [8], dropout: [0], lr: [0.01] },
      train: { lr: 2e-4, maxSteps: 3, batchSize: 2, maxLength: 16, valRatio: 0.2, threads: 1 },
      onEvent: (_t, e) => events.push(e.type),
    });
    expect(again.id).toBe(j.id);
    expect(events).toEqual([]);
    expect(again.best?.runId).toBe(j.best.run_id);
    expect(listRuns(project).runs).toHaveLength(2);
  }, 60_000);

  it('median rule stops a trial that is worse than the finished ones at the same step', async () => {
    const dir = tempDir('grid-es-');
    const model = makeTinyGPT2(path.join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(dir, 'data.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const project = path.join(dir, 'project');
    const r = await gridSearch({
      project, model, data, axes: { r: [4], alpha: [8], dropout: [0], lr: [3e-2, 1e-9] },
      train: { maxSteps: 4, evalEvery: 1, batchSize: 2, maxLength: 16, valRatio: 0.2, threads: 1 },
      earlyStop: { minTrials: 1 },
    });
    expect(r.trials.map((t) => t.status)).toEqual(['completed', 'pruned']);
    expect(r.trials[1].steps).toBeLessThan(4);
    expect(r.best?.index).toBe(0);
    expect(listRuns(project).runs.find((x) => x.id === r.trials[1].runId)?.status).toBe('cancelled');
  }, 60_000);

  it('resumes a search stopped mid-trial: the interrupted run continues from its checkpoint', async () => {
    const dir = tempDir('grid-resume-');
    const model = makeTinyGPT2(path.join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(dir, 'data.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const project = path.join(dir, 'project');
    const opts = {
      project, model, data, axes: { r: [2, 4], alpha: [8], dropout: [0] },
      train: { maxSteps: 4, batchSize: 2, maxLength: 16, valRatio: 0.2, logEvery: 1, threads: 1 },
    };
    const ac = new AbortController();
    const first = await gridSearch({ ...opts, signal: ac.signal, onEvent: (_t, e) => { if (e.type === 'step' && e.step === 2) ac.abort(); } });
    expect(first.trials.map((t) => t.status)).toEqual(['pending', 'pending']);
    expect(listRuns(project).runs.map((x) => x.status)).toEqual(['cancelled']);
    const steps: number[] = [];
    const second = await gridSearch({ ...opts, onEvent: (t, e) => { if (e.type === 'step' && t.index === 0) steps.push(e.step); } });
    expect(second.id).toBe(first.id);
    expect(second.trials.map((t) => t.status)).toEqual(['completed', 'completed']);
    expect(steps[0]).toBeGreaterThan(1); // continued, not restarted
    const runs = listRuns(project).runs;
    expect(runs).toHaveLength(2);
    expect(runs.find((x) => x.id === second.trials[0].runId)?.segments.length).toBe(2);
  }, 60_000);
});
