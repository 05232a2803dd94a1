// The `train --task seq-cls` entry point (trainSeqClsFromFlags), called with parsed CLI flags.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { trainSeqClsFromFlags } from '../../cli/commands/classify.ts';
import { loadAdapter } from '../../engine/store/adapter.ts';
import { holdOut } from '../../engine/train/classify.ts';
import { FIXTURES, tempDir } from '../helpers/tiny-model.ts';

describe('train --task seq-cls', () => {
  it('trains from flags with a held-out split and prints JSON with eval metrics', async () => {
    const root = tempDir('ls-clsflags-');
    const data = path.join(root, 'd.csv');
    writeFileSync(data, 'text,label\n' + Array.from({ length: 12 }, (_, i) => (i % 2 ? `good fun film ${i % 3 ? 'great' : 'best'},pos` : `bad boring film ${i % 3 ? 'awful' : 'worst'},neg`)).join('\n') + '\n');
    const out = path.join(root, 'adapter');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const rc = await trainSeqClsFromFlags({ model: path.join(FIXTURES, 'distilbert-tiny'), data, out, epochs: '3', 'batch-size': '4', lr: '1e-2', 'val-ratio': '0.25', threads: '1', json: true });
      expect(rc).toBe(0);
      const r = JSON.parse(String(log.mock.calls.at(-1)![0]));
      expect(r.steps).toBe(3 * 3); // 9 training examples / batch 4 -> 3 batches per epoch
      expect(r.eval_confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(3);
      expect(r.labels).toHaveLength(2);
      expect(loadAdapter(out).config.taskType).toBe('SEQ_CLS');
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }, 60_000);

  it('holds out a seeded fraction', () => {
    const d = { texts: ['a', 'b', 'c', 'd', 'e'], labels: [0, 1, 0, 1, 0] };
    const a = holdOut(d, 0.4, 3), b = holdOut(d, 0.4, 3);
    expect(a.valid.texts).toHaveLength(2);
    expect(a.train.texts).toHaveLength(3);
    expect(a).toEqual(b);
    expect([...a.train.texts, ...a.valid.texts].sort()).toEqual(d.texts);
  });
});
