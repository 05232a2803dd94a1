// Sequence classification: labelled rows -> the family's classifier (backbone + head), cross-
// entropy over the rows of a batch; the heads train whole and are saved as PEFT modules_to_save.
// Validation reports loss, accuracy, F1 and the confusion matrix.

import { encodeForClassification, holdOutLabelled, type LabelledData, loadLabelled } from '../../data/pipeline.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { writeModelFolder } from '../../export/hf-folder.ts';
import { planTargetOf } from '../../lora/apply.ts';
import { adapterTensors, toLoraConfig } from '../../lora/peft-model.ts';
import { type SeqClsModel, attnBiasShape, loadSeqClsModel, seqClsFeeds, seqClsForward } from '../../models/seq-cls.ts';
import { saveAdapter } from '../../store/adapter.ts';
import { classificationMetrics } from '../metrics.ts';
import { type StepOutput, type TaskBatch, evaluateLoss } from '../step.ts';
import type { LossBuilder } from '../step-graph.ts';
import type { Task } from '../task.ts';
import type { TrainOptions } from '../types.ts';
import { maxOf } from '../../util/math.ts';

export const argmax = (x: ArrayLike<number>): number => { let k = 0; for (let i = 1; i < x.length; i++) if (x[i] > x[k]) k = i; return k; };

/** Predicted classes of a micro-batch's real rows from its logits [B, C]. */
const predictions = (logits: Float32Array, rows: number, C: number): number[] =>
  Array.from({ length: rows }, (_, b) => argmax(logits.subarray(b * C, (b + 1) * C)));

interface Rows { ids: number[][]; labels: number[] }

function feeds(m: SeqClsModel, d: Rows, idx: number[], B: number, T: number): TaskBatch & { labels: number[] } {
  const f = seqClsFeeds(m, idx.map((i) => d.ids[i]), B, T);
  const labels = new BigInt64Array(B);
  const w = new Float32Array(B);
  idx.forEach((i, b) => { labels[b] = BigInt(d.labels[i]); w[b] = 1 / idx.length; });
  return {
    feeds: {
      ids: { dtype: 'int64', shape: [B, T], data: f.ids },
      attn_bias: { dtype: 'float32', shape: attnBiasShape(m, B, T), data: f.attnBias },
      pool: { dtype: 'float32', shape: [B, 1, T], data: f.pool },
      labels: { dtype: 'int64', shape: [B], data: labels },
      row_weights: { dtype: 'float32', shape: [B], data: w },
    },
    tokens: idx.reduce((s, i) => s + Math.min(d.ids[i].length, T), 0), rows: idx.length, count: idx.length,
    labels: idx.map((i) => d.labels[i]),
  };
}

/** Cross-entropy of the classifier's logits over the real rows of a [B, T] batch; logits out too. */
export function seqClsLoss(m: SeqClsModel, B: number, T: number): LossBuilder {
  return (g, param, hook) => {
    const ids = g.input('ids', 'int64', [B, T]);
    const attnBias = g.input('attn_bias', 'float32', attnBiasShape(m, B, T));
    const pool = g.input('pool', 'float32', [B, 1, T]);
    const labels = g.input('labels', 'int64', [B]);
    const rowWeights = g.input('row_weights', 'float32', [B]);
    const logits = seqClsForward(g, m, param, { ids, attnBias, pool }, hook);
    const [ce] = g.softmaxCrossEntropy(logits, labels, -100);
    return { loss: g.reduceSum(g.mul(ce, rowWeights), [0], false), outputs: { logits } };
  };
}

async function splits(o: TrainOptions): Promise<{ train: LabelledData; valid?: LabelledData }> {
  const cols = { textColumn: o.textColumn, labelColumn: o.labelColumn, split: o.split };
  let train = await loadLabelled(o.data as string | LabelledData, cols);
  let valid = o.validation ? await loadLabelled(o.validation, cols) : undefined;
  if (!valid && o.valRatio > 0) ({ train, valid } = holdOutLabelled(train, o.valRatio, o.seed));
  return { train, valid };
}

export async function seqClsTask(o: TrainOptions): Promise<Task> {
  const { train, valid } = await splits(o);
  const numLabels = Math.max(train.labelNames?.length ?? 0, maxOf(train.labels, -1) + 1, maxOf(valid?.labels ?? [], -1) + 1);
  const m = loadSeqClsModel(o.model, { numLabels, labels: train.labelNames?.length === numLabels ? train.labelNames : undefined, seed: o.seed });
  const tok = await loadTokenizer(o.model);
  const limit = Math.min(o.maxLength, m.spec.maxPositions);
  const enc = (d: LabelledData): Rows => ({ ids: d.texts.map((t) => encodeForClassification(tok, t, limit)), labels: d.labels });
  const rows = enc(train);
  const vrows = valid ? enc(valid) : undefined;
  let T = 1;
  for (const r of [...rows.ids, ...(vrows?.ids ?? [])]) T = Math.max(T, r.length);
  const B = o.batchSize, C = m.numLabels;
  return {
    kind: 'seq-cls', model: m, family: m.spec.family, target: planTargetOf(m), B, T, size: rows.ids.length,
    startInfo: { examples: rows.ids.length, tokensPerStep: B * T * o.gradAccum, numLabels: C, labels: m.labels },
    loraConfig: (lora) => toLoraConfig(lora, m.spec, { baseModel: m.dir, headModules: m.headModules }),
    loss: seqClsLoss(m, B, T),
    batch: (idx) => feeds(m, rows, idx, B, T),
    stepMetrics(batches: TaskBatch[], out: StepOutput) {
      let right = 0, n = 0;
      batches.forEach((b, i) => {
        const ys = (b as TaskBatch & { labels: number[] }).labels;
        predictions(out.outputs[i].logits, b.rows, C).forEach((p, j) => { right += p === ys[j] ? 1 : 0; n++; });
      });
      return { accuracy: n ? right / n : 0 };
    },
    async evaluate(sg, step) {
      if (!vrows || vrows.ids.length === 0) return undefined;
      const all = [...vrows.ids.keys()];
      const batches = Array.from({ length: Math.ceil(all.length / B) }, (_, i) => feeds(m, vrows, all.slice(i * B, (i + 1) * B), B, T));
      const preds: number[] = [];
      const r = await evaluateLoss(sg, batches, (b, out) => preds.push(...predictions(out.outputs[0].logits, b.rows, C)));
      const mt = classificationMetrics(vrows.labels, preds, C);
      return { event: { type: 'eval', step, evalLoss: r.loss, perplexity: Math.exp(r.loss), tokens: r.count, accuracy: mt.accuracy, f1: mt.f1, confusion: mt.confusion }, metrics: mt };
    },
    save(out, plan, lora) {
      if (lora) saveAdapter(out, lora, adapterTensors(plan, m));
      else writeModelFolder(m, out);
    },
  };
}
