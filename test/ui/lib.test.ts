// @vitest-environment node
// The renderer's pure helpers: module tree and PEFT targets, memory estimate, formatting.
import { describe, expect, test } from 'vitest';
import { estimateParams, plannedSteps } from '../../renderer/src/lib/estimate.ts';
import { bytes, duration, int, num } from '../../renderer/src/lib/format.ts';
import { kinds, moduleTree, selectedBy, suffixOfKind, targetsFor } from '../../renderer/src/lib/targets.ts';

const mods = [0, 1].flatMap((b) =>
  ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((k) => ({ name: `transformer.h.${b}.${k}`, inFeatures: 8, outFeatures: 8 })),
);

describe('targets', () => {
  test('the module tree groups by block', () => {
    const t = moduleTree(mods);
    expect(t.map((g) => g.label)).toEqual(['block 0', 'block 1']);
    expect(t[0].modules).toHaveLength(4);
  });

  test('kinds and their PEFT suffixes (c_proj is ambiguous)', () => {
    const k = kinds(mods);
    expect(k).toEqual(['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']);
    expect(k.map((x) => suffixOfKind(x, k))).toEqual(['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj']);
  });

  test('a selection becomes the shortest target list, and back', () => {
    const all = new Set(mods.map((m) => m.name));
    expect(targetsFor(mods, all)).toEqual(['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj']);
    const some = new Set(['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn', 'transformer.h.1.mlp.c_fc']);
    const t = targetsFor(mods, some);
    expect(t).toEqual(['c_attn', 'transformer.h.1.mlp.c_fc']);
    expect(selectedBy(mods, t)).toEqual(some);
    expect(selectedBy(mods, ['c_proj']).size).toBe(4); // PEFT's suffix rule: both c_proj kinds
    expect(targetsFor(mods, new Set())).toEqual([]);
  });
});

describe('estimate', () => {
  test('runs.estimate params follow the form; a field that is not a valid number holds the call back', () => {
    const c = { method: 'lora' as const, batchSize: 4, maxLength: 128, gradAccum: 1, baseDtype: 'int4' as const, gradientCheckpointing: true, lora: { r: 8, targets: ['c_attn'] } };
    expect(estimateParams('/m', c)).toEqual({ model: '/m', method: 'lora', batchSize: 4, maxLength: 128, gradientCheckpointing: true, baseDtype: 'int4', lora: { r: 8, targets: ['c_attn'] } });
    // Full fine-tuning stores the base in float32 and has no LoRA: neither is sent.
    expect(estimateParams('/m', { ...c, method: 'full' })).toEqual({ model: '/m', method: 'full', batchSize: 4, maxLength: 128, gradientCheckpointing: true });
    expect(estimateParams('/m', { ...c, task: 'seq-cls' })).toMatchObject({ task: 'seq-cls', method: 'lora' });
    expect(estimateParams('/m', { ...c, batchSize: 0 })).toBeNull();
    expect(estimateParams('/m', { ...c, maxLength: null as unknown as number })).toBeNull();
    expect(estimateParams('/m', { ...c, lora: { r: 2.5, targets: [] } })).toBeNull();
  });

  test('planned steps: the step count, else epochs over packed blocks (text) or rows (classifier)', () => {
    const preview = { examples: 100, tokens: { total: 12_800 } } as Parameters<typeof plannedSteps>[1];
    const c = { epochs: 2, maxSteps: 0, batchSize: 4, gradAccum: 2, maxLength: 128, valRatio: 0 };
    expect(plannedSteps({ ...c, maxSteps: 30 }, null)).toBe(30);
    expect(plannedSteps(c, preview)).toBe(Math.ceil((Math.ceil(100 / 4) * 2) / 2)); // 12800 / 128 = 100 blocks
    expect(plannedSteps({ ...c, task: 'seq-cls', valRatio: 0.2 }, preview)).toBe(Math.ceil((Math.ceil(80 / 4) * 2) / 2));
    expect(plannedSteps(c, null)).toBeNull();
  });
});

describe('format', () => {
  test('numbers, bytes, durations', () => {
    expect(int(294912)).toBe('294,912');
    expect(int(null)).toBe('—');
    expect(num(0.000123)).toBe('1.23e-4');
    expect(num(10.8234)).toBe('10.82');
    expect(num(NaN)).toBe('NaN');
    expect(bytes(1536)).toBe('1.5 KB');
    expect(bytes(512)).toBe('512 B');
    expect(duration(0.25)).toBe('250 ms');
    expect(duration(75)).toBe('1m 15s');
    expect(duration(7300)).toBe('2h 1m');
  });
});
