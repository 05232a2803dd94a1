import { describe, it, expect, afterAll, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError } from '../../engine/store/errors.ts';
import { loadAdapter, normalizeAdapterTensorName, peftTensorName, readAdapterHeader, saveAdapter, type AdapterTensor } from '../../engine/store/adapter.ts';
import { openSafetensors, writeSafetensors, float32ToF16, type TensorToWrite } from '../../engine/store/safetensors.ts';
import { defaultLoraConfig, loraScaling } from '../../engine/lora/config.ts';
import { adapterCommand } from '../../cli/commands/adapter.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const freshDir = () => fs.mkdtempSync(path.join(tmp, 'a-'));

const ramp = (n: number, k = 1) => new Float32Array(n).map((_, i) => (i % 97) * 0.01 * k);

/** A PEFT-style adapter config as PEFT writes it (with keys we do not model). */
const peftConfig = (extra: Record<string, unknown> = {}) => ({
  alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'gpt2', bias: 'none', fan_in_fan_out: true,
  inference_mode: true, init_lora_weights: true, layers_pattern: null, layers_to_transform: null, loftq_config: {},
  lora_alpha: 16, lora_dropout: 0.1, megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null,
  peft_type: 'LORA', r: 2, rank_pattern: {}, revision: null, target_modules: ['c_attn'], task_type: 'CAUSAL_LM',
  use_dora: false, use_rslora: false, ...extra,
});

function writeFolder(dir: string, config: unknown, tensors: TensorToWrite[]): void {
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
}

function loadError(dir: string): string {
  try {
    loadAdapter(dir);
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return (err as Error).message;
  }
  throw new Error('expected a FormatError');
}

describe('PEFT adapter folders', () => {
  it('names tensors as PEFT does and normalizes PEFT names', () => {
    expect(peftTensorName('transformer.h.0.attn.c_attn', 'lora_A')).toBe('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight');
    expect(normalizeAdapterTensorName('base_model.model.transformer.h.0.attn.c_attn.lora_B.default.weight')).toBe('transformer.h.0.attn.c_attn.lora_B.weight');
    expect(normalizeAdapterTensorName('base_model.model.score.modules_to_save.default.weight')).toBe('score.weight');
    expect(normalizeAdapterTensorName('base_model.model.score.weight')).toBe('score.weight');
    expect(normalizeAdapterTensorName('base_model.model.transformer.wte.lora_embedding_A.default')).toBe('transformer.wte.lora_embedding_A');
    expect(normalizeAdapterTensorName('transformer.h.0.attn.default_proj.lora_A.weight')).toBe('transformer.h.0.attn.default_proj.lora_A.weight');
  });

  it('save -> load round trip', () => {
    const dir = path.join(freshDir(), 'nested', 'adapter');
    const cfg = defaultLoraConfig({ r: 4, loraAlpha: 32, loraDropout: 0.05, targetModules: ['c_attn'], taskType: 'CAUSAL_LM', baseModelNameOrPath: 'gpt2', fanInFanOut: true });
    const tensors = new Map<string, AdapterTensor>();
    for (let layer = 0; layer < 2; layer++) {
      const mod = `transformer.h.${layer}.attn.c_attn`;
      tensors.set(peftTensorName(mod, 'lora_A'), { shape: [4, 16], data: ramp(64, layer + 1) });
      tensors.set(peftTensorName(mod, 'lora_B'), { shape: [48, 4], data: ramp(192, -(layer + 1)) });
    }
    saveAdapter(dir, cfg, tensors);
    expect(fs.readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

    const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
    expect(json).toMatchObject({ peft_type: 'LORA', inference_mode: true, r: 4, lora_alpha: 32, target_modules: ['c_attn'], task_type: 'CAUSAL_LM' });
    const st = openSafetensors(path.join(dir, 'adapter_model.safetensors'));
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    expect(st.tensors.has('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight')).toBe(true);
    st.close();

    const loaded = loadAdapter(dir);
    expect(loaded.config).toEqual(cfg);
    expect(loaded.file).toBe(path.join(dir, 'adapter_model.safetensors'));
    expect([...loaded.tensors.keys()].sort()).toEqual([
      'transformer.h.0.attn.c_attn.lora_A.weight', 'transformer.h.0.attn.c_attn.lora_B.weight',
      'transformer.h.1.attn.c_attn.lora_A.weight', 'transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    const b1 = loaded.tensors.get('transformer.h.1.attn.c_attn.lora_B.weight')!;
    expect(b1.shape).toEqual([48, 4]);
    expect(b1.data).toEqual(ramp(192, -2));
    expect(loraScaling(loaded.config)).toBe(8);
  });

  it('refuses to save an impossible config or mismatched data', () => {
    const dir = freshDir();
    expect(() => saveAdapter(dir, defaultLoraConfig({ r: 0 }), new Map())).toThrow(/r must be a positive integer/);
    const bad = new Map([['x.lora_A.weight', { shape: [2, 3], data: new Float32Array(5) }]]);
    expect(() => saveAdapter(dir, defaultLoraConfig(), bad)).toThrow(/needs 24/);
  });

  it('loads a PEFT-written folder: .default segments, modules_to_save, F16 weights, extra config keys', () => {
    const dir = freshDir();
    const A = ramp(2 * 8);
    const B = ramp(24 * 2, -1);
    writeFolder(dir, peftConfig({ modules_to_save: ['score', 'classifier'], rank_pattern: { 'h.1.attn.c_attn': 1 }, task_type: 'SEQ_CLS' }), [
      { name: 'base_model.model.transformer.h.0.attn.c_attn.lora_A.default.weight', dtype: 'F32', shape: [2, 8], data: A },
      { name: 'base_model.model.transformer.h.0.attn.c_attn.lora_B.default.weight', dtype: 'F32', shape: [24, 2], data: B },
      { name: 'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight', dtype: 'F16', shape: [1, 8], data: float32ToF16(new Float32Array(8).fill(0.5)) },
      { name: 'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight', dtype: 'F32', shape: [24, 1], data: new Float32Array(24) },
      { name: 'base_model.model.score.modules_to_save.default.weight', dtype: 'F32', shape: [2, 8], data: ramp(16) },
      { name: 'base_model.model.classifier.bias', dtype: 'F32', shape: [2], data: new Float32Array([0.25, -0.25]) },
    ]);
    const ad = loadAdapter(dir);
    expect(ad.config).toMatchObject({ r: 2, loraAlpha: 16, modulesToSave: ['score', 'classifier'], taskType: 'SEQ_CLS', fanInFanOut: true });
    expect([...ad.tensors.keys()].sort()).toEqual([
      'classifier.bias', 'score.weight',
      'transformer.h.0.attn.c_attn.lora_A.weight', 'transformer.h.0.attn.c_attn.lora_B.weight',
      'transformer.h.1.attn.c_attn.lora_A.weight', 'transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    expect(ad.tensors.get('transformer.h.0.attn.c_attn.lora_A.weight')!.data).toEqual(A);
    expect([...ad.tensors.get('transformer.h.1.attn.c_attn.lora_A.weight')!.data]).toEqual(new Array(8).fill(0.5));
    expect([...ad.tensors.get('classifier.bias')!.data]).toEqual([0.25, -0.25]);
  });

  const fixture = path.resolve(import.meta.dirname, '../fixtures/lora-init');
  it.skipIf(!fs.existsSync(fixture))('loads the PyTorch-made fixture adapter (test/fixtures/lora-init)', () => {
    const ad = loadAdapter(fixture);
    expect(ad.config.r).toBe(4);
    expect(ad.tensors.get('transformer.h.0.attn.c_attn.lora_A.weight')!.shape).toEqual([4, 32]);
  });

  it('reports missing folders and files clearly', () => {
    const missing = path.join(tmp, 'nope');
    expect(loadError(missing)).toBe(`${missing}: adapter folder not found`);
    const file = path.join(tmp, 'plain-file');
    fs.writeFileSync(file, 'x');
    expect(loadError(file)).toMatch(/is not a folder/);
    const empty = freshDir();
    expect(loadError(empty)).toBe(`${path.join(empty, 'adapter_config.json')}: adapter config not found`);
    fs.writeFileSync(path.join(empty, 'adapter_config.json'), JSON.stringify(peftConfig()));
    expect(loadError(empty)).toBe(`${path.join(empty, 'adapter_model.safetensors')}: adapter weights not found`);
    fs.writeFileSync(path.join(empty, 'adapter_model.bin'), 'PK\x03\x04');
    expect(loadError(empty)).toMatch(/adapter_model\.bin: PyTorch pickle weights are not supported.*convert them to adapter_model\.safetensors/);
  });

  it('reports bad configs and inconsistent weights', () => {
    const ok: TensorToWrite[] = [
      { name: 'base_model.model.h.0.attn.c_attn.lora_A.weight', dtype: 'F32', shape: [2, 4], data: new Float32Array(8) },
      { name: 'base_model.model.h.0.attn.c_attn.lora_B.weight', dtype: 'F32', shape: [12, 2], data: new Float32Array(24) },
    ];
    const cases: [unknown, TensorToWrite[], RegExp][] = [
      ['{"r": 8,', ok, /adapter_config\.json: adapter config is not valid JSON \(line 1, column 9/],
      ['', ok, /adapter config is empty/],
      [peftConfig({ peft_type: 'IA3' }), ok, /peft_type is "IA3"; only LORA/],
      [peftConfig({ r: -2 }), ok, /adapter_config\.json: r must be a positive integer, got -2/],
      [peftConfig({ r: 4 }), ok, /lora_A\.weight" has rank 2 but adapter_config\.json gives r=4 for h\.0\.attn\.c_attn/],
      [peftConfig(), ok.slice(0, 1), /lora_A\.weight" has no matching lora_B/],
      [peftConfig(), [...ok, { ...ok[0]!, name: 'base_model.model.h.0.attn.c_attn.lora_A.default.weight' }], /both mean "h\.0\.attn\.c_attn\.lora_A\.weight"/],
      [peftConfig(), [], /holds no tensors/],
      [peftConfig(), [{ ...ok[0]!, dtype: 'I32', data: new Int32Array(8) }, ok[1]!], /is I32, expected a floating-point tensor/],
    ];
    for (const [config, tensors, message] of cases) {
      const dir = freshDir();
      writeFolder(dir, config, tensors);
      expect(loadError(dir)).toMatch(message);
    }
    const corrupt = freshDir();
    writeFolder(corrupt, peftConfig(), ok);
    fs.truncateSync(path.join(corrupt, 'adapter_model.safetensors'), 100);
    expect(loadError(corrupt)).toMatch(/adapter_model\.safetensors: header length \d+ goes beyond the end of the file/);
  });

  it('reads the header only for inspection', () => {
    const dir = freshDir();
    writeFolder(dir, peftConfig(), [
      { name: 'base_model.model.h.0.attn.c_attn.lora_A.weight', dtype: 'F32', shape: [2, 4], data: new Float32Array(8) },
      { name: 'base_model.model.h.0.attn.c_attn.lora_B.weight', dtype: 'BF16', shape: [12, 2], data: new Uint16Array(24) },
    ]);
    const h = readAdapterHeader(dir);
    expect(h.tensors.map((t) => [t.name, t.normalized, t.dtype])).toEqual([
      ['base_model.model.h.0.attn.c_attn.lora_A.weight', 'h.0.attn.c_attn.lora_A.weight', 'F32'],
      ['base_model.model.h.0.attn.c_attn.lora_B.weight', 'h.0.attn.c_attn.lora_B.weight', 'BF16'],
    ]);
  });
});

describe('lora-studio adapter inspect', () => {
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    try {
      const code = await adapterCommand(argv);
      return { code, out, err };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  // GPT-2 small, r=8 on c_attn: PEFT prints "trainable params: 294,912".
  const gpt2 = freshDir();
  const tensors = new Map<string, AdapterTensor>();
  for (let l = 0; l < 12; l++) {
    tensors.set(peftTensorName(`transformer.h.${l}.attn.c_attn`, 'lora_A'), { shape: [8, 768], data: new Float32Array(8 * 768) });
    tensors.set(peftTensorName(`transformer.h.${l}.attn.c_attn`, 'lora_B'), { shape: [2304, 8], data: new Float32Array(2304 * 8) });
  }
  saveAdapter(gpt2, defaultLoraConfig({ r: 8, loraAlpha: 32, targetModules: ['c_attn'] }), tensors);

  it('prints a summary', async () => {
    const { code, out, err } = await run(['inspect', gpt2]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toMatch(/^peft_type +LORA$/m);
    expect(out).toMatch(/^r +8$/m);
    expect(out).toMatch(/^lora_alpha +32$/m);
    expect(out).toMatch(/^target_modules +c_attn$/m);
    expect(out).toMatch(/base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight +\[8, 768\] +F32/);
    expect(out).toMatch(/^trainable_params +294,912$/m);
  });

  it('prints JSON with --json', async () => {
    const { code, out } = await run(['inspect', gpt2, '--json']);
    expect(code).toBe(0);
    const j = JSON.parse(out);
    expect(j).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 32, target_modules: ['c_attn'], trainable_params: 294_912 });
    expect(j.tensors).toHaveLength(24);
    expect(j.tensors[0]).toEqual({ name: 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', shape: [8, 768], dtype: 'F32' });
  });

  it('fails with one line on stderr and exit code 1', async () => {
    for (const argv of [['inspect', path.join(tmp, 'missing')], ['inspect'], ['frobnicate', gpt2], ['inspect', gpt2, '--bogus'], []]) {
      const { code, out, err } = await run(argv);
      expect(code).toBe(1);
      expect(out).toBe('');
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err).toMatch(/^lora-studio adapter: /);
      expect(err).not.toMatch(/\n\s+at /);
    }
    expect((await run(['--help'])).code).toBe(0);
  });
});
