// The KV-cache forward (symbolic past length) gives the logits of the full forward.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { causalAttentionBias } from '../../engine/models/attention.ts';
import { gpt2Forward, gpt2ForwardCached, loadGPT2 } from '../../engine/models/gpt2.ts';
import { Graph, type Value } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { FIXTURES } from '../helpers/tiny-model.ts';

describe('GPT-2 with a KV cache', () => {
  it('prefix + one token at a time equals the full forward at every step', async () => {
    const model = loadGPT2(path.join(FIXTURES, 'gpt2-tiny-f32'));
    const c = model.config;
    const H = c.nHead, hd = c.nEmbd / c.nHead;
    const ids = [5, 17, 99, 3, 42, 7, 120, 64];
    const frozen = (g: Graph) => {
      const cache = new Map<string, Value>();
      return (n: string) => cache.get(n) ?? (cache.set(n, g.initializer(n, 'float32', model.weights.get(n)!.shape, model.weights.get(n)!.data)), cache.get(n)!);
    };

    // Full forward over all 8 tokens.
    const gf = new Graph();
    const T = ids.length;
    gf.output(gpt2Forward(gf, c, frozen(gf), { ids: gf.input('ids', 'int64', [1, T]), attnBias: gf.input('bias', 'float32', [1, 1, T, T]) }), 'logits');
    const full = await Session.create(gf.toModel());
    const ref = (await full.run({
      ids: { dtype: 'int64', shape: [1, T], data: BigInt64Array.from(ids.map(BigInt)) },
      bias: { dtype: 'float32', shape: [1, 1, T, T], data: causalAttentionBias(new Array(T).fill(1), 1, T) },
    })).logits.data as Float32Array;

    // Cached: symbolic new-token count 'T' and past length 'P'.
    const g = new Graph();
    const past = Array.from({ length: c.nLayer }, (_, i) => ({
      k: g.input(`past_k_${i}`, 'float32', [1, H, 'P', hd]), v: g.input(`past_v_${i}`, 'float32', [1, H, 'P', hd]),
    }));
    const out = gpt2ForwardCached(g, c, frozen(g), {
      ids: g.input('ids', 'int64', [1, 'T']), positionIds: g.input('pos', 'int64', [1, 'T']),
      attnBias: g.input('bias', 'float32', [1, 1, 'T', 'S']), past, lastOnly: true,
    });
    g.output(out.logits, 'logits');
    out.present.forEach((p, i) => { g.output(p.k, `present_k_${i}`); g.output(p.v, `present_v_${i}`); });
    const s = await Session.create(g.toModel());

    let kv: { k: Float32Array; v: Float32Array }[] = Array.from({ length: c.nLayer }, () => ({ k: new Float32Array(0), v: new Float32Array(0) }));
    let P = 0;
    const V = c.vocabSize;
    for (const [from, to] of [[0, 5], [5, 6], [6, 7], [7, 8]]) {
      const n = to - from, S = P + n;
      const bias = new Float32Array(n * S);
      for (let t = 0; t < n; t++) for (let j = 0; j < S; j++) bias[t * S + j] = j <= P + t ? 0 : -1e9;
      const feeds: Parameters<Session['run']>[0] = {
        ids: { dtype: 'int64', shape: [1, n], data: BigInt64Array.from(ids.slice(from, to).map(BigInt)) },
        pos: { dtype: 'int64', shape: [1, n], data: BigInt64Array.from(Array.from({ length: n }, (_, t) => BigInt(P + t))) },
        bias: { dtype: 'float32', shape: [1, 1, n, S], data: bias },
      };
      kv.forEach((p, i) => {
        feeds[`past_k_${i}`] = { dtype: 'float32', shape: [1, H, P, hd], data: p.k };
        feeds[`past_v_${i}`] = { dtype: 'float32', shape: [1, H, P, hd], data: p.v };
      });
      const r = await s.run(feeds);
      const logits = r.logits.data as Float32Array;
      expect(logits.length).toBe(V);
      const want = ref.subarray((to - 1) * V, to * V);
      expect(Math.max(...logits.map((x, j) => Math.abs(x - want[j])))).toBeLessThan(1e-4);
      kv = kv.map((_, i) => ({ k: r[`present_k_${i}`].data as Float32Array, v: r[`present_v_${i}`].data as Float32Array }));
      P = S;
    }
  });
});
