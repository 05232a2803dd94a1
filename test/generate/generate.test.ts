// Generation: the KV-cache graph gives the same greedy tokens as recomputing everything; the
// sampling filters follow transformers' logits processors; seeds reproduce; stops work.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator } from '../../engine/generate/generator.ts';
import { applyRepetitionPenalty, chooseToken, filteredDistribution } from '../../engine/generate/sampling.ts';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { Rng } from '../../engine/util/rng.ts';
import { FIXTURES } from '../helpers/tiny-model.ts';

const DIR = path.join(FIXTURES, 'gpt2-tiny-f32');
// A tokenizer stand-in over the fixture's 128-token vocabulary: token t is the letter chr(97 + t % 26).
const letters = { decode: (ids: number[]) => ids.map((t) => String.fromCharCode(97 + (t % 26))).join('') };

describe('generation with a KV cache', () => {
  let cached: Generator, plain: Generator;
  beforeAll(async () => {
    cached = await Generator.create(loadGPT2(DIR), { cache: true, threads: 1 });
    plain = await Generator.create(loadGPT2(DIR), { cache: false, threads: 1 });
  });
  afterAll(async () => { await cached.release(); await plain.release(); });

  it('greedy with the cache equals greedy without it, token for token', async () => {
    for (const prompt of [[5], [5, 17, 99, 3], [100, 2, 2, 2, 2, 64, 8]]) {
      const a = await cached.generate(prompt, { maxNewTokens: 20, eosTokenId: null });
      const b = await plain.generate(prompt, { maxNewTokens: 20, eosTokenId: null });
      expect(a.tokens[0]).toHaveLength(20);
      expect(a.tokens).toEqual(b.tokens);
      expect(a.tokensPerS).toBeGreaterThan(0);
    }
  });

  it('stops at n_positions, at EOS and at stop strings; streams every token', async () => {
    const long = await cached.generate([1, 2], { maxNewTokens: 100, eosTokenId: null });
    expect(long.tokens[0]).toHaveLength(32 - 2); // n_positions = 32
    const ref = (await cached.generate([1, 2], { maxNewTokens: 10, eosTokenId: null })).tokens[0];
    const eos = ref[3];
    const firstEos = ref.indexOf(eos);
    const r = await cached.generate([1, 2], { maxNewTokens: 10, eosTokenId: eos });
    expect(r.tokens[0]).toEqual(ref.slice(0, firstEos + 1));
    expect(r.finish).toEqual(['eos']);

    const text = letters.decode(ref);
    const stop = text.slice(4, 6);
    const streamed: string[] = [];
    const s = await cached.generate([1, 2], { maxNewTokens: 10, eosTokenId: null, stopStrings: [stop], onToken: (e) => streamed.push(e.text) }, letters);
    const cut = text.indexOf(stop) + stop.length;
    expect(s.outputs[0]).toBe(text.slice(0, cut));
    expect(s.finish).toEqual(['stop_string']);
    expect(streamed.join('')).toBe(s.outputs[0]);
    expect(streamed).toHaveLength(s.tokens[0].length);
  });

  it('sampling is seeded: same seed same text, several sequences at once', async () => {
    const o = { maxNewTokens: 12, doSample: true, temperature: 0.9, topK: 20, topP: 0.95, numReturnSequences: 3, eosTokenId: null, seed: 7 };
    const a = await cached.generate([3, 4, 5], o);
    const b = await cached.generate([3, 4, 5], o);
    const c = await cached.generate([3, 4, 5], { ...o, seed: 8 });
    expect(a.tokens).toHaveLength(3);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
    // The cache holds for sampling too: the same draws without it give the same tokens.
    expect((await plain.generate([3, 4, 5], o)).tokens).toEqual(a.tokens);
    await expect(cached.generate([3], { numReturnSequences: 2 })).rejects.toThrow(/sampling/);
  });
});

describe('logits processors', () => {
  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const s = Float64Array.from([2, -2, 1, 4]);
    applyRepetitionPenalty(s, [0, 1, 0], 2);
    expect([...s]).toEqual([1, -4, 1, 4]);
  });

  it('top-k, top-p and temperature shape the distribution as HF warpers do', () => {
    const s = Float64Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    const k2 = filteredDistribution(s, { temperature: 1, topK: 2, topP: 1 });
    expect(k2.ids).toEqual([0, 1]);
    expect(k2.probs[0]).toBeCloseTo(0.5 / 0.8, 12);
    const p = filteredDistribution(s, { temperature: 1, topK: 0, topP: 0.75 });
    expect(p.ids).toEqual([0, 1]); // 0.5 + 0.3 reaches 0.75
    const p2 = filteredDistribution(s, { temperature: 1, topK: 0, topP: 0.81 });
    expect(p2.ids).toEqual([0, 1, 2]);
    const cold = filteredDistribution(s, { temperature: 0.5, topK: 0, topP: 1 });
    expect(cold.probs[0]).toBeCloseTo(0.25 / (0.25 + 0.09 + 0.0225 + 0.0025), 12);
  });

  it('greedy takes the argmax; sampling follows the probabilities', () => {
    const logits = Float32Array.from([0, 3, 1]);
    const rng = new Rng(1);
    expect(chooseToken(logits, [], { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, doSample: false }, rng)).toBe(1);
    expect(chooseToken(logits, [1], { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 10, doSample: false }, rng)).toBe(2);
    const counts = [0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[chooseToken(logits, [], { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, doSample: true }, rng)]++;
    const z = 1 + Math.exp(3) + Math.exp(1);
    expect(counts[1] / 4000).toBeCloseTo(Math.exp(3) / z, 1);
  });
});
