// Importing PEFT adapters onto a base model (engine/lora/apply.ts): legacy fan_in_fan_out values,
// unknown config keys, `.default` segments, and adapters that do not fit rejected with the first
// mismatching tensor and both shapes.
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { mergeAdapter, readAdapterInto } from '../../engine/lora/apply.ts';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { FormatError } from '../../engine/store/errors.ts';
import { writeSafetensors, type TensorToWrite } from '../../engine/store/safetensors.ts';
import { FIXTURES, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const tmp = tempDir('ls-import-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const BASE = path.join(FIXTURES, 'gpt2-tiny-f32'); // PyTorch-made: n_embd 32, 2 layers, Conv1D weights (in, out)
const narrow = makeTinyGPT2(path.join(tmp, 'narrow'), { tokenizer: false }); // n_embd 16

const ramp = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k) * 0.1);

/** A PEFT config as a given PEFT version writes it; `extra` adds or overrides keys. */
const peftConfig = (extra: Record<string, unknown> = {}) => ({
  alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'gpt2-tiny-f32', bias: 'none', fan_in_fan_out: true,
  inference_mode: true, init_lora_weights: true, layers_pattern: null, layers_to_transform: null, lora_alpha: 8, lora_dropout: 0,
  modules_to_save: null, peft_type: 'LORA', r: 2, rank_pattern: {}, revision: null, target_modules: ['c_attn'], task_type: 'CAUSAL_LM',
  use_rslora: false, ...extra,
});

/** Non-zero LoRA weights for c_attn of both layers (A [r, 32], B [96, r]), optionally with `.default`. */
function tensors(opts: { dotDefault?: boolean; r?: number } = {}): TensorToWrite[] {
  const r = opts.r ?? 2;
  const seg = opts.dotDefault ? '.default' : '';
  return [0, 1].flatMap((l) => [
    { name: `base_model.model.transformer.h.${l}.attn.c_attn.lora_A${seg}.weight`, dtype: 'F32' as const, shape: [r, 32], data: ramp(r * 32, l) },
    { name: `base_model.model.transformer.h.${l}.attn.c_attn.lora_B${seg}.weight`, dtype: 'F32' as const, shape: [96, r], data: ramp(96 * r, l + 10) },
  ]);
}

function adapterDir(name: string, config: unknown, list: TensorToWrite[]): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), list, { format: 'pt' });
  return dir;
}

const merged = (dir: string, base = BASE) => {
  const m = loadGPT2(base);
  mergeAdapter(m, dir);
  return m.weights;
};

function errorOf(fn: () => unknown): FormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

describe('PEFT adapter import', () => {
  it('the PyTorch-made fixture adapter loads onto the PyTorch-made base model', () => {
    const applied = readAdapterInto(loadGPT2(BASE), path.join(FIXTURES, 'lora-init'));
    expect(applied.plan.layers.map((l) => l.module.name)).toEqual([
      // target_modules ['c_attn', 'c_proj'] match by suffix, so mlp.c_proj too (as in PEFT).
      'transformer.h.0.attn.c_attn', 'transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_proj',
      'transformer.h.1.attn.c_attn', 'transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_proj',
    ]);
  });

  it('legacy fan_in_fan_out values do not matter: the orientation comes from the base layer (Conv1D, stored (in, out))', () => {
    const modern = adapterDir('fifo-true', peftConfig({ fan_in_fan_out: true }), tensors());
    const legacy = adapterDir('fifo-false', peftConfig({ fan_in_fan_out: false }), tensors());
    const unset = adapterDir('fifo-unset', (({ fan_in_fan_out: _f, ...rest }) => rest)(peftConfig()), tensors());
    const a = merged(modern);
    const b = merged(legacy);
    const c = merged(unset);
    // The merge as PEFT does it for Conv1D: W[in, out] += (B @ A)^T * alpha / r.
    const base = loadGPT2(BASE).weights;
    const W0 = base.get('transformer.h.1.attn.c_attn.weight')!;
    expect(W0.shape).toEqual([32, 96]);
    const A = ramp(2 * 32, 1);
    const B = ramp(96 * 2, 11);
    const expected = Float32Array.from(W0.data);
    for (let i = 0; i < 32; i++) for (let o = 0; o < 96; o++) expected[i * 96 + o]! += (B[o * 2]! * A[i]! + B[o * 2 + 1]! * A[32 + i]!) * (8 / 2);
    for (const w of [a, b, c]) {
      const got = w.get('transformer.h.1.attn.c_attn.weight')!.data;
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
      expect(worst).toBeLessThan(1e-6);
    }
    // Layers the adapter does not touch are unchanged.
    expect(a.get('transformer.h.0.mlp.c_fc.weight')!.data).toEqual(base.get('transformer.h.0.mlp.c_fc.weight')!.data);
  });

  it('unknown and newer config keys are ignored', () => {
    const future = adapterDir('future-keys', peftConfig({
      layer_replication: null, use_dora: false, lora_bias: false, megatron_config: null, megatron_core: 'megatron.core', loftq_config: {},
      runtime_config: { ephemeral_gpu_offload: false }, eva_config: null, corda_config: null, trainable_token_indices: null,
      some_future_option: { nested: [1, 2, { deep: true }] }, another_flag: 'yes',
    }), tensors());
    const plain = adapterDir('plain-keys', peftConfig(), tensors());
    expect(merged(future).get('transformer.h.0.attn.c_attn.weight')!.data).toEqual(merged(plain).get('transformer.h.0.attn.c_attn.weight')!.data);
  });

  it('.default adapter-name segments load as the plain names', () => {
    const withDefault = adapterDir('dot-default', peftConfig(), tensors({ dotDefault: true }));
    const plain = adapterDir('no-default', peftConfig(), tensors());
    expect(merged(withDefault).get('transformer.h.1.attn.c_attn.weight')!.data).toEqual(merged(plain).get('transformer.h.1.attn.c_attn.weight')!.data);
  });

  it('an adapter for another model is rejected naming the first mismatching tensor and both shapes', () => {
    // The fixture adapter was trained on n_embd 32; this base has n_embd 16.
    const e = errorOf(() => readAdapterInto(loadGPT2(narrow), path.join(FIXTURES, 'lora-init')));
    expect(e.message).toContain('tensor transformer.h.0.attn.c_attn.lora_A.weight has shape [4, 32] but the base model needs [4, 16]');
    expect(e.file).toBe(path.join(FIXTURES, 'lora-init', 'adapter_model.safetensors'));

    // Only the second layer's B is off: that one is named.
    const list = tensors();
    list[3] = { ...list[3]!, shape: [48, 2], data: new Float32Array(96) };
    const wrongB = adapterDir('wrong-b', peftConfig(), list);
    expect(errorOf(() => readAdapterInto(loadGPT2(BASE), wrongB)).message)
      .toContain('tensor transformer.h.1.attn.c_attn.lora_B.weight has shape [48, 2] but the base model needs [96, 2]');

    // A trained bias (bias = all) of the wrong size.
    const withBias = adapterDir('wrong-bias', peftConfig({ bias: 'all' }), [
      ...tensors(), { name: 'base_model.model.transformer.h.0.ln_1.bias', dtype: 'F32', shape: [16], data: new Float32Array(16) },
    ]);
    expect(errorOf(() => readAdapterInto(loadGPT2(BASE), withBias)).message).toContain('tensor transformer.h.0.ln_1.bias has shape [16] but the base model needs [32]');
  });

  it('adapters for layers the model lacks, or missing tensors, are rejected by name', () => {
    const extraLayer = adapterDir('extra-layer', peftConfig({ target_modules: ['c_attn'] }), [
      ...tensors(),
      { name: 'base_model.model.transformer.h.5.attn.c_attn.lora_A.weight', dtype: 'F32', shape: [2, 32], data: new Float32Array(64) },
      { name: 'base_model.model.transformer.h.5.attn.c_attn.lora_B.weight', dtype: 'F32', shape: [96, 2], data: new Float32Array(192) },
    ]);
    expect(errorOf(() => readAdapterInto(loadGPT2(BASE), extraLayer)).message).toMatch(/tensor transformer\.h\.5\.attn\.c_attn\.lora_A\.weight adapts a layer this model does not have/);
    const missing = adapterDir('missing', peftConfig({ target_modules: ['c_attn', 'c_proj'] }), tensors());
    expect(errorOf(() => readAdapterInto(loadGPT2(BASE), missing)).message).toMatch(/missing tensor transformer\.h\.0\.attn\.c_proj\.lora_A\.weight/);
  });
});
