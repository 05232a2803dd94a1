// A small, fast run configuration for the bridge tests; each test overrides what it exercises.
import type { RunConfig } from '../../engine/api.ts';

export function tinyRunConfig(model: string, data: string, over: Partial<RunConfig> = {}): RunConfig {
  return {
    model,
    dataset: { path: data },
    method: 'lora',
    lora: { r: 4, alpha: 8, dropout: 0, bias: 'none', targets: [], useRslora: false, init: 'kaiming' },
    lr: 1e-3,
    epochs: 0,
    maxSteps: 5,
    batchSize: 2,
    gradAccum: 1,
    maxLength: 16,
    warmupSteps: 0,
    warmupRatio: 0,
    weightDecay: 0,
    maxGradNorm: 1,
    schedule: 'linear',
    seed: 1,
    logEvery: 1,
    device: 'cpu',
    ...over,
  };
}
