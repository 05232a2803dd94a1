// Math.max(...xs) / Math.min(...xs) pass every element as an argument: past ~120k elements they
// throw "Maximum call stack size exceeded" (`eval --lines` on 130k lines did). The engine uses
// maxOf/minOf (engine/util/math.ts) instead; this scan keeps it that way.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { maxOf, minOf } from '../../engine/util/math.ts';

const engine = resolve(import.meta.dirname, '..', '..', 'engine');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('no argument spreads over arrays in Math.max / Math.min', () => {
  it('engine/ has none', () => {
    const hits: string[] = [];
    for (const file of sources(engine)) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (line.trimStart().startsWith('//')) return;
        if (/Math\.(max|min)\([^;]*\.\.\./.test(line)) hits.push(`${relative(engine, file)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('maxOf / minOf handle 1M elements (where a spread overflows the stack)', () => {
    const xs = Float64Array.from({ length: 1_000_000 }, (_, i) => (i * 7919) % 1_000_003);
    expect(() => Math.max(...xs)).toThrow(RangeError);
    expect(maxOf(xs)).toBe(1_000_002);
    expect(minOf(xs)).toBe(0);
    expect(maxOf([], -1)).toBe(-1);
    expect(minOf([])).toBe(Infinity);
  });
});
