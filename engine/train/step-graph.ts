// One training step as one ONNX graph: token ids, attention bias, targets and the trainable
// tensors in; the loss and a gradient per trainable tensor out. Frozen weights are
// initializers, loaded into the session once.

import { gradients } from '../onnx/autodiff.ts';
import { Graph, type Value } from '../onnx/graph.ts';
import { type Device, Session } from '../onnx/runtime.ts';
import { type LoadedGPT2, gpt2Forward, isNoDecay } from '../models/gpt2.ts';
import type { Plan } from '../lora/peft-model.ts';
import { collectGarbage } from '../util/gc.ts';
import { tokenNll, weightedLoss } from './loss.ts';

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
  B: number;
  T: number;
}

export interface StepGraphOptions {
  device?: Device;
  threads?: number;
  /** Drop our copies of frozen weights once ONNX Runtime has them (LoRA). */
  releaseFrozen?: boolean;
  /** Train with the model's own dropouts (embd/attn/resid pdrop of config.json), as HF does. */
  modelDropout?: boolean;
}

export async function buildStepGraph(model: LoadedGPT2, plan: Plan, B: number, T: number, opts: StepGraphOptions = {}): Promise<StepGraph> {
  const { config, weights } = model;
  const g = new Graph();
  const ids = g.input('ids', 'int64', [B, T]);
  const attnBias = g.input('attn_bias', 'float32', [B, 1, T, T]);
  const targets = g.input('targets', 'int64', [B, T]);
  const lossWeights = g.input('loss_weights', 'float32', [B, T]);

  const trainables: Trainable[] = [];
  const trainableBase = new Set(plan.trainableBase);
  const values = new Map<string, Value>();
  const param = (name: string): Value => {
    let v = values.get(name);
    if (v) return v;
    const w = weights.get(name);
    if (!w) throw new Error(`model has no tensor ${name}`);
    if (trainableBase.has(name)) {
      v = g.input(name, 'float32', w.shape);
      trainables.push({ name, shape: w.shape, data: w.data, decay: !isNoDecay(name) });
    } else {
      v = g.initializer(name, 'float32', w.shape, w.data);
    }
    values.set(name, v);
    return v;
  };

  const dropouts: DropoutInput[] = [];
  const byModule = new Map(plan.layers.map((l) => [l.module.name, l]));
  const hook = (mod: string, x: Value, y: Value): Value => {
    const layer = byModule.get(mod);
    if (!layer) return y;
    const A = g.input(layer.aName, 'float32', layer.aShape);
    const Bm = g.input(layer.bName, 'float32', layer.bShape);
    // LoRA weights are ordinary weights to HF Trainer: they get weight decay.
    trainables.push({ name: layer.aName, shape: layer.aShape, data: layer.A, decay: true });
    trainables.push({ name: layer.bName, shape: layer.bShape, data: layer.B, decay: true });
    let mask: Value | undefined;
    if (layer.dropout > 0) {
      const shape = [B, T, layer.module.inFeatures];
      mask = g.input(`dropout:${mod}`, 'float32', shape);
      dropouts.push({ name: mask.name, shape, p: layer.dropout });
    }
    return g.add(y, layer.delta(g, x, A, Bm, mask));
  };

  const dropout = (site: string, x: Value, p: number): Value => {
    const mask = g.input(`dropout:${site}`, 'float32', x.shape);
    dropouts.push({ name: mask.name, shape: x.shape as number[], p });
    return g.mul(x, mask);
  };
  const logits = gpt2Forward(g, config, param, { ids, attnBias, dropout: opts.modelDropout ? dropout : undefined }, hook);
  const loss = weightedLoss(g, tokenNll(g, logits, targets), lossWeights);
  g.output(loss, 'loss');
  // Trainable base tensors never used by the graph (none for GPT-2) would get zero gradients.
  for (const name of plan.trainableBase) param(name);
  const grads = gradients(g, loss, trainables.map((t) => values.get(t.name) ?? g.inputs.find((i) => i.name === t.name)!));
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
  return { session, trainables, dropouts, B, T };
}
