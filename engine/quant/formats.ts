// Low-precision storage formats for a frozen base (QLoRA-style LoRA runs), as ONNX Runtime's CPU
// kernels read them. Pure functions over typed arrays; engine/quant/packed.ts puts them in graphs.
//   f16:  IEEE half, round to nearest even (cast to float32 where a kernel needs it).
//   bf16: bfloat16 bits (the upper half of a float32, rounded to nearest even).
//   int8: per output channel, symmetric, for com.microsoft DynamicQuantizeMatMul: B [K, N] int8
//         with one float scale per column. On x86 CPUs without VNNI, MLAS's u8s8 kernel sums
//         pairs of products in int16 with saturation, so weights use 7 bits there (|q| <= 63,
//         ONNX Runtime's "reduce_range"); with VNNI (or on ARM) the full |q| <= 127.
//   int4: blockwise along the inner dimension, symmetric, for com.microsoft MatMulNBits:
//         B [N, K/block, block/2] uint8 (two values a byte, low nibble first, stored q + 8 with
//         |q| <= 7), one float scale per block [N * K/block].

import { readFileSync } from 'node:fs';

export type BaseDtype = 'f32' | 'bf16' | 'f16' | 'int8' | 'int4';
export const BASE_DTYPES: readonly BaseDtype[] = ['f32', 'bf16', 'f16', 'int8', 'int4'];

/** MatMulNBits' block along the inner dimension (a power of two >= 16). */
export const INT4_BLOCK = 32;

let vnni: boolean | undefined;
/** Whether this CPU has int8 dot-product instructions without int16 saturation. */
export function cpuHasInt8Dot(): boolean {
  if (vnni !== undefined) return vnni;
  if (process.arch !== 'x64' && process.arch !== 'ia32') return (vnni = true);
  try {
    vnni = /\b(avx512_vnni|avx_vnni|amx_int8)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    vnni = false; // unknown: the safe 7-bit range
  }
  return vnni;
}

/** The largest |q| int8 weights use on this CPU (see the header). */
export const int8Range = (): number => (cpuHasInt8Dot() ? 127 : 63);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half bits, round to nearest even (overflow to inf, subnormals kept). */
export function toFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    const e = exp - 127 + 15;
    if (e >= 0x1f) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1), half = 1 << (shift - 1);
      if (rem > half || (rem === half && (h & 1))) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // may carry into the exponent: still right
    out[i] = sign | h;
  }
  return out;
}

export function fromFloat16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i], s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** float32 -> bfloat16 bits, round to nearest even. */
export function toBfloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) { out[i] = (x >>> 16) | 0x40; continue; }
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function fromBfloat16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export interface Int8Matrix {
  /** [K, N] row-major: rows are the inner (input) dimension, columns the outputs. */
  q: Int8Array;
  /** [N]: one scale per output column. */
  scales: Float32Array;
  K: number;
  N: number;
}

/**
 * Per-output-channel symmetric int8 of a weight that multiplies as x · M with M [K, N].
 * `w` is M itself when `transposed` is false (GPT-2's Conv1D (in, out)), or M^T [N, K] when
 * true (nn.Linear [out, in]); the result is always M's [K, N] layout.
 */
export function quantizeInt8(w: Float32Array, K: number, N: number, transposed: boolean, qmax = int8Range()): Int8Matrix {
  const q = new Int8Array(K * N), scales = new Float32Array(N);
  const at = transposed ? (k: number, n: number) => w[n * K + k] : (k: number, n: number) => w[k * N + n];
  const amax = new Float32Array(N);
  if (transposed) {
    for (let n = 0; n < N; n++) { let m = 0; const o = n * K; for (let k = 0; k < K; k++) { const a = Math.abs(w[o + k]); if (a > m) m = a; } amax[n] = m; }
  } else {
    for (let k = 0; k < K; k++) { const o = k * N; for (let n = 0; n < N; n++) { const a = Math.abs(w[o + n]); if (a > amax[n]) amax[n] = a; } }
  }
  const inv = new Float32Array(N);
  for (let n = 0; n < N; n++) { scales[n] = amax[n] > 0 ? amax[n] / qmax : 1; inv[n] = 1 / scales[n]; }
  for (let k = 0; k < K; k++) {
    const o = k * N;
    for (let n = 0; n < N; n++) {
      const v = Math.round(at(k, n) * inv[n]);
      q[o + n] = v > qmax ? qmax : v < -qmax ? -qmax : v;
    }
  }
  return { q, scales, K, N };
}

export function dequantizeInt8(m: Int8Matrix): Float32Array {
  const out = new Float32Array(m.K * m.N);
  for (let k = 0; k < m.K; k++) for (let n = 0; n < m.N; n++) out[k * m.N + n] = m.q[k * m.N + n] * m.scales[n];
  return out;
}

export interface Int4Matrix {
  /** [N, K/block, block/2]: each output row's inner dimension in blocks, two values a byte. */
  q: Uint8Array;
  /** [N * K/block] */
  scales: Float32Array;
  K: number;
  N: number;
  block: number;
}

/**
 * Blockwise symmetric int4 of a weight that multiplies as x · M, M [K, N]; `w` is M^T [N, K]
 * when `transposed` (nn.Linear), else M [K, N] (Conv1D). The inner size K must be a multiple
 * of the block (the caller names the layer when it is not).
 */
export function quantizeInt4(w: Float32Array, K: number, N: number, transposed: boolean, block = INT4_BLOCK): Int4Matrix {
  if (K % block !== 0) throw new Error(`int4: inner size ${K} is not a multiple of the block (${block})`);
  const nb = K / block, half = block / 2;
  const q = new Uint8Array(N * nb * half), scales = new Float32Array(N * nb);
  const row = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    if (transposed) row.set(w.subarray(n * K, (n + 1) * K));
    else for (let k = 0; k < K; k++) row[k] = w[k * N + n];
    for (let b = 0; b < nb; b++) {
      let m = 0;
      for (let i = 0; i < block; i++) { const a = Math.abs(row[b * block + i]); if (a > m) m = a; }
      const s = m > 0 ? m / 7 : 1, inv = 1 / s;
      scales[n * nb + b] = s;
      const o = (n * nb + b) * half;
      for (let i = 0; i < block; i += 2) {
        const lo = Math.max(-7, Math.min(7, Math.round(row[b * block + i] * inv))) + 8;
        const hi = Math.max(-7, Math.min(7, Math.round(row[b * block + i + 1] * inv))) + 8;
        q[o + (i >> 1)] = lo | (hi << 4);
      }
    }
  }
  return { q, scales, K, N, block };
}

/** M^T [N, K] back in float32 (what MatMulNBits multiplies with). */
export function dequantizeInt4(m: Int4Matrix): Float32Array {
  const nb = m.K / m.block, half = m.block / 2, out = new Float32Array(m.N * m.K);
  for (let n = 0; n < m.N; n++) for (let b = 0; b < nb; b++) {
    const s = m.scales[n * nb + b], o = (n * nb + b) * half;
    for (let i = 0; i < m.block; i++) {
      const byte = m.q[o + (i >> 1)];
      out[n * m.K + b * m.block + i] = (((i & 1) ? byte >> 4 : byte & 15) - 8) * s;
    }
  }
  return out;
}

/** Bytes a float32 tensor of `n` values takes in each format (scales included), for estimates. */
export function bytesPerValue(dtype: BaseDtype, inner = 1024): number {
  switch (dtype) {
    case 'f32': return 4;
    case 'f16': case 'bf16': return 2;
    case 'int8': return 1 + 4 / inner;
    case 'int4': return 0.5 + 4 / INT4_BLOCK;
  }
}

/**
 * Refuses a checkpoint that is already quantized (config.json quantization_config: GPTQ, AWQ,
 * bitsandbytes, ...): its weights are not floats this engine can read or re-quantize.
 */
export function refuseQuantizedCheckpoint(raw: Record<string, unknown>, model: string): void {
  const qc = raw.quantization_config;
  if (qc === undefined || qc === null) return;
  const o = (typeof qc === 'object' ? qc : {}) as Record<string, unknown>;
  const method = typeof o.quant_method === 'string' ? o.quant_method
    : o.load_in_4bit || o.load_in_8bit ? 'bitsandbytes' : 'an unknown method';
  throw new Error(`model ${model} is already quantized (config.json quantization_config: ${method}); LoRA Studio trains from float checkpoints (F32, F16, BF16). Use the original float model and --base-dtype int8 or int4 to keep it small.`);
}
