// Choosing the text and label columns of tabular data (CSV, JSON records, parquet).

import { DataError } from '../errors.ts';

export const TEXT_COLUMN_NAMES = ['text', 'review', 'sentence', 'content', 'body', 'document', 'message', 'sms', 'comment', 'tweet', 'prompt', 'input', 'v2'];
export const LABEL_COLUMN_NAMES = ['label', 'labels', 'sentiment', 'class', 'target', 'category', 'polarity', 'y', 'v1'];

/** Find a column by exact name, then case-insensitively. */
export function findColumn(names: string[], wanted: string): number {
  const exact = names.indexOf(wanted);
  if (exact >= 0) return exact;
  const lower = wanted.toLowerCase();
  return names.findIndex((n) => n.trim().toLowerCase() === lower);
}

/** The first column whose name is one of `preferred` (in preference order), or -1. */
export function preferredColumn(names: string[], preferred: string[], exclude = -1): number {
  for (const p of preferred) {
    const i = findColumn(names, p);
    if (i >= 0 && i !== exclude) return i;
  }
  return -1;
}

/**
 * Resolve a user's column choice: a name (with a header) or a 0-based index.
 * Throws a DataError that lists the columns when it is not there.
 */
export function resolveColumn(where: string, names: string[] | null, count: number, wanted: string, role: string): number {
  if (names) {
    const i = findColumn(names, wanted);
    if (i >= 0) return i;
  }
  if (/^\d+$/.test(wanted)) {
    const i = Number(wanted);
    if (i < count) return i;
  }
  const have = names ? names.map((n) => JSON.stringify(n)).join(', ') : `${count} unnamed columns (use 0-based indices 0..${count - 1})`;
  throw new DataError(`${where}: no ${role} column ${JSON.stringify(wanted)}; the columns are ${have}`, where);
}
