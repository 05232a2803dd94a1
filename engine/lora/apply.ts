// Loading a PEFT adapter onto a base model: checks every tensor against the base layer it
// adapts (orientation comes from the base layer, not from fan_in_fan_out), then either keeps
// the layers (to train further) or merges them into the weights (merge_and_unload).

import { FormatError } from '../store/errors.ts';
import { loadAdapter } from '../store/adapter.ts';
import type { LoadedGPT2 } from '../models/gpt2.ts';
import type { LoraConfig } from './config.ts';
import { type Plan, loraPlan } from './peft-model.ts';

export interface AppliedAdapter {
  config: LoraConfig;
  plan: Plan;
}

/** Reads the adapter into a plan's layers (and any trained biases into the model). */
export function readAdapterInto(model: LoadedGPT2, dir: string): AppliedAdapter {
  const ad = loadAdapter(dir);
  const plan = loraPlan(model.config, ad.config);
  const used = new Set<string>();
  const take = (name: string, shape: number[], into: Float32Array) => {
    const t = ad.tensors.get(name);
    if (!t) throw new FormatError(ad.file, `missing tensor ${name} (the adapter config targets ${JSON.stringify(ad.config.targetModules)})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(ad.file, `tensor ${name} has shape [${t.shape.join(', ')}] but the base model needs [${shape.join(', ')}]: this adapter was trained for another model`);
    }
    into.set(t.data);
    used.add(name);
  };
  for (const l of plan.layers) {
    take(l.aName, l.aShape, l.A);
    take(l.bName, l.bShape, l.B);
  }
  for (const [name, t] of ad.tensors) {
    if (used.has(name) || /\.lora_[AB]\.weight$/.test(name)) continue;
    const w = model.weights.get(name);
    if (w) take(name, w.shape, w.data); // trained biases (bias = all | lora_only)
    // modules_to_save heads belong to classification models; a causal LM has none to take.
  }
  const unknown = [...ad.tensors.keys()].filter((n) => /\.lora_[AB]\.weight$/.test(n) && !used.has(n));
  if (unknown.length) throw new FormatError(ad.file, `tensor ${unknown[0]} adapts a layer this model does not have or the config does not target`);
  return { config: ad.config, plan };
}

/** PEFT's merge_and_unload: the adapter folded into the base weights, in place. */
export function mergeAdapter(model: LoadedGPT2, dir: string): AppliedAdapter {
  const applied = readAdapterInto(model, dir);
  for (const l of applied.plan.layers) l.mergeInto(model.weights.get(l.module.weight)!.data);
  return applied;
}
