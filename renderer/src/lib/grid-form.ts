// The grid search form's lists: comma-separated values, each checked against what the contract
// accepts (engine/api-shapes.ts GridSettingsSchema), with a one-line reason next to the field.

export type GridAxis = 'r' | 'alpha' | 'dropout' | 'lr';

export const MAX_VALUES = 32;
export const MAX_TRIALS = 256;

const RULES: Record<GridAxis, { name: string; ok: (x: number) => boolean; want: string }> = {
  r: { name: 'r', ok: (x) => Number.isInteger(x) && x >= 1 && x <= 4096, want: 'whole numbers from 1 to 4096' },
  alpha: { name: 'α', ok: (x) => x > 0 && x <= 1e6, want: 'numbers above 0' },
  dropout: { name: 'dropout', ok: (x) => x >= 0 && x <= 0.99, want: 'numbers from 0 to 0.99' },
  lr: { name: 'learning rate', ok: (x) => x > 0 && x <= 10, want: 'numbers above 0, at most 10' },
};

export type Parsed = { values: number[]; error: null } | { values: null; error: string };

/** "4, 8,16" → [4, 8, 16]; or why not (empty, not a number, out of range, repeated, too many). */
export function parseValues(text: string, axis: GridAxis): Parsed {
  const rule = RULES[axis];
  const parts = text.split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) return { values: null, error: `Give at least one ${rule.name} value.` };
  const values: number[] = [];
  for (const p of parts) {
    if (p === '') return { values: null, error: 'An empty value between commas.' };
    const x = Number(p);
    if (!Number.isFinite(x)) return { values: null, error: `“${p}” is not a number.` };
    if (!rule.ok(x)) return { values: null, error: `${rule.name} takes ${rule.want}; “${p}” is not.` };
    if (values.includes(x)) return { values: null, error: `${p} is listed twice.` };
    values.push(x);
  }
  if (values.length > MAX_VALUES) return { values: null, error: `At most ${MAX_VALUES} values.` };
  return { values, error: null };
}

/** How many trials the lists make (null while one is invalid). */
export function trialCount(lists: Parsed[]): number | null {
  return lists.every((l) => l.values) ? lists.reduce((n, l) => n * l.values!.length, 1) : null;
}

export type ParsedWhole = { value: number; error: null } | { value: null; error: string };

/** A whole number from `min` to `max` typed in a field (early stopping's), or why not. */
export function parseWhole(text: string, min: number, max: number): ParsedWhole {
  const p = text.trim();
  if (p === '') return { value: null, error: 'Give a number.' };
  const x = Number(p);
  if (!Number.isInteger(x) || x < min || x > max) return { value: null, error: `A whole number from ${min} to ${max}.` };
  return { value: x, error: null };
}

/** Early stopping's settings for experiments.grid: none when off; null while a field is invalid. */
export function earlyStopSettings(on: boolean, evalEvery: ParsedWhole, minTrials: ParsedWhole): { evalEvery?: number; earlyStop?: { minTrials: number } } | null {
  if (!on) return {};
  if (evalEvery.value === null || minTrials.value === null) return null;
  return { evalEvery: evalEvery.value, earlyStop: { minTrials: minTrials.value } };
}
