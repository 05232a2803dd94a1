// Sequence classification with a trained classifier: prediction, and evaluation with accuracy,
// precision, recall, F1 and the confusion matrix (`lora-studio classify`). Training is the one
// loop's seq-cls task (engine/train/tasks/seq-cls.ts).

import { type LabelledData, type LabelledDataOptions as ClassifyDataOptions, encodeForClassification, holdOutLabelled, loadLabelled } from '../data/pipeline.ts';
import { loadTokenizer } from '../data/tokenizer.ts';
import { mergeAdapter } from '../lora/apply.ts';
import { frozenParams } from '../models/params.ts';
import { type SeqClsModel, attnBiasShape, loadSeqClsModel, seqClsFeeds, seqClsForward } from '../models/seq-cls.ts';
import { Graph } from '../onnx/graph.ts';
import { type Device, Session } from '../onnx/runtime.ts';
import { readAdapterHeader } from '../store/adapter.ts';
import { type ClassificationMetrics, classificationMetrics } from './metrics.ts';
import { argmax } from './tasks/seq-cls.ts';
import { train } from './trainer.ts';
import { DEFAULT_CLASSIFY, type TrainEvent, type TrainHooks, type TrainOptions, type TrainResult } from './types.ts';

export { type LabelledData, encodeForClassification, loadLabelled, holdOutLabelled as holdOut };
export type { ClassifyDataOptions };

/** The number of labels an adapter's head was trained for (from its tensor shapes). */
export function adapterNumLabels(adapterDir: string): number | undefined {
  const h = readAdapterHeader(adapterDir);
  const head = h.tensors.find((t) => t.normalized === 'classifier.weight' || t.normalized === 'score.weight');
  return head?.shape[0];
}

/** A classifier with the adapter (if any) merged and its heads loaded. */
export function loadClassifier(modelDir: string, adapterDir?: string, o: { numLabels?: number; labels?: string[] } = {}): SeqClsModel {
  const numLabels = o.numLabels ?? (adapterDir ? adapterNumLabels(adapterDir) : undefined);
  const m = loadSeqClsModel(modelDir, { numLabels, labels: o.labels });
  if (adapterDir) mergeAdapter(m, adapterDir);
  return m;
}

/** Inference: logits [B, C] for fixed [B, T] batches. */
export class ClassifierSession {
  private constructor(readonly model: SeqClsModel, private readonly session: Session, readonly B: number, readonly T: number) {}

  static async create(m: SeqClsModel, B: number, T: number, o: { device?: Device; threads?: number } = {}): Promise<ClassifierSession> {
    const g = new Graph();
    const ids = g.input('ids', 'int64', [B, T]);
    const attnBias = g.input('attn_bias', 'float32', attnBiasShape(m, B, T));
    const pool = g.input('pool', 'float32', [B, 1, T]);
    g.output(seqClsForward(g, m, frozenParams(g, m.weights), { ids, attnBias, pool }), 'logits');
    return new ClassifierSession(m, await Session.create(g.toModel(), o), B, T);
  }

  /** Logits per row (rows are truncated to T). */
  async logits(rows: number[][]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const C = this.model.numLabels;
    for (let i = 0; i < rows.length; i += this.B) {
      const chunk = rows.slice(i, i + this.B);
      const f = seqClsFeeds(this.model, chunk, this.B, this.T);
      const r = await this.session.run({
        ids: { dtype: 'int64', shape: [this.B, this.T], data: f.ids },
        attn_bias: { dtype: 'float32', shape: attnBiasShape(this.model, this.B, this.T), data: f.attnBias },
        pool: { dtype: 'float32', shape: [this.B, 1, this.T], data: f.pool },
      });
      const l = r.logits.data as Float32Array;
      chunk.forEach((_, b) => out.push(l.slice(b * C, (b + 1) * C)));
    }
    return out;
  }

  async release(): Promise<void> { await this.session.release(); }
}


export interface EvaluateOptions extends ClassifyDataOptions {
  model: string;
  adapter?: string;
  data: string | LabelledData;
  maxLength?: number;
  batchSize?: number;
  device?: Device;
  threads?: number;
}

export interface EvaluateResult extends ClassificationMetrics {
  labels: string[];
  predictions: number[];
}

/** `lora-studio classify`: predictions and metrics of a classifier on labelled data. */
export async function evaluateClassifier(o: EvaluateOptions): Promise<EvaluateResult> {
  const data = await loadLabelled(o.data, o);
  const m = loadClassifier(o.model, o.adapter, { numLabels: o.adapter ? undefined : data.labelNames?.length });
  const maxLabel = data.labels.reduce((a, b) => Math.max(a, b), -1);
  if (maxLabel >= m.numLabels) throw new Error(`the data has ${maxLabel + 1} classes but the classifier has ${m.numLabels} outputs`);
  const tok = await loadTokenizer(o.model);
  const limit = Math.min(o.maxLength ?? 512, m.spec.maxPositions);
  const rows = data.texts.map((t) => encodeForClassification(tok, t, limit));
  const T = rows.reduce((a, r) => Math.max(a, r.length), 1);
  const B = Math.min(o.batchSize ?? 16, rows.length);
  const s = await ClassifierSession.create(m, B, T, { device: o.device, threads: o.threads });
  try {
    const predictions = (await s.logits(rows)).map(argmax);
    const labels = data.labelNames && data.labelNames.length === m.numLabels ? data.labelNames : m.labels;
    return { ...classificationMetrics(data.labels, predictions, m.numLabels), labels, predictions };
  } finally {
    await s.release();
  }
}


// ------------------------------------------------------------------------------- training

/** A classifier run: the one training loop's seq-cls task with the classification defaults. */
export type ClassifyTrainOptions = Partial<Omit<TrainOptions, 'task'>> & Pick<TrainOptions, 'model' | 'data'>;
export type ClassifyEvent = TrainEvent;
export type ClassifyResult = TrainResult;
export { DEFAULT_CLASSIFY };

export function trainClassifier(o: ClassifyTrainOptions, hooks: TrainHooks = {}): Promise<ClassifyResult> {
  return train({ ...o, task: 'seq-cls' }, hooks);
}
