// What the Models view and `lora-studio info` show about a model folder.

import { type LoraOptions, DEFAULT_LORA, type Method } from '../train/types.ts';
import { fullPlan, lmTarget, loraPlan, toLoraConfig, trainableLine } from '../lora/peft-model.ts';
import { checkModelWeights, loadModelSpec } from './registry.ts';
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface ModelInfo {
  dir: string;
  family: string;
  architecture: string;
  config: Record<string, number | string | boolean | null>;
  linearModules: { name: string; inFeatures: number; outFeatures: number }[];
  defaultTargets: string[];
  method: Method;
  trainableParams: number;
  allParams: number;
  line: string;
  /** The dtype the weights are stored in (from the safetensors headers), or null when the folder has none. */
  storedDtype: string | null;
}

/**
 * Parameter counts follow from config.json; when the folder has weights, their safetensors
 * headers are checked against it too (names, shapes, dtypes — no tensor is read).
 */
export function inspectModel(dir: string, opts: { method?: Method; lora?: Partial<LoraOptions> } = {}): ModelInfo {
  const spec = loadModelSpec(dir);
  const hasWeights = existsSync(path.join(dir, 'model.safetensors')) || existsSync(path.join(dir, 'model.safetensors.index.json'));
  const storedDtype = hasWeights ? checkModelWeights(dir).storedDtype || null : null;
  const method = opts.method ?? 'lora';
  const lora = { ...DEFAULT_LORA, ...opts.lora };
  const target = lmTarget(spec);
  const plan = method === 'full' ? fullPlan(target) : loraPlan(target, toLoraConfig(lora, spec, { baseModel: dir }));
  return {
    dir,
    family: spec.family.name,
    architecture: spec.architecture,
    config: spec.summary,
    linearModules: spec.linearModules.map(({ name, inFeatures, outFeatures }) => ({ name, inFeatures, outFeatures })),
    defaultTargets: spec.family.defaultTargets,
    method,
    trainableParams: plan.trainableParams,
    allParams: plan.allParams,
    line: trainableLine(plan.trainableParams, plan.allParams),
    storedDtype,
  };
}
