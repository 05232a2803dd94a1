// Classifier runs go through the one training loop: gradient accumulation, checkpoints and an
// exact resume, like causal-LM runs; a diverging run stops before applying a non-finite update.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAdapter } from '../../engine/store/adapter.ts';
import { train } from '../../engine/train/trainer.ts';
import type { Checkpoint } from '../../engine/train/types.ts';
import { FIXTURES, tempDir } from '../helpers/tiny-model.ts';

const DB = path.join(FIXTURES, 'distilbert-tiny');
const TEXTS = ['i loved this movie', 'great fun film', 'the best story', 'i hated this movie', 'boring awful film', 'the worst story', 'good plot', 'bad plot'];
const data = { texts: TEXTS, labels: [1, 1, 1, 0, 0, 0, 1, 0] };
const opts = (out: string) => ({
  task: 'seq-cls' as const, model: DB, data, out, lr: 1e-2, maxSteps: 8, batchSize: 2, gradAccum: 2, seed: 3, threads: 1, logEvery: 1,
  lora: { r: 4, alpha: 8, dropout: 0.1, bias: 'all' as const, targets: [], useRslora: false, init: 'kaiming' as const },
});
const adapterValues = (dir: string) => [...loadAdapter(dir).tensors].sort(([a], [b]) => a.localeCompare(b)).flatMap(([, t]) => Array.from(t.data));

describe('classifier runs in the one training loop', () => {
  it('4 steps, a checkpoint, and a resume end where 8 straight steps end (dropout and accumulation on)', async () => {
    const root = tempDir('ls-clsres-');
    const straight = await train(opts(path.join(root, 'straight')));
    expect(straight.steps).toBe(8);
    const ac = new AbortController();
    let ck: Checkpoint | undefined;
    const first = await train(opts(path.join(root, 'first')), {
      signal: ac.signal, checkpointEvery: 100,
      onCheckpoint: (c) => { ck = c; },
      onEvent: (e) => { if (e.type === 'step' && e.step === 4) ac.abort(); },
    });
    expect(first.stopped).toBe('cancelled');
    expect(ck?.step).toBe(4);
    // The heads train (modules_to_save) and are part of the checkpoint.
    expect(ck!.tensors.map((t) => t.name)).toEqual(expect.arrayContaining(['classifier.weight', 'pre_classifier.weight']));
    const resumed = await train(opts(path.join(root, 'resumed')), { resume: ck });
    expect(resumed.steps).toBe(8);
    const a = adapterValues(path.join(root, 'straight')), b = adapterValues(path.join(root, 'resumed'));
    expect(b).toHaveLength(a.length);
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-6);
    expect(resumed.finalLoss).toBeCloseTo(straight.finalLoss, 6);
  }, 60_000);

  it('refuses to resume from a checkpoint with non-finite values', async () => {
    const root = tempDir('ls-clsnan-');
    let ck: Checkpoint | undefined;
    const ac = new AbortController();
    await train(opts(path.join(root, 'a')), { signal: ac.signal, onCheckpoint: (c) => { ck = c; }, onEvent: (e) => { if (e.type === 'step' && e.step === 2) ac.abort(); } });
    ck!.tensors[0].data[0] = NaN;
    await expect(train(opts(path.join(root, 'b')), { resume: ck })).rejects.toThrow(/non-finite values: refusing to resume/);
  }, 60_000);
});
