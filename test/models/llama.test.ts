// The Llama family (llama, mistral, qwen2) against a float64 PyTorch reference written by hand
// from transformers' modeling code (test/fixtures/make_llama_fixtures.py): logits, loss, shifted
// positions, perplexity with an adapter on all seven projections, three AdamW steps of LoRA and of
// full fine-tuning, and KV-cache greedy decoding equal to recomputing the whole sequence.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator } from '../../engine/generate/generator.ts';
import { mergeAdapter } from '../../engine/lora/apply.ts';
import { fullPlan, loraPlan } from '../../engine/lora/peft-model.ts';
import { causalAttentionBias } from '../../engine/models/attention.ts';
import { loadLlama, ropeInvFreq } from '../../engine/models/llama.ts';
import { frozenParams } from '../../engine/models/params.ts';
import { lmLogits, loadModel } from '../../engine/models/registry.ts';
import type { LoadedModel } from '../../engine/models/types.ts';
import { Graph } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { loadAdapter } from '../../engine/store/adapter.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { fromArrays } from '../../engine/train/batch.ts';
import { windowsNll } from '../../engine/train/eval.ts';
import { AdamW, clipScale, globalNorm } from '../../engine/train/optimizer.ts';
import { runMicroBatch } from '../../engine/train/step.ts';
import { buildStepGraph } from '../../engine/train/step-graph.ts';
import { asTaskBatch, lmLoss } from '../../engine/train/tasks/causal-lm.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures');
const ref = openSafetensors(path.join(FIX, 'llama-reference.safetensors'));
const ids = ref.readInt64('input_ids');
const mask = Array.from(ref.readInt64('attention_mask'), Number);
const labels = Array.from(ref.readInt64('labels'), Number);
const [B, T, V] = [2, 16, 96];

async function logitsOf(model: LoadedModel, rows: number, positions?: BigInt64Array): Promise<Float32Array> {
  const g = new Graph();
  const idsV = g.input('ids', 'int64', [rows, T]);
  const bias = g.input('bias', 'float32', [rows, 1, T, T]);
  const pos = positions ? g.input('pos', 'int64', [rows, T]) : undefined;
  const { logits } = lmLogits(g, model.spec, frozenParams(g, model.weights), { ids: idsV, attnBias: bias, positionIds: pos });
  g.output(logits, 'logits');
  const s = await Session.create(g.toModel());
  const out = await s.run({
    ids: { dtype: 'int64', shape: [rows, T], data: ids.subarray(0, rows * T) },
    bias: { dtype: 'float32', shape: [rows, 1, T, T], data: causalAttentionBias(mask.slice(0, rows * T), rows, T) },
    ...(positions ? { pos: { dtype: 'int64' as const, shape: [rows, T], data: positions } } : {}),
  });
  await s.release();
  return out.logits.data as Float32Array;
}

function maxDiffValid(a: Float32Array, b: Float32Array, m: number[]): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (m[Math.floor(i / V)]) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** HF's causal-LM loss: logits[:, :-1] against labels[:, 1:], mean over the labelled tokens. */
function meanShiftedNll(logits: Float32Array): number {
  let sum = 0, n = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const y = labels[b * T + t + 1];
      if (y === -100) continue;
      const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
      let mx = -Infinity;
      for (const x of row) mx = Math.max(mx, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - mx);
      sum += mx + Math.log(z) - row[y];
      n++;
    }
  }
  return sum / n;
}

const maxAbs = (a: Float32Array, b: Float32Array, skip?: (i: number) => boolean) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (!skip?.(i)) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const MODELS = [
  ['llama-tiny-f32', 'llama', 'F32'], // sharded, GQA 4/2, head_dim 12, llama3 rope, untied, inv_freq buffers
  ['llama-bias-f32', 'llama', 'F32'], // attention_bias + mlp_bias, tied, linear rope
  ['llama-qwen2-bf16', 'qwen2', 'BF16'], // q/k/v biases, GQA 4/1, tied
  ['llama-mistral-f16', 'mistral', 'F16'], // MHA, untied
] as const;

describe('Llama family forward against PyTorch (float64 reference)', () => {
  for (const [dir, family, dtype] of MODELS) {
    it(`${dir}: ${family}, ${dtype}: logits to 1e-4 where attended, and the loss`, async () => {
      const model = loadModel(path.join(FIX, dir));
      expect(model.spec.family.name).toBe(family);
      expect(model.storedDtype).toBe(dir === 'llama-tiny-f32' ? 'F32' : dtype);
      const logits = await logitsOf(model, B);
      expect(maxDiffValid(logits, ref.readFloat32(`logits.${dir}`), mask)).toBeLessThan(1e-4);
      expect(Math.abs(meanShiftedNll(logits) - ref.readFloat32(`loss.${dir}`)[0])).toBeLessThan(1e-5);
    });

    it(`${dir}: positions starting at 5 (position_ids, as after a KV cache) to 1e-4`, async () => {
      const model = loadModel(path.join(FIX, dir));
      const pos = BigInt64Array.from({ length: T }, (_, i) => BigInt(i + 5));
      const logits = await logitsOf(model, 1, pos);
      expect(maxDiffValid(logits, ref.readFloat32(`logits_pos5.${dir}`), mask)).toBeLessThan(1e-4);
    });
  }

  it('the config: GQA cache geometry, head_dim, rope scaling, untied head, PEFT targets and no-decay rule', () => {
    const m = loadLlama(path.join(FIX, 'llama-tiny-f32'));
    expect(m.spec.cache).toEqual({ layers: 2, heads: 2, headDim: 12 });
    expect(m.spec.lmHead).toBe('lm_head.weight');
    expect(m.config.ropeScaling.type).toBe('llama3');
    expect(m.spec.family.defaultTargets).toEqual(['q_proj', 'v_proj']);
    expect(m.spec.family.isNoDecay('model.layers.0.input_layernorm.weight')).toBe(true);
    expect(m.spec.family.isNoDecay('model.norm.weight')).toBe(true);
    expect(m.spec.family.isNoDecay('model.layers.0.self_attn.q_proj.bias')).toBe(true);
    expect(m.spec.family.isNoDecay('model.layers.0.self_attn.q_proj.weight')).toBe(false);
    expect(m.spec.linearModules).toHaveLength(14);
    expect(m.spec.linearModules.every((l) => l.layout === 'linear' && l.bias === null)).toBe(true);
    const q = loadLlama(path.join(FIX, 'llama-qwen2-bf16'));
    expect(q.spec.lmHead).toBe('model.embed_tokens.weight');
    expect(q.spec.linearModules.filter((l) => l.bias).map((l) => l.name.split('.').at(-1))).toEqual(['q_proj', 'k_proj', 'v_proj', 'q_proj', 'k_proj', 'v_proj']);
    // llama3 rescaling: the high frequencies unchanged, the lowest divided by the factor
    const base = ropeInvFreq({ ...m.config, ropeScaling: { ...m.config.ropeScaling, type: 'default' } });
    const scaled = ropeInvFreq(m.config);
    // (original_max_position_embeddings 16: the highest frequency, wavelength 2π, is smoothed)
    const smooth = (16 / ((2 * Math.PI) / base[0]) - 1) / (4 - 1);
    expect(scaled[0]).toBeCloseTo((1 - smooth) * (base[0] / 8) + smooth * base[0], 12);
    expect(scaled[5]).toBeCloseTo(base[5] / 8, 12);
  });

  it('perplexity without and with an adapter on all seven projections, to 1e-4 relative', async () => {
    const rows = [0, 1].map((b) => Array.from(ids.subarray(b * T, (b + 1) * T), Number).filter((_, j) => mask[b * T + j]));
    for (const [tag, adapter] of [['base', null], ['adapter', 'llama-lora-all']] as const) {
      const model = loadModel(path.join(FIX, 'llama-tiny-f32'));
      if (adapter) expect(mergeAdapter(model, path.join(FIX, adapter)).plan.layers).toHaveLength(14);
      const { sum, count } = await windowsNll(model, rows);
      expect(count).toBe(25);
      const ppl = Math.exp(sum / count), want = Math.exp(ref.readFloat32(`ppl_nll.${tag}`)[0]);
      expect(Math.abs(ppl - want) / want).toBeLessThan(1e-4);
    }
  });
});

describe('Llama training steps against PyTorch (AdamW, clipping, 3 steps)', () => {
  async function threeSteps(plan: Parameters<typeof buildStepGraph>[1], model: LoadedModel, lr: number) {
    const sg = await buildStepGraph(model.weights, plan, model.spec.family.isNoDecay, lmLoss(model.spec, B, T));
    const opt = new AdamW(sg.trainables, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    const batch = asTaskBatch(fromArrays(ids, mask, labels, B, T));
    const losses: number[] = [], norms: number[] = [];
    let firstGrads: Float32Array[] = [];
    for (let s = 0; s < 3; s++) {
      const { loss, grads } = await runMicroBatch(sg, batch);
      if (s === 0) firstGrads = grads.map((g) => g.slice());
      const norm = globalNorm(grads);
      losses.push(loss); norms.push(norm);
      opt.update(grads, lr, clipScale(norm, 1.0));
    }
    await sg.session.release();
    return { sg, losses, norms, firstGrads };
  }

  it('LoRA r=4 on all seven projections: losses, grad norms, gradients and A/B after 3 steps to 1e-5', async () => {
    const model = loadModel(path.join(FIX, 'llama-tiny-f32'));
    const adapter = loadAdapter(path.join(FIX, 'llama-lora-all'));
    const plan = loraPlan(model.spec, adapter.config);
    expect(plan.layers).toHaveLength(14);
    for (const l of plan.layers) {
      l.A.set(adapter.tensors.get(l.aName)!.data);
      l.B.set(adapter.tensors.get(l.bName)!.data);
    }
    const { sg, losses, norms, firstGrads } = await threeSteps(plan, model, 1e-2);
    for (let s = 0; s < 3; s++) {
      expect(Math.abs(losses[s] - ref.readFloat32(`lora.loss_step${s + 1}`)[0])).toBeLessThan(1e-5);
      expect(Math.abs(norms[s] - ref.readFloat32(`lora.grad_norm_step${s + 1}`)[0])).toBeLessThan(1e-4);
    }
    expect(sg.trainables).toHaveLength(28);
    sg.trainables.forEach((t, i) => {
      const peft = `base_model.model.${t.name}`;
      expect(peft).toMatch(/^base_model\.model\.model\.layers\.\d\.(self_attn|mlp)\.\w+_proj\.lora_[AB]\.weight$/);
      const g1 = ref.readFloat32(`lora.grad.${peft}`);
      expect(maxAbs(firstGrads[i], g1)).toBeLessThan(1e-5);
      expect(maxAbs(t.data, ref.readFloat32(`lora.after3.${peft}`), (j) => Math.abs(g1[j]) < 1e-5)).toBeLessThan(1e-5);
    });
  });

  it('full fine-tuning: every weight after 3 steps to 1e-5 (no decay on norms)', async () => {
    const model = loadModel(path.join(FIX, 'llama-tiny-f32'));
    const { sg, losses, norms, firstGrads } = await threeSteps(fullPlan(model.spec), model, 1e-3);
    for (let s = 0; s < 3; s++) {
      expect(Math.abs(losses[s] - ref.readFloat32(`full.loss_step${s + 1}`)[0])).toBeLessThan(1e-5);
      expect(Math.abs(norms[s] - ref.readFloat32(`full.grad_norm_step${s + 1}`)[0])).toBeLessThan(1e-4);
    }
    expect(sg.trainables).toHaveLength(2 + 2 * 9 + 1);
    sg.trainables.forEach((t, i) => {
      const g1 = ref.readFloat32(`full.grad.${t.name}`);
      expect(maxAbs(firstGrads[i], g1)).toBeLessThan(1e-5);
      // Adam divides by √v: where the gradient is ~0 (unused embedding rows) noise sets the sign.
      expect(maxAbs(t.data, ref.readFloat32(`full.after3.${t.name}`), (j) => Math.abs(g1[j]) < 1e-5)).toBeLessThan(1e-5);
    });
  });
});

describe('Llama generation', () => {
  for (const dir of ['llama-tiny-f32', 'llama-qwen2-bf16']) {
    it(`${dir}: greedy with the GQA KV cache equals greedy recomputing everything`, async () => {
      const prompt = Array.from(ids.subarray(0, 6), Number);
      const out: number[][] = [];
      for (const cache of [true, false]) {
        const gen = await Generator.create(loadModel(path.join(FIX, dir)), { cache });
        out.push((await gen.generate(prompt, { doSample: false, maxNewTokens: 30, eosTokenId: null })).tokens[0]);
        await gen.release();
      }
      expect(out[0]).toHaveLength(30);
      expect(out[0]).toEqual(out[1]);
    });
  }
});
