// Label values -> class indices.
//
// Datasets spell the same two classes many ways (0/1, neg/pos, negative/positive, ham/spam…).
// A known vocabulary fixes the class order (negative first, like Hugging Face's IMDB); anything
// else is sorted (numbers numerically). Values outside the chosen set are "unknown": reported and
// skipped, never silently folded into a class.

import { DataError } from './errors.ts';

/** Known label vocabularies, in class-index order. */
export const KNOWN_LABEL_SETS: readonly (readonly string[])[] = [
  ['0', '1'],
  ['neg', 'pos'],
  ['negative', 'positive'],
  ['negative', 'neutral', 'positive'],
  ['ham', 'spam'],
  ['false', 'true'],
  ['no', 'yes'],
  ['bad', 'good'],
];

export function labelKey(v: string | number | boolean): string {
  return String(v).trim().toLowerCase();
}

export interface LabelPlan {
  names: string[];
  /** normalized value -> class index */
  index: Map<string, number>;
  /** normalized values that map to no class, with their counts */
  unknown: Map<string, number>;
}

const INT_RE = /^-?\d+$/;

/**
 * Decide the classes from the observed values (normalized key -> count; `spelling` keeps the
 * first original spelling of each key for display).
 */
export function planLabels(
  counts: Map<string, number>,
  opts: { labelNames?: string[]; spelling?: Map<string, string>; where?: string; column?: string } = {},
): LabelPlan {
  const where = opts.where ?? 'dataset';
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const keys = [...counts.keys()];
  const done = (names: string[], index: Map<string, number>): LabelPlan => {
    const unknown = new Map<string, number>();
    for (const [k, c] of counts) if (!index.has(k)) unknown.set(k, c);
    return { names, index, unknown };
  };

  if (opts.labelNames && opts.labelNames.length) {
    const index = new Map<string, number>();
    opts.labelNames.forEach((n, i) => index.set(labelKey(n), i));
    // Also accept class indices written as numbers.
    opts.labelNames.forEach((_, i) => {
      if (!index.has(String(i))) index.set(String(i), i);
    });
    return done([...opts.labelNames], index);
  }
  if (keys.length === 0) return { names: [], index: new Map(), unknown: new Map() };

  // A known vocabulary that covers everything, or all but a few stray values.
  let best: readonly string[] | null = null;
  let bestCover = -1;
  for (const set of KNOWN_LABEL_SETS) {
    let cover = 0;
    let present = 0;
    for (const v of set) {
      const c = counts.get(v);
      if (c) {
        cover += c;
        present++;
      }
    }
    if (present === 0) continue;
    if (cover > bestCover || (cover === bestCover && best !== null && set.length < best.length)) {
      best = set;
      bestCover = cover;
    }
  }
  if (best && (bestCover === total || (bestCover >= 0.95 * total && keys.filter((k) => best!.includes(k)).length >= 2))) {
    const index = new Map<string, number>();
    best.forEach((n, i) => index.set(n, i));
    return done([...best], index);
  }

  // Integers: sorted numerically; 0..K-1 keep their value as the index.
  if (keys.every((k) => INT_RE.test(k))) {
    const nums = keys.map(Number).sort((a, b) => a - b);
    if (nums.length > 1000) {
      throw new DataError(
        `${where}: the label column${opts.column ? ` "${opts.column}"` : ''} has ${nums.length} distinct numeric values; that does not look like class labels`,
      );
    }
    const index = new Map<string, number>();
    const contiguous = nums[0] === 0 && nums[nums.length - 1] === nums.length - 1;
    nums.forEach((n, i) => index.set(String(n), contiguous ? n : i));
    return done(nums.map(String), index);
  }

  if (keys.length > 100 || (total >= 20 && keys.length > total / 2)) {
    throw new DataError(
      `${where}: the label column${opts.column ? ` "${opts.column}"` : ''} has ${keys.length} distinct values in ${total} rows; ` +
        'that looks like free text, not labels (choose another column with --label-column)',
    );
  }
  const sorted = keys.sort();
  const index = new Map<string, number>();
  sorted.forEach((k, i) => index.set(k, i));
  return done(
    sorted.map((k) => opts.spelling?.get(k)?.trim() ?? k),
    index,
  );
}
