// A base model wrapped with LoRA layers (PEFT's PeftModel): which tensors train, how many
// parameters that is, PEFT's print_trainable_parameters() line, the LoraConfig a run stands for,
// and the tensors its adapter file holds.

import type { Graph, Value } from '../onnx/graph.ts';
import type { LinearHook, LoadedModel, LinearModule, ModelSpec } from '../models/types.ts';
import { lmParamShapes, numel } from '../models/types.ts';
import type { LoraOptions } from '../train/types.ts';
import { type LoraConfig, defaultLoraConfig, effectiveRank, loraScaling } from './config.ts';
import { LoraLayer } from './layer.ts';
import { selectTargets } from './targets.ts';

/** What a plan is made over: a causal LM's parameters, or a classifier's with its heads. */
export interface PlanTarget {
  paramShapes: [string, number[]][];
  linearModules: LinearModule[];
  /** PEFT's default targets for the model type (used when the config names none). */
  defaultTargets: string[];
  /** Tensors that always train (classification heads: modules_to_save). */
  headTensors?: string[];
}

/** A causal LM as a plan target. */
export const lmTarget = (spec: ModelSpec): PlanTarget => ({
  paramShapes: lmParamShapes(spec), linearModules: spec.linearModules, defaultTargets: spec.family.defaultTargets,
});

export interface Plan {
  layers: LoraLayer[];
  /** Base-model tensors that train too (biases with bias = all | lora_only, heads; everything for full). */
  trainableBase: string[];
  trainableParams: number;
  allParams: number;
}

export function trainableLine(trainable: number, all: number): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  return `trainable params: ${fmt(trainable)} || all params: ${fmt(all)} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
}

const asTarget = (t: PlanTarget | ModelSpec): PlanTarget => ('family' in t ? lmTarget(t) : t);

export function loraPlan(target: PlanTarget | ModelSpec, lc: LoraConfig): Plan {
  const t = asTarget(target);
  const targets = lc.targetModules.length === 0 ? t.defaultTargets : lc.targetModules;
  const mods = selectTargets(t.linearModules, targets);
  const layers = mods.map((m) => new LoraLayer(m, effectiveRank(lc, m.name), loraScaling(lc, m.name), lc.loraDropout));
  const heads = new Set(t.headTensors ?? []);
  const targetBiases = new Set(mods.map((m) => m.bias));
  const biases = t.paramShapes
    .filter(([n]) => !heads.has(n) && ((lc.bias === 'all' && n.endsWith('.bias')) || (lc.bias === 'lora_only' && targetBiases.has(n))))
    .map(([n]) => n);
  const trainableBase = [...biases, ...heads];
  const shapeOf = new Map(t.paramShapes);
  const base = t.paramShapes.reduce((s, [, sh]) => s + numel(sh), 0);
  const loraParams = layers.reduce((s, l) => s + l.numParams, 0);
  const baseTrainable = trainableBase.reduce((s, n) => s + numel(shapeOf.get(n)!), 0);
  return { layers, trainableBase, trainableParams: loraParams + baseTrainable, allParams: base + loraParams };
}

export function fullPlan(target: PlanTarget | ModelSpec): Plan {
  const t = asTarget(target);
  const all = t.paramShapes.reduce((s, [, sh]) => s + numel(sh), 0);
  return { layers: [], trainableBase: t.paramShapes.map(([n]) => n), trainableParams: all, allParams: all };
}

/**
 * The PEFT config a run's LoRA options stand for. fan_in_fan_out follows from how the model
 * stores its linear layers (GPT-2's Conv1D: true); heads go to modules_to_save.
 */
export function toLoraConfig(lora: LoraOptions, spec: ModelSpec, o: { baseModel?: string | null; headModules?: string[] } = {}): LoraConfig {
  return defaultLoraConfig({
    r: lora.r,
    loraAlpha: lora.alpha,
    loraDropout: lora.dropout,
    bias: lora.bias,
    targetModules: lora.targets,
    useRslora: lora.useRslora,
    initLoraWeights: lora.init === 'gaussian' ? 'gaussian' : true,
    fanInFanOut: spec.linearModules[0]?.layout === 'conv1d',
    taskType: o.headModules ? 'SEQ_CLS' : 'CAUSAL_LM',
    modulesToSave: o.headModules ? [...o.headModules] : null,
    baseModelNameOrPath: o.baseModel ?? null,
  });
}

/** The tensors of an adapter file: A and B of every layer, and the trained base tensors. */
export function adapterTensors(plan: Plan, model: Pick<LoadedModel, 'weights'>): Map<string, { shape: number[]; data: Float32Array }> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const l of plan.layers) {
    tensors.set(`base_model.model.${l.aName}`, { shape: l.aShape, data: l.A });
    tensors.set(`base_model.model.${l.bName}`, { shape: l.bShape, data: l.B });
  }
  // bias = all | lora_only and modules_to_save: PEFT saves them next to the LoRA weights.
  for (const n of plan.trainableBase) tensors.set(`base_model.model.${n}`, model.weights.get(n)!);
  return tensors;
}

/**
 * The forward hook of a PEFT model: each planned layer adds B(A(dropout(x)))·scaling to its base
 * output, with A and B as graph inputs (fed from the layer's arrays, so they can change between
 * runs). `mask` gives a layer's dropout mask input, where the graph trains with dropout.
 */
export function loraHook(g: Graph, plan: Plan, o: { onInputs?: (l: LoraLayer, A: Value, B: Value) => void; mask?: (l: LoraLayer, x: Value) => Value | undefined } = {}): LinearHook {
  const byModule = new Map(plan.layers.map((l) => [l.module.name, l]));
  return (mod, x, y) => {
    const l = byModule.get(mod);
    if (!l) return y;
    const A = g.input(l.aName, 'float32', l.aShape);
    const B = g.input(l.bName, 'float32', l.bShape);
    o.onInputs?.(l, A, B);
    return g.add(y, l.delta(g, x, A, B, o.mask?.(l, x)));
  };
}
