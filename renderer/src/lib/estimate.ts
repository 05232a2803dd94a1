// The Configure view's run estimate: the params of runs.estimate (the engine's calibrated model,
// engine/train/estimate.ts, for any family and base dtype) from the form, and how long the run
// takes at the estimated step time.

import type { DatasetPreview, Params, RunConfig } from '../../../engine/api.ts';

export type EstimateInput = Pick<RunConfig, 'method' | 'task' | 'batchSize' | 'maxLength' | 'gradAccum' | 'baseDtype' | 'gradientCheckpointing'> & {
  lora: Pick<RunConfig['lora'], 'r' | 'targets'>;
};

const whole = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** runs.estimate's params for a model folder and a run's settings; null while one it needs is not a valid number. */
export function estimateParams(model: string, c: EstimateInput): Params<'runs.estimate'> | null {
  if (!whole(c.batchSize, 1, 4096) || !whole(c.maxLength, 2, 131_072)) return null;
  const p: Params<'runs.estimate'> = { model, method: c.method, batchSize: c.batchSize, maxLength: c.maxLength, gradientCheckpointing: Boolean(c.gradientCheckpointing) };
  if (c.task === 'seq-cls') p.task = 'seq-cls';
  if (c.method === 'lora') {
    if (!whole(c.lora.r, 1, 4096)) return null;
    p.baseDtype = c.baseDtype ?? 'f32';
    const t = c.lora.targets;
    p.lora = { r: c.lora.r, ...(typeof t === 'string' ? (t.trim() ? { targets: t } : {}) : { targets: t }) };
  }
  return p;
}

/**
 * Optimizer steps the run will take: its step count, or its epochs over the dataset (packed
 * blocks of max length for plain text, one row per example otherwise); null when not known.
 */
export function plannedSteps(c: Pick<RunConfig, 'epochs' | 'maxSteps' | 'batchSize' | 'gradAccum' | 'maxLength' | 'task' | 'valRatio'>, dataset: DatasetPreview | null): number | null {
  if (c.maxSteps > 0) return c.maxSteps;
  if (!dataset || !(c.epochs > 0) || !(c.batchSize > 0) || !(c.gradAccum > 0)) return null;
  const rowsPerExample = c.task === 'seq-cls' || (dataset as { instruct?: unknown }).instruct;
  const rows = rowsPerExample ? dataset.examples : dataset.tokens ? Math.floor(dataset.tokens.total / Math.max(2, c.maxLength)) : null;
  if (rows === null) return null;
  const train = Math.max(1, Math.round(rows * (1 - (c.valRatio ?? 0))));
  return Math.ceil((Math.ceil(train / c.batchSize) * c.epochs) / c.gradAccum);
}

/** Seconds for `steps` optimizer steps of `gradAccum` batches at `stepS` a batch. */
export const runSeconds = (stepS: number, steps: number, gradAccum: number): number => stepS * steps * Math.max(1, gradAccum);

/** Megabytes as the Summary shows them. */
export const mb = (v: number): string => (v >= 1024 ? `${(v / 1024).toFixed(1)} GB` : v < 10 ? `${v.toFixed(1)} MB` : `${Math.round(v)} MB`);
