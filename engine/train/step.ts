// Running the step graph: one micro-batch forward + backward, and accumulation over several.

import type { Rng } from '../util/rng.ts';
import { type Batch, batchFeeds } from './batch.ts';
import type { StepGraph } from './step-graph.ts';

export interface StepOutput {
  loss: number;
  grads: Float32Array[];
}

/** Forward + backward of one batch. Without a random stream dropout is off (evaluation). */
export async function runMicroBatch(sg: StepGraph, batch: Batch, dropoutRng?: Rng): Promise<StepOutput> {
  const feeds = batchFeeds(batch);
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
  const out = await sg.session.runInto(feeds, into, ['loss']);
  return { loss: out.loss.data[0] as number, grads };
}

/** Mean loss and mean gradients over micro-batches (HF Trainer's gradient accumulation). */
export async function runAccumulated(sg: StepGraph, batches: Batch[], dropoutRng?: Rng): Promise<StepOutput> {
  let acc: StepOutput | null = null;
  for (const b of batches) {
    const o = await runMicroBatch(sg, b, dropoutRng);
    if (!acc) acc = batches.length > 1 ? { loss: o.loss, grads: o.grads.map((g) => g.slice()) } : o;
    else {
      acc.loss += o.loss;
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
 * Mean NLL over the predicted tokens of `batches`, through the step graph (ONNX Runtime runs a
 * whole graph whatever is fetched, so a separate forward graph would only add a second copy of
 * the frozen weights; the backward is discarded). Dropout is off.
 */
export async function evaluateLoss(sg: StepGraph, batches: Batch[]): Promise<{ loss: number; tokens: number }> {
  let sum = 0, tokens = 0;
  for (const b of batches) {
    if (b.predicted === 0) continue;
    const { loss } = await runMicroBatch(sg, b);
    sum += loss * b.predicted;
    tokens += b.predicted;
  }
  return { loss: tokens ? sum / tokens : NaN, tokens };
}
