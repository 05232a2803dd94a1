// The WebGPU execution provider (bundled with onnxruntime-node) runs the same training step as
// the CPU. Here it runs on Mesa's software Vulkan (scripts/install-lavapipe.sh); CI installs it and
// sets LORA_STUDIO_REQUIRE_WEBGPU=1 so that this test cannot silently skip there.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loraPlan } from '../../engine/lora/peft-model.ts';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { loadAdapter } from '../../engine/store/adapter.ts';
import { makeBatch } from '../../engine/train/batch.ts';
import { buildStepGraph } from '../../engine/train/step-graph.ts';
import { runMicroBatch } from '../../engine/train/step.ts';
import { asTaskBatch, lmLoss } from '../../engine/train/tasks/causal-lm.ts';
import { FIXTURES } from '../helpers/tiny-model.ts';

const vulkan = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'].some(existsSync);
const required = process.env.LORA_STUDIO_REQUIRE_WEBGPU === '1';
if (!vulkan && !required) console.warn('skipping the WebGPU test: no Vulkan driver here (scripts/install-lavapipe.sh installs a software one)');

describe.runIf(vulkan || required)('WebGPU execution provider', () => {
  it('a LoRA training step gives the CPU loss and gradients', async () => {
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const res: Record<string, number[]> = {};
    for (const device of ['cpu', 'webgpu'] as const) {
      const model = loadGPT2(path.join(FIXTURES, 'gpt2-tiny-f32'));
      const ad = loadAdapter(path.join(FIXTURES, 'lora-init'));
      const plan = loraPlan(model.spec, ad.config);
      for (const l of plan.layers) {
        l.A.set(ad.tensors.get(l.aName)!.data);
        l.B.set(ad.tensors.get(l.bName)!.data);
      }
      const sg = await buildStepGraph(model.weights, plan, model.spec.family.isNoDecay, lmLoss(model.spec, 2, 16), { device });
      const out = await runMicroBatch(sg, asTaskBatch(makeBatch([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [5, 6, 7, 8, 9, 10, 11, 12]], 2, 16)));
      await sg.session.release();
      res[device] = [out.loss, ...out.grads.flatMap((g) => Array.from(g))];
    }
    expect(res.webgpu).toHaveLength(res.cpu.length);
    const diff = Math.max(...res.cpu.map((v, i) => Math.abs(v - res.webgpu[i])));
    expect(diff).toBeLessThan(1e-4);
  }, 300_000);
});
