// Samples during training: a fixed prompt, greedy, every N steps and at the end, from the weights
// as they train — the last one equals generation from the saved result.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { Generator } from '../../engine/generate/generator.ts';
import { train } from '../../engine/train/trainer.ts';
import type { TrainEvent } from '../../engine/train/types.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';
import { writeFileSync } from 'node:fs';

describe.runIf(hasSharedData).each(['lora', 'full'] as const)('samples during a %s run', (method) => {
  it('come every N steps and at the end; the last equals greedy generation from the result', async () => {
    const root = tempDir('ls-smp-');
    const model = makeTinyGPT2(path.join(root, 'm'));
    const data = path.join(root, 'd.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const out = path.join(root, 'out');
    const events: TrainEvent[] = [];
    const prompt = 'Recipe 3. Whisk';
    await train({ model, data, method, out, maxSteps: 5, batchSize: 2, maxLength: 32, lr: 5e-2, threads: 1, sample: { prompt, every: 2, maxNewTokens: 8 } }, { onEvent: (e) => events.push(e) });
    const samples = events.filter((e): e is Extract<TrainEvent, { type: 'sample' }> => e.type === 'sample');
    expect(samples.map((e) => e.step)).toEqual([2, 4, 5]);
    const tok = await loadTokenizer(model);
    const gen = method === 'lora' ? await Generator.load(model, out) : await Generator.load(out);
    const want = (await gen.generate(tok.encode(prompt), { doSample: false, maxNewTokens: 8 }, tok)).outputs[0];
    await gen.release();
    const base = await Generator.load(model);
    const before = (await base.generate(tok.encode(prompt), { doSample: false, maxNewTokens: 8 }, tok)).outputs[0];
    await base.release();
    expect(want).not.toBe(before); // training moved the output, so the equality below is a real check
    expect(samples.at(-1)!.text).toBe(want);
    expect(samples[0].prompt).toBe(prompt);
  }, 60_000);
});
