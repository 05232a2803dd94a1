// Reading a model folder's weights for any family: model.safetensors, or shards listed in
// model.safetensors.index.json. Each stored name goes through the family's canonicalName (prefixes,
// ignored buffers); shapes are checked against what config.json implies before any tensor is read.

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { FormatError } from '../store/errors.ts';
import { isJsonObject, readJsonFile } from '../store/json.ts';
import { type SafetensorsFile, assertFinite, openSafetensors } from '../store/safetensors.ts';
import { type ModelSpec, type Tensor, type Weights, numel } from './types.ts';

const FLOATS = new Set(['F32', 'F16', 'BF16', 'F64']);
const INDEX = 'model.safetensors.index.json';

/** The weight files of a folder: one model.safetensors or the shards its index names. */
export function weightFiles(dir: string): string[] {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, INDEX);
  if (!existsSync(single) && existsSync(index)) {
    const json = readJsonFile(index, 'shard index');
    if (!isJsonObject(json.weight_map)) throw new FormatError(index, 'no "weight_map" object');
    const files = [...new Set(Object.values(json.weight_map).map(String))];
    if (files.length === 0) throw new FormatError(index, '"weight_map" is empty');
    return files.map((f) => {
      if (f.includes('/') || f.includes('\\') || f.startsWith('.')) throw new FormatError(index, `shard name "${f}" is not a file name in this folder`);
      const p = path.join(dir, f);
      if (!existsSync(p)) throw new FormatError(index, `names shard "${f}", which is not in ${dir}`);
      return p;
    });
  }
  if (!existsSync(single)) throw new FormatError(single, 'not found (and no model.safetensors.index.json): this folder has no safetensors weights');
  return [single];
}

export interface ReadWeightsOptions {
  /** Tensors that must be present, name -> shape. */
  expected: Map<string, number[]>;
  /** Tensors taken when present (classification heads), name -> shape or null (any shape). */
  optional?: Map<string, number[] | null>;
  /** Canonical names to skip without complaint (another task's heads). */
  skip?: (name: string) => boolean;
  /** What the error for an unexpected tensor calls this model ("a GPT-2 with 12 layers"). */
  what: string;
}

/** Reads float weights; returns them with the dtypes they were stored in. */
export interface ReadMode {
  /** Check the headers only; every tensor is an empty array. */
  headersOnly?: boolean;
  /**
   * Read each tensor on first access of its `data` (a low-precision base packs them one at a
   * time, so the float32 model is never whole in memory). Non-finite values fail at that access.
   */
  lazy?: boolean;
}

export function readWeights(dir: string, spec: ModelSpec, o: ReadWeightsOptions & ReadMode): { weights: Weights; storedDtype: string } {
  const files = weightFiles(dir);
  checkSize(files, o.expected, path.join(dir, 'config.json'));
  const weights: Weights = new Map();
  const dtypes = new Set<string>();
  for (const file of files) {
    const st = openSafetensors(file);
    try {
      readFile(st, spec, o, weights, dtypes, o);
    } finally {
      st.close();
    }
  }
  const missing = [...o.expected.keys()].filter((k) => !weights.has(k));
  if (missing.length) {
    const where = files.length > 1 ? path.join(dir, INDEX) : files[0];
    throw new FormatError(where, `missing tensor "${missing[0]}"${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`);
  }
  return { weights, storedDtype: [...dtypes].join('+') };
}

function readFile(st: SafetensorsFile, spec: ModelSpec, o: ReadWeightsOptions, weights: Weights, dtypes: Set<string>, mode: ReadMode): void {
  const file = st.path;
  for (const [stored, info] of st.tensors) {
    const name = spec.canonicalName(stored);
    if (name === null || o.skip?.(name)) continue;
    const shape = o.expected.get(name) ?? o.optional?.get(name);
    if (shape === undefined) throw new FormatError(file, `unexpected tensor "${stored}" for ${o.what}`);
    if (shape && (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))) {
      throw new FormatError(file, `tensor "${stored}" has shape [${info.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
    }
    if (!FLOATS.has(info.dtype)) throw new FormatError(file, `tensor "${stored}" has dtype ${info.dtype}, expected a float type`);
    dtypes.add(info.dtype);
    if (mode.lazy) {
      weights.set(name, lazyTensor(file, stored, [...info.shape]));
      continue;
    }
    // Checking only the headers, an empty array stands for the tensor (names, shapes and dtypes checked).
    const data = mode.headersOnly ? new Float32Array(0) : st.readFloat32(stored);
    assertFinite(file, stored, data); // a NaN weight would only show up later as a NaN loss
    weights.set(name, { shape: [...info.shape], data });
  }
}

function lazyTensor(file: string, stored: string, shape: number[]): Tensor {
  let data: Float32Array | undefined;
  return {
    shape,
    get data() {
      if (!data) {
        const st = openSafetensors(file);
        try {
          data = st.readFloat32(stored);
        } finally {
          st.close();
        }
        assertFinite(file, stored, data);
      }
      return data;
    },
    set data(v) { data = v; },
  };
}

/** An absurd config.json (n_layer 1e6, n_embd 1e9) fails here, before anything is allocated. */
function checkSize(files: string[], expected: Map<string, number[]>, configFile: string): void {
  let params = 0;
  for (const s of expected.values()) params += numel(s);
  const bytes = files.reduce((a, f) => a + statSync(f).size, 0);
  if (params > bytes) {
    throw new FormatError(configFile, `implies ${params.toLocaleString('en-US')} parameters, but the weights hold only ${bytes.toLocaleString('en-US')} bytes (at least one byte a parameter): config.json and the weights disagree`);
  }
}
