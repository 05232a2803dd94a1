// This machine's step-time rate for the run estimate, measured once per process: a small LoRA
// step (GPT-2 shape, vocabulary 2048, 4 layers of 256, batch 8 x 128) timed here, and the matrix
// rate at which estimateRun's model gives that time. A matmul benchmark alone misleads: on the
// AVX2 reference machine a small step ran at the benchmark's rate, on an AVX-512 one 2.6x faster.

import { defaultLoraConfig } from '../lora/config.ts';
import { loraPlan } from '../lora/peft-model.ts';
import { randomModel } from '../models/random.ts';
import type { ModelSpec } from '../models/types.ts';
import { Rng } from '../util/rng.ts';
import { makeBatch } from './batch.ts';
import { type Machine, REFERENCE_MACHINE, estimateRun } from './estimate.ts';
import { runMicroBatch } from './step.ts';
import { buildStepGraph } from './step-graph.ts';
import { asTaskBatch, lmLoss } from './tasks/causal-lm.ts';

const CONFIG = { model_type: 'gpt2', vocab_size: 2048, n_positions: 1024, n_embd: 256, n_layer: 4, n_head: 4 };
const B = 8, T = 128;

/** The calibration step's model shape (for estimateRun). */
export function calibrationSpec(): ModelSpec {
  return randomModel(CONFIG, { uniform: true }).spec;
}

/** Seconds per forward + backward of the calibration step (the median of `steps` after a warm-up). */
export async function timeCalibrationStep(steps = 5): Promise<number> {
  const model = randomModel(CONFIG, { uniform: true });
  const rng = new Rng(0);
  const plan = loraPlan(model.spec, defaultLoraConfig({ r: 8, loraAlpha: 16 }));
  for (const l of plan.layers) l.init(rng, 'kaiming');
  const sg = await buildStepGraph(model.weights, plan, model.spec.family.isNoDecay, lmLoss(model.spec, B, T), { releaseFrozen: true });
  try {
    const rows = Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(rng.next() * CONFIG.vocab_size)));
    const batch = asTaskBatch(makeBatch(rows, B, T));
    await runMicroBatch(sg, batch);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await runMicroBatch(sg, batch);
      times.push((performance.now() - t0) / 1000);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  } finally {
    await sg.session.release();
  }
}

/** The machine constants under which estimateRun gives `measuredS` for the calibration step. */
export function machineFromStep(measuredS: number): Partial<Machine> {
  const at = (gflops: number) => estimateRun({ spec: calibrationSpec(), method: 'lora', batchSize: B, maxLength: T, loraR: 8, machine: { gflops } }).stepS;
  // stepS = flops / rate + fixed costs: solve for the rate from two evaluations of the model.
  const fixed = at(1e12);
  const flopsS = (at(REFERENCE_MACHINE.gflops) - fixed) * REFERENCE_MACHINE.gflops;
  const compute = Math.max(measuredS - fixed, flopsS / 2000); // a rate above 2 TFLOP/s is a bad timing
  return { gflops: flopsS / compute };
}

let cached: Promise<Partial<Machine>> | null = null;

/** This process's calibrated machine constants (the first call times the step, ~1 s). */
export function calibratedMachine(): Promise<Partial<Machine>> {
  cached ??= timeCalibrationStep().then(machineFromStep, () => ({}));
  return cached;
}
