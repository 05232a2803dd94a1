// @vitest-environment node
// The renderer's pure helpers: module tree and PEFT targets, memory estimate, formatting.
import { describe, expect, test } from 'vitest';
import { estimateMemory } from '../../renderer/src/lib/estimate.ts';
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
  test('GPT-2 small, LoRA r=8: weights dominate; full fine-tuning adds 3× the weights', () => {
    const config = { n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257, n_positions: 1024 };
    const lora = estimateMemory({ allParams: 124_734_720, trainableParams: 294_912, method: 'lora', batchSize: 4, maxLength: 128, config });
    const full = estimateMemory({ allParams: 124_439_808, trainableParams: 124_439_808, method: 'full', batchSize: 4, maxLength: 128, config });
    expect(lora.weights).toBe(124_734_720 * 4);
    expect(lora.optimizer).toBe(294_912 * 12);
    expect(full.optimizer).toBe(124_439_808 * 12);
    expect(full.total).toBeGreaterThan(lora.total);
    expect(lora.activations).toBeGreaterThan(0);
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
