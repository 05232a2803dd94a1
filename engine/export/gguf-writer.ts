// GGUF v3 encoding (llama.cpp's file format, read by llama.cpp, Ollama and LM Studio): a
// little-endian header, typed key/value metadata, tensor infos (dimensions innermost first) and
// the tensor data, each tensor aligned to `general.alignment` (32). Tensors are F32, F16 or Q8_0
// (blocks of 32 values: one f16 scale, then 32 int8 quants, ggml's reference quantizer).

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;

/** ggml tensor types this writer produces (ids as in ggml.h). */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8 } as const;
export type GgmlTypeName = keyof typeof GgmlType;

/** GGUF metadata value types (gguf.h). */
const T = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;

export type MetaValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'str'; value: string }
  | { type: 'str[]'; value: string[] }
  | { type: 'i32[]'; value: ArrayLike<number> }
  | { type: 'f32[]'; value: ArrayLike<number> };

export const u32 = (value: number): MetaValue => ({ type: 'u32', value });
export const i32 = (value: number): MetaValue => ({ type: 'i32', value });
export const f32 = (value: number): MetaValue => ({ type: 'f32', value });
export const bool = (value: boolean): MetaValue => ({ type: 'bool', value });
export const str = (value: string): MetaValue => ({ type: 'str', value });

/** A tensor ready to write: its shape as PyTorch sees it (outermost first), its type and bytes. */
export interface GgufTensor {
  name: string;
  shape: number[];
  type: GgmlTypeName;
  data: Uint8Array;
}

/** A growable little-endian byte buffer. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  u32(v: number): void { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  u64(v: number): void { this.reserve(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.bytes(b); }
  pad(align: number): void { while (this.length % align !== 0) this.u8(0); }
  done(): Uint8Array { return this.buf.subarray(0, this.length); }
}

function writeValue(out: Bytes, v: MetaValue): void {
  switch (v.type) {
    case 'u32': out.u32(T.UINT32); out.u32(v.value); break;
    case 'i32': out.u32(T.INT32); out.i32(v.value); break;
    case 'f32': out.u32(T.FLOAT32); out.f32(v.value); break;
    case 'bool': out.u32(T.BOOL); out.u8(v.value ? 1 : 0); break;
    case 'str': out.u32(T.STRING); out.str(v.value); break;
    case 'str[]': out.u32(T.ARRAY); out.u32(T.STRING); out.u64(v.value.length); for (const s of v.value) out.str(s); break;
    case 'i32[]': out.u32(T.ARRAY); out.u32(T.INT32); out.u64(v.value.length); for (let i = 0; i < v.value.length; i++) out.i32(v.value[i]); break;
    case 'f32[]': out.u32(T.ARRAY); out.u32(T.FLOAT32); out.u64(v.value.length); for (let i = 0; i < v.value.length; i++) out.f32(v.value[i]); break;
  }
}

/** Bytes a tensor of this shape and type occupies. */
export function tensorBytes(shape: readonly number[], type: GgmlTypeName): number {
  const n = shape.reduce((a, b) => a * b, 1);
  if (type === 'F32') return n * 4;
  if (type === 'F16') return n * 2;
  return (n / 32) * 34;
}

/**
 * The whole file as chunks (header + metadata + tensor infos, then each tensor's bytes and its
 * padding), so a large model is never concatenated in memory.
 */
export function encodeGguf(metadata: [string, MetaValue][], tensors: GgufTensor[]): Uint8Array[] {
  const seen = new Set<string>();
  for (const [k] of metadata) {
    if (seen.has(k)) throw new Error(`GGUF: duplicate metadata key ${k}`);
    seen.add(k);
  }
  const head = new Bytes();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const [k, v] of metadata) { head.str(k); writeValue(head, v); }
  let offset = 0;
  for (const t of tensors) {
    const expected = tensorBytes(t.shape, t.type);
    if (t.data.byteLength !== expected) throw new Error(`GGUF: tensor ${t.name} has ${t.data.byteLength} bytes, expected ${expected}`);
    head.str(t.name);
    head.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) head.u64(t.shape[i]); // innermost first
    head.u32(GgmlType[t.type]);
    head.u64(offset);
    offset += Math.ceil(expected / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  }
  head.pad(GGUF_ALIGNMENT);
  const chunks: Uint8Array[] = [head.done()];
  for (const t of tensors) {
    chunks.push(t.data);
    const pad = (GGUF_ALIGNMENT - (t.data.byteLength % GGUF_ALIGNMENT)) % GGUF_ALIGNMENT;
    if (pad) chunks.push(new Uint8Array(pad));
  }
  return chunks;
}

// ---- number formats ----

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE half from a float32, round to nearest even (as numpy's and ggml's conversions). */
export function toHalf(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mant |= 0x800000; // implicit bit
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // Rounding may carry into the exponent (and up to Inf), which the integer addition handles.
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0));
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function encodeF32(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function encodeF16(data: Float32Array): Uint8Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = toHalf(data[i]);
  return new Uint8Array(out.buffer);
}

/** C's roundf: halves away from zero. */
const roundf = (v: number): number => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

/** ggml's quantize_row_q8_0_ref over a row-major array whose length is a multiple of 32. */
export function encodeQ8_0(data: Float32Array): Uint8Array {
  if (data.length % 32 !== 0) throw new Error(`Q8_0 needs a multiple of 32 values, got ${data.length}`);
  const blocks = data.length / 32;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const x = data.subarray(b * 32, b * 32 + 32);
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[i]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, toHalf(d), true);
    for (let i = 0; i < 32; i++) view.setInt8(b * 34 + 2 + i, roundf(Math.fround(x[i] * id)));
  }
  return out;
}

/** Q8_0 back to float32 (what llama.cpp computes with). */
export function decodeQ8_0(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = bytes.byteLength / 34;
  const out = new Float32Array(blocks * 32);
  for (let b = 0; b < blocks; b++) {
    const d = fromHalf(view.getUint16(b * 34, true));
    for (let i = 0; i < 32; i++) out[b * 32 + i] = view.getInt8(b * 34 + 2 + i) * d;
  }
  return out;
}

/** Encodes float32 values as the given type. */
export function encodeTensor(data: Float32Array, type: GgmlTypeName): Uint8Array {
  return type === 'F32' ? encodeF32(data) : type === 'F16' ? encodeF16(data) : encodeQ8_0(data);
}
