// AdamW (Loshchilov & Hutter) exactly as torch.optim.AdamW computes it, on plain Float32Arrays,
// plus global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
//
// Large runs (full fine-tuning) update off the main thread: the moments of the large tensors live
// in one shared WebAssembly memory and worker threads run a SIMD kernel over it (optimizer-worker.ts),
// bit-identical to the JavaScript kernel below. The parameters themselves stay in ordinary buffers
// (onnxruntime-node refuses SharedArrayBuffer-backed feeds and outputs), so each chunk of parameters
// and gradients is copied into a staging slot of the shared memory and the parameters copied back.
// Small runs (LoRA) keep the JavaScript kernel on the main thread: no workers, no copies.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type ChunkTask, type WorkerMessage, WORKER_SOURCE, kernelBytes } from './optimizer-worker.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface ParamState {
  name: string;
  shape: number[];
  data: Float32Array;
  decay: boolean;
  m: Float32Array;
  v: Float32Array;
}

export interface AdamWOptions {
  /** Worker threads for large runs (default: the cores, at most 4). 0 keeps every update on the main thread. */
  threads?: number;
  /** Trainable values from which the update runs in workers (default 8 M: about 90 ms of main-thread work). */
  minParallel?: number;
  /** Tensors below this many values are updated on the main thread even in a parallel run (default 65,536). */
  minTensor?: number;
  /** Values per chunk handed to a worker (even; default 524,288). */
  chunk?: number;
}

const DEFAULTS = { minParallel: 1 << 23, minTensor: 1 << 16, chunk: 1 << 19 };
const PAGE = 65536, MAX_PAGES = 65536;

/** The shared state of a parallel optimizer: its memory, where each large tensor's moments are, the slots. */
interface Parallel {
  memory: WebAssembly.Memory;
  /** Indices into params of the tensors the workers update. */
  large: number[];
  mOff: number[];
  vOff: number[];
  /** Byte offsets of each slot's parameter and gradient halves. */
  slots: { w: number; g: number }[];
  chunk: number;
  threads: number;
}

export class AdamW {
  readonly params: ParamState[];
  step = 0;
  private readonly parallel: Parallel | null;
  private busy = false;

  constructor(params: { name: string; shape: number[]; data: Float32Array; decay: boolean }[], readonly cfg: AdamWConfig, opts: AdamWOptions = {}) {
    const threads = opts.threads ?? Math.min(4, availableParallelism());
    const total = params.reduce((s, p) => s + p.data.length, 0);
    const minTensor = opts.minTensor ?? DEFAULTS.minTensor;
    const chunk = 2 * Math.max(1, Math.floor((opts.chunk ?? DEFAULTS.chunk) / 2));
    const large = threads > 0 && total >= (opts.minParallel ?? DEFAULTS.minParallel) ? params.map((p, i) => (p.data.length >= minTensor ? i : -1)).filter((i) => i >= 0) : [];
    this.parallel = large.length ? layout(params, large, chunk, 2 * threads) : null;
    if (this.parallel) pool(threads);
    const where = new Map(this.parallel?.large.map((i, k) => [i, k]));
    this.params = params.map((p, i) => {
      const k = where.get(i);
      const n = p.data.length;
      const buf = this.parallel?.memory.buffer;
      return {
        name: p.name, shape: p.shape, data: p.data, decay: p.decay,
        m: k === undefined ? new Float32Array(n) : new Float32Array(buf!, this.parallel!.mOff[k], n),
        v: k === undefined ? new Float32Array(n) : new Float32Array(buf!, this.parallel!.vOff[k], n),
      };
    });
  }

  /** Whether updates run in worker threads (a large run) or on the main thread. */
  get threaded(): boolean { return this.parallel !== null; }

  /**
   * One update with learning rate `lr`; `grads[i]` belongs to `params[i]`, scaled by `gradScale`.
   * On the main thread it is done when this returns; in workers, when the promise resolves (the
   * grads must not change until then).
   */
  update(grads: Float32Array[], lr: number, gradScale = 1): Promise<void> {
    if (this.busy) throw new Error('AdamW.update called while the previous update is still running: await it');
    this.step++;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.cfg;
    const stepSize = lr / (1 - b1 ** this.step);
    const invBc2 = 1 / (1 - b2 ** this.step);
    const decayOf = (p: ParamState) => (p.decay ? 1 - lr * weightDecay : 1);
    const onMain = (i: number) => {
      const p = this.params[i];
      adamwKernel(p.data, grads[i], p.m, p.v, decayOf(p), gradScale, b1, b2, stepSize, invBc2, eps);
    };
    const par = this.parallel;
    if (!par) {
      for (let i = 0; i < this.params.length; i++) onMain(i);
      return Promise.resolve();
    }
    const consts = { c1: (1 - b1) * gradScale, c2: (1 - b2) * gradScale * gradScale, b1, b2, stepSize, invBc2, eps };
    this.busy = true;
    const large = new Set(par.large);
    const run = runParallel(par, (k) => this.params[par.large[k]], (k) => grads[par.large[k]], (p) => ({ decay: decayOf(p), ...consts }),
      () => { for (let i = 0; i < this.params.length; i++) if (!large.has(i)) onMain(i); },
      (p, g, s, e) => adamwKernel(p.data.subarray(s, e), g.subarray(s, e), p.m.subarray(s, e), p.v.subarray(s, e), decayOf(p), gradScale, b1, b2, stepSize, invBc2, eps));
    return run.finally(() => { this.busy = false; });
  }
}

/**
 * torch.optim.AdamW's update for one tensor, in one pass. A plain function over typed arrays
 * (not a closure) so V8 compiles one tight loop: about twice as fast as the method form.
 */
function adamwKernel(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, decay: number, scale: number,
  b1: number, b2: number, stepSize: number, invBc2: number, eps: number): void {
  const c1 = (1 - b1) * scale, c2 = (1 - b2) * scale * scale;
  for (let j = 0; j < w.length; j++) {
    const gj = g[j];
    const mj = b1 * m[j] + c1 * gj;
    const vj = b2 * v[j] + c2 * gj * gj;
    m[j] = mj;
    v[j] = vj;
    w[j] = w[j] * decay - (stepSize * mj) / (Math.sqrt(vj * invBc2) + eps);
  }
}

/** The shared memory's layout: both moments of every large tensor, then the staging slots. */
function layout(params: { data: Float32Array }[], large: number[], chunk: number, nSlots: number): Parallel | null {
  let off = 0;
  const take = (n: number) => { const at = off; off += Math.ceil((n * 4) / 16) * 16; return at; };
  const mOff = large.map((i) => take(params[i].data.length));
  const vOff = large.map((i) => take(params[i].data.length));
  const slots = Array.from({ length: nSlots }, () => ({ w: take(chunk), g: take(chunk) }));
  const pages = Math.ceil(off / PAGE);
  // Beyond 4 GiB (about 500 M trainable values) a 32-bit WebAssembly memory cannot hold the moments.
  if (pages > MAX_PAGES) return null;
  try {
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    kernel();
    return { memory, large, mOff, vOff, slots, chunk, threads: nSlots / 2 };
  } catch {
    return null; // no shared memory or no SIMD here: the main-thread kernel.
  }
}

let compiled: WebAssembly.Module | null = null;
const kernel = (): WebAssembly.Module => (compiled ??= new WebAssembly.Module(kernelBytes() as BufferSource));

/** The worker pool, shared by all optimizers, started on first use; idle workers do not hold the process. */
interface Pool { workers: Worker[]; onDone: ((id: number) => void) | null; onError: ((e: Error) => void) | null; queue: Promise<void> }
let thePool: Pool | null = null;

function pool(threads: number): Pool {
  if (thePool && thePool.workers.length >= threads) return thePool;
  const p: Pool = thePool ?? { workers: [], onDone: null, onError: null, queue: Promise.resolve() };
  while (p.workers.length < threads) {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (id: number) => p.onDone?.(id));
    w.on('error', (e) => { p.onError?.(e); p.workers = p.workers.filter((x) => x !== w); });
    w.on('exit', () => { p.workers = p.workers.filter((x) => x !== w); });
    w.unref();
    p.workers.push(w);
  }
  thePool = p;
  return p;
}

type Consts = Omit<ChunkTask, 'id' | 'w' | 'g' | 'm' | 'v' | 'n'>;

/**
 * Streams the large tensors through the workers, two slots per worker: the main thread copies a
 * chunk of parameters and gradients into a free slot, a worker updates it (and the moments in
 * place), the main thread copies the parameters back and refills the slot. `small` runs on the
 * main thread while the first chunks are in the workers; `tail` updates a tensor's odd last value.
 */
function runParallel(par: Parallel, param: (k: number) => ParamState, grad: (k: number) => Float32Array, constsOf: (p: ParamState) => Consts,
  small: () => void, tail: (p: ParamState, g: Float32Array, start: number, end: number) => void): Promise<void> {
  const p = pool(par.threads); // refills the pool if a worker has died
  const run = p.queue.then(() => new Promise<void>((resolve, reject) => {
    const workers = p.workers.slice();
    if (!workers.length) { reject(new Error('the optimizer worker threads have exited')); return; }
    const chunks: { k: number; start: number; n: number }[] = [];
    for (let k = 0; k < par.large.length; k++) {
      const n = param(k).data.length;
      for (let s = 0; s < n; s += par.chunk) chunks.push({ k, start: s, n: Math.min(par.chunk, n - s) });
    }
    const f32 = new Float32Array(par.memory.buffer);
    const nSlots = Math.min(par.slots.length, 2 * workers.length);
    const inSlot: ({ k: number; start: number; n: number } | null)[] = new Array(nSlots).fill(null);
    let next = 0, done = 0, failed = false;
    const finish = (e?: Error) => {
      p.onDone = p.onError = null;
      for (const w of workers) { w.postMessage({ type: 'end' } satisfies WorkerMessage); w.unref(); }
      if (e) reject(e); else resolve();
    };
    const fill = (slot: number) => {
      if (next >= chunks.length) { inSlot[slot] = null; return; }
      const c = chunks[next++];
      inSlot[slot] = c;
      const s = par.slots[slot], q = param(c.k);
      f32.set(q.data.subarray(c.start, c.start + c.n), s.w / 4);
      f32.set(grad(c.k).subarray(c.start, c.start + c.n), s.g / 4);
      const task: WorkerMessage = { type: 'chunk', id: slot, w: s.w, g: s.g, m: par.mOff[c.k] + c.start * 4, v: par.vOff[c.k] + c.start * 4, n: c.n & ~1, ...constsOf(q) };
      workers[slot % workers.length].postMessage(task);
    };
    p.onError = (e) => { failed = true; finish(e); };
    p.onDone = (slot) => {
      if (failed) return;
      const c = inSlot[slot]!;
      const q = param(c.k), even = c.n & ~1;
      q.data.set(f32.subarray(par.slots[slot].w / 4, par.slots[slot].w / 4 + even), c.start);
      if (even < c.n) tail(q, grad(c.k), c.start + even, c.start + c.n);
      done++;
      if (done === chunks.length) finish();
      else fill(slot);
    };
    for (const w of workers) { w.ref(); w.postMessage({ type: 'begin', module: kernel(), memory: par.memory } satisfies WorkerMessage); }
    for (let s = 0; s < nSlots; s++) fill(s);
    try { small(); } catch (e) { failed = true; finish(e as Error); return; }
    if (chunks.length === 0) finish();
  }));
  p.queue = run.catch(() => {});
  return run;
}

/** The global L2 norm of all gradients. */
export function globalNorm(grads: Float32Array[]): number {
  let s = 0;
  for (const g of grads) for (let j = 0; j < g.length; j++) s += g[j] * g[j];
  return Math.sqrt(s);
}

/**
 * globalNorm without holding the event loop: the same sums in the same order (so the same bits),
 * yielding after every `slice` values. At 134.5 M values the sum takes ~176 ms, which would stall
 * the engine's messages and the pause button for that long on every step.
 */
export async function globalNormYielding(grads: Float32Array[], slice = 1 << 22): Promise<number> {
  let s = 0;
  let done = 0;
  for (const g of grads) {
    for (let start = 0; start < g.length; start += slice) {
      const end = Math.min(g.length, start + slice);
      for (let j = start; j < end; j++) s += g[j] * g[j];
      done += end - start;
      if (done >= slice) { done = 0; await new Promise((r) => setImmediate(r)); }
    }
  }
  return Math.sqrt(s);
}

/** torch's clip_grad_norm_ factor: min(1, maxNorm / (norm + 1e-6)). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  return Math.min(1, maxNorm / (norm + 1e-6));
}
