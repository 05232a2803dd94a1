// Training a classifier with LoRA + heads (modules_to_save), saving the PEFT adapter, and the
// CLI round trip: classify with the adapter == classify the merged folder == the run's eval.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter } from '../../engine/store/adapter.ts';
import { type ClassifyEvent, trainClassifier } from '../../engine/train/classify.ts';
import { FIXTURES, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');
const cli = async (...args: string[]) => (await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 })).stdout;
const DB = path.join(FIXTURES, 'distilbert-tiny');

// Original sentences over the fixture's vocabulary (label 1 = positive).
const POS = ['i loved this movie', 'great fun film', 'the best story', 'really good acting', 'i love it', 'a great movie , very fun', 'good plot', 'the film was great'];
const NEG = ['i hated this movie', 'boring awful film', 'the worst story', 'really bad acting', 'i hate it', 'an awful movie , very slow', 'bad plot', 'the film was boring'];

describe('sequence-classification training', () => {
  let root: string, data: string;
  beforeAll(() => {
    root = tempDir('ls-cls-');
    data = path.join(root, 'reviews.jsonl');
    const rows = POS.flatMap((t, i) => [{ text: t, label: 1 }, { text: NEG[i], label: 0 }]);
    writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });

  it('DistilBERT + LoRA on q_lin,v_lin learns the labels; the adapter keeps the heads; CLI classify/merge agree', async () => {
    const out = path.join(root, 'adapter');
    const events: ClassifyEvent[] = [];
    const r = await trainClassifier({
      model: DB, data, validation: data, out, lr: 2e-2, epochs: 25, batchSize: 8, seed: 1, logEvery: 1, threads: 1,
      lora: { r: 4, alpha: 8, dropout: 0, bias: 'none', targets: [], useRslora: false, init: 'kaiming' },
    }, { onEvent: (e) => events.push(e) });
    const steps = events.filter((e) => e.type === 'step') as Extract<ClassifyEvent, { type: 'step' }>[];
    expect(steps).toHaveLength(50);
    expect(steps.at(-1)!.loss).toBeLessThan(steps[0].loss * 0.5);
    expect(r.eval!.accuracy).toBe(1);
    expect(r.eval!.confusion).toEqual([[8, 0], [0, 8]]);
    const start = events.find((e) => e.type === 'start') as Extract<ClassifyEvent, { type: 'start' }>;
    // LoRA r=4 on q_lin and v_lin (2 layers x 2 x (4*32 + 32*4)) + pre_classifier (32*32+32) + classifier (2*32+2).
    expect(start.trainableParams).toBe(2 * 2 * 256 + 1056 + 66);

    const ad = loadAdapter(out);
    expect(ad.config.modulesToSave).toEqual(['pre_classifier', 'classifier']);
    expect(ad.config.taskType).toBe('SEQ_CLS');
    expect([...ad.tensors.keys()].sort()).toContain('classifier.weight');
    expect([...ad.tensors.keys()].filter((k) => k.includes('lora_A'))).toHaveLength(4);

    const viaAdapter = JSON.parse(await cli('classify', '--model', DB, '--adapter', out, '--data', data, '--json'));
    expect(viaAdapter.accuracy).toBe(1);
    expect(viaAdapter.f1).toBe(1);
    expect(viaAdapter.confusion).toEqual([[8, 0], [0, 8]]);

    const merged = path.join(root, 'merged');
    const m = JSON.parse(await cli('merge', '--model', DB, '--adapter', out, '--out', merged, '--json'));
    expect(m.task).toBe('seq-cls');
    expect(m.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'vocab.txt']));
    const viaMerged = JSON.parse(await cli('classify', '--model', merged, '--data', data, '--json'));
    expect(viaMerged.confusion).toEqual(viaAdapter.confusion);
  }, 90_000);

  it.skipIf(!hasSharedData)('GPT-2 sequence classification trains LoRA on c_attn + the score head', async () => {
    const model = makeTinyGPT2(path.join(root, 'gpt2'), { nPositions: 32, nEmbd: 16 });
    const out = path.join(root, 'gpt2-adapter');
    const r = await trainClassifier({
      model, data, validation: data, out, lr: 2e-2, epochs: 20, batchSize: 8, seed: 2, threads: 1,
      lora: { r: 4, alpha: 8, dropout: 0, bias: 'none', targets: [], useRslora: false, init: 'kaiming' },
    });
    expect(r.eval!.accuracy).toBeGreaterThanOrEqual(0.9);
    const ad = loadAdapter(out);
    expect(ad.config.modulesToSave).toEqual(['score']);
    expect(ad.tensors.get('score.weight')!.shape).toEqual([2, 16]);
    const c = JSON.parse(await cli('classify', '--model', model, '--adapter', out, '--data', data, '--json'));
    expect(c.accuracy).toBeCloseTo(r.eval!.accuracy, 12);
    expect(c.confusion).toEqual(r.eval!.confusion);
  }, 90_000);
});
