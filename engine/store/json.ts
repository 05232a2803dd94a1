// Reading JSON files users hand us (configs, adapter configs, run files) with errors that name
// the file and say what is wrong and where, plus small typed field readers for validation.
import { FormatError } from './errors.ts';
import { readFileSafeSync } from '../util/files.ts';

/** JSON files we read whole (configs, adapter configs, run files); anything bigger is refused. */
export const MAX_JSON_BYTES = 512 * 1024 * 1024;

export type JsonObject = Record<string, unknown>;

/**
 * Reads a JSON file that must hold an object. `what` names it for messages ("adapter config").
 * Missing, empty, unreadable, invalid (with line and column) or non-object files are FormatErrors.
 */
export function readJsonFile(file: string, what: string): JsonObject {
  // Never blocks on a FIFO, refuses folders, devices and absurd sizes (see util/files.ts).
  const bytes = readFileSafeSync(file, {
    what: `${what} (a JSON file)`,
    maxBytes: MAX_JSON_BYTES,
    error: (f, problem) => new FormatError(f, problem === 'not found' ? `${what} not found` : problem),
  });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError(file, `${what} is not UTF-8 text (binary data?)`);
  }
  return parseJsonObject(text, file, what);
}

/** The same checks as readJsonFile for text already in memory. */
export function parseJsonObject(text: string, file: string, what: string): JsonObject {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // editors on Windows add a BOM
  if (text.trim() === '') throw new FormatError(file, `${what} is empty`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `${what} is not valid JSON (${jsonErrorWhere(text, (err as Error).message)})`);
  }
  if (!isJsonObject(value)) throw new FormatError(file, `${what} must be a JSON object, got ${describeType(value)}`);
  return value;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** 'null', 'array', 'string', 'number', ... for "got X" in messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

// --- field readers: null counts as absent, as PEFT and HF write null for "not set" ---

function fail(file: string, key: string, expected: string, value: unknown): never {
  throw new FormatError(file, `"${key}" must be ${expected}, got ${value === undefined ? 'nothing' : describeType(value)}`);
}

export function requireObject(obj: JsonObject, key: string, file: string): JsonObject {
  const v = obj[key];
  if (!isJsonObject(v)) fail(file, key, 'an object', v);
  return v;
}

export function requireNumber(obj: JsonObject, key: string, file: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(file, key, 'a number', v);
  return v;
}

export function optionalNumber(obj: JsonObject, key: string, file: string): number | undefined {
  return obj[key] == null ? undefined : requireNumber(obj, key, file);
}

export function requireInteger(obj: JsonObject, key: string, file: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(file, key, 'an integer', v);
  return v;
}

export function optionalInteger(obj: JsonObject, key: string, file: string): number | undefined {
  return obj[key] == null ? undefined : requireInteger(obj, key, file);
}

export function requireString(obj: JsonObject, key: string, file: string): string {
  const v = obj[key];
  if (typeof v !== 'string') fail(file, key, 'a string', v);
  return v;
}

export function optionalString(obj: JsonObject, key: string, file: string): string | undefined {
  return obj[key] == null ? undefined : requireString(obj, key, file);
}

export function optionalBoolean(obj: JsonObject, key: string, file: string): boolean | undefined {
  const v = obj[key];
  if (v == null) return undefined;
  if (typeof v !== 'boolean') fail(file, key, 'true or false', v);
  return v;
}

export function optionalStringArray(obj: JsonObject, key: string, file: string): string[] | undefined {
  const v = obj[key];
  if (v == null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(file, key, 'a list of strings', v);
  return v as string[];
}

// --- locating a syntax error: V8 gives a position only for some errors, so scan for it ---

function jsonErrorWhere(text: string, v8Message: string): string {
  const pos = /at position (\d+)/.exec(v8Message);
  const offset = pos ? Number(pos[1]) : locateJsonError(text);
  const reason = v8Message
    .replace(/,? ?"[\s\S]*"(\.\.\.)? is not valid JSON$/, '')
    .replace(/( in JSON)? at position \d+[\s\S]*$/, '')
    .trim();
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1; }
  }
  return `line ${line}, column ${offset - lineStart + 1}: ${reason}`;
}

/** Offset of the first syntax error (text.length for a truncated document). Iterative: no deep recursion. */
export function locateJsonError(s: string): number {
  let i = 0;
  const stack: string[] = [];
  let state: 'value' | 'key' | 'after' = 'value';
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  for (;;) {
    skipWs();
    if (state === 'value') {
      const c = s[i];
      if (c === '{' || c === '[') {
        i++;
        skipWs();
        if (s[i] === (c === '{' ? '}' : ']')) { i++; state = 'after'; continue; }
        stack.push(c);
        state = c === '{' ? 'key' : 'value';
      } else if (c === '"') {
        const end = scanString(s, i);
        if (end < 0) return -end - 1;
        i = end;
        state = 'after';
      } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
        const end = scanNumber(s, i);
        if (end < 0) return -end - 1;
        i = end;
        state = 'after';
      } else {
        const word = c === 't' ? 'true' : c === 'f' ? 'false' : c === 'n' ? 'null' : '';
        if (word === '') return i;
        for (let k = 0; k < word.length; k++, i++) if (s[i] !== word[k]) return i;
        state = 'after';
      }
    } else if (state === 'key') {
      if (s[i] !== '"') return i;
      const end = scanString(s, i);
      if (end < 0) return -end - 1;
      i = end;
      skipWs();
      if (s[i] !== ':') return i;
      i++;
      state = 'value';
    } else {
      const top = stack[stack.length - 1];
      if (top === undefined) return i; // trailing characters (or none: then JSON.parse passed)
      if (s[i] === ',') { i++; state = top === '{' ? 'key' : 'value'; continue; }
      if (s[i] === (top === '{' ? '}' : ']')) { i++; stack.pop(); continue; }
      return i;
    }
  }
}

// These return the end offset, or -(errorOffset + 1).
function scanString(s: string, i: number): number {
  i++;
  for (;;) {
    if (i >= s.length) return -(i + 1);
    const c = s.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -(i + 1);
    if (c === 0x5c) {
      const e = s[i + 1];
      if (e === 'u') {
        for (let k = 2; k < 6; k++) if (!/[0-9a-fA-F]/.test(s[i + k] ?? '')) return -(i + k + 1);
        i += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
        i += 2;
      } else {
        return -(i + 2);
      }
    } else {
      i++;
    }
  }
}

function scanNumber(s: string, i: number): number {
  const digits = () => { const start = i; while (s[i] !== undefined && s[i]! >= '0' && s[i]! <= '9') i++; return i > start; };
  if (s[i] === '-') i++;
  if (s[i] === '0') i++;
  else if (!digits()) return -(i + 1);
  if (s[i] === '.') { i++; if (!digits()) return -(i + 1); }
  if (s[i] === 'e' || s[i] === 'E') {
    i++;
    if (s[i] === '+' || s[i] === '-') i++;
    if (!digits()) return -(i + 1);
  }
  return i;
}
