import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { causalAttentionBias } from '../../engine/models/attention.ts';
import { gpt2Forward, loadGPT2 } from '../../engine/models/gpt2.ts';
import { Graph } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { SHARED, hasSharedData } from '../helpers/tiny-model.ts';
import { shiftLabels, tokenNll, weightedLoss } from '../../engine/train/loss.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures');

async function runModel(dir: string, masked: boolean) {
  const ref = openSafetensors(path.join(FIX, 'gpt2-tiny-reference.safetensors'));
  const ids = ref.readInt64('input_ids');
  const mask = masked ? Array.from(ref.readInt64('attention_mask'), Number) : new Array(32).fill(1);
  const labels = masked ? Array.from(ref.readInt64('labels'), Number) : Array.from(ids, Number);
  const model = loadGPT2(path.join(FIX, dir));
  const [B, T] = [2, 16];
  const g = new Graph();
  const idsV = g.input('ids', 'int64', [B, T]);
  const bias = g.input('bias', 'float32', [B, 1, T, T]);
  const tgt = g.input('targets', 'int64', [B, T]);
  const w = g.input('weights', 'float32', [B, T]);
  const param = (name: string) => {
    const t = model.weights.get(name)!;
    return g.initializers.get(name)?.value ?? g.initializer(name, 'float32', t.shape, t.data);
  };
  const logits = gpt2Forward(g, model.config, param, { ids: idsV, attnBias: bias });
  g.output(logits, 'logits');
  g.output(weightedLoss(g, tokenNll(g, logits, tgt), w), 'loss');
  const s = await Session.create(g.toModel());
  const sh = shiftLabels(labels, B, T);
  const out = await s.run({
    ids: { dtype: 'int64', shape: [B, T], data: ids },
    bias: { dtype: 'float32', shape: [B, 1, T, T], data: causalAttentionBias(mask, B, T) },
    targets: { dtype: 'int64', shape: [B, T], data: sh.targets },
    weights: { dtype: 'float32', shape: [B, T], data: sh.predicted.map((p) => p / sh.count) },
  });
  return { out, ref, mask };
}

function maxDiffAt(a: Float32Array, b: Float32Array, mask: number[], V: number): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (mask[Math.floor(i / V)]) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('GPT-2 forward against PyTorch (HF GPT2LMHeadModel semantics)', () => {
  for (const [dir, key] of [['gpt2-tiny-f32', 'f32'], ['gpt2-tiny-f16', 'f16'], ['gpt2-tiny-bf16', 'bf16']]) {
    it(`${dir}: logits and loss with a padding mask`, async () => {
      const { out, ref, mask } = await runModel(dir, true);
      expect(maxDiffAt(out.logits.data as Float32Array, ref.readFloat32(`logits_${key}`), mask, 128)).toBeLessThan(1e-4);
      expect(out.loss.data[0]).toBeCloseTo(ref.readFloat32(`loss_${key}`)[0], 5);
    });
  }

  it('no mask: every position', async () => {
    const { out, ref, mask } = await runModel('gpt2-tiny-f32', false);
    expect(maxDiffAt(out.logits.data as Float32Array, ref.readFloat32('logits_nomask_f32'), mask, 128)).toBeLessThan(1e-4);
    expect(out.loss.data[0]).toBeCloseTo(ref.readFloat32('loss_nomask_f32')[0], 5);
  });

  (hasSharedData ? it : it.skip)('a third-party checkpoint (fake_gpt2) against its independent numpy reference', async () => {
    const dir = path.join(SHARED, 'tiny-gpt2', 'fake_gpt2');
    const ref = JSON.parse(readFileSync(path.join(dir, 'reference_outputs.numpy.json'), 'utf8'));
    const model = loadGPT2(dir);
    const T = ref.input_ids.length;
    const g = new Graph();
    const ids = g.input('ids', 'int64', [1, T]);
    const bias = g.input('bias', 'float32', [1, 1, T, T]);
    const param = (name: string) => g.initializers.get(name)?.value ?? g.initializer(name, 'float32', model.weights.get(name)!.shape, model.weights.get(name)!.data);
    g.output(gpt2Forward(g, model.config, param, { ids, attnBias: bias }), 'logits');
    const s = await Session.create(g.toModel());
    const out = await s.run({
      ids: { dtype: 'int64', shape: [1, T], data: BigInt64Array.from(ref.input_ids.map(BigInt)) },
      bias: { dtype: 'float32', shape: [1, 1, T, T], data: causalAttentionBias(new Array(T).fill(1), 1, T) },
    });
    const logits = out.logits.data as Float32Array;
    const last = logits.subarray((T - 1) * 50257, T * 50257);
    ref.last_token_logits_first10.forEach((v: number, i: number) => expect(last[i]).toBeCloseTo(v, 5));
    expect(last.indexOf(Math.max(...last))).toBe(ref.last_token_logits_argmax);
  });

  it('keeps h.N.attn.c_attn.bias while dropping the h.N.attn.bias mask buffers', () => {
    const m = loadGPT2(path.join(FIX, 'gpt2-tiny-f16'));
    expect(m.weights.has('transformer.h.0.attn.c_attn.bias')).toBe(true);
    expect([...m.weights.keys()].some((k) => /\.attn\.(bias|masked_bias)$/.test(k))).toBe(false);
    expect(m.storedDtype).toBe('F16');
  });
});
