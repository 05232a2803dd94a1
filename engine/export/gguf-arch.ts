// What a family's GGUF mapping provides (each family's own file: engine/models/gguf/), and the
// generic helpers those mappings share. A family maps onto a llama.cpp architecture: its name,
// its hyper-parameter keys, and every tensor under llama.cpp's name in llama.cpp's layout (as
// its convert_hf_to_gguf.py writes them). A PyTorch shape [out, in] is stored as GGUF
// dimensions {in, out}: the bytes are the same.

import type { LinearModule, ModelSpec, Weights } from '../models/types.ts';
import type { MetaValue } from './gguf-writer.ts';

/** A family's GGUF mapping (ModelSpec.gguf). */
export interface GgufMapping {
  /** The llama.cpp architecture (general.architecture). */
  arch: string;
  /** Metadata and tensors of the whole model in llama.cpp's names and layout. */
  plan(weights: Weights): ArchPlan;
  /** Where a linear module lives in the GGUF (a LoRA adapter GGUF names its A/B after it). */
  linearTarget(m: LinearModule): LinearTarget;
}

export class GgufExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufExportError';
  }
}

/** A tensor in llama.cpp's name and layout (float32; PyTorch shape order). */
export interface ArchTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ArchPlan {
  arch: string;
  metadata: [string, MetaValue][];
  tensors: ArchTensor[];
}

/** The refusal for a model llama.cpp's architectures cannot express. */
export function assertExportable(spec: ModelSpec): string {
  if (!spec.gguf) {
    throw new GgufExportError(`GGUF export writes GPT-2 and Llama-family models (gpt2, llama, mistral, qwen2); ${spec.family.name} (${spec.architecture}) has no llama.cpp architecture this export can express`);
  }
  return spec.gguf.arch;
}

/** Rows of an [n, cols] matrix (or a bias, cols = 1) reordered from HF's rotate_half to pairs. */
export function unpermuteRows(data: Float32Array, heads: number, cols: number): Float32Array {
  const rows = data.length / cols, hd = rows / heads, half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const dst = h * hd + i * 2 + j, src = h * hd + j * half + i;
        out.set(data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** [rows, cols] -> [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** llama.cpp's tensor base name (without .weight / .bias) for a linear module, and its q/k permutation. */
export interface LinearTarget {
  name: string;
  /** Heads of the q/k permutation (Llama), or 0. */
  permuteHeads: number;
}

/** The model's architecture metadata and tensors in llama.cpp's names and layout. */
export function archPlan(spec: ModelSpec, weights: Weights): ArchPlan {
  assertExportable(spec);
  return spec.gguf!.plan(weights);
}

/** Where a linear module lives in the GGUF. */
export function linearTarget(spec: ModelSpec, m: LinearModule): LinearTarget {
  assertExportable(spec);
  return spec.gguf!.linearTarget(m);
}

/** A module name's block index and its name inside the block, from a family's table of llama.cpp names. */
export function blockLinear(m: LinearModule, prefix: RegExp, table: Record<string, string>): { block: string; base: string } {
  const hit = prefix.exec(m.name);
  const base = hit ? table[hit[2]] : undefined;
  if (!hit || !base) throw new GgufExportError(`${m.name}: no llama.cpp tensor for this layer`);
  return { block: hit[1], base };
}
