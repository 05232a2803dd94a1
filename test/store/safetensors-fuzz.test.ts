// Mutation fuzzing of the safetensors reader: thousands of damaged variants of one valid file
// must each either parse (and read) cleanly or fail with a FormatError, never another exception
// and never a hang. Each case has its own seed: FUZZ_SEED=<seed> reproduces a run.
import { Rng as ProjectRng } from '../../engine/util/rng.ts';
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError } from '../../engine/store/errors.ts';
import { encodeSafetensors, openSafetensors, parseSafetensors, float32ToF16, float32ToBF16, type SafetensorsFile } from '../../engine/store/safetensors.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5afe7e45);
const CASES = Number(process.env.FUZZ_CASES ?? 20_000);

/** The project's seeded generator (util/rng.ts, mulberry32) as a function. */
function mulberry32(seed: number): () => number {
  const r = new ProjectRng(seed);
  return () => r.next();
}

const valid = new Uint8Array(Buffer.concat(encodeSafetensors([
  { name: 'transformer.h.0.attn.c_attn.weight', dtype: 'F32', shape: [3, 4], data: new Float32Array(12).map((_, i) => i - 5.5) },
  { name: 'half', dtype: 'F16', shape: [5], data: float32ToF16(new Float32Array([1, -2, 65504, 1e-7, 0])) },
  { name: 'brain', dtype: 'BF16', shape: [2, 3], data: float32ToBF16(new Float32Array([1, 2, 3, -4, 5e30, -6])) },
  { name: 'ids', dtype: 'I64', shape: [2], data: new BigInt64Array([7n, -1n]) },
  { name: 'bytes', dtype: 'U8', shape: [7], data: new Uint8Array([1, 2, 3, 4, 5, 6, 7]) },
  { name: 'mask', dtype: 'BOOL', shape: [1, 1], data: new Uint8Array([1]) },
  { name: 'double', dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
  { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
], { format: 'pt', 'key with "quotes"': 'välue' })));
const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
const headerText = Buffer.from(valid.subarray(8, 8 + headerLength)).toString('utf8');
const data = valid.subarray(8 + headerLength);

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, list: readonly T[]): T => list[int(rng, list.length)]!;

const WEIRD: readonly unknown[] = [
  -1, 0, 1, 2, 3, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 32 + 4, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e300, -1e300, Number.MAX_VALUE,
  '1', '', null, true, false, [], {}, [1, 2], [[1]], { a: 1 }, 'F32',
];
const DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16', 'U32', 'U64', 'F8_E4M3', '', 'f32', 'toString', '__proto__', 'constructor', 'hasOwnProperty'];

function withLength(text: string, payload: Uint8Array, lie?: number | bigint): Uint8Array {
  const json = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + json.length + payload.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lie ?? json.length), true);
  out.set(json, 8);
  out.set(payload, 8 + json.length);
  return out;
}

function randomValue(rng: Rng, near: number): unknown {
  return rng() < 0.5 ? pick(rng, WEIRD) : near + int(rng, 17) - 8;
}

/** Edits inside valid JSON: offsets, shapes, dtypes, keys, metadata. */
function jsonEdit(rng: Rng): Uint8Array {
  const header = JSON.parse(headerText) as Record<string, any>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const edits = 1 + int(rng, 3);
  for (let e = 0; e < edits; e++) {
    const name = pick(rng, names);
    const entry = header[name];
    if (typeof entry !== 'object' || entry === null) continue;
    switch (int(rng, 9)) {
      case 0: if (Array.isArray(entry.data_offsets)) entry.data_offsets[int(rng, 2)] = randomValue(rng, Number(entry.data_offsets[0]) || 0); break;
      case 1: entry.data_offsets = rng() < 0.5 && Array.isArray(entry.data_offsets) ? [...entry.data_offsets].reverse() : randomValue(rng, 0); break;
      case 2: if (Array.isArray(entry.shape) && entry.shape.length > 0) entry.shape[int(rng, entry.shape.length)] = randomValue(rng, Number(entry.shape[0]) || 0); break;
      case 3: entry.shape = pick(rng, [[2 ** 53, 2 ** 53], [2 ** 26, 2 ** 26, 2 ** 26, 0], [0, 2 ** 60], [1e308, 1e308], [...Array(200)].map(() => 2), [], [-0], [2 ** 31, 2 ** 31]] as unknown[]); break;
      case 4: entry.dtype = pick(rng, DTYPES); break;
      case 5: delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])]; break;
      case 6: header[name] = randomValue(rng, 0); break;
      case 7: header.__metadata__ = pick(rng, [null, [], { a: 1 }, { a: null }, 'x', { b: 'ok' }, {}]); break;
      case 8: { // move a tensor under another name, including reserved-looking ones
        const to = pick(rng, ['__metadata__', '__proto__', 'constructor', '', names[0]!]);
        header[to] = entry;
        delete header[name];
        break;
      }
    }
  }
  let payload = data;
  if (rng() < 0.2) payload = data.subarray(0, int(rng, data.length + 1));
  if (rng() < 0.1) payload = new Uint8Array(Buffer.concat([data, new Uint8Array(1 + int(rng, 16))]));
  const lie = rng() < 0.1 ? Buffer.byteLength(JSON.stringify(header)) + int(rng, 9) - 4 : undefined;
  return withLength(JSON.stringify(header), payload, lie !== undefined && lie >= 0 ? lie : undefined);
}

const MUTATORS: Record<string, (rng: Rng) => Uint8Array> = {
  byteFlips(rng) {
    const b = valid.slice();
    for (let k = 1 + int(rng, 8); k > 0; k--) b[int(rng, b.length)] = int(rng, 256);
    return b;
  },
  headerByteFlips(rng) {
    const b = valid.slice();
    for (let k = 1 + int(rng, 4); k > 0; k--) b[8 + int(rng, headerLength)] = pick(rng, [0x22, 0x5b, 0x5d, 0x7b, 0x7d, 0x2c, 0x3a, 0x30, 0x39, 0x2d, 0x5c, 0x00, 0xff, 0xc3, int(rng, 256)]);
    return b;
  },
  bitFlips(rng) {
    const b = valid.slice();
    for (let k = 1 + int(rng, 4); k > 0; k--) { const i = int(rng, b.length); b[i] = b[i]! ^ (1 << int(rng, 8)); }
    return b;
  },
  truncate: (rng) => valid.slice(0, int(rng, valid.length)),
  headerLengthLie(rng) {
    const b = valid.slice();
    const lie = pick(rng, [0n, 1n, 7n, BigInt(headerLength - 1), BigInt(headerLength + 1), BigInt(headerLength + 8), BigInt(valid.length - 8), BigInt(valid.length),
      2n ** 32n + BigInt(headerLength), 100_000_001n, 99_999_999n, 2n ** 63n, 2n ** 64n - 1n, BigInt(int(rng, 2 ** 32)), BigInt(int(rng, 2 ** 32)) << 32n]);
    new DataView(b.buffer).setBigUint64(0, lie, true);
    return b;
  },
  jsonEdit,
  textInsert(rng) {
    const at = int(rng, headerText.length + 1);
    const bit = pick(rng, ['{', '}', '[', ']', '"', ',', ':', '\\', '\\u12', '\u0000', '1e999', '-', ' ', 'null', '"a":', '\ud800', '💥', '\u2028']);
    return withLength(headerText.slice(0, at) + bit + headerText.slice(at), data);
  },
  splice(rng) {
    const at = int(rng, valid.length);
    const extra = new Uint8Array(1 + int(rng, 32)).map(() => int(rng, 256));
    return rng() < 0.5
      ? new Uint8Array(Buffer.concat([valid.subarray(0, at), extra, valid.subarray(at)]))
      : new Uint8Array(Buffer.concat([valid.subarray(0, at), valid.subarray(Math.min(valid.length, at + extra.length))]));
  },
  noise: (rng) => new Uint8Array(int(rng, 64)).map(() => int(rng, 256)),
};

/** Parses and reads every tensor: 'parsed', 'rejected' (a FormatError), or the unexpected error. */
function exercise(open: () => SafetensorsFile): 'parsed' | 'rejected' | Error {
  let st: SafetensorsFile | undefined;
  try {
    st = open();
    for (const t of st.tensors.values()) {
      const bytes = st.readBytes(t.name);
      if (bytes.length !== t.end - t.begin) return new Error(`readBytes(${t.name}) gave ${bytes.length} bytes`);
      if (['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
        const n = st.readFloat32(t.name).length;
        if (n !== t.shape.reduce((a, b) => a * b, 1)) return new Error(`readFloat32(${t.name}) gave ${n} values`);
      } else {
        try {
          st.readFloat32(t.name);
          return new Error(`readFloat32 accepted ${t.dtype}`);
        } catch (e) {
          if (!(e instanceof FormatError)) return e as Error;
        }
      }
      if (t.dtype === 'I64') st.readInt64(t.name);
    }
    return 'parsed';
  } catch (err) {
    return err instanceof FormatError ? 'rejected' : (err as Error);
  } finally {
    st?.close();
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('safetensors fuzzing', () => {
  it('the base file is valid', () => {
    expect(exercise(() => parseSafetensors(valid, 'base'))).toBe('parsed');
    expect(parseSafetensors(valid, 'base').tensors.size).toBe(8);
  });

  it(`${CASES} mutated files: only FormatErrors, well under 20 s`, () => {
    const start = performance.now();
    const names = Object.keys(MUTATORS);
    const failures: string[] = [];
    const counts: Record<string, { cases: number; parsed: number }> = {};
    const file = path.join(tmp, 'fuzz.safetensors');
    for (let i = 0; i < CASES; i++) {
      const rng = mulberry32(SEED ^ Math.imul(i + 1, 0x9e3779b1)); // independent stream per case
      const name = pick(rng, names);
      let bytes = MUTATORS[name]!(rng);
      const plusByte = rng() < 0.1 && bytes.length > 0;
      if (plusByte) { // one more random byte on top
        bytes = bytes.slice();
        bytes[int(rng, bytes.length)] = int(rng, 256);
      }
      const key = plusByte ? `${name}+byte` : name;
      const count = (counts[key] ??= { cases: 0, parsed: 0 });
      count.cases++;
      let result = exercise(() => parseSafetensors(bytes, 'fuzz'));
      // Every 25th case also goes through a real file descriptor.
      if (!(result instanceof Error) && i % 25 === 0) {
        fs.writeFileSync(file, bytes);
        const viaFile = exercise(() => openSafetensors(file));
        if (viaFile instanceof Error || viaFile !== result) result = viaFile instanceof Error ? viaFile : new Error(`file: ${viaFile}, memory: ${result}`);
      }
      if (result === 'parsed') count.parsed++;
      else if (result instanceof Error && failures.length < 5) {
        failures.push(`case ${i} (FUZZ_SEED=${SEED}, ${key}): ${result.stack ?? String(result)}`);
      }
    }
    const seconds = (performance.now() - start) / 1000;
    expect(failures).toEqual([]);
    expect(seconds).toBeLessThan(20);
    // Sanity: the mutators produce both accepted and rejected files.
    const parsed = Object.values(counts).reduce((s, c) => s + c.parsed, 0);
    expect(parsed).toBeGreaterThan(0);
    expect(parsed).toBeLessThan(CASES);
    const summary = Object.entries(counts).sort().map(([k, c]) => `${k} ${c.parsed}/${c.cases}`).join(', ');
    console.log(`fuzz: ${CASES} cases in ${seconds.toFixed(2)} s; parsed/cases per mutator: ${summary}`);
  });
});
