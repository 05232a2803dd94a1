// config.json fields every family reads, bounded so that an absurd value fails with the file and
// the field named instead of hanging or exhausting memory.

import { FormatError } from '../store/errors.ts';
import { type JsonObject, requireInteger } from '../store/json.ts';

/** Far beyond any real model, small enough that shape arithmetic stays exact and cheap. */
export const MAX_DIM = 2 ** 24;
export const MAX_LAYERS = 4096;

const LAYER_KEYS = /(^|_)(layer|layers|head|heads)(_|$)/;

/** A required positive integer; layer and head counts are bounded by MAX_LAYERS, others by MAX_DIM. */
export function boundedInteger(json: JsonObject, key: string, file: string, max = LAYER_KEYS.test(key) ? MAX_LAYERS : MAX_DIM): number {
  const v = requireInteger(json, key, file);
  if (v < 1 || v > max) throw new FormatError(file, `"${key}" is ${v}; expected an integer from 1 to ${max}`);
  return v;
}
