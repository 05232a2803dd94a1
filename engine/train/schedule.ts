// Learning-rate schedules with warmup, as transformers' get_{constant,linear,cosine}_schedule_
// with_warmup: the multiplier for the update that follows `step` completed updates.

import type { Schedule } from './types.ts';

export function warmupSteps(totalSteps: number, steps: number, ratio: number): number {
  return steps > 0 ? steps : Math.ceil(totalSteps * ratio);
}

export function lrAt(kind: Schedule, base: number, step: number, total: number, warmup: number): number {
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  if (kind === 'constant') return base;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (kind === 'linear') return base * Math.max(0, 1 - progress);
  return base * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
