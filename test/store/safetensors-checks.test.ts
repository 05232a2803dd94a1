// The checks a loader runs before trusting a weights file: the header alone against the file size
// (checkSafetensorsHeader), non-finite values on read (assertFinite) and on write (refused), and
// special files (FIFO, folder, device) refused without blocking.
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FormatError } from '../../engine/store/errors.ts';
import { assertFinite, checkSafetensorsHeader, encodeSafetensors, float32ToBF16, float32ToF16, openSafetensors, writeSafetensors } from '../../engine/store/safetensors.ts';
import { loadAdapter, saveAdapter } from '../../engine/store/adapter.ts';
import { defaultLoraConfig } from '../../engine/lora/config.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-stc-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function raw(header: unknown, data: Uint8Array, declared?: number): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(declared ?? json.length));
  return Buffer.concat([len, json, data]);
}

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('checkSafetensorsHeader', () => {
  it('lists names, dtypes, shapes and byte sizes from the header alone', () => {
    const file = path.join(tmp, 'ok.safetensors');
    writeSafetensors(file, [
      { name: 'b', dtype: 'F16', shape: [3], data: float32ToF16(new Float32Array([1, 2, 3])) },
      { name: 'a', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    ], { format: 'pt' });
    const h = checkSafetensorsHeader(file);
    expect(h.fileSize).toBe(fs.statSync(file).size);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors).toEqual([
      { name: 'a', dtype: 'F32', shape: [2, 2], bytes: 16, elements: 4 },
      { name: 'b', dtype: 'F16', shape: [3], bytes: 6, elements: 3 },
    ]);
    expect(h.dataOffset + 22).toBe(h.fileSize);
  });

  it('refuses a header whose tensors do not fit in the file, before any allocation', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['absurd-shape', raw({ w: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 16] } }, new Uint8Array(16)), /shape \[1000000000, 1000000000\] of F32 needs more than 2\^53/],
      ['past-end', raw({ w: { dtype: 'F32', shape: [1000000], data_offsets: [0, 4000000] } }, new Uint8Array(16)), /go beyond the data section \(16 bytes\)/],
      ['header-past-end', raw({}, new Uint8Array(0), 1 << 20), /header length 1048576 goes beyond the end of the file/],
      ['header-huge', raw({}, new Uint8Array(0), 2 ** 40), /exceeds the 100000000-byte limit/],
    ];
    for (const [name, bytes, re] of cases) {
      const file = path.join(tmp, `${name}.safetensors`);
      fs.writeFileSync(file, bytes);
      const e = errorOf(() => checkSafetensorsHeader(file));
      expect(e).toBeInstanceOf(FormatError);
      expect(e.message.startsWith(`${file}: `)).toBe(true);
      expect(e.message).toMatch(re);
    }
  });

  it.skipIf(process.platform === 'win32')('refuses a FIFO, a folder and a device at once (never waits for a writer)', () => {
    const fifo = path.join(tmp, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    const t0 = performance.now();
    expect(errorOf(() => checkSafetensorsHeader(fifo)).message).toBe(`${fifo}: is a FIFO (named pipe); expected a .safetensors file`);
    expect(errorOf(() => openSafetensors(fifo)).message).toMatch(/is a FIFO/);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(errorOf(() => openSafetensors(tmp)).message).toBe(`${tmp}: is a folder; expected a .safetensors file`);
    if (process.platform === 'linux') expect(errorOf(() => openSafetensors('/dev/zero')).message).toBe('/dev/zero: is a character device; expected a .safetensors file');
    expect(errorOf(() => openSafetensors(path.join(tmp, 'nope.safetensors'))).message).toMatch(/nope\.safetensors: file not found$/);
  });
});

describe('non-finite tensors', () => {
  it('assertFinite names the file, the tensor, the count and the first bad element', () => {
    expect(() => assertFinite('m.safetensors', 'w', new Float32Array([1, 2, 3]))).not.toThrow();
    const e = errorOf(() => assertFinite('m.safetensors', 'h.0.attn.c_attn.weight', new Float32Array([0, NaN, 1, Infinity])));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toBe('m.safetensors: tensor "h.0.attn.c_attn.weight" holds 2 non-finite values (NaN at element 1 of 4); refusing to use it');
    expect(errorOf(() => assertFinite('f', 'x', [1, -Infinity])).message).toMatch(/1 non-finite value \(-Infinity at element 1 of 2\)/);
  });

  it('writeSafetensors refuses NaN and infinities in every float dtype, and leaves no file', () => {
    const bad: [string, 'F32' | 'F64' | 'F16' | 'BF16', ArrayBufferView][] = [
      ['f32-nan', 'F32', new Float32Array([1, NaN])],
      ['f32-inf', 'F32', new Float32Array([-Infinity, 1])],
      ['f64-inf', 'F64', new Float64Array([1, Infinity])],
      ['f16-nan', 'F16', float32ToF16(new Float32Array([1, NaN]))],
      ['f16-overflow', 'F16', float32ToF16(new Float32Array([1e6, 1]))], // overflows to +inf in half
      ['bf16-nan', 'BF16', float32ToBF16(new Float32Array([NaN, 1]))],
    ];
    for (const [name, dtype, data] of bad) {
      const file = path.join(tmp, `${name}.safetensors`);
      const e = errorOf(() => writeSafetensors(file, [{ name: 'w', dtype, shape: [2], data }]));
      expect(e).toBeInstanceOf(FormatError);
      expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: refusing to save tensor "w": element [01] is not finite`));
      expect(fs.existsSync(file)).toBe(false);
    }
    // an unaligned F32 view is checked too
    const bytes = new Uint8Array(12);
    new DataView(bytes.buffer).setFloat32(5, NaN, true);
    expect(() => encodeSafetensors([{ name: 'u', dtype: 'F32', shape: [2], data: bytes.subarray(1, 9) }], undefined, 'u.safetensors')).toThrow(/u\.safetensors: refusing to save tensor "u": element 1/);
    // finite values, F64 values beyond float32's range, and integer dtypes are fine
    const ok = path.join(tmp, 'finite.safetensors');
    writeSafetensors(ok, [
      { name: 'a', dtype: 'F64', shape: [1], data: new Float64Array([1e300]) },
      { name: 'b', dtype: 'I32', shape: [1], data: new Int32Array([-1]) },
      { name: 'c', dtype: 'F32', shape: [2], data: new Float32Array([3.4e38, -0]) },
    ]);
    expect(checkSafetensorsHeader(ok).tensors.map((t) => t.name)).toEqual(['a', 'b', 'c']);
  });

  it('an adapter holding NaN or Infinity is refused on load; saveAdapter refuses to write one', () => {
    const cfg = defaultLoraConfig({ r: 2, loraAlpha: 4, targetModules: ['c_attn'], fanInFanOut: true, taskType: 'CAUSAL_LM' });
    const A = 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight';
    const B = 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight';
    const good = new Map([[A, { shape: [2, 4], data: new Float32Array(8).fill(0.5) }], [B, { shape: [12, 2], data: new Float32Array(24) }]]);
    const dir = path.join(tmp, 'adapter');
    saveAdapter(dir, cfg, good);
    expect(loadAdapter(dir).tensors.size).toBe(2);
    // a file written by another tool with a NaN in lora_B
    const weights = path.join(dir, 'adapter_model.safetensors');
    const st = openSafetensors(weights);
    const info = st.tensors.get(B)!;
    const offset = st.dataOffset + info.begin + 4 * 7;
    st.close();
    const bytes = fs.readFileSync(weights);
    bytes.writeFloatLE(NaN, offset);
    fs.writeFileSync(weights, bytes);
    const e = errorOf(() => loadAdapter(dir));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toBe(`${weights}: tensor "${B}" holds 1 non-finite value (NaN at element 7 of 24); refusing to use it`);
    // and nothing non-finite is ever saved
    const bad = new Map(good);
    bad.set(A, { shape: [2, 4], data: new Float32Array([0, 0, 0, Infinity, 0, 0, 0, 0]) });
    const dir2 = path.join(tmp, 'adapter2');
    expect(() => saveAdapter(dir2, cfg, bad)).toThrow(/adapter_model\.safetensors: refusing to save tensor ".*lora_A\.weight": element 3 is not finite/);
    expect(fs.existsSync(path.join(dir2, 'adapter_model.safetensors'))).toBe(false);
  });
});
