// Evaluation scores data the way training reads it: a dataset example by example (never its raw
// JSON), a run's held-out split exactly as the run held it out; --text refuses what is not text.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { loadModel } from '../../engine/models/registry.ts';
import { perplexity, windowsNll } from '../../engine/train/eval.ts';
import { train } from '../../engine/train/trainer.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const RECIPES = ['Pancakes: 2 eggs, 1 cup flour, 1 cup milk. Whisk and fry.', 'Tea: boil water, pour over leaves, wait three minutes.', 'Toast: bread, butter. Toast the bread, spread the butter.'];

describe('perplexity on held-out data', () => {
  it('a run\'s held-out split gives the run\'s own final eval loss', async () => {
    const root = tempDir('ls-evh-');
    const model = makeTinyGPT2(path.join(root, 'm'), { tokenizer: false });
    const data = { documents: Array.from({ length: 10 }, (_, d) => Array.from({ length: 40 }, (_, i) => (d * 31 + i * 7) % 400)) };
    const o = { model, data, maxSteps: 3, batchSize: 2, maxLength: 16, lr: 1e-2, valRatio: 0.3, seed: 5, threads: 1, out: path.join(root, 'a') };
    const r = await train(o);
    const p = await perplexity({ model, adapter: o.out, heldOut: o });
    expect(p.meanNll).toBeCloseTo(r.evalLoss!, 5);
    await expect(perplexity({ model, heldOut: { ...o, valRatio: 0 } })).rejects.toThrow(/held out no validation split/);
  }, 60_000);

  it.runIf(hasSharedData)('a JSONL dataset is scored example by example, not as JSON text', async () => {
    const root = tempDir('ls-evd-');
    const model = makeTinyGPT2(path.join(root, 'm'));
    const file = path.join(root, 'r.jsonl');
    writeFileSync(file, RECIPES.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const tok = await loadTokenizer(model);
    const want = await windowsNll(loadModel(model), RECIPES.map((t) => tok.encode(t)));
    const p = await perplexity({ model, data: file });
    expect(p.windows).toBe(3);
    expect(p.meanNll).toBeCloseTo(want.sum / want.count, 6);
    const raw = await perplexity({ model, text: file });
    expect(raw.tokens).toBeGreaterThan(p.tokens); // the braces and "text" keys are what raw scoring adds
  }, 60_000);

  it('--text refuses parquet, binary and non-UTF-8 files by name', async () => {
    const root = tempDir('ls-evt-');
    const model = makeTinyGPT2(path.join(root, 'm'), { tokenizer: false });
    const cases: [string, Buffer, RegExp][] = [
      ['a.parquet', Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(16), Buffer.from('PAR1')]), /a\.parquet: is a parquet file, not text/],
      ['b.bin', Buffer.from([1, 2, 0, 3, 4]), /b\.bin: is a binary file/],
      ['c.txt', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), /c\.txt: is not UTF-8 text/],
    ];
    for (const [name, bytes, re] of cases) {
      writeFileSync(path.join(root, name), bytes);
      await expect(perplexity({ model, text: path.join(root, name) })).rejects.toThrow(re);
    }
  });
});
