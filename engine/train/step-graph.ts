// One training step as one ONNX graph: the task's inputs and the trainable tensors in; the loss,
// the task's extra outputs and a gradient per trainable tensor out. Frozen weights are
// initializers, loaded into the session once.

import { gradients } from '../onnx/autodiff.ts';
import { Graph, type Value } from '../onnx/graph.ts';
import { type Device, Session } from '../onnx/runtime.ts';
import { bindParams } from '../models/params.ts';
import type { DropoutHook, LinearHook, ParamFn, Weights } from '../models/types.ts';
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
}

/** What a task puts into the step graph: its inputs, its loss and any outputs it reads back. */
export type LossBuilder = (g: Graph, param: ParamFn, hook: LinearHook, dropout?: DropoutHook) => { loss: Value; outputs?: Record<string, Value> };

export async function buildStepGraph(weights: Weights, plan: Plan, isNoDecay: (name: string) => boolean, lossOf: LossBuilder, opts: StepGraphOptions = {}): Promise<StepGraph> {
  const g = new Graph();
  const trainables: Trainable[] = [];
  const inputs = new Map<string, Value>();
  const trainableBase = new Set(plan.trainableBase);
  const param = bindParams(g, weights, {
    trainable: trainableBase,
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
  const { loss, outputs = {} } = lossOf(g, param, hook, opts.modelDropout ? dropout : undefined);
  g.output(loss, 'loss');
  for (const [name, v] of Object.entries(outputs)) g.output(v, name);
  // Trainable base tensors the graph never used would get no gradient: bind them anyway.
  for (const name of plan.trainableBase) param(name);
  const grads = gradients(g, loss, trainables.map((t) => inputs.get(t.name)!));
  grads.forEach((d, i) => g.output(d, `grad:${trainables[i].name}`));
  let bytes: Uint8Array | null = g.toModel();
  // The frozen weights now live in the model bytes, and soon in ONNX Runtime: drop ours so a
  // LoRA run does not hold the base model three times.
  if (opts.releaseFrozen) {
    for (const name of weights.keys()) if (!trainableBase.has(name)) weights.delete(name);
    g.initializers.clear();
  }
  const session = await Session.create(bytes, { ...opts, memoryPattern: false });
  bytes = null;
  if (opts.releaseFrozen) collectGarbage();
  return { session, trainables, dropouts, outputs: Object.keys(outputs) };
}
