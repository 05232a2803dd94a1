// Loading a PEFT adapter onto a base model (a causal LM, or a classifier with its heads): checks
// every tensor against the base layer it adapts (orientation comes from the base layer's layout,
// not from fan_in_fan_out), then either keeps the layers (to train further) or merges them into
// the weights (merge_and_unload).

import type { SeqClsModel } from '../models/seq-cls.ts';
import type { LoadedModel } from '../models/types.ts';
import { loadAdapter } from '../store/adapter.ts';
import { FormatError } from '../store/errors.ts';
import type { LoraConfig } from './config.ts';
import { type Plan, type PlanTarget, lmTarget, loraPlan } from './peft-model.ts';

export interface AppliedAdapter {
  config: LoraConfig;
  plan: Plan;
}

const isClassifier = (m: LoadedModel | SeqClsModel): m is SeqClsModel => 'headTensors' in m;

/** A loaded model as the target of its plan (a classifier's heads train whole). */
export function planTargetOf(m: LoadedModel | SeqClsModel): PlanTarget {
  if (!isClassifier(m)) return lmTarget(m.spec);
  return { paramShapes: m.paramShapes, linearModules: m.spec.linearModules, defaultTargets: m.spec.family.defaultTargets, headTensors: m.headTensors };
}

/** Reads the adapter into a plan's layers, and its trained biases and heads into the model. */
export function readAdapterInto(model: LoadedModel | SeqClsModel, dir: string): AppliedAdapter {
  const ad = loadAdapter(dir);
  const plan = loraPlan(planTargetOf(model), ad.config);
  const used = new Set<string>();
  const take = (name: string, shape: number[], into: Float32Array) => {
    const t = ad.tensors.get(name);
    if (!t) throw new FormatError(ad.file, `missing tensor ${name} (the adapter config targets ${JSON.stringify(ad.config.targetModules)})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(ad.file, `tensor ${name} has shape [${t.shape.join(', ')}] but the base model needs [${shape.join(', ')}]: this adapter was trained for another model${isClassifier(model) ? ' (or another number of labels)' : ''}`);
    }
    into.set(t.data);
    used.add(name);
  };
  for (const l of plan.layers) {
    take(l.aName, l.aShape, l.A);
    take(l.bName, l.bShape, l.B);
  }
  for (const [name] of ad.tensors) {
    if (used.has(name) || /\.lora_[AB]\.weight$/.test(name)) continue;
    const w = model.weights.get(name);
    if (w) take(name, w.shape, w.data); // trained biases (bias = all | lora_only), heads
    else if (isClassifier(model)) throw new FormatError(ad.file, `tensor ${name} matches no parameter of this ${model.spec.family.name} classifier`);
    // A causal LM has no heads to take: a classifier's modules_to_save are ignored there.
  }
  const unknown = [...ad.tensors.keys()].filter((n) => /\.lora_[AB]\.weight$/.test(n) && !used.has(n));
  if (unknown.length) throw new FormatError(ad.file, `tensor ${unknown[0]} adapts a layer this model does not have or the config does not target`);
  if (isClassifier(model)) {
    const missingHeads = model.headTensors.filter((n) => !used.has(n));
    if (missingHeads.length && !model.headsLoaded) {
      throw new FormatError(ad.file, `the adapter has no trained head (${missingHeads.join(', ')}); save the heads as modules_to_save (${model.headModules.join(', ')})`);
    }
  }
  return { config: ad.config, plan };
}

/** PEFT's merge_and_unload: the adapter folded into the base weights, in place. */
export function mergeAdapter(model: LoadedModel | SeqClsModel, dir: string): AppliedAdapter {
  const applied = readAdapterInto(model, dir);
  for (const l of applied.plan.layers) l.mergeInto(model.weights.get(l.module.weight)!.data);
  return applied;
}
