// A base model wrapped with LoRA layers: which tensors train, how many parameters that is, and
// PEFT's print_trainable_parameters() line.

import type { GPT2Config, LinearModule } from '../models/gpt2.ts';
import { gpt2LinearModules, gpt2ParamShapes } from '../models/gpt2.ts';
import { type LoraConfig, effectiveRank, loraScaling } from './config.ts';
import { LoraLayer } from './layer.ts';
import { selectTargets } from './targets.ts';

/** PEFT's default targets per architecture (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
export const DEFAULT_TARGETS: Record<string, string[]> = { gpt2: ['c_attn'], distilbert: ['q_lin', 'v_lin'] };

export interface Plan {
  layers: LoraLayer[];
  /** Base-model tensors that train too (biases with bias = all | lora_only; everything for full). */
  trainableBase: string[];
  trainableParams: number;
  allParams: number;
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function trainableLine(trainable: number, all: number): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  return `trainable params: ${fmt(trainable)} || all params: ${fmt(all)} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
}

export function loraPlan(config: GPT2Config, lc: LoraConfig): Plan {
  const shapes = gpt2ParamShapes(config);
  const targets = lc.targetModules.length === 0 ? DEFAULT_TARGETS.gpt2 : lc.targetModules;
  const mods: LinearModule[] = selectTargets(gpt2LinearModules(config), targets);
  const layers = mods.map((m) => new LoraLayer(m, effectiveRank(lc, m.name), loraScaling(lc, m.name), lc.loraDropout));
  const targetBiases = new Set(mods.map((m) => m.bias));
  const trainableBase = shapes
    .filter(([n]) => (lc.bias === 'all' && n.endsWith('.bias')) || (lc.bias === 'lora_only' && targetBiases.has(n)))
    .map(([n]) => n);
  const base = shapes.reduce((s, [, sh]) => s + count(sh), 0);
  const loraParams = layers.reduce((s, l) => s + l.numParams, 0);
  const shapeOf = new Map(shapes);
  const biasParams = trainableBase.reduce((s, n) => s + count(shapeOf.get(n)!), 0);
  return { layers, trainableBase, trainableParams: loraParams + biasParams, allParams: base + loraParams };
}

export function fullPlan(config: GPT2Config): Plan {
  const shapes = gpt2ParamShapes(config);
  const all = shapes.reduce((s, [, sh]) => s + count(sh), 0);
  return { layers: [], trainableBase: shapes.map(([n]) => n), trainableParams: all, allParams: all };
}
