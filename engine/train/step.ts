// Running the step graph: one micro-batch forward + backward, and accumulation over several.

import type { DType } from '../onnx/graph.ts';
import type { Feed } from '../onnx/runtime.ts';
import type { Rng } from '../util/rng.ts';
import type { StepGraph } from './step-graph.ts';

export type Feeds = Record<string, { dtype: DType; shape: number[]; data: Feed }>;

/** One micro-batch as a task feeds it. */
export interface TaskBatch {
  feeds: Feeds;
  /** Real (non-padding) tokens. */
  tokens: number;
  /** Real rows (examples). */
  rows: number;
  /** What the loss is averaged over (predicted tokens, or rows): evaluation weights by it. */
  count: number;
}

export interface StepOutput {
  loss: number;
  grads: Float32Array[];
  /** The task's extra outputs per micro-batch (copied). */
  outputs: Record<string, Float32Array>[];
}

/** Forward + backward of one batch. Without a random stream dropout is off (evaluation). */
export async function runMicroBatch(sg: StepGraph, batch: TaskBatch, dropoutRng?: Rng): Promise<StepOutput> {
  const feeds: Feeds = { ...batch.feeds };
  for (const t of sg.trainables) feeds[t.name] = { dtype: 'float32', shape: t.shape, data: t.data };
  for (const d of sg.dropouts) {
    const n = d.shape.reduce((a, b) => a * b, 1);
    feeds[d.name] = { dtype: 'float32', shape: d.shape, data: dropoutRng ? dropoutRng.dropoutMask(n, d.p) : new Float32Array(n).fill(1) };
  }
  // Gradients land in buffers kept with the step graph: no per-step allocation of a model-sized
  // output. They are overwritten by the next run; callers that keep them copy.
  sg.gradBuffers ??= sg.trainables.map((t) => new Float32Array(t.data.length));
  const grads = sg.gradBuffers;
  const into = Object.fromEntries(sg.trainables.map((t, i) => [`grad:${t.name}`, { dtype: 'float32' as const, shape: t.shape, data: grads[i] }]));
  const out = await sg.session.runInto(feeds, into, ['loss', ...sg.outputs]);
  const outputs = Object.fromEntries(sg.outputs.map((k) => [k, (out[k].data as Float32Array).slice()]));
  return { loss: out.loss.data[0] as number, grads, outputs: [outputs] };
}

/** Mean loss and mean gradients over micro-batches (HF Trainer's gradient accumulation). */
export async function runAccumulated(sg: StepGraph, batches: TaskBatch[], dropoutRng?: Rng): Promise<StepOutput> {
  let acc: StepOutput | null = null;
  for (const b of batches) {
    const o = await runMicroBatch(sg, b, dropoutRng);
    if (!acc) acc = batches.length > 1 ? { loss: o.loss, grads: o.grads.map((g) => g.slice()), outputs: o.outputs } : o;
    else {
      acc.loss += o.loss;
      acc.outputs.push(...o.outputs);
      acc.grads.forEach((g, i) => { const h = o.grads[i]; for (let j = 0; j < g.length; j++) g[j] += h[j]; });
    }
  }
  if (!acc) throw new Error('no micro-batches');
  if (batches.length > 1) {
    const s = 1 / batches.length;
    acc.loss *= s;
    for (const g of acc.grads) for (let j = 0; j < g.length; j++) g[j] *= s;
  }
  return acc;
}

/**
 * Mean loss over `batches` weighted by what each averages over, through the step graph (ONNX
 * Runtime runs a whole graph whatever is fetched, so a separate forward graph would only add a
 * second copy of the frozen weights; the backward is discarded). Dropout is off.
 */
export async function evaluateLoss(sg: StepGraph, batches: TaskBatch[], each?: (b: TaskBatch, o: StepOutput) => void): Promise<{ loss: number; count: number }> {
  let sum = 0, count = 0;
  for (const b of batches) {
    if (b.count === 0) continue;
    const o = await runMicroBatch(sg, b);
    sum += o.loss * b.count;
    count += b.count;
    each?.(b, o);
  }
  return { loss: count ? sum / count : NaN, count };
}
