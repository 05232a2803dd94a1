// A PEFT adapter with random (non-zero) A and B for any causal-LM folder (any family), so an
// exported model visibly differs from its base.
import { defaultLoraConfig } from '../../engine/lora/config.ts';
import { loraPlan } from '../../engine/lora/peft-model.ts';
import { loadModelSpec } from '../../engine/models/registry.ts';
import { saveAdapter } from '../../engine/store/adapter.ts';
import { Rng } from '../../engine/util/rng.ts';

export function makeLora(dir: string, modelDir: string, o: { targets: string[]; r?: number; alpha?: number; rslora?: boolean; std?: number; seed?: number }): string {
  const spec = loadModelSpec(modelDir);
  const cfg = defaultLoraConfig({
    r: o.r ?? 4, loraAlpha: o.alpha ?? 8, targetModules: o.targets, useRslora: o.rslora ?? false,
    fanInFanOut: spec.linearModules[0]?.layout === 'conv1d', taskType: 'CAUSAL_LM',
  });
  const plan = loraPlan(spec, cfg);
  const rng = new Rng(o.seed ?? 7);
  const std = o.std ?? 0.2;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const l of plan.layers) {
    for (let i = 0; i < l.A.length; i++) l.A[i] = rng.normal() * std;
    for (let i = 0; i < l.B.length; i++) l.B[i] = rng.normal() * std;
    tensors.set(`base_model.model.${l.aName}`, { shape: l.aShape, data: l.A });
    tensors.set(`base_model.model.${l.bName}`, { shape: l.bShape, data: l.B });
  }
  saveAdapter(dir, cfg, tensors);
  return dir;
}
