import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError } from '../../engine/store/errors.ts';
import {
  openSafetensors, parseSafetensors, writeSafetensors, encodeSafetensors,
  float32ToF16, float32ToBF16, f16ToFloat32, bf16ToFloat32, type TensorToWrite,
} from '../../engine/store/safetensors.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const concat = (chunks: Uint8Array[]) => new Uint8Array(Buffer.concat(chunks));

/** A raw file: 8-byte length (or a lie), the header text, then `data` bytes. */
function raw(header: unknown, dataBytes: number, headerLength?: number | bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  return out;
}

function formatError(bytes: Uint8Array): FormatError {
  try {
    parseSafetensors(bytes, 'bad.safetensors');
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message.startsWith('bad.safetensors: ')).toBe(true);
    return err as FormatError;
  }
  throw new Error('expected a FormatError');
}

const f32 = (n: number, shape: number[]) => ({ dtype: 'F32', shape, data_offsets: [n, n + 4 * shape.reduce((a, b) => a * b, 1)] });

describe('safetensors round trip', () => {
  const tensors: TensorToWrite[] = [
    { name: 'f64', dtype: 'F64', shape: [3], data: new Float64Array([1.5, -2.25, 1e300]) },
    { name: 'f32', dtype: 'F32', shape: [2, 3], data: new Float32Array([0, 1, -1, 0.5, 3.25, -7]) },
    { name: 'f16', dtype: 'F16', shape: [4], data: float32ToF16(new Float32Array([1, -2, 0.5, 65504])) },
    { name: 'bf16', dtype: 'BF16', shape: [2, 2], data: float32ToBF16(new Float32Array([1, -2, 0.5, 3e38])) },
    { name: 'i64', dtype: 'I64', shape: [3], data: new BigInt64Array([0n, -1n, 9007199254740993n]) },
    { name: 'i32', dtype: 'I32', shape: [2], data: new Int32Array([-5, 2147483647]) },
    { name: 'i16', dtype: 'I16', shape: [2], data: new Int16Array([-32768, 7]) },
    { name: 'i8', dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    { name: 'u8', dtype: 'U8', shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
    { name: 'bool', dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) },
    { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([42]) },
    { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
  ];
  const file = path.join(tmp, 'all.safetensors');
  writeSafetensors(file, tensors, { format: 'pt', note: 'ünïcode' });

  it('reads back every dtype byte-exactly, with metadata', () => {
    const st = openSafetensors(file);
    try {
      expect(st.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
      expect([...st.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
      for (const t of tensors) {
        const info = st.tensors.get(t.name)!;
        expect(info.dtype).toBe(t.dtype);
        expect(info.shape).toEqual(t.shape);
        expect(Buffer.from(st.readBytes(t.name))).toEqual(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      }
      expect([...st.readFloat32('f64')]).toEqual([1.5, -2.25, Infinity]); // 1e300 overflows float32
      expect([...st.readFloat32('f16')]).toEqual([1, -2, 0.5, 65504]);
      expect([...st.readFloat32('bf16')]).toEqual([1, -2, 0.5, bf16ToFloat32(float32ToBF16(new Float32Array([3e38])))[0]]);
      expect([...st.readFloat32('scalar')]).toEqual([42]);
      expect(st.readFloat32('empty').length).toBe(0);
      expect([...st.readInt64('i64')]).toEqual([0n, -1n, 9007199254740993n]);
    } finally {
      st.close();
    }
  });

  it('writes the header sorted by name, space-padded to a multiple of 8, data in the same order', () => {
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(text);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).toEqual([...names].sort());
    const offsets = names.map((k) => header[k].data_offsets as [number, number]);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]![0]).toBe(offsets[i - 1]![1]);
    expect(offsets.at(-1)![1]).toBe(bytes.length - 8 - n);
  });

  it('parses in-memory buffers (also Node Buffers with an offset) the same way', () => {
    const pool = Buffer.concat([Buffer.alloc(3), fs.readFileSync(file)]).subarray(3);
    const st = parseSafetensors(pool, 'mem');
    expect([...st.readFloat32('f32')]).toEqual([0, 1, -1, 0.5, 3.25, -7]);
    expect(st.readBytes('u8').byteOffset).toBe(0);
  });

  it('encodes chunks without copying tensor data and handles an empty file', () => {
    const data = new Float32Array([1, 2]);
    const chunks = encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data }]);
    expect(chunks).toHaveLength(2);
    expect(chunks[1]!.buffer).toBe(data.buffer);
    const empty = parseSafetensors(concat(encodeSafetensors([])), 'empty');
    expect(empty.tensors.size).toBe(0);
  });

  it('accepts U16/U32/U64 when reading', () => {
    const h = { a: { dtype: 'U16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'U32', shape: [1], data_offsets: [4, 8] }, c: { dtype: 'U64', shape: [1], data_offsets: [8, 16] } };
    const st = parseSafetensors(raw(h, 16), 'u.safetensors');
    expect(st.tensors.get('c')!.dtype).toBe('U64');
  });

  it('rejects inconsistent input when writing', () => {
    expect(() => encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(2) }])).toThrow(/needs 12/);
    expect(() => encodeSafetensors([{ name: '__metadata__', dtype: 'F32', shape: [0], data: new Float32Array(0) }])).toThrow(/reserved/);
    const dup = { name: 'x', dtype: 'U8' as const, shape: [1], data: new Uint8Array(1) };
    expect(() => encodeSafetensors([dup, dup])).toThrow(/duplicate/);
  });
});

describe('half-precision conversion', () => {
  const halfValue = (h: number) => f16ToFloat32(new Uint16Array([h]))[0]!;

  it('decodes subnormals, infinities, NaN and signed zero', () => {
    expect(halfValue(0x0001)).toBe(2 ** -24);
    expect(halfValue(0x03ff)).toBe(1023 * 2 ** -24);
    expect(halfValue(0x0400)).toBe(2 ** -14);
    expect(halfValue(0x7bff)).toBe(65504);
    expect(halfValue(0x7c00)).toBe(Infinity);
    expect(halfValue(0xfc00)).toBe(-Infinity);
    expect(halfValue(0x7e00)).toBeNaN();
    expect(Object.is(halfValue(0x8000), -0)).toBe(true);
    expect(halfValue(0x3c00)).toBe(1);
    expect(halfValue(0xc000)).toBe(-2);
  });

  it('round-trips all 65,536 half values (NaNs stay NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = float32ToF16(f16ToFloat32(all));
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      const ok = isNaN ? (back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0 : back[h] === h;
      if (!ok) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('encodes float32 to half with round-to-nearest-even, overflow to inf, underflow to subnormals', () => {
    const enc = (x: number) => float32ToF16(new Float32Array([x]))[0]!;
    expect(enc(65504)).toBe(0x7bff);
    expect(enc(65519)).toBe(0x7bff); // below the halfway point
    expect(enc(65520)).toBe(0x7c00); // halfway to 65536: ties to even = inf
    expect(enc(1e6)).toBe(0x7c00);
    expect(enc(-1e6)).toBe(0xfc00);
    expect(enc(2 ** -24)).toBe(0x0001);
    expect(enc(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal: even
    expect(enc(2 ** -25 * 1.5)).toBe(0x0001);
    expect(enc(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 subnormal units: even
    expect(enc(1 + 2 ** -11)).toBe(0x3c00); // tie: 1.0 has even mantissa
    expect(enc(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(enc(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(enc(1e-10)).toBe(0);
    expect(enc(-0)).toBe(0x8000);
    expect(enc(Infinity)).toBe(0x7c00);
    expect(enc(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('picks the nearest half for random float32 values', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const values = new Float32Array(20000).map(() => (rnd() - 0.5) * 2 ** (rnd() * 44 - 28));
    const halves = float32ToF16(values);
    const table = f16ToFloat32(new Uint16Array(65536).map((_, i) => i));
    const wrong: number[] = [];
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!;
      const h = halves[i]!;
      const err = Math.abs(table[h]! - x);
      for (const other of [h - 1, h + 1]) {
        if ((other & 0x8000) !== (h & 0x8000) || (other & 0x7fff) > 0x7c00 || other < 0) continue;
        if (err > Math.abs(table[other]! - x)) wrong.push(x);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('encodes bfloat16 with round-to-nearest-even and round-trips all non-NaN values', () => {
    const enc = (x: number) => float32ToBF16(new Float32Array([x]))[0]!;
    expect(enc(1)).toBe(0x3f80);
    expect(enc(1 + 2 ** -8)).toBe(0x3f80); // tie, even
    expect(enc(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, even upward
    expect(enc(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(enc(3.4028234663852886e38)).toBe(0x7f80); // max float rounds to inf
    expect(enc(-Infinity)).toBe(0xff80);
    expect(bf16ToFloat32(new Uint16Array([enc(NaN)]))[0]).toBeNaN();
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = float32ToBF16(bf16ToFloat32(all));
    const wrong = [...all].filter((h) => !((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) && back[h] !== h);
    expect(wrong).toEqual([]);
  });

  const fixtures = path.resolve(import.meta.dirname, '../fixtures');
  it.skipIf(!fs.existsSync(path.join(fixtures, 'gpt2-tiny-f16')))('matches PyTorch rounding on the F16 and BF16 fixtures', () => {
    const f32 = openSafetensors(path.join(fixtures, 'gpt2-tiny-f32/model.safetensors'));
    const f16 = openSafetensors(path.join(fixtures, 'gpt2-tiny-f16/model.safetensors'));
    const bf16 = openSafetensors(path.join(fixtures, 'gpt2-tiny-bf16/model.safetensors'));
    try {
      let compared = 0;
      for (const [name, info] of f32.tensors) {
        if (info.dtype !== 'F32') continue; // the BOOL causal-mask buffers
        const values = f32.readFloat32(name);
        const short = name.replace(/^transformer\./, '');
        for (const [file, key, encode] of [[f16, short, float32ToF16], [bf16, name, float32ToBF16]] as const) {
          const candidates = [key, name, short].filter((k) => file.tensors.has(k));
          if (candidates.length === 0) continue;
          const same = Buffer.from(encode(values).buffer).equals(Buffer.from(file.readBytes(candidates[0]!)));
          expect(same, `${candidates[0]} in ${file.path}`).toBe(true);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(10);
    } finally {
      f32.close(); f16.close(); bf16.close();
    }
  });

  it('converts 10M half values quickly', () => {
    const half = new Uint16Array(10_000_000);
    for (let i = 0; i < half.length; i++) half[i] = (i * 40503) & 0xffff;
    const t0 = performance.now();
    const out = f16ToFloat32(half);
    const t1 = performance.now();
    bf16ToFloat32(half);
    const t2 = performance.now();
    expect(out[1]).toBe(halfValue(40503));
    // ~40 ms each on a 2-core machine; generous bounds for a loaded one.
    expect(t1 - t0).toBeLessThan(1000);
    expect(t2 - t1).toBeLessThan(1000);
  });
});

describe('safetensors validation', () => {
  it('rejects files shorter than 8 bytes', () => {
    expect(formatError(new Uint8Array(5)).message).toMatch(/5 bytes, too short/);
  });
  it('rejects a header length of 0', () => {
    expect(formatError(raw('', 0, 0)).message).toMatch(/header length is 0/);
  });
  it('rejects a header length over 100 MB', () => {
    expect(formatError(raw('{}', 0, 200_000_000)).message).toMatch(/exceeds the 100000000-byte limit/);
    expect(formatError(raw('{}', 0, 2n ** 64n - 1n)).message).toMatch(/exceeds/);
  });
  it('rejects a header length beyond the file', () => {
    expect(formatError(raw('{}', 0, 50)).message).toMatch(/header length 50 goes beyond the end of the file \(10 bytes\)/);
  });
  it('rejects a header that is not UTF-8', () => {
    const bytes = raw('{"a":1}', 0);
    bytes[10] = 0xff;
    expect(formatError(bytes).message).toMatch(/not valid UTF-8/);
  });
  it('rejects a header that is not JSON, with the position', () => {
    expect(formatError(raw('{"a": }', 0)).message).toMatch(/header is not valid JSON \(line 1, column 7/);
  });
  it('rejects a header that is not an object', () => {
    expect(formatError(raw('[1, 2]', 0)).message).toMatch(/header must be a JSON object, got array/);
    expect(formatError(raw('null', 0)).message).toMatch(/got null/);
  });
  it('rejects entries that are not objects or lack fields', () => {
    expect(formatError(raw({ w: 5 }, 0)).message).toMatch(/tensor "w": entry must be an object, got number/);
    expect(formatError(raw({ w: { shape: [1], data_offsets: [0, 4] } }, 4)).message).toMatch(/tensor "w": missing dtype/);
    expect(formatError(raw({ w: { dtype: 'F32', data_offsets: [0, 4] } }, 4)).message).toMatch(/missing shape/);
    expect(formatError(raw({ w: { dtype: 'F32', shape: [1] } }, 4)).message).toMatch(/missing data_offsets/);
    expect(formatError(raw({ w: { dtype: 7, shape: [1], data_offsets: [0, 4] } }, 4)).message).toMatch(/dtype must be a string, got number/);
    expect(formatError(raw({ w: { dtype: 'F32', shape: 'x', data_offsets: [0, 4] } }, 4)).message).toMatch(/shape must be a list/);
  });
  it('rejects unknown dtypes', () => {
    expect(formatError(raw({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, 1)).message).toMatch(/unknown dtype "F8_E4M3"/);
    expect(formatError(raw({ w: { dtype: 'toString', shape: [1], data_offsets: [0, 1] } }, 1)).message).toMatch(/unknown dtype/);
  });
  it('rejects negative and non-integer dims', () => {
    expect(formatError(raw({ w: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 4] } }, 4)).message).toMatch(/non-negative integers, got -1/);
    expect(formatError(raw({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4)).message).toMatch(/got 1.5/);
    expect(formatError(raw({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 8)).message).toMatch(/got "2"/);
  });
  it('rejects bad data_offsets', () => {
    for (const offs of [[0], [4, 0], ['0', 4], [-4, 0], [0, 4, 8], [0.5, 4], null]) {
      expect(formatError(raw({ w: { dtype: 'F32', shape: [1], data_offsets: offs } }, 4)).message).toMatch(/data_offsets must be \[begin, end\]/);
    }
  });
  it('rejects a byte length that does not match the shape', () => {
    expect(formatError(raw({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, 12)).message)
      .toMatch(/tensor "w": holds 12 bytes but shape \[2, 2\] of F32 needs 16/);
    expect(formatError(raw({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, 4)).message).toMatch(/needs more than 2\^53/);
  });
  it('rejects offsets beyond the data section', () => {
    expect(formatError(raw({ w: f32(0, [4]) }, 8)).message).toMatch(/data_offsets \[0, 16\] go beyond the data section \(8 bytes\)/);
  });
  it('rejects overlapping tensors', () => {
    expect(formatError(raw({ a: f32(0, [2]), b: f32(4, [2]) }, 12)).message).toMatch(/tensors "a" and "b" overlap/);
  });
  it('rejects gaps', () => {
    expect(formatError(raw({ a: f32(0, [1]), b: f32(8, [1]) }, 12)).message).toMatch(/bytes 4\.\.8 of the data section belong to no tensor/);
    expect(formatError(raw({ a: f32(4, [1]) }, 8)).message).toMatch(/bytes 0\.\.4/);
  });
  it('rejects trailing bytes after the last tensor', () => {
    expect(formatError(raw({ a: f32(0, [1]) }, 7)).message).toMatch(/3 trailing bytes after the last tensor/);
    expect(formatError(raw({}, 1)).message).toMatch(/1 trailing bytes/);
  });
  it('accepts zero-size tensors anywhere on a boundary', () => {
    const st = parseSafetensors(raw({ a: f32(0, [1]), z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] }, y: { dtype: 'I8', shape: [3, 0], data_offsets: [0, 0] } }, 4), 'z');
    expect(st.tensors.size).toBe(3);
  });
  it('rejects __metadata__ that is not a string map', () => {
    expect(formatError(raw({ __metadata__: ['x'] }, 0)).message).toMatch(/__metadata__ must be an object of strings, got array/);
    expect(formatError(raw({ __metadata__: { format: 1 } }, 0)).message).toMatch(/__metadata__ value "format" must be a string, got number/);
    expect(formatError(raw({ __metadata__: null }, 0)).message).toMatch(/got null/);
  });
  it('keeps odd keys as plain data', () => {
    const st = parseSafetensors(raw('{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1), 'p');
    expect(st.metadata['__proto__']).toBe('x');
    expect(Object.getPrototypeOf(st.metadata)).toBe(Object.prototype);
    expect(st.tensors.get('__proto__')!.dtype).toBe('U8');
  });
  it('refuses dtype mismatches and unknown names when reading', () => {
    const st = parseSafetensors(concat(encodeSafetensors([
      { name: 'i', dtype: 'I64', shape: [1], data: new BigInt64Array([1n]) },
      { name: 'f', dtype: 'F32', shape: [1], data: new Float32Array([1]) },
    ])), 'm.safetensors');
    expect(() => st.readFloat32('i')).toThrow(FormatError);
    expect(() => st.readFloat32('i')).toThrow(/tensor "i" is I64, expected a floating-point tensor/);
    expect(() => st.readInt64('f')).toThrow(/tensor "f" is F32, expected I64/);
    expect(() => st.readBytes('nope')).toThrow(/m.safetensors: no tensor named "nope"/);
  });
  it('names the file for missing files, folders and bad files on disk', () => {
    expect(() => openSafetensors(path.join(tmp, 'missing.safetensors'))).toThrow(/missing\.safetensors: file not found/);
    expect(() => openSafetensors(tmp)).toThrow(FormatError);
    const bad = path.join(tmp, 'bad.safetensors');
    fs.writeFileSync(bad, raw({ a: f32(0, [1]) }, 7));
    expect(() => openSafetensors(bad)).toThrow(`${bad}: 3 trailing bytes after the last tensor`);
  });
});

describe('large files through a file descriptor', () => {
  it('reads one tensor of a 48 MB file without reading the others', () => {
    const big = new Float32Array(6_000_000);
    for (let i = 0; i < big.length; i += 1000) big[i] = i;
    const small = new Float32Array([1, 2, 3]);
    const halves = float32ToF16(new Float32Array(3_000_000).fill(0.25));
    const file = path.join(tmp, 'big.safetensors');
    writeSafetensors(file, [
      { name: 'big', dtype: 'F32', shape: [6000, 1000], data: big },
      { name: 'half', dtype: 'F16', shape: [3_000_000], data: halves },
      { name: 'zsmall', dtype: 'F32', shape: [3], data: small },
      { name: 'twin', dtype: 'F32', shape: [6000, 1000], data: big },
    ]);
    expect(fs.statSync(file).size).toBeGreaterThan(48_000_000);
    const st = openSafetensors(file);
    try {
      expect([...st.readFloat32('zsmall')]).toEqual([1, 2, 3]);
      const back = st.readFloat32('twin');
      expect(back.length).toBe(6_000_000);
      expect(back[5_999_000]).toBe(5_999_000);
      const h = st.readFloat32('half');
      expect(h.length).toBe(3_000_000);
      expect(h.every((v) => v === 0.25)).toBe(true);
    } finally {
      st.close();
    }
    expect(() => st.readBytes('zsmall')).toThrow(/closed/);
  });

  const real = path.resolve(import.meta.dirname, '../../../shared/data/tiny-gpt2/fake_gpt2/model.safetensors');
  it.skipIf(!fs.existsSync(real))('reads a checkpoint written by Hugging Face (shared/data/tiny-gpt2)', () => {
    const st = openSafetensors(real);
    try {
      expect(st.tensors.get('transformer.wte.weight')!.shape).toEqual([50257, 2]);
      let params = 0;
      for (const name of st.tensors.keys()) params += st.readFloat32(name).length;
      expect(params).toBeGreaterThanOrEqual(102_640);
    } finally {
      st.close();
    }
  });
});
