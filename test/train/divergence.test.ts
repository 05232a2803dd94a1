// A diverging run stops at the first non-finite loss or gradient norm, before the update: its
// checkpoints hold only finite tensors, so a resume starts from the last good one.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { train } from '../../engine/train/trainer.ts';
import type { Checkpoint } from '../../engine/train/types.ts';
import { makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const docs = { documents: Array.from({ length: 8 }, (_, d) => Array.from({ length: 40 }, (_, i) => (d * 131 + i * 17) % 500)) };

describe.each(['full', 'lora'] as const)('a diverging %s run', (method) => {
  it('throws "diverged" naming the step, and every checkpoint it wrote is finite', async () => {
    const root = tempDir('ls-nan-');
    const model = makeTinyGPT2(path.join(root, 'm'), { tokenizer: false });
    const cks: Checkpoint[] = [];
    const run = train({ model, data: docs, method, maxSteps: 30, batchSize: 2, maxLength: 16, lr: 1e6, maxGradNorm: 0, threads: 1 },
      { checkpointEvery: 1, onCheckpoint: (c) => { cks.push(c); } });
    await expect(run).rejects.toThrow(/training diverged: the (loss|gradient norm) is (NaN|Infinity|-Infinity) at step \d+/);
    expect(cks.length).toBeGreaterThan(0); // it diverged after some finite steps, as the reported case did
    for (const c of cks) for (const t of c.tensors) expect(t.data.every(Number.isFinite) && t.m.every(Number.isFinite) && t.v.every(Number.isFinite)).toBe(true);
  }, 60_000);
});
