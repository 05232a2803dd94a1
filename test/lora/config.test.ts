import { describe, it, expect } from 'vitest';
import { FormatError } from '../../engine/store/errors.ts';
import {
  adapterConfigJson, defaultLoraConfig, effectiveRank, loraScaling, matchPatternKey, parseAdapterConfig, validateLoraConfig,
} from '../../engine/lora/config.ts';

// What PEFT 0.13 writes for LoraConfig(r=8, lora_alpha=32, target_modules=["c_attn"], lora_dropout=0.05,
// bias="none", task_type="CAUSAL_LM") on GPT-2.
const PEFT_JSON = {
  alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'gpt2', bias: 'none', fan_in_fan_out: true,
  inference_mode: true, init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null,
  loftq_config: {}, lora_alpha: 32, lora_dropout: 0.05, megatron_config: null, megatron_core: 'megatron.core',
  modules_to_save: null, peft_type: 'LORA', r: 8, rank_pattern: {}, revision: null, target_modules: ['c_attn'],
  task_type: 'CAUSAL_LM', use_dora: false, use_rslora: false,
};

const parseError = (json: unknown): string => {
  try {
    parseAdapterConfig(json, 'adapter_config.json');
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return (err as Error).message;
  }
  throw new Error('expected a FormatError');
};

describe('LoRA config', () => {
  it("has PEFT's defaults", () => {
    const cfg = defaultLoraConfig();
    expect(cfg).toMatchObject({ r: 8, loraAlpha: 8, loraDropout: 0, bias: 'none', useRslora: false, initLoraWeights: true, modulesToSave: null, fanInFanOut: false });
    expect(defaultLoraConfig({ r: 16 }).r).toBe(16);
    expect(() => validateLoraConfig(cfg)).not.toThrow();
  });

  it('scales by alpha/r, or alpha/sqrt(r) with rsLoRA', () => {
    expect(loraScaling(defaultLoraConfig({ r: 8, loraAlpha: 32 }))).toBe(4);
    expect(loraScaling(defaultLoraConfig({ r: 16, loraAlpha: 32, useRslora: true }))).toBe(8);
    expect(loraScaling(defaultLoraConfig({ r: 2, loraAlpha: 1, useRslora: true }))).toBeCloseTo(1 / Math.SQRT2, 15);
  });

  it('honours rank_pattern and alpha_pattern as PEFT matches them', () => {
    const cfg = defaultLoraConfig({
      r: 8, loraAlpha: 16,
      rankPattern: { 'h.0.attn.c_attn': 4, 'h\\.\\d+\\.mlp\\.c_fc': 2 },
      alphaPattern: { c_proj: 4, 'h.0.attn.c_attn': 2 },
    });
    expect(effectiveRank(cfg, 'transformer.h.0.attn.c_attn')).toBe(4);
    expect(effectiveRank(cfg, 'transformer.h.10.attn.c_attn')).toBe(8); // "h.0" must not match "h.10"
    expect(effectiveRank(cfg, 'transformer.h.3.mlp.c_fc')).toBe(2);
    expect(loraScaling(cfg, 'transformer.h.0.attn.c_attn')).toBe(2 / 4);
    expect(loraScaling(cfg, 'transformer.h.1.attn.c_proj')).toBe(4 / 8);
    expect(loraScaling(cfg, 'transformer.h.1.mlp.c_proj')).toBe(4 / 8);
    expect(loraScaling(cfg, 'transformer.h.1.attn.c_attn')).toBe(16 / 8);
    expect(loraScaling(cfg)).toBe(2);
    expect(loraScaling({ ...cfg, useRslora: true }, 'transformer.h.3.mlp.c_fc')).toBe(16 / Math.sqrt(2));
  });

  it('matches pattern keys as dotted suffixes or exact names, first key wins', () => {
    expect(matchPatternKey(['c_attn'], 'transformer.h.0.attn.c_attn')).toBe('c_attn');
    expect(matchPatternKey(['attn'], 'transformer.h.0.attn.c_attn')).toBeUndefined(); // a suffix of whole segments only
    expect(matchPatternKey(['lm_head'], 'lm_head')).toBe('lm_head'); // no dot before it: exact match
    expect(matchPatternKey(['c_attn', 'attn.c_attn'], 'h.0.attn.c_attn')).toBe('c_attn');
    expect(matchPatternKey(['c_fc|c_attn'], 'h.0.attn.c_attn')).toBeUndefined(); // Python: .*\.c_fc|c_attn$ anchored by re.match
    expect(matchPatternKey(['(c_fc|c_attn)'], 'h.0.attn.c_attn')).toBe('(c_fc|c_attn)');
    expect(matchPatternKey(['[bad'], 'h.0.attn.c_attn')).toBeUndefined();
  });

  it('parses what PEFT writes, ignoring keys it does not know', () => {
    const cfg = parseAdapterConfig(PEFT_JSON, 'adapter_config.json');
    expect(cfg).toEqual({
      r: 8, loraAlpha: 32, loraDropout: 0.05, bias: 'none', targetModules: ['c_attn'], useRslora: false,
      initLoraWeights: true, modulesToSave: null, rankPattern: {}, alphaPattern: {}, fanInFanOut: true,
      taskType: 'CAUSAL_LM', baseModelNameOrPath: 'gpt2',
    });
    expect(loraScaling(cfg)).toBe(4);
    const minimal = parseAdapterConfig({ peft_type: 'LORA', target_modules: 'all-linear', task_type: null, init_lora_weights: 'gaussian' }, 'x');
    expect(minimal).toMatchObject({ r: 8, loraAlpha: 8, targetModules: 'all-linear', taskType: '', initLoraWeights: 'gaussian' });
    expect(parseAdapterConfig({ peft_type: 'LORA', target_modules: null }, 'x').targetModules).toEqual([]);
  });

  it('round-trips through adapterConfigJson, which sorts keys like PEFT', () => {
    const cfg = defaultLoraConfig({
      r: 4, loraAlpha: 16, loraDropout: 0.1, targetModules: ['c_attn', 'c_proj'], modulesToSave: ['score'],
      rankPattern: { 'h.0.attn.c_attn': 2 }, alphaPattern: { c_proj: 8 }, useRslora: true, taskType: 'SEQ_CLS',
      baseModelNameOrPath: 'gpt2',
    });
    const json = adapterConfigJson(cfg);
    expect(Object.keys(json)).toEqual(Object.keys(json).sort());
    expect(json).toMatchObject({ peft_type: 'LORA', inference_mode: true, r: 4, lora_alpha: 16, target_modules: ['c_attn', 'c_proj'], use_rslora: true, task_type: 'SEQ_CLS' });
    expect(parseAdapterConfig(JSON.parse(JSON.stringify(json)), 'x')).toEqual(cfg);
    expect(adapterConfigJson(defaultLoraConfig({ targetModules: '.*c_attn' })).target_modules).toBe('.*c_attn');
    const defaults = adapterConfigJson(defaultLoraConfig());
    expect(defaults.target_modules).toBeNull(); // PEFT's None: the model's default targets
    expect(defaults.task_type).toBeNull();
    expect(parseAdapterConfig(defaults, 'x')).toEqual(defaultLoraConfig());
  });

  it('reports bad configs with the file and the problem', () => {
    const base = { ...PEFT_JSON };
    expect(parseError([1])).toBe('adapter_config.json: adapter config must be a JSON object, got array');
    expect(parseError({ ...base, peft_type: undefined })).toMatch(/peft_type is missing/);
    expect(parseError({ ...base, peft_type: 'PREFIX_TUNING' })).toMatch(/peft_type is "PREFIX_TUNING"; only LORA/);
    expect(parseError({ ...base, r: 0 })).toBe('adapter_config.json: r must be a positive integer, got 0');
    expect(parseError({ ...base, r: 2.5 })).toMatch(/r must be a positive integer, got 2.5/);
    expect(parseError({ ...base, r: '8' })).toMatch(/"r" must be a number, got string/);
    expect(parseError({ ...base, lora_alpha: 'big' })).toMatch(/"lora_alpha" must be a number, got string/);
    expect(parseError({ ...base, lora_dropout: 1 })).toMatch(/lora_dropout must be in \[0, 1\), got 1/);
    expect(parseError({ ...base, lora_dropout: -0.1 })).toMatch(/lora_dropout must be in/);
    expect(parseError({ ...base, bias: 'some' })).toMatch(/bias must be one of none, all, lora_only, got "some"/);
    expect(parseError({ ...base, target_modules: 5 })).toMatch(/"target_modules" must be a list of strings, got number/);
    expect(parseError({ ...base, target_modules: '[unclosed' })).toMatch(/target_modules "\[unclosed" is not a valid regular expression/);
    expect(parseError({ ...base, use_rslora: 'yes' })).toMatch(/"use_rslora" must be true or false, got string/);
    expect(parseError({ ...base, init_lora_weights: 'pissa' })).toMatch(/init_lora_weights "pissa" is not supported/);
    expect(parseError({ ...base, modules_to_save: 'score' })).toMatch(/"modules_to_save" must be a list of strings/);
    expect(parseError({ ...base, rank_pattern: { c_attn: 0 } })).toMatch(/rank_pattern "c_attn" must be a positive integer, got 0/);
    expect(parseError({ ...base, rank_pattern: [] })).toMatch(/"rank_pattern" must be an object of numbers, got array/);
    expect(parseError({ ...base, alpha_pattern: { c_attn: 'x' } })).toMatch(/"alpha_pattern" value for "c_attn" must be a number, got string/);
    expect(parseError({ ...base, alpha_pattern: { '(': 2 } })).toMatch(/alpha_pattern key "\(" is not a valid regular expression/);
    expect(parseError({ ...base, use_dora: true })).toMatch(/DoRA adapters/);
  });

  it('validateLoraConfig throws clear errors for impossible values', () => {
    expect(() => validateLoraConfig(defaultLoraConfig({ r: 0 }))).toThrow('invalid LoRA config: r must be a positive integer, got 0');
    expect(() => validateLoraConfig(defaultLoraConfig({ loraDropout: 1 }))).toThrow(/lora_dropout must be in \[0, 1\)/);
    expect(() => validateLoraConfig(defaultLoraConfig({ loraAlpha: NaN }))).toThrow(/lora_alpha must be a finite number/);
    expect(() => validateLoraConfig(defaultLoraConfig({ targetModules: ['c_attn', ''] }))).toThrow(/target_modules/);
    expect(() => validateLoraConfig(defaultLoraConfig({ rankPattern: { c_attn: 1.5 } }))).toThrow(/rank_pattern "c_attn"/);
    expect(() => validateLoraConfig(defaultLoraConfig({ bias: 'x' as 'none' }))).toThrow(/bias must be one of/);
  });
});
