// A small schema library: runtime validation with static types inferred from the schemas. The
// contract (engine/api.ts) describes every message with it; it imports nothing, so the renderer
// bundles it too.

export interface Schema<T> {
  /** Human-readable description used in error messages, e.g. "an integer ≥ 1". */
  readonly expected: string;
  /** Appends problems to `issues`; returns the (possibly defaulted) value when valid. */
  check(value: unknown, path: string, issues: string[]): T;
  readonly optional?: boolean;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type InferShape<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? `a string ("${v.slice(0, 37)}…")` : `"${v}"`;
  if (typeof v === 'number') return String(v);
  return typeof v === 'object' ? 'an object' : typeof v;
}

const at = (path: string) => (path ? `${path}: ` : '');

/** A leaf schema: a predicate. */
function leaf<T>(expected: string, test: (v: unknown) => boolean): Schema<T> {
  return {
    expected,
    check(v, path, issues) {
      if (!test(v)) issues.push(`${at(path)}expected ${expected}, got ${describe(v)}`);
      return v as T;
    },
  };
}

interface NumberOpts { min?: number; max?: number; int?: boolean; exclusiveMin?: boolean; finite?: boolean }

export const s = {
  string(opts: { min?: number; max?: number; pattern?: RegExp } = {}): Schema<string> {
    const parts = ['a string'];
    if (opts.min) parts.push(opts.min === 1 ? '(not empty)' : `of at least ${opts.min} characters`);
    if (opts.max !== undefined) parts.push(`of at most ${opts.max} characters`);
    if (opts.pattern) parts.push(`matching ${opts.pattern}`);
    return leaf<string>(parts.join(' '), (v) =>
      typeof v === 'string' && v.length >= (opts.min ?? 0) && v.length <= (opts.max ?? Infinity) && (!opts.pattern || opts.pattern.test(v)),
    );
  },
  number(opts: NumberOpts = {}): Schema<number> {
    let d = opts.int ? 'an integer' : opts.finite ? 'a finite number' : 'a number';
    if (opts.min !== undefined) d += ` ${opts.exclusiveMin ? '>' : '≥'} ${opts.min}`;
    if (opts.max !== undefined) d += `${opts.min !== undefined ? ' and' : ''} ≤ ${opts.max}`;
    return leaf<number>(d, (v) => {
      if (typeof v !== 'number') return false;
      if ((opts.int || opts.finite || opts.min !== undefined || opts.max !== undefined) && !Number.isFinite(v)) return false;
      if (opts.int && !Number.isInteger(v)) return false;
      if (opts.min !== undefined && (opts.exclusiveMin ? v <= opts.min : v < opts.min)) return false;
      if (opts.max !== undefined && v > opts.max) return false;
      return true;
    });
  },
  int(opts: Omit<NumberOpts, 'int'> = {}): Schema<number> {
    return s.number({ ...opts, int: true });
  },
  boolean(): Schema<boolean> {
    return leaf<boolean>('true or false', (v) => typeof v === 'boolean');
  },
  null(): Schema<null> {
    return leaf<null>('null', (v) => v === null);
  },
  literal<const L extends string | number | boolean>(value: L): Schema<L> {
    return leaf<L>(JSON.stringify(value), (v) => v === value);
  },
  enum<const L extends readonly string[]>(values: L): Schema<L[number]> {
    return leaf<L[number]>(`one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, (v) => typeof v === 'string' && values.includes(v));
  },
  array<T>(item: Schema<T>, opts: { max?: number } = {}): Schema<T[]> {
    return {
      expected: `a list of ${item.expected}`,
      check(v, path, issues) {
        if (!Array.isArray(v)) {
          issues.push(`${at(path)}expected a list, got ${describe(v)}`);
          return v as T[];
        }
        if (opts.max !== undefined && v.length > opts.max) {
          issues.push(`${at(path)}expected at most ${opts.max} items, got ${v.length}`);
          return v as T[];
        }
        return v.map((x, i) => item.check(x, `${path}[${i}]`, issues));
      },
    };
  },
  record<T>(value: Schema<T>): Schema<Record<string, T>> {
    return {
      expected: `an object of ${value.expected}`,
      check(v, path, issues) {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          issues.push(`${at(path)}expected an object, got ${describe(v)}`);
          return v as Record<string, T>;
        }
        const out: Record<string, T> = {};
        for (const [k, x] of Object.entries(v)) out[k] = value.check(x, path ? `${path}.${k}` : k, issues);
        return out;
      },
    };
  },
  /** A strict object: unknown keys are errors (they are usually typos). */
  object<S extends Shape>(shape: S): Schema<InferShape<S>> & { shape: S } {
    return {
      shape,
      expected: 'an object',
      check(v, path, issues) {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          issues.push(`${at(path)}expected an object, got ${describe(v)}`);
          return v as InferShape<S>;
        }
        const o = v as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(o)) {
          if (!(k in shape)) issues.push(`${at(path)}unknown field "${k}" (expected ${Object.keys(shape).map((x) => `"${x}"`).join(', ') || 'no fields'})`);
        }
        for (const [k, sc] of Object.entries(shape)) {
          const p = path ? `${path}.${k}` : k;
          if (o[k] === undefined) {
            if (!sc.optional) issues.push(`${p}: missing (expected ${sc.expected})`);
            continue;
          }
          out[k] = sc.check(o[k], p, issues);
        }
        return out as InferShape<S>;
      },
    };
  },
  optional<T>(inner: Schema<T>): Schema<T | undefined> & { optional: true } {
    return { expected: inner.expected, optional: true, check: (v, p, i) => (v === undefined ? undefined : inner.check(v, p, i)) };
  },
  nullable<T>(inner: Schema<T>): Schema<T | null> {
    return { expected: `${inner.expected} or null`, check: (v, p, i) => (v === null ? null : inner.check(v, p, i)) };
  },
  union<const U extends readonly Schema<unknown>[]>(options: U): Schema<Infer<U[number]>> {
    const expected = options.map((o) => o.expected).join(' or ');
    return {
      expected,
      check(v, path, issues) {
        let best: string[] | null = null;
        for (const o of options) {
          const local: string[] = [];
          const r = o.check(v, path, local);
          if (local.length === 0) return r as Infer<U[number]>;
          if (!best || local.length < best.length) best = local;
        }
        issues.push(...(options.length > 1 && best && best.length > 1 ? [`${at(path)}expected ${expected}, got ${describe(v)}`] : best ?? []));
        return v as Infer<U[number]>;
      },
    };
  },
  /** A union of objects told apart by a literal `type` (or another) field: precise errors. */
  tagged<const K extends string, const M extends Record<string, Schema<unknown>>>(key: K, variants: M): Schema<Infer<M[keyof M]>> {
    const names = Object.keys(variants);
    return {
      expected: `an object with ${key} ${names.map((n) => `"${n}"`).join(' | ')}`,
      check(v, path, issues) {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          issues.push(`${at(path)}expected an object, got ${describe(v)}`);
          return v as Infer<M[keyof M]>;
        }
        const tag = (v as Record<string, unknown>)[key];
        const variant = typeof tag === 'string' && Object.hasOwn(variants, tag) ? variants[tag] : undefined;
        if (!variant) {
          issues.push(`${path ? `${path}.` : ''}${key}: expected one of ${names.map((n) => `"${n}"`).join(', ')}, got ${describe(tag)}`);
          return v as Infer<M[keyof M]>;
        }
        return variant.check(v, path, issues) as Infer<M[keyof M]>;
      },
    };
  },
  /** Any JSON value (used for opaque, already-validated payloads such as model configs). */
  json(): Schema<unknown> {
    return leaf<unknown>('a JSON value', () => true);
  },
};

export class ValidationError extends Error {
  constructor(readonly what: string, readonly issues: string[]) {
    super(`invalid ${what}: ${issues.slice(0, 8).join('; ')}${issues.length > 8 ? `; and ${issues.length - 8} more` : ''}`);
    this.name = 'ValidationError';
  }
}

/** Validates `value`; throws a ValidationError listing every problem. */
export function parse<T>(sc: Schema<T>, value: unknown, what: string, path = ''): T {
  const issues: string[] = [];
  const out = sc.check(value, path, issues);
  if (issues.length) throw new ValidationError(what, issues);
  return out;
}
