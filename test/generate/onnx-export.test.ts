// The exported decoder (Optimum / transformers.js layout, attention bias computed in-graph from
// attention_mask) generates the same greedy tokens as the Generator, and handles left padding.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator } from '../../engine/generate/generator.ts';
import { exportDecoderOnnx } from '../../engine/export/onnx-decoder.ts';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { FIXTURES, tempDir } from '../helpers/tiny-model.ts';

const DIR = path.join(FIXTURES, 'gpt2-tiny-f32');

describe('ONNX decoder export with past key/values', () => {
  it('greedy decoding through the exported file equals the Generator; left padding is masked', async () => {
    const model = loadGPT2(DIR);
    const c = model.config, H = c.nHead, hd = c.nEmbd / c.nHead, V = c.vocabSize;
    const file = exportDecoderOnnx(model, tempDir('ls-onnx-'));
    const s = await Session.create(readFileSync(file), { threads: 1 });
    expect(s.inputNames).toEqual(expect.arrayContaining(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.1.value']));
    expect(s.outputNames).toEqual(expect.arrayContaining(['logits', 'present.0.key', 'present.1.value']));

    type Feeds = Parameters<Session['run']>[0];
    const run = async (rows: number[][], masks: number[][], pos: number[][], past: Float32Array[][] | null, P: number) => {
      const B = rows.length, T = rows[0].length, S = masks[0].length;
      const f: Feeds = {
        input_ids: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from(rows.flat().map(BigInt)) },
        attention_mask: { dtype: 'int64', shape: [B, S], data: BigInt64Array.from(masks.flat().map(BigInt)) },
        position_ids: { dtype: 'int64', shape: [B, T], data: BigInt64Array.from(pos.flat().map(BigInt)) },
      };
      for (let i = 0; i < c.nLayer; i++) {
        f[`past_key_values.${i}.key`] = { dtype: 'float32', shape: [B, H, P, hd], data: past ? past[i][0] : new Float32Array(0) };
        f[`past_key_values.${i}.value`] = { dtype: 'float32', shape: [B, H, P, hd], data: past ? past[i][1] : new Float32Array(0) };
      }
      const r = await s.run(f);
      return { logits: r.logits.data as Float32Array, present: Array.from({ length: c.nLayer }, (_, i) => [r[`present.${i}.key`].data as Float32Array, r[`present.${i}.value`].data as Float32Array]) };
    };
    const argmax = (x: Float32Array) => x.indexOf(Math.max(...x));

    // Greedy, one row, no padding.
    const prompt = [5, 17, 99, 3];
    let r = await run([prompt], [prompt.map(() => 1)], [prompt.map((_, i) => i)], null, 0);
    const toks: number[] = [];
    let P = prompt.length;
    for (let step = 0; step < 10; step++) {
      const T = r.logits.length / V;
      const next = argmax(r.logits.subarray((T - 1) * V, T * V));
      toks.push(next);
      r = await run([[next]], [Array(P + 1).fill(1)], [[P]], r.present, P);
      P++;
    }
    const gen = await Generator.create(model, { threads: 1 });
    expect((await gen.generate(prompt, { maxNewTokens: 10, eosTokenId: null })).tokens[0]).toEqual(toks);
    await gen.release();

    // Left padding: row 1 = [pad, pad, 10, 11, 12] with transformers.js position ids (cumsum(mask) - 1, pads 1).
    const single = await run([[10, 11, 12]], [[1, 1, 1]], [[0, 1, 2]], null, 0);
    const padded = await run([[1, 2, 3, 4, 5], [0, 0, 10, 11, 12]], [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], [[0, 1, 2, 3, 4], [1, 1, 0, 1, 2]], null, 0);
    const last = padded.logits.subarray((2 * 5 - 1) * V, 2 * 5 * V);
    const want = single.logits.subarray(2 * V, 3 * V);
    expect(Math.max(...last.map((x, j) => Math.abs(x - want[j])))).toBeLessThan(1e-4);
    await s.release();
  });
});
