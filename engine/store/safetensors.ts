// safetensors: an 8-byte little-endian header length N, N bytes of JSON header (padded with
// spaces), then the data section. Headers come from anywhere (downloads, other tools), so every
// field is checked and every problem is a FormatError naming the file; tensor bytes are read on
// demand through a file descriptor because model files can be hundreds of megabytes.
// Data is little-endian, as on every platform we ship to.
import fs from 'node:fs';
import { FormatError } from './errors.ts';
import { describeType, isJsonObject, parseJsonObject } from './json.ts';
import { writeFileAtomic } from './atomic.ts';
import { openFileSync, readExactlySync } from '../util/files.ts';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
/** Dtypes accepted when reading (other tools write unsigned ints). */
export type SafetensorsReadDtype = SafetensorsDtype | 'U16' | 'U32' | 'U64';

export const DTYPE_SIZES: Readonly<Record<SafetensorsReadDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8,
};
const WRITE_DTYPES = new Set<string>(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL']);

/** Same limit as the reference implementation: a larger header is an attack or corruption. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsReadDtype;
  shape: number[];
  /** Byte range [begin, end) relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  /** The path (or the label given to parseSafetensors), as used in error messages. */
  readonly path: string;
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  /** Absolute offset of the data section (8 + header length). */
  readonly dataOffset: number;
  /** The file's size in bytes. */
  readonly fileSize: number;
  /** The tensor's raw bytes, in a fresh buffer (offset 0, so typed-array views are aligned). */
  readBytes(name: string): Uint8Array;
  /** The tensor as float32, converting F16, BF16 and F64. */
  readFloat32(name: string): Float32Array;
  readInt64(name: string): BigInt64Array;
  close(): void;
}

// ---------- reading ----------

interface ByteSource {
  size: number;
  /** Fills `target` with the bytes at `position` (exactly target.length of them). */
  readInto(position: number, target: Uint8Array): void;
  close(): void;
}

function readFresh(src: ByteSource, position: number, length: number, label: string): Uint8Array {
  const out = new Uint8Array(allocate(length, label));
  src.readInto(position, out);
  return out;
}

/** Sizes are bounded by the file's, but a legit multi-GB tensor can still exceed memory limits. */
function allocate(bytes: number, label: string): ArrayBuffer {
  try {
    return new ArrayBuffer(bytes);
  } catch {
    throw new FormatError(label, `cannot allocate ${bytes} bytes to read a tensor (too large for memory)`);
  }
}

const stError = (file: string, problem: string): FormatError => new FormatError(file, problem === 'not found' ? 'file not found' : problem);

/** Only regular files, opened without blocking (a FIFO or a device is refused, never waited on). */
function openSource(path: string): ByteSource {
  const { fd, size } = openFileSync(path, { what: 'a .safetensors file', error: stError });
  let closed = false;
  return {
    size,
    readInto(position, out) {
      if (closed) throw new Error(`${path}: file is closed`);
      if (position + out.length > size) throw new FormatError(path, `read of ${out.length} bytes at ${position} goes beyond the end of the file (${size} bytes)`);
      readExactlySync(fd, out, position, path, stError);
    },
    close() {
      if (!closed) { closed = true; fs.closeSync(fd); }
    },
  };
}

export function openSafetensors(path: string): SafetensorsFile {
  const source = openSource(path);
  try {
    return fromSource(source, path);
  } catch (err) {
    source.close();
    throw err;
  }
}

/** One tensor as the header describes it, checked against the file. */
export interface HeaderTensor {
  name: string;
  dtype: SafetensorsReadDtype;
  shape: number[];
  /** Bytes of data (shape × dtype size), inside the file. */
  bytes: number;
  /** Number of elements. */
  elements: number;
}

export interface SafetensorsHeader {
  file: string;
  /** The file's size in bytes. */
  fileSize: number;
  /** Absolute offset of the data section. */
  dataOffset: number;
  tensors: HeaderTensor[];
  metadata: Record<string, string>;
}

/**
 * The header only (8 + N bytes read, no tensor data): names, shapes, dtypes and byte sizes, every
 * one validated against the file's size (offsets inside the data section, shape × dtype = bytes,
 * tensors tiling the data exactly). A model loader calls this before allocating anything, then
 * compares the shapes with what config.json implies.
 */
export function checkSafetensorsHeader(file: string): SafetensorsHeader {
  const st = openSafetensors(file);
  try {
    const tensors = [...st.tensors.values()].map((t) => ({
      name: t.name,
      dtype: t.dtype,
      shape: [...t.shape],
      bytes: t.end - t.begin,
      elements: (t.end - t.begin) / DTYPE_SIZES[t.dtype],
    }));
    return { file, fileSize: st.fileSize, dataOffset: st.dataOffset, tensors, metadata: { ...st.metadata } };
  } finally {
    st.close();
  }
}

/**
 * Refuses a tensor holding NaN or ±Infinity, with one line naming the file, the tensor, how many
 * values are bad and where the first one is. Weights like that only produce NaN losses and NaN
 * models downstream.
 */
export function assertFinite(file: string, name: string, data: ArrayLike<number>): void {
  const n = data.length;
  let bad = 0;
  let first = -1;
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    // v - v is 0 for finite numbers and NaN for NaN and ±Infinity
    if (v - v !== 0) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad > 0) {
    const v = data[first]!;
    throw new FormatError(file, `tensor "${clip(name)}" holds ${bad} non-finite value${bad > 1 ? 's' : ''} (${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} at element ${first} of ${n}); refusing to use it`);
  }
}

/** Index of the first NaN/±Infinity in a tensor's raw data (F32/F64/F16/BF16), or -1. */
function firstNonFinite(dtype: SafetensorsDtype, data: ArrayBufferView): number {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (data instanceof Float32Array) {
        for (let i = 0; i < data.length; i++) if (data[i]! - data[i]! !== 0) return i;
        return -1;
      }
      for (let i = 0; i + 4 <= bytes.length; i += 4) if ((view.getUint32(i, true) & 0x7f800000) === 0x7f800000) return i / 4;
      return -1;
    }
    case 'F64':
      for (let i = 0; i + 8 <= bytes.length; i += 8) if (!Number.isFinite(view.getFloat64(i, true))) return i / 8;
      return -1;
    case 'F16':
      for (let i = 0; i + 2 <= bytes.length; i += 2) if ((view.getUint16(i, true) & 0x7c00) === 0x7c00) return i / 2;
      return -1;
    case 'BF16':
      for (let i = 0; i + 2 <= bytes.length; i += 2) if ((view.getUint16(i, true) & 0x7f80) === 0x7f80) return i / 2;
      return -1;
    default:
      return -1;
  }
}

/** The same validation as openSafetensors for a file already in memory. */
export function parseSafetensors(bytes: Uint8Array, label: string): SafetensorsFile {
  const source: ByteSource = {
    size: bytes.byteLength,
    // A copy (never Buffer#slice, which shares memory) so typed-array views are aligned.
    readInto: (position, out) => out.set(bytes.subarray(position, position + out.length)),
    close: () => {},
  };
  return fromSource(source, label);
}

function fromSource(src: ByteSource, label: string): SafetensorsFile {
  if (src.size < 8) throw new FormatError(label, `file is ${src.size} bytes, too short for a safetensors file (at least 8)`);
  const prefix = readFresh(src, 0, 8, label);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLength = hi * 2 ** 32 + lo; // exact below 2^53; anything that big is rejected anyway
  if (headerLength === 0) throw new FormatError(label, 'header length is 0');
  if (headerLength > MAX_HEADER_BYTES) {
    throw new FormatError(label, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file or not safetensors)`);
  }
  if (8 + headerLength > src.size) {
    throw new FormatError(label, `header length ${headerLength} goes beyond the end of the file (${src.size} bytes)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(readFresh(src, 8, headerLength, label));
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError(label, 'header is not valid UTF-8');
  }
  const dataOffset = 8 + headerLength;
  const { tensors, metadata } = parseHeader(text, src.size - dataOffset, label);

  const info = (name: string): TensorInfo => {
    const t = tensors.get(name);
    if (!t) throw new FormatError(label, `no tensor named "${name}"`);
    return t;
  };
  const readBytes = (name: string): Uint8Array => {
    const t = info(name);
    return readFresh(src, dataOffset + t.begin, t.end - t.begin, label);
  };
  /** Half-precision to float32 in one buffer: the halves are read into its upper half and
   * widened front to back (element i is written at bytes 4i..4i+4, never past unread input),
   * so a large F16 tensor costs no second allocation. */
  const widen = (t: TensorInfo, convert: (src: Uint16Array, dst: Float32Array) => void): Float32Array => {
    const n = (t.end - t.begin) / 2;
    const buffer = allocate(n * 4, label);
    src.readInto(dataOffset + t.begin, new Uint8Array(buffer, n * 2, n * 2));
    const out = new Float32Array(buffer);
    convert(new Uint16Array(buffer, n * 2, n), out);
    return out;
  };
  return {
    path: label,
    tensors,
    metadata,
    dataOffset,
    fileSize: src.size,
    readBytes,
    readFloat32(name) {
      const t = info(name);
      switch (t.dtype) {
        case 'F32': return new Float32Array(readBytes(name).buffer);
        case 'F16': return widen(t, f16Into);
        case 'BF16': return widen(t, bf16Into);
        case 'F64': return Float32Array.from(new Float64Array(readBytes(name).buffer));
        default:
          throw new FormatError(label, `tensor "${name}" is ${t.dtype}, expected a floating-point tensor (F32, F16, BF16 or F64)`);
      }
    },
    readInt64(name) {
      const t = info(name);
      if (t.dtype !== 'I64') throw new FormatError(label, `tensor "${name}" is ${t.dtype}, expected I64`);
      const bytes = readBytes(name);
      return new BigInt64Array(bytes.buffer, 0, bytes.byteLength / 8);
    },
    close: () => src.close(),
  };
}

function parseHeader(text: string, dataLength: number, label: string) {
  const header = parseJsonObject(text, label, 'header');
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(entry, label);
      continue;
    }
    tensors.set(name, parseEntry(name, entry, dataLength, label));
  }
  checkCoverage([...tensors.values()], dataLength, label);
  return { tensors, metadata };
}

function parseMetadata(entry: unknown, label: string): Record<string, string> {
  if (!isJsonObject(entry)) throw new FormatError(label, `__metadata__ must be an object of strings, got ${describeType(entry)}`);
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') throw new FormatError(label, `__metadata__ value "${k}" must be a string, got ${describeType(v)}`);
  }
  // fromEntries defines own properties, so a "__proto__" key stays data.
  return Object.fromEntries(Object.entries(entry)) as Record<string, string>;
}

function parseEntry(name: string, entry: unknown, dataLength: number, label: string): TensorInfo {
  const bad = (problem: string): never => { throw new FormatError(label, `tensor "${clip(name)}": ${problem}`); };
  if (!isJsonObject(entry)) bad(`entry must be an object, got ${describeType(entry)}`);
  const e = entry as Record<string, unknown>;
  for (const key of ['dtype', 'shape', 'data_offsets']) if (!Object.hasOwn(e, key)) bad(`missing ${key}`);
  const dtype = e.dtype;
  if (typeof dtype !== 'string') bad(`dtype must be a string, got ${describeType(dtype)}`);
  if (!Object.hasOwn(DTYPE_SIZES, dtype as string)) bad(`unknown dtype ${short(dtype)}`);
  const shape = e.shape;
  if (!Array.isArray(shape)) bad(`shape must be a list, got ${describeType(shape)}`);
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      bad(`shape must hold non-negative integers, got ${short(d)}`);
    }
  }
  const offsets = e.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    bad(`data_offsets must be [begin, end] non-negative integers with begin <= end, got ${short(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const size = DTYPE_SIZES[dtype as SafetensorsReadDtype];
  const dims = shape as number[];
  const need = byteLength(dims, size);
  if (need !== end - begin) {
    const needText = need > Number.MAX_SAFE_INTEGER ? 'more than 2^53' : String(need);
    bad(`holds ${end - begin} bytes but shape [${clip(dims.join(', '))}] of ${dtype} needs ${needText}`);
  }
  if (end > dataLength) bad(`data_offsets [${begin}, ${end}] go beyond the data section (${dataLength} bytes)`);
  return { name, dtype: dtype as SafetensorsReadDtype, shape: dims, begin, end };
}

function byteLength(shape: number[], size: number): number {
  if (shape.includes(0)) return 0;
  let n = size;
  for (const d of shape) n *= d; // may become huge or Infinity: then it cannot match anyway
  return n;
}

function checkCoverage(list: TensorInfo[], dataLength: number, label: string): void {
  // The format requires tensors to tile the data section exactly: no overlap, no gap, no tail.
  list.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorInfo | undefined;
  for (const t of list) {
    if (t.begin < pos) throw new FormatError(label, `tensors "${clip(prev!.name)}" and "${clip(t.name)}" overlap in the data section`);
    if (t.begin > pos) throw new FormatError(label, `bytes ${pos}..${t.begin} of the data section belong to no tensor (gap before "${clip(t.name)}")`);
    pos = t.end;
    prev = t;
  }
  if (pos < dataLength) throw new FormatError(label, `${dataLength - pos} trailing bytes after the last tensor`);
}

/** Values from the header, kept short in messages. */
function short(value: unknown): string {
  return clip(JSON.stringify(value) ?? describeType(value));
}

function clip(text: string, max = 120): string {
  return text.length > max ? text.slice(0, max) + '…' : text;
}

// ---------- conversions ----------

let f16Table: Int32Array | undefined;

/**
 * All 65,536 half values as float32 bit patterns, built once: conversion is then one lookup per
 * element. Int32 end to end is the fastest path in V8 and copies NaN payloads bit-exactly.
 */
function halfTable(): Int32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = (sign ? -1 : 1) * mant * 2 ** -24; // zero and subnormals
    else if (exp === 31) bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf and NaN (payload kept)
    else bits[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  }
  return (f16Table = new Int32Array(table.buffer));
}

export function f16ToFloat32(half: Uint16Array): Float32Array {
  const out = new Float32Array(half.length);
  f16Into(half, out);
  return out;
}

export function bf16ToFloat32(bf: Uint16Array): Float32Array {
  const out = new Float32Array(bf.length);
  bf16Into(bf, out);
  return out;
}

// Front-to-back on purpose: readFloat32 runs these with src overlapping the upper half of dst.
function f16Into(src: Uint16Array, dst: Float32Array): void {
  const table = halfTable();
  const bits = new Int32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) bits[i] = table[src[i]!]!;
}

function bf16Into(src: Uint16Array, dst: Float32Array): void {
  const bits = new Int32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) bits[i] = src[i]! << 16;
}

/** float32 -> IEEE half, round to nearest even; overflow gives ±inf, NaN stays NaN. */
export function float32ToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]!);
  return out;
}

function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1))) h++; // may carry into the smallest normal: correct
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into exponent 31 is correctly inf
  return sign | h;
}

/** float32 -> bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
export function float32ToBF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

// ---------- writing ----------

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: ArrayBufferView;
}

/**
 * The file as chunks: the padded header, then each tensor's bytes (views, not copies) in name
 * order. Throws a plain Error for inconsistent input (that is a bug in the caller, not a file),
 * and a FormatError naming `label` for a float tensor holding NaN or ±Infinity: those are never
 * saved (a diverged run must not leave a NaN adapter or model behind).
 */
export function encodeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>, label = 'safetensors'): Uint8Array[] {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of sorted) {
    const where = `cannot write tensor "${t.name}"`;
    if (t.name === '__metadata__') throw new Error(`${where}: the name is reserved`);
    if (Object.hasOwn(header, t.name)) throw new Error(`${where}: duplicate name`);
    if (!WRITE_DTYPES.has(t.dtype)) throw new Error(`${where}: unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${where}: bad shape [${t.shape.join(', ')}]`);
    const need = byteLength(t.shape, DTYPE_SIZES[t.dtype]);
    if (need !== t.data.byteLength) {
      throw new Error(`${where}: ${t.data.byteLength} bytes of data but shape [${t.shape.join(', ')}] of ${t.dtype} needs ${need}`);
    }
    const bad = firstNonFinite(t.dtype, t.data);
    if (bad >= 0) throw new FormatError(label, `refusing to save tensor "${clip(t.name)}": element ${bad} is not finite (NaN or infinity)`);
    // defineProperty: a tensor called "__proto__" must stay a plain key.
    Object.defineProperty(header, t.name, {
      value: { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + need] },
      enumerable: true, writable: true, configurable: true,
    });
    chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    offset += need;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data section starts 8-byte aligned (8 + padded length).
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setUint32(0, padded, true);
  head.set(json, 8);
  return [head, ...chunks];
}

/** Writes a safetensors file atomically, streaming the chunks (never one big buffer). */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, path));
}
