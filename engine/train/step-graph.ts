// One training step as one ONNX graph: the task's inputs and the trainable tensors in; the loss,
// the task's extra outputs and a gradient per trainable tensor out. Frozen weights are
// initializers, loaded into the session once.

import { gradients } from '../onnx/autodiff.ts';
import { Graph, type Value } from '../onnx/graph.ts';
import { type Device, Session } from '../onnx/runtime.ts';
import { type BaseStorage, bindParams } from '../models/params.ts';
import type { DropoutHook, Layout, LinearHook, ModelSpec, ParamFn, Weights } from '../models/types.ts';
import { type BaseDtype, BASE_DTYPES, refuseQuantizedCheckpoint } from '../quant/formats.ts';
import { type Plan, loraHook } from '../lora/peft-model.ts';
import { collectGarbage } from '../util/gc.ts';

export interface Trainable {
  name: string;
  shape: number[];
  data: Float32Array;
  decay: boolean;
}

export interface DropoutInput {
  name: string;
  shape: number[];
  p: number;
}

export interface StepGraph {
  session: Session;
  trainables: Trainable[];
  /** Where runMicroBatch has ONNX Runtime write the gradients (allocated on first use). */
  gradBuffers?: Float32Array[];
  dropouts: DropoutInput[];
  /** Extra outputs the task reads after each run (a classifier's logits). */
  outputs: string[];
}

export interface StepGraphOptions {
  device?: Device;
  threads?: number;
  /** Drop our copies of frozen weights once ONNX Runtime has them (LoRA). */
  releaseFrozen?: boolean;
  /** Train with the model's own dropouts (HF's *_pdrop), as HF's Trainer does. */
  modelDropout?: boolean;
  /** How the frozen base is stored (baseStorage(); default float32 initializers). */
  base?: BaseStorage;
  /** Gradient checkpointing: recompute each block's forward in the backward pass. */
  checkpointing?: boolean;
}

/** A parameter's block (h.N., layers.N., layer.N.), or null outside the repeated blocks. */
const blockOf = (name: string): string | null => /(?:^|\.)(?:h|layers|layer)\.(\d+)\./.exec(name)?.[1] ?? null;

/**
 * Wraps a ParamFn to find the model's blocks in the graph: a block starts where the forward
 * first binds a parameter of a new block index and ends where the next one (or a parameter
 * outside the blocks, such as the final norm) starts.
 */
function blockRanges(g: Graph, param: ParamFn): { param: ParamFn; ranges: () => [number, number][] } {
  const starts: { at: number; block: string | null }[] = [];
  let current: string | null | undefined;
  const seen = new Set<string>();
  const wrapped: ParamFn = (name) => {
    const b = blockOf(name);
    if (!seen.has(name) && b !== current) {
      seen.add(name);
      starts.push({ at: g.nodes.length, block: b });
      current = b;
    } else seen.add(name);
    return param(name);
  };
  return {
    param: wrapped,
    ranges: () => starts.flatMap((s, i) => (s.block !== null && i + 1 < starts.length ? [[s.at, starts[i + 1].at] as [number, number]] : [])),
  };
}

/**
 * Frozen float32 weights go in as fed inputs over the caller's buffers on the CPU (initializers
 * cost the protobuf's copy, ONNX Runtime's and MLAS's pre-packed one: at SmolLM2-135M 2.5 GB after
 * the build against 0.7 GB fed, for 3 % of step time; docs/BENCHMARKS.md), and above this on every
 * device: a model's protobuf must stay under 2 GB. A GPU keeps small ones as initializers, uploaded once.
 */
const FEED_F32_ABOVE = 1.5e9;

/**
 * The storage of a run's frozen base: `dtype` for the model's product weights (its linear
 * modules and LM head). Refuses what cannot run: a dtype this device's kernels lack, and
 * full fine-tuning (nothing is frozen).
 */
export function baseStorage(spec: ModelSpec, dtype: BaseDtype, o: { model: string; method?: 'lora' | 'full'; device?: Device }): BaseStorage {
  if (!BASE_DTYPES.includes(dtype)) throw new Error(`invalid training options: base dtype must be one of ${BASE_DTYPES.join(', ')}, got ${dtype}`);
  if (dtype !== 'f32' && o.method === 'full') throw new Error(`invalid training options: --base-dtype ${dtype} needs a LoRA run (full fine-tuning trains every weight in float32)`);
  refuseQuantizedCheckpoint(spec.raw, o.model);
  const device = o.device ?? 'cpu';
  // DynamicQuantizeMatMul is a CPU kernel; the GPU EPs (and ORT's CPU fallback) run the rest.
  if (dtype === 'int8' && device !== 'cpu') {
    throw new Error(`--base-dtype int8 cannot run on device ${device}: ONNX Runtime's ${device} execution provider has no DynamicQuantizeMatMul kernel. Use int4 (MatMulNBits has ${device} kernels), f16 or --device cpu.`);
  }
  if (dtype === 'bf16' && device !== 'cpu') {
    throw new Error(`--base-dtype bf16 cannot run on device ${device} here: onnxruntime-node has no bfloat16 tensors to feed and the ${device} EP's bfloat16 Cast is not available in this build; use f16.`);
  }
  const layouts = new Map<string, Layout>(spec.linearModules.map((m) => [m.weight, m.layout]));
  if (spec.lmHead) layouts.set(spec.lmHead, 'linear');
  return { dtype, layouts, model: o.model };
}

/** What a task puts into the step graph: its inputs, its loss and any outputs it reads back. */
export type LossBuilder = (g: Graph, param: ParamFn, hook: LinearHook, dropout?: DropoutHook) => { loss: Value; outputs?: Record<string, Value> };

export async function buildStepGraph(weights: Weights, plan: Plan, isNoDecay: (name: string) => boolean, lossOf: LossBuilder, opts: StepGraphOptions = {}): Promise<StepGraph> {
  const g = new Graph();
  const trainables: Trainable[] = [];
  const inputs = new Map<string, Value>();
  const trainableBase = new Set(plan.trainableBase);
  let frozenBytes = 0;
  for (const [name, w] of weights) if (!trainableBase.has(name)) frozenBytes += 4 * w.shape.reduce((a, b) => a * b, 1);
  const feedF32 = frozenBytes > FEED_F32_ABOVE || (opts.device ?? 'cpu') === 'cpu';
  const base: BaseStorage | undefined = feedF32 || opts.base
    ? { dtype: 'f32', layouts: new Map(), model: 'model', ...opts.base, release: !!opts.releaseFrozen, feedF32 }
    : undefined;
  const param = bindParams(g, weights, {
    trainable: trainableBase,
    base,
    onTrainable: (name, v, w) => { inputs.set(name, v); trainables.push({ name, shape: w.shape, data: w.data, decay: !isNoDecay(name) }); },
  });
  const dropouts: DropoutInput[] = [];
  const mask = (site: string, shape: number[], p: number): Value => {
    const m = g.input(`dropout:${site}`, 'float32', shape);
    dropouts.push({ name: m.name, shape, p });
    return m;
  };
  const hook = loraHook(g, plan, {
    onInputs(l, A, B) {
      inputs.set(l.aName, A);
      inputs.set(l.bName, B);
      // LoRA weights are ordinary weights to HF Trainer: they get weight decay.
      trainables.push({ name: l.aName, shape: l.aShape, data: l.A, decay: true }, { name: l.bName, shape: l.bShape, data: l.B, decay: true });
    },
    mask: (l, x) => (l.dropout > 0 ? mask(l.module.name, [...(x.shape as number[])], l.dropout) : undefined),
  });
  const dropout: DropoutHook = (site, x, p) => g.mul(x, mask(site, x.shape as number[], p));
  const blocks = blockRanges(g, param);
  const { loss, outputs = {} } = lossOf(g, opts.checkpointing ? blocks.param : param, hook, opts.modelDropout ? dropout : undefined);
  g.output(loss, 'loss');
  for (const [name, v] of Object.entries(outputs)) g.output(v, name);
  // Trainable base tensors the graph never used would get no gradient: bind them anyway.
  for (const name of plan.trainableBase) param(name);
  const grads = gradients(g, loss, trainables.map((t) => inputs.get(t.name)!), undefined, { recompute: opts.checkpointing ? blocks.ranges() : [] });
  grads.forEach((d, i) => g.output(d, `grad:${trainables[i].name}`));
  let bytes: Uint8Array | null = g.toModel();
  // The frozen weights now live in the model bytes, and soon in ONNX Runtime: drop ours so a
  // LoRA run does not hold the base model three times.
  if (opts.releaseFrozen) {
    for (const name of weights.keys()) if (!trainableBase.has(name)) weights.delete(name);
    g.initializers.clear();
  }
  const session = await Session.create(bytes, { ...opts, memoryPattern: false, constFeeds: g.constFeeds });
  bytes = null;
  g.constFeeds.clear(); // the session's tensors hold the buffers now
  if (opts.releaseFrozen) collectGarbage();
  return { session, trainables, dropouts, outputs: Object.keys(outputs) };
}
