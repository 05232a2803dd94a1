// Running the step graph: one micro-batch forward + backward, and accumulation over several.

import type { Rng } from '../util/rng.ts';
import { type Batch, batchFeeds } from './batch.ts';
import type { StepGraph } from './step-graph.ts';

export interface StepOutput {
  loss: number;
  grads: Float32Array[];
}

export async function runMicroBatch(sg: StepGraph, batch: Batch, dropoutRng?: Rng): Promise<StepOutput> {
  const feeds = batchFeeds(batch);
  for (const t of sg.trainables) feeds[t.name] = { dtype: 'float32', shape: t.shape, data: t.data };
  for (const d of sg.dropouts) {
    if (!dropoutRng) throw new Error('dropout needs a random stream');
    feeds[d.name] = { dtype: 'float32', shape: d.shape, data: dropoutRng.dropoutMask(d.shape.reduce((a, b) => a * b, 1), d.p) };
  }
  const out = await sg.session.run(feeds);
  return { loss: out.loss.data[0] as number, grads: sg.trainables.map((t) => out[`grad:${t.name}`].data as Float32Array) };
}

/** Mean loss and mean gradients over micro-batches (HF Trainer's gradient accumulation). */
export async function runAccumulated(sg: StepGraph, batches: Batch[], dropoutRng?: Rng): Promise<StepOutput> {
  let acc: StepOutput | null = null;
  for (const b of batches) {
    const o = await runMicroBatch(sg, b, dropoutRng);
    if (!acc) acc = o;
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
