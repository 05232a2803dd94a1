// Sessions over onnxruntime-node. CPU by default (intra-op threads = cores); WebGPU through the
// execution provider bundled in the package; CUDA only where its binaries were installed.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { DType } from './graph.ts';

export type Device = 'cpu' | 'webgpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'cuda'];

export type Feed = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

export interface SessionOptions {
  device?: Device;
  threads?: number;
  /** ORT graph optimizations; 'all' fuses MatMul+Transpose, LayerNorm, GELU, ... */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * ORT's memory pattern: on the second run it allocates one block planned from the first, while
   * the arena keeps the first run's blocks too. Training graphs turn it off: the same speed here
   * and 1.2 GB less peak memory at the GPT-2 small shape (docs/BENCHMARKS.md).
   */
  memoryPattern?: boolean;
  /** MLAS pre-packs constant MatMul weights: a second copy of every frozen weight. */
  prepack?: boolean;
  /** Inputs fed on every run from these buffers (Graph.constFeeds: packed frozen weights). */
  constFeeds?: ReadonlyMap<string, { value: { dtype: DType; shape: readonly (number | string)[] }; data: Feed }>;
}

// onnxruntime-node has no bfloat16 tensor: bfloat16 values only live inside models (initializers).
const ortTypes: Record<Exclude<DType, 'bfloat16'>, ort.Tensor.Type> = {
  float32: 'float32', float64: 'float64', float16: 'float16', int64: 'int64', int32: 'int32', bool: 'bool', uint8: 'uint8', int8: 'int8',
};
const ortType = (d: DType): ort.Tensor.Type => {
  if (d === 'bfloat16') throw new Error('onnxruntime-node cannot feed bfloat16 tensors (it has no bfloat16 tensor type)');
  return ortTypes[d];
};
const tensor = (v: { dtype: DType; shape: readonly number[]; data: Feed }) => new ort.Tensor(ortType(v.dtype), v.data as never, v.shape as number[]);

function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Throws a message naming what is missing when the device cannot be used here. */
export function checkDevice(device: Device): void {
  if (!DEVICES.includes(device)) throw new Error(`unknown device "${device}": use one of ${DEVICES.join(', ')}`);
  const backends = ort.listSupportedBackends();
  if (device === 'cuda') {
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (!existsSync(path.join(ortBinaryDir(), lib))) {
      throw new Error(`device cuda: ONNX Runtime's CUDA execution provider is not installed (${lib} is missing from ${ortBinaryDir()}). ` +
        'It ships separately from the npm package; install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12 and network access, or use --device cpu.');
    }
  }
  if (device === 'webgpu' && !backends.some((b) => b.name === 'webgpu')) {
    throw new Error(`device webgpu: this onnxruntime-node build (${process.platform}/${process.arch}) has no WebGPU execution provider; use --device cpu.`);
  }
}

export class Session {
  private constructor(
    private readonly inner: ort.InferenceSession,
    readonly device: Device,
    /** Tensors over the caller's buffers, fed on every run (created once: no copy, no allocation). */
    private readonly fixed: Record<string, ort.Tensor> = {},
  ) {}

  static async create(model: Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    checkDevice(device);
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: device === 'cpu' ? ['cpu'] : [device, 'cpu'],
      intraOpNumThreads: opts.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.optimization ?? 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    };
    if (opts.memoryPattern === false) so.enableMemPattern = false;
    if (opts.prepack === false || process.env.LORA_STUDIO_NO_PREPACK) so.extra = { session: { disable_prepacking: '1' } };
    // LORA_STUDIO_PROFILE=prefix writes ORT's per-node timings (chrome trace JSON) for bench/profile.ts.
    if (process.env.LORA_STUDIO_PROFILE) Object.assign(so, { enableProfiling: true, profileFilePrefix: process.env.LORA_STUDIO_PROFILE });
    try {
      const fixed: Record<string, ort.Tensor> = {};
      for (const [k, v] of opts.constFeeds ?? []) fixed[k] = tensor({ dtype: v.value.dtype, shape: v.value.shape as number[], data: v.data });
      return new Session(await ort.InferenceSession.create(model, so), device, fixed);
    } catch (e) {
      const msg = (e as Error).message.replace(/\s+/g, ' ').trim();
      if (device === 'webgpu') {
        throw new Error(`device webgpu: could not start ONNX Runtime's WebGPU execution provider (${msg}). It needs a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver; on a Linux machine without a GPU install Mesa's lavapipe (mesa-vulkan-drivers) and set XDG_RUNTIME_DIR, or use --device cpu.`);
      }
      throw new Error(`ONNX Runtime rejected the graph: ${msg}`);
    }
  }

  /** The graph's inputs the caller feeds (without the ones the session feeds itself). */
  get inputNames(): readonly string[] { return this.inner.inputNames.filter((n) => !(n in this.fixed)); }
  get outputNames(): readonly string[] { return this.inner.outputNames; }

  async run(feeds: Record<string, { dtype: DType; shape: number[]; data: Feed }>, fetch?: string[]): Promise<Record<string, ort.Tensor>> {
    const f: Record<string, ort.Tensor> = { ...this.fixed };
    for (const [k, v] of Object.entries(feeds)) f[k] = tensor(v);
    return (fetch ? await this.inner.run(f, fetch) : await this.inner.run(f)) as Record<string, ort.Tensor>;
  }

  /**
   * Runs with some outputs written into buffers the caller owns (ONNX Runtime fills them in
   * place), so large outputs such as full fine-tuning's gradients are not allocated every step.
   */
  async runInto(feeds: Record<string, { dtype: DType; shape: number[]; data: Feed }>, into: Record<string, { dtype: DType; shape: number[]; data: Feed }>, fetchAlso: string[] = []): Promise<Record<string, ort.Tensor>> {
    const f: Record<string, ort.Tensor> = { ...this.fixed };
    for (const [k, v] of Object.entries(feeds)) f[k] = tensor(v);
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const [k, v] of Object.entries(into)) fetches[k] = tensor(v);
    for (const k of fetchAlso) fetches[k] = null;
    return (await this.inner.run(f, fetches as never)) as Record<string, ort.Tensor>;
  }

  async release(): Promise<void> {
    if (process.env.LORA_STUDIO_PROFILE) this.inner.endProfiling();
    await this.inner.release();
  }
}
