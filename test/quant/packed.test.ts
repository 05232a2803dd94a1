// Low-precision frozen bases (engine/quant): the formats against their definitions, the packed
// products against float32 graphs on the dequantized weights (forward and gradients), gradient
// checkpointing against the plain step, and the refusals.
import { describe, expect, it } from 'vitest';
import { randomModel } from '../../bench/random-model.ts';
import { defaultLoraConfig } from '../../engine/lora/config.ts';
import { type Plan, fullPlan, loraPlan } from '../../engine/lora/peft-model.ts';
import type { LoadedModel, Weights } from '../../engine/models/types.ts';
import { Graph } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import {
  type BaseDtype, dequantizeInt4, dequantizeInt8, fromBfloat16, fromFloat16, int8Range, quantizeInt4, quantizeInt8, toBfloat16, toFloat16,
} from '../../engine/quant/formats.ts';
import { makeBatch } from '../../engine/train/batch.ts';
import { runMicroBatch } from '../../engine/train/step.ts';
import { baseStorage, buildStepGraph } from '../../engine/train/step-graph.ts';
import { asTaskBatch, lmLoss } from '../../engine/train/tasks/causal-lm.ts';
import { Rng } from '../../engine/util/rng.ts';

const rand = (n: number, seed: number, scale = 1) => { const r = new Rng(seed); return Float32Array.from({ length: n }, () => r.normal() * scale); };
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let e = 0, n = 0;
  for (let i = 0; i < a.length; i++) { e += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return Math.sqrt(e / n);
};

describe('formats', () => {
  it('f16 and bf16 round to nearest even, with IEEE special values', () => {
    const x = Float32Array.from([1, -2, 1 / 3, 65504, 70000, 2 ** -24, 2 ** -26, 0.1, Infinity, -0]);
    expect(Array.from(toFloat16(x))).toEqual([0x3c00, 0xc000, 0x3555, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x2e66, 0x7c00, 0x8000]);
    expect(Array.from(fromFloat16(Uint16Array.from([0x3555, 0x0001, 0x7bff])))).toEqual([Math.fround(0.333251953125), 2 ** -24, 65504]);
    // bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa wins (1); 1 + 3·2^-8 rounds up.
    const b = toBfloat16(Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8, -3.5, 1e38]));
    expect(Array.from(fromBfloat16(b))).toEqual([1, 1 + 2 ** -6, -3.5, Math.fround(fromBfloat16(b)[3])]);
    expect(Math.abs(fromBfloat16(b)[3] - 1e38) / 1e38).toBeLessThan(2 ** -8);
  });

  it('int8 per channel and int4 per block stay within half a step of the weights', () => {
    const [K, N] = [64, 24];
    const w = rand(K * N, 1); // [N, K] (linear)
    const q8 = quantizeInt8(w, K, N, true);
    const d8 = dequantizeInt8(q8); // [K, N]
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      expect(Math.abs(d8[k * N + n] - w[n * K + k])).toBeLessThanOrEqual(q8.scales[n] / 2 + 1e-7);
      expect(Math.abs(q8.q[k * N + n])).toBeLessThanOrEqual(int8Range());
    }
    const q4 = quantizeInt4(w, K, N, true);
    const d4 = dequantizeInt4(q4); // [N, K]
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      expect(Math.abs(d4[n * K + k] - w[n * K + k])).toBeLessThanOrEqual(q4.scales[n * 2 + (k >> 5)] / 2 + 1e-7);
    }
    expect(() => quantizeInt4(w, 48, 32, true)).toThrow(/multiple of the block/);
  });

  it("ONNX Runtime's MatMulNBits and DynamicQuantizeMatMul read our layouts", async () => {
    const [M, K, N] = [5, 64, 24];
    const w = rand(K * N, 2, 0.05), x = rand(M * K, 3);
    const q4 = quantizeInt4(w, K, N, true), q8 = quantizeInt8(w, K, N, true);
    const g = new Graph();
    const a = g.input('x', 'float32', [M, K]);
    g.output(g.node('MatMulNBits', [a, g.initializer('b', 'uint8', [N, 2, 16], q4.q), g.initializer('s', 'float32', [N * 2], q4.scales)],
      [{ dtype: 'float32', shape: [M, N] }], { K, N, bits: 4, block_size: 32 }, 'com.microsoft')[0], 'y4');
    g.output(g.node('DynamicQuantizeMatMul', [a, g.initializer('q', 'int8', [K, N], q8.q), g.initializer('s8', 'float32', [N], q8.scales)],
      [{ dtype: 'float32', shape: [M, N] }], {}, 'com.microsoft')[0], 'y8');
    const s = await Session.create(g.toModel());
    const out = await s.run({ x: { dtype: 'float32', shape: [M, K], data: x } });
    const d4 = dequantizeInt4(q4), d8 = dequantizeInt8(q8);
    const ref4 = new Float32Array(M * N), ref8 = new Float32Array(M * N);
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      ref4[m * N + n] += x[m * K + k] * d4[n * K + k];
      ref8[m * N + n] += x[m * K + k] * d8[k * N + n];
    }
    expect(relErr(out.y4.data as Float32Array, ref4)).toBeLessThan(1e-5);
    // DynamicQuantizeMatMul also quantizes the activations (uint8 per tensor).
    expect(relErr(out.y8.data as Float32Array, ref8)).toBeLessThan(2e-2);
    await s.release();
  });
});

const GPT2 = { model_type: 'gpt2', vocab_size: 256, n_positions: 64, n_embd: 64, n_layer: 2, n_head: 4 };
const LLAMA = { model_type: 'llama', vocab_size: 256, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, tie_word_embeddings: true };
const [B, T] = [2, 16];

/** The weights as a float32 run of `dtype` sees them: each product weight dequantized in place. */
function dequantized(m: LoadedModel, dtype: BaseDtype): Weights {
  const layouts = baseStorage(m.spec, dtype, { model: 'tiny' }).layouts;
  const out: Weights = new Map();
  for (const [name, t] of m.weights) {
    const layout = layouts.get(name);
    let data = t.data;
    if (layout && dtype !== 'f32') {
      const lin = layout === 'linear';
      const [K, N] = lin ? [t.shape[1], t.shape[0]] : [t.shape[0], t.shape[1]];
      const tr = (a: Float32Array, r: number, c: number) => { const o = new Float32Array(r * c); for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = a[i * c + j]; return o; };
      if (dtype === 'f16') data = fromFloat16(toFloat16(t.data));
      else if (dtype === 'bf16') data = fromBfloat16(toBfloat16(t.data));
      else if (dtype === 'int4') { const d = dequantizeInt4(quantizeInt4(t.data, K, N, lin)); data = lin ? d : tr(d, N, K); }
      else { const d = dequantizeInt8(quantizeInt8(t.data, K, N, lin)); data = lin ? tr(d, K, N) : d; }
    }
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

function plan(m: LoadedModel, full = false): Plan {
  const p = full ? fullPlan(m.spec) : loraPlan(m.spec, defaultLoraConfig({ r: 4, loraAlpha: 8, targetModules: m.spec.family.name === 'gpt2' ? ['c_attn', 'c_proj'] : ['q_proj', 'v_proj', 'o_proj'] }));
  const rng = new Rng(0);
  for (const l of p.layers) { l.init(rng, 'kaiming'); for (let i = 0; i < l.B.length; i++) l.B[i] = (rng.next() - 0.5) * 0.2; }
  return p;
}

async function step(m: LoadedModel, weights: Weights, o: { dtype?: BaseDtype; full?: boolean; checkpointing?: boolean } = {}) {
  const sg = await buildStepGraph(weights, plan(m, o.full), m.spec.family.isNoDecay, lmLoss(m.spec, B, T), {
    base: baseStorage(m.spec, o.dtype ?? 'f32', { model: 'tiny', method: o.full ? 'full' : 'lora' }), checkpointing: o.checkpointing, releaseFrozen: true,
  });
  const r = new Rng(7);
  const rows = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(r.next() * 256)));
  const out = await runMicroBatch(sg, asTaskBatch(makeBatch(rows, B, T)));
  const res = { loss: out.loss, grads: out.grads.map((g) => g.slice()) };
  await sg.session.release();
  return res;
}

describe.each([['gpt2 (Conv1D, tied head)', GPT2], ['llama (nn.Linear, tied head)', LLAMA]])('packed base: %s', (_n, cfg) => {
  it.each(['f16', 'bf16', 'int4', 'int8'] as const)('%s: loss and LoRA gradients equal float32 on the dequantized weights', async (dtype) => {
    const m = randomModel(cfg, { seed: 3, std: 0.2 });
    const ref = await step(m, dequantized(m, dtype));
    const got = await step(m, new Map(m.weights), { dtype });
    // int8 also quantizes activations (8-bit, per tensor), so it is close, not exact; how close
    // depends on MLAS's kernel for the CPU: on AVX-512 VNNI the loss is 0.34% off and the LoRA
    // gradients up to 15.6% (relative L2); on AVX2-only CPUs under 0.2% and 15%.
    const exact = dtype !== 'int8';
    expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(exact ? 1e-5 : 5e-3);
    got.grads.forEach((g, i) => expect(relErr(g, ref.grads[i])).toBeLessThan(exact ? 1e-4 : 0.2)); // int8: 0.156 at worst on VNNI
    // ...and they differ from the float32 model's step (the base really is stored in low precision).
    const f32 = await step(m, new Map(m.weights));
    expect(relErr(got.grads[0], f32.grads[0])).toBeGreaterThan(1e-7);
  });

  it.each([false, true])('gradient checkpointing gives the same step (full fine-tuning: %s)', async (full) => {
    const m = randomModel(cfg, { seed: 4, std: 0.2 });
    const ref = await step(m, new Map(m.weights), { full });
    const got = await step(m, new Map(m.weights), { full, checkpointing: true });
    expect(got.loss).toBeCloseTo(ref.loss, 6);
    got.grads.forEach((g, i) => expect(relErr(g, ref.grads[i])).toBeLessThan(1e-5));
  });
});

describe('work where nothing is learned', () => {
  it('a LoRA step computes no frozen-weight gradients and no gradient below the first adapted layer', async () => {
    const m = randomModel(GPT2, { seed: 5 });
    const p = plan(m);
    const seen: Graph[] = [];
    const loss = lmLoss(m.spec, B, T);
    await buildStepGraph(m.weights, p, m.spec.family.isNoDecay, (g, ...rest) => { seen.push(g); return loss(g, ...rest); });
    const g = seen[0];
    const frozenShapes = new Set(m.spec.linearModules.map((l) => `${l.inFeatures},${l.outFeatures}`));
    for (const n of g.nodes) {
      // The embedding gradient is a ScatterND; a weight gradient is a product of a weight's shape.
      expect(n.op).not.toBe('ScatterND');
      if (/MatMul/.test(n.op)) expect(frozenShapes.has(n.outputs[0].shape.join(','))).toBe(false);
    }
  });
});

describe('refusals', () => {
  it('names the model and the layer when int4 cannot block a layer', async () => {
    const m = randomModel({ ...GPT2, n_embd: 48, n_head: 4 });
    await expect(step(m, m.weights, { dtype: 'int4' })).rejects.toThrow(/model tiny, layer transformer\.wte: int4 needs the inner size \(48\) to be a multiple of the block \(32\)/);
  });

  it('refuses dtypes the device cannot run, full fine-tuning on a packed base, and quantized checkpoints', () => {
    const m = randomModel(LLAMA);
    expect(() => baseStorage(m.spec, 'int8', { model: 'tiny', device: 'webgpu' })).toThrow(/int8 cannot run on device webgpu: .*no DynamicQuantizeMatMul kernel/);
    expect(() => baseStorage(m.spec, 'int4', { model: 'tiny', method: 'full' })).toThrow(/needs a LoRA run/);
    expect(() => baseStorage(m.spec, 'fp8' as never, { model: 'tiny' })).toThrow(/base dtype must be one of f32, bf16, f16, int8, int4/);
    for (const [qc, name] of [[{ quant_method: 'gptq', bits: 4 }, 'gptq'], [{ quant_method: 'awq' }, 'awq'], [{ load_in_4bit: true }, 'bitsandbytes']] as const) {
      const spec = { ...m.spec, raw: { ...m.spec.raw, quantization_config: qc } };
      expect(() => baseStorage(spec, 'int8', { model: 'org/quantized' })).toThrow(new RegExp(`model org/quantized is already quantized \\(config.json quantization_config: ${name}\\)`));
    }
  });
});
