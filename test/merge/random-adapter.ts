// A PEFT adapter with random (non-zero) A and B for a GPT-2 folder, so merged and unmerged
// forwards differ visibly from the base model.
import { defaultLoraConfig } from '../../engine/lora/config.ts';
import { loraPlan } from '../../engine/lora/peft-model.ts';
import { loadModelSpec } from '../../engine/models/registry.ts';
import { saveAdapter } from '../../engine/store/adapter.ts';
import { Rng } from '../../engine/util/rng.ts';

export function makeRandomAdapter(dir: string, modelDir: string, o: { r?: number; alpha?: number; targets?: string[]; std?: number; seed?: number } = {}): string {
  const cfg = defaultLoraConfig({ r: o.r ?? 4, loraAlpha: o.alpha ?? 8, targetModules: o.targets ?? ['c_attn', 'c_fc'], fanInFanOut: true, taskType: 'CAUSAL_LM' });
  const plan = loraPlan(loadModelSpec(modelDir), cfg);
  const rng = new Rng(o.seed ?? 5);
  const std = o.std ?? 0.3;
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
