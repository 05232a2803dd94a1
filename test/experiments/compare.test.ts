import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { compareMethods, comparisonJson, formatComparison, listComparisons } from '../../engine/experiments/compare.ts';
import { listRuns } from '../../engine/store/runs.ts';
import { isolatedTrials } from '../../host/trials.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

describe.skipIf(!hasSharedData)('LoRA vs full comparison', () => {
  it('trains both methods as runs of the project, each in its own process, and saves the report', async () => {
    const dir = tempDir('cmp-');
    const model = makeTinyGPT2(path.join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(dir, 'data.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const project = path.join(dir, 'project');
    const events: string[] = [];
    const r = await compareMethods({
      project, model, data, runner: isolatedTrials(), train: { maxSteps: 3, batchSize: 2, maxLength: 16, valRatio: 0.2, lr: 1e-2, logEvery: 1, threads: 1 },
      lora: { r: 4, alpha: 8 }, onEvent: (m, e) => events.push(`${m}:${e.type}`),
    });
    for (const m of [r.lora, r.full]) {
      expect(m.steps).toBe(3);
      expect(m.tokens).toBe(3 * 2 * 16);
      expect(m.peakRssMb).toBeGreaterThan(10);
      expect(m.msPerStep).toBeGreaterThan(0);
      expect(Number.isFinite(m.finalTrainLoss)).toBe(true);
      expect(m.perplexity).toBeCloseTo(Math.exp(m.evalLoss!), 6);
      expect(m.outputBytes).toBeGreaterThan(0);
      expect(m.isolated).toBe(true);
    }
    // Same model: PEFT's "all params" counts the adapter on top of the base; LoRA trains far fewer
    // parameters and saves far less.
    expect(r.lora.totalParams).toBe(r.full.totalParams + r.lora.trainableParams);
    expect(r.lora.trainableParams).toBe(16 * 4 + 4 * 48); // c_attn of one layer, r=4
    expect(r.full.trainableParams).toBe(r.full.totalParams);
    expect(r.lora.outputBytes).toBeLessThan(r.full.outputBytes / 10);
    expect(events).toContain('lora:step');
    expect(events).toContain('full:eval');
    // Both are normal runs of the project; the report is saved there.
    const runs = listRuns(project).runs;
    expect(runs.map((x) => x.config.method).sort()).toEqual(['full', 'lora']);
    expect(runs.every((x) => x.status === 'completed')).toBe(true);
    expect(existsSync(r.file)).toBe(true);
    expect(JSON.parse(readFileSync(r.file, 'utf8')).lora.runId).toBe(r.lora.runId);
    expect(listComparisons(project)[0].id).toBe(r.id);
    const j = comparisonJson(r) as { lora: Record<string, unknown>; full: Record<string, unknown> };
    for (const k of ['trainable_params', 'total_params', 'trainable_pct', 'peak_rss_mb', 'ms_per_step', 'tokens_per_s', 'wall_s', 'final_train_loss', 'eval_loss', 'perplexity', 'output_bytes']) {
      expect(j.lora[k], k).toBeTypeOf('number');
      expect(j.full[k], k).toBeTypeOf('number');
    }
    expect(formatComparison(r)).toMatch(/trainable params[\s\S]*trained in +its own process +its own process[\s\S]*perplexity[\s\S]*adapter/);
  }, 60_000);

  it('lora-studio compare --json prints lora and full objects', async () => {
    const dir = tempDir('cmp-cli-');
    const model = makeTinyGPT2(path.join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(dir, 'data.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['compare', '--model', model, '--data', data, '--project', path.join(dir, 'p'), '--max-steps', '2', '--batch-size', '2',
        '--max-length', '16', '--r', '2', '--threads', '1', '--json'])).toBe(0);
      expect(await main(['compare', '--model', model, '--data', data, '--in-process'])).toBe(2); // always isolated: no such flag
      expect(await main(['compare', '--model', model])).toBe(2); // --data missing: usage error
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const j = JSON.parse(out.find((l) => l.startsWith('{'))!);
    expect(j.lora.output_kind).toBe('adapter');
    expect(j.full.output_kind).toBe('checkpoint');
    expect(j.lora.trainable_params).toBe(2 * (16 + 48));
    expect(j.full.steps).toBe(2);
    expect([j.lora.isolated, j.full.isolated]).toEqual([true, true]);
  }, 60_000);
});
