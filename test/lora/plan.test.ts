import { describe, expect, it } from 'vitest';
import { defaultLoraConfig } from '../../engine/lora/config.ts';
import { fullPlan, loraPlan, trainableLine } from '../../engine/lora/peft-model.ts';
import { matchesTarget, parseTargets } from '../../engine/lora/targets.ts';
import { gpt2Family } from '../../engine/models/gpt2.ts';

// GPT-2 small's config.json (the fields that matter); no weights needed to count.
const gpt2Small = gpt2Family.parse({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 }, 'config.json');

describe('trainable parameters, as PEFT prints them', () => {
  it('GPT-2 small, r=8 on c_attn (the default target)', () => {
    const p = loraPlan(gpt2Small, defaultLoraConfig({ r: 8, loraAlpha: 32 }));
    expect(trainableLine(p.trainableParams, p.allParams)).toBe('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    expect(p.layers).toHaveLength(12);
  });

  it('full fine-tuning trains every base weight (tied head counted once)', () => {
    const p = fullPlan(gpt2Small);
    expect(trainableLine(p.trainableParams, p.allParams)).toBe('trainable params: 124,439,808 || all params: 124,439,808 || trainable%: 100.0000');
  });

  it('bias = all / lora_only adds the right biases; all-linear takes the 4 linears per block', () => {
    const all = loraPlan(gpt2Small, defaultLoraConfig({ r: 8, bias: 'all' }));
    // per block: ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj biases; then ln_f's
    const biases = 12 * (768 + 2304 + 768 + 768 + 3072 + 768) + 768;
    expect(all.trainableParams).toBe(294_912 + biases);
    const only = loraPlan(gpt2Small, defaultLoraConfig({ r: 8, bias: 'lora_only' }));
    expect(only.trainableParams).toBe(294_912 + 12 * 3 * 768);
    const lin = loraPlan(gpt2Small, defaultLoraConfig({ r: 4, targetModules: 'all-linear' }));
    expect(lin.layers).toHaveLength(48);
    expect(lin.trainableParams).toBe(12 * 4 * ((768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768)));
  });

  it('rank_pattern overrides the rank of matching modules', () => {
    const p = loraPlan(gpt2Small, defaultLoraConfig({ r: 8, rankPattern: { 'h.0.attn.c_attn': 2 } }));
    expect(p.layers[0].r).toBe(2);
    expect(p.layers[1].r).toBe(8);
  });
});

describe('target matching (PEFT rules)', () => {
  it('suffix lists, full-match regexes and all-linear', () => {
    expect(matchesTarget('transformer.h.0.mlp.c_proj', ['c_proj'])).toBe(true);
    expect(matchesTarget('transformer.h.0.attn.c_attn', ['attn'])).toBe(false);
    expect(matchesTarget('transformer.h.0.attn.c_attn', '.*h\\.0\\..*c_attn')).toBe(true);
    expect(matchesTarget('transformer.h.10.attn.c_attn', '.*h\\.1\\..*c_attn')).toBe(false);
    expect(parseTargets('c_attn, c_proj')).toEqual(['c_attn', 'c_proj']);
    expect(parseTargets('all-linear')).toBe('all-linear');
    expect(parseTargets('.*attn.*')).toBe('.*attn.*');
  });

  it('a target that matches nothing is a clear error listing what exists', () => {
    expect(() => loraPlan(gpt2Small, defaultLoraConfig({ targetModules: ['q_proj'] }))).toThrow(/match no layer.*attn\.c_attn/);
  });
});
