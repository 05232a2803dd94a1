// Sequence classification: LoRA fine-tuning of DistilBERT / GPT-2 classifiers (the heads train
// whole and are saved as PEFT modules_to_save), prediction, and evaluation with accuracy,
// precision, recall, F1 and the confusion matrix. Reuses the causal-LM trainer's AdamW,
// clipping and schedules; the step graph is the classifier's forward + cross-entropy + autodiff.

import { loadTokenizer } from '../data/tokenizer.ts';
import { type LabelledData, type LabelledDataOptions as ClassifyDataOptions, encodeForClassification, holdOutLabelled, loadLabelled } from '../data/pipeline.ts';
export { type LabelledData, encodeForClassification, loadLabelled, holdOutLabelled as holdOut };
export type { ClassifyDataOptions };
import { defaultLoraConfig, type LoraConfig } from '../lora/config.ts';
import { readSeqClsAdapter, seqClsPlan } from '../lora/merge.ts';
import type { Plan } from '../lora/peft-model.ts';
import { type SeqClsModel, attnBiasShape, loadSeqClsModel, seqClsFeeds, seqClsForward } from '../models/seq-cls.ts';
import { gradients } from '../onnx/autodiff.ts';
import { Graph, type Value } from '../onnx/graph.ts';
import { type Device, type Feed, Session } from '../onnx/runtime.ts';
import type { DType } from '../onnx/graph.ts';
import { readAdapterHeader, saveAdapter } from '../store/adapter.ts';
import { Rng } from '../util/rng.ts';
import { type ClassificationMetrics, classificationMetrics } from './metrics.ts';
import { AdamW, clipScale, globalNorm } from './optimizer.ts';
import { lrAt, warmupSteps } from './schedule.ts';
import { DEFAULT_TRAIN, type LoraOptions, type TrainOptions, type TrainResult } from './types.ts';

type Feeds = Record<string, { dtype: DType; shape: number[]; data: Feed }>;

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
  if (adapterDir) readSeqClsAdapter(m, adapterDir, { merge: true });
  return m;
}

function frozen(g: Graph, m: SeqClsModel, except: Set<string> = new Set(), inputs?: Map<string, Value>) {
  const cache = new Map<string, Value>();
  return (name: string): Value => {
    let v = cache.get(name);
    if (v) return v;
    const w = m.weights.get(name);
    if (!w) throw new Error(`model has no tensor ${name}`);
    v = except.has(name) ? g.input(name, 'float32', w.shape) : g.initializer(name, 'float32', w.shape, w.data);
    if (except.has(name)) inputs?.set(name, v);
    cache.set(name, v);
    return v;
  };
}

/** Inference: logits [B, C] for fixed [B, T] batches. */
export class ClassifierSession {
  private constructor(readonly model: SeqClsModel, private readonly session: Session, readonly B: number, readonly T: number) {}

  static async create(m: SeqClsModel, B: number, T: number, o: { device?: Device; threads?: number } = {}): Promise<ClassifierSession> {
    const g = new Graph();
    const ids = g.input('ids', 'int64', [B, T]);
    const attnBias = g.input('attn_bias', 'float32', attnBiasShape(m, B, T));
    const pool = g.input('pool', 'float32', [B, 1, T]);
    g.output(seqClsForward(g, m, frozen(g, m), { ids, attnBias, pool }), 'logits');
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

const argmax = (x: ArrayLike<number>) => { let k = 0; for (let i = 1; i < x.length; i++) if (x[i] > x[k]) k = i; return k; };

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
  const maxLabel = Math.max(...data.labels);
  if (maxLabel >= m.numLabels) throw new Error(`the data has ${maxLabel + 1} classes but the classifier has ${m.numLabels} outputs`);
  const tok = await loadTokenizer(o.model);
  const limit = Math.min(o.maxLength ?? 512, m.maxPositions);
  const rows = data.texts.map((t) => encodeForClassification(tok, t, limit));
  const T = Math.max(1, ...rows.map((r) => r.length));
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

/** The causal-LM trainer's hyper-parameters (same names and meaning), for a labelled dataset. */
type SharedTrainOptions = Pick<TrainOptions, 'lora' | 'lr' | 'epochs' | 'maxSteps' | 'batchSize' | 'maxLength' | 'warmupSteps' | 'warmupRatio'
  | 'weightDecay' | 'beta1' | 'beta2' | 'eps' | 'maxGradNorm' | 'schedule' | 'seed' | 'logEvery' | 'evalEvery' | 'device' | 'threads'>;

export interface ClassifyTrainOptions extends ClassifyDataOptions, SharedTrainOptions {
  model: string;
  data: string | LabelledData;
  /** Held-out data evaluated every `evalEvery` steps and at the end. */
  validation?: string | LabelledData;
  /** Without `validation`: hold out this fraction of the data (seeded), 0 = none. */
  valRatio?: number;
  out?: string;
}

export const DEFAULT_CLASSIFY: Omit<ClassifyTrainOptions, 'model' | 'data'> = {
  lora: { ...DEFAULT_TRAIN.lora, dropout: 0.1 },
  lr: 1e-3, epochs: 1, maxSteps: 0, batchSize: 8, maxLength: 128, warmupSteps: 0, warmupRatio: 0, weightDecay: 0.01,
  beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1, schedule: 'linear', seed: 42, logEvery: 10, evalEvery: 0, device: 'cpu',
};

export type ClassifyEvent =
  | { type: 'start'; totalSteps: number; trainableParams: number; allParams: number; examples: number; numLabels: number; arch: string }
  | { type: 'step'; step: number; totalSteps: number; epoch: number; loss: number; lr: number; gradNorm: number; accuracy: number; examplesPerS: number; elapsedS: number; etaS: number }
  | { type: 'eval'; step: number; loss: number; accuracy: number; f1: number; confusion: number[][] }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'done'; result: ClassifyResult };

export interface ClassifyResult extends Omit<TrainResult, 'tokensPerS'> {
  examplesPerS: number;
  eval?: ClassificationMetrics & { loss: number };
  labels: string[];
}

export interface ClassifyHooks {
  onEvent?: (e: ClassifyEvent) => void;
  signal?: AbortSignal;
}

interface Trainable { name: string; shape: number[]; data: Float32Array; decay: boolean }

/** The PEFT config of a classification run (task SEQ_CLS, heads in modules_to_save). */
export function seqClsLoraConfig(lora: LoraOptions, m: SeqClsModel): LoraConfig {
  return defaultLoraConfig({
    r: lora.r, loraAlpha: lora.alpha, loraDropout: lora.dropout, bias: lora.bias, targetModules: lora.targets,
    useRslora: lora.useRslora, initLoraWeights: lora.init === 'gaussian' ? 'gaussian' : true, modulesToSave: [...m.headModules],
    fanInFanOut: m.layout === 'conv1d', taskType: 'SEQ_CLS', baseModelNameOrPath: m.dir,
  });
}

const isNoDecay = (n: string) => n.endsWith('.bias') || /(LayerNorm|layer_norm|ln_[12f])\.weight$/.test(n);

/** The classifier's training step: loss, logits and a gradient per trainable (LoRA matrices, heads). */
export async function buildSeqClsStepGraph(m: SeqClsModel, plan: Plan, B: number, T: number, o: { device?: Device; threads?: number }) {
  const g = new Graph();
  const ids = g.input('ids', 'int64', [B, T]);
  const attnBias = g.input('attn_bias', 'float32', attnBiasShape(m, B, T));
  const pool = g.input('pool', 'float32', [B, 1, T]);
  const labels = g.input('labels', 'int64', [B]);
  const rowWeights = g.input('row_weights', 'float32', [B]);
  const trainables: Trainable[] = [];
  const values = new Map<string, Value>();
  const trainBase = new Set(plan.trainableBase);
  const param = frozen(g, m, trainBase, values);
  const dropouts: { name: string; shape: number[]; p: number }[] = [];
  const byModule = new Map(plan.layers.map((l) => [l.module.name, l]));
  const hook = (mod: string, x: Value, y: Value): Value => {
    const l = byModule.get(mod);
    if (!l) return y;
    const A = g.input(l.aName, 'float32', l.aShape), Bm = g.input(l.bName, 'float32', l.bShape);
    values.set(l.aName, A); values.set(l.bName, Bm);
    trainables.push({ name: l.aName, shape: l.aShape, data: l.A, decay: true }, { name: l.bName, shape: l.bShape, data: l.B, decay: true });
    let mask: Value | undefined;
    if (l.dropout > 0) {
      const shape = [...(x.shape as number[])];
      mask = g.input(`dropout:${mod}`, 'float32', shape);
      dropouts.push({ name: mask.name, shape, p: l.dropout });
    }
    return g.add(y, l.delta(g, x, A, Bm, mask));
  };
  const logits = seqClsForward(g, m, param, { ids, attnBias, pool }, hook);
  const [ce] = g.softmaxCrossEntropy(logits, labels, -100);
  const loss = g.reduceSum(g.mul(ce, rowWeights), [0], false);
  g.output(loss, 'loss');
  g.output(logits, 'logits');
  for (const n of plan.trainableBase) {
    param(n);
    const w = m.weights.get(n)!;
    trainables.push({ name: n, shape: w.shape, data: w.data, decay: !isNoDecay(n) });
  }
  const grads = gradients(g, loss, trainables.map((t) => values.get(t.name)!));
  grads.forEach((d, i) => g.output(d, `grad:${trainables[i].name}`));
  const session = await Session.create(g.toModel(), { ...o, memoryPattern: false });
  return { session, trainables, dropouts };
}

export async function trainClassifier(partial: Partial<ClassifyTrainOptions> & Pick<ClassifyTrainOptions, 'model' | 'data'>, hooks: ClassifyHooks = {}): Promise<ClassifyResult> {
  const o: ClassifyTrainOptions = { ...DEFAULT_CLASSIFY, ...partial, lora: { ...DEFAULT_CLASSIFY.lora, ...partial.lora } };
  if (!(o.lr > 0)) throw new Error(`invalid training options: lr must be > 0, got ${o.lr}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`invalid training options: batchSize must be a positive integer, got ${o.batchSize}`);
  if (!(o.epochs > 0) && !(o.maxSteps > 0)) throw new Error('invalid training options: give epochs > 0 or maxSteps > 0');
  const emit = (e: ClassifyEvent) => hooks.onEvent?.(e);
  const t0 = performance.now();
  let train = await loadLabelled(o.data, o);
  let valid = o.validation ? await loadLabelled(o.validation, o) : undefined;
  if (!valid && o.valRatio && o.valRatio > 0) ({ train, valid } = holdOutLabelled(train, o.valRatio, o.seed));
  const numLabels = Math.max(train.labelNames?.length ?? 0, ...train.labels.map((l) => l + 1), ...(valid?.labels ?? []).map((l) => l + 1));
  const m = loadSeqClsModel(o.model, { numLabels, labels: train.labelNames?.length === numLabels ? train.labelNames : undefined, seed: o.seed });
  const lc = seqClsLoraConfig(o.lora, m);
  const plan = seqClsPlan(m, lc);
  const rng = Rng.derive(o.seed, 3);
  for (const l of plan.layers) l.init(rng, o.lora.init);
  const tok = await loadTokenizer(o.model);
  const limit = Math.min(o.maxLength, m.maxPositions);
  const rows = train.texts.map((t) => encodeForClassification(tok, t, limit));
  const vrows = valid?.texts.map((t) => encodeForClassification(tok, t, limit));
  const T = Math.max(1, ...rows.map((r) => r.length), ...(vrows ?? []).map((r) => r.length));
  const B = o.batchSize;
  const batchesPerEpoch = Math.ceil(rows.length / B);
  const totalSteps = o.maxSteps > 0 ? o.maxSteps : Math.ceil(o.epochs * batchesPerEpoch);
  const warmup = warmupSteps(totalSteps, o.warmupSteps, o.warmupRatio);
  const sg = await buildSeqClsStepGraph(m, plan, B, T, { device: o.device, threads: o.threads });
  const opt = new AdamW(sg.trainables, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  emit({ type: 'start', totalSteps, trainableParams: plan.trainableParams, allParams: plan.allParams, examples: rows.length, numLabels: m.numLabels, arch: m.arch });

  const feedsFor = (idx: number[], rowsOf: number[][], labelsOf: number[], dropoutRng?: Rng): Feeds => {
    const f = seqClsFeeds(m, idx.map((i) => rowsOf[i]), B, T);
    const labels = new BigInt64Array(B);
    const w = new Float32Array(B);
    idx.forEach((i, b) => { labels[b] = BigInt(labelsOf[i]); w[b] = 1 / idx.length; });
    const feeds: Feeds = {
      ids: { dtype: 'int64', shape: [B, T], data: f.ids },
      attn_bias: { dtype: 'float32', shape: attnBiasShape(m, B, T), data: f.attnBias },
      pool: { dtype: 'float32', shape: [B, 1, T], data: f.pool },
      labels: { dtype: 'int64', shape: [B], data: labels },
      row_weights: { dtype: 'float32', shape: [B], data: w },
    };
    for (const t of sg.trainables) feeds[t.name] = { dtype: 'float32', shape: t.shape, data: t.data };
    for (const d of sg.dropouts) {
      const n = d.shape.reduce((a, b) => a * b, 1);
      feeds[d.name] = { dtype: 'float32', shape: d.shape, data: dropoutRng ? dropoutRng.dropoutMask(n, d.p) : new Float32Array(n).fill(1) };
    }
    return feeds;
  };

  const evaluate = async (step: number) => {
    if (!valid || !vrows) return undefined;
    const preds: number[] = [];
    let lossSum = 0;
    for (let i = 0; i < vrows.length; i += B) {
      const idx = Array.from({ length: Math.min(B, vrows.length - i) }, (_, j) => i + j);
      const r = await sg.session.run(feedsFor(idx, vrows, valid.labels), ['loss', 'logits']);
      lossSum += (r.loss.data[0] as number) * idx.length;
      const l = r.logits.data as Float32Array;
      idx.forEach((_, b) => preds.push(argmax(l.subarray(b * m.numLabels, (b + 1) * m.numLabels))));
    }
    const metrics = { ...classificationMetrics(valid.labels, preds, m.numLabels), loss: lossSum / vrows.length };
    emit({ type: 'eval', step, loss: metrics.loss, accuracy: metrics.accuracy, f1: metrics.f1, confusion: metrics.confusion });
    return metrics;
  };

  let order: number[] = [], orderEpoch = -1;
  let loss = NaN, step = 0, timeAfterFirst = 0, seenAfterFirst = 0;
  let stopped: TrainResult['stopped'] = 'completed';
  let lastEval: ClassifyResult['eval'];
  try {
    for (step = 0; step < totalSteps; step++) {
      if (hooks.signal?.aborted) { stopped = 'cancelled'; break; }
      const ts = performance.now();
      const epoch = Math.floor(step / batchesPerEpoch);
      if (epoch !== orderEpoch) { order = Rng.derive(o.seed, 1, epoch).shuffle([...rows.keys()]); orderEpoch = epoch; }
      const k = (step % batchesPerEpoch) * B;
      const idx = order.slice(k, k + B);
      const out = await sg.session.run(feedsFor(idx, rows, train.labels, Rng.derive(o.seed, 2, step)));
      loss = out.loss.data[0] as number;
      if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss is ${loss} at step ${step + 1}. Lower the learning rate (now ${o.lr}).`);
      const grads = sg.trainables.map((t) => out[`grad:${t.name}`].data as Float32Array);
      const norm = globalNorm(grads);
      const lr = lrAt(o.schedule, o.lr, step, totalSteps, warmup);
      opt.update(grads, lr, clipScale(norm, o.maxGradNorm));
      const l = out.logits.data as Float32Array;
      const correct = idx.filter((i, b) => argmax(l.subarray(b * m.numLabels, (b + 1) * m.numLabels)) === train.labels[i]).length;
      const dt = (performance.now() - ts) / 1000;
      if (step > 0) { timeAfterFirst += dt; seenAfterFirst += idx.length; }
      const done = step + 1;
      if (done % o.logEvery === 0 || done === totalSteps || done === 1) {
        const perStep = step > 0 ? timeAfterFirst / step : dt;
        emit({ type: 'step', step: done, totalSteps, epoch: done / batchesPerEpoch, loss, lr, gradNorm: norm, accuracy: correct / idx.length,
          examplesPerS: step > 0 ? seenAfterFirst / timeAfterFirst : idx.length / dt, elapsedS: (performance.now() - t0) / 1000, etaS: perStep * (totalSteps - done) });
      }
      if (o.evalEvery > 0 && done % o.evalEvery === 0 && done < totalSteps) lastEval = await evaluate(done);
    }
    lastEval = (await evaluate(step)) ?? lastEval;
  } finally {
    await sg.session.release();
  }
  if (o.out) {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const l of plan.layers) {
      tensors.set(`base_model.model.${l.aName}`, { shape: l.aShape, data: l.A });
      tensors.set(`base_model.model.${l.bName}`, { shape: l.bShape, data: l.B });
    }
    for (const n of plan.trainableBase) tensors.set(`base_model.model.${n}`, m.weights.get(n)!);
    saveAdapter(o.out, lc, tensors);
  }
  const result: ClassifyResult = {
    steps: step, finalLoss: loss, trainableParams: plan.trainableParams, allParams: plan.allParams,
    examplesPerS: timeAfterFirst > 0 ? seenAfterFirst / timeAfterFirst : 0, peakRssMb: process.resourceUsage().maxRSS / 1024,
    wallS: (performance.now() - t0) / 1000, stopped, out: o.out, eval: lastEval, labels: m.labels,
  };
  emit({ type: 'done', result });
  return result;
}
