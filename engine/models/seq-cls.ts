// Sequence classification over any family with a head (HF's …ForSequenceClassification): the
// family's backbone, then its head on the pooled position — [CLS] for encoders, the last
// non-padding token for decoders. Pooling is a [B, 1, T] one-hot fed from JS, so every graph is
// plain MatMuls to differentiate. One interface for the trainer, `classify` and `merge`.

import path from 'node:path';
import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, readJsonFile } from '../store/json.ts';
import { Rng } from '../util/rng.ts';
import { attentionBias, attentionBiasShape } from './attention.ts';
import { loadModelSpec } from './registry.ts';
import type { LinearHook, LoadedModel, ModelSpec, ParamFn, SeqClsHead, Weights } from './types.ts';
import { readWeights } from './weights.ts';
import { resolveModelRef } from '../hub/resolve.ts';

export interface SeqClsModel extends LoadedModel {
  head: SeqClsHead;
  numLabels: number;
  /** Class names by index (config id2label, else LABEL_i). */
  labels: string[];
  /** Names and shapes in checkpoint order, heads included (what an export writes). */
  paramShapes: [string, number[]][];
  /** PEFT modules_to_save for the heads, and their tensors. */
  headModules: string[];
  headTensors: string[];
  /** Whether the heads came from the checkpoint (else freshly initialized). */
  headsLoaded: boolean;
  padTokenId: number;
  /** config.json as it will be exported (architectures, num_labels, id2label set). */
  exportConfig: JsonObject;
}

export interface SeqClsFeeds {
  ids: BigInt64Array;
  attnBias: Float32Array;
  pool: Float32Array;
  B: number;
  T: number;
}

function labelsFrom(json: JsonObject, numLabels?: number): string[] {
  const id2label = json.id2label && typeof json.id2label === 'object' ? json.id2label as Record<string, unknown> : null;
  const n = numLabels ?? (typeof json.num_labels === 'number' ? json.num_labels : id2label ? Object.keys(id2label).length : 2);
  return Array.from({ length: n }, (_, i) => (id2label && typeof id2label[String(i)] === 'string' ? id2label[String(i)] as string : `LABEL_${i}`));
}

/** HF's _init_weights for new heads: normal(0, initializer_range), biases zero. */
function initHead(weights: Weights, shapes: [string, number[]][], std: number, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (!name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    weights.set(name, { shape, data });
  }
}

export interface LoadSeqClsOptions {
  /** Classes, when the checkpoint has no heads (or to override the config's count). */
  numLabels?: number;
  labels?: string[];
  /** Seed for freshly initialized heads. */
  seed?: number;
}

export function loadSeqClsModel(ref: string, o: LoadSeqClsOptions = {}): SeqClsModel {
  const dir = resolveModelRef(ref);
  const file = path.join(dir, 'config.json');
  const json = readJsonFile(file, 'model config');
  const spec = loadModelSpec(dir);
  const head = spec.seqCls;
  if (!head) throw new FormatError(file, `sequence classification is not available for ${spec.family.name} models`);
  const lmHead = new Set(spec.lmHeadShapes.map(([n]) => n));
  const stored = head.shapes(1).map(([n]) => n);
  const { weights, storedDtype } = readWeights(dir, spec, {
    expected: new Map(spec.backbone),
    optional: new Map(stored.map((n) => [n, null])),
    skip: (n) => lmHead.has(n),
    what: `a ${spec.family.name} model with ${spec.cache.layers} layers`,
  });
  // The checkpoint's own head decides the class count unless the caller asks for another.
  const labels = o.labels ?? labelsFrom(json, o.numLabels ?? storedClasses(head, weights));
  const shapes = head.shapes(labels.length);
  const headsLoaded = shapes.every(([n, s]) => weights.get(n)?.shape.join(',') === s.join(','));
  if (!headsLoaded) {
    for (const [n] of shapes) weights.delete(n);
    initHead(weights, shapes, typeof json.initializer_range === 'number' ? json.initializer_range : 0.02, o.seed ?? 42);
  }
  const pad = spec.padTokenId ?? spec.eosTokenId ?? 0;
  return {
    dir, spec, config: spec.config, weights, storedDtype, head, numLabels: labels.length, labels,
    paramShapes: [...spec.backbone, ...shapes], headModules: head.modules, headTensors: shapes.map(([n]) => n), headsLoaded,
    padTokenId: pad, exportConfig: exportConfig(json, head.architecture, labels, spec, pad),
  };
}

/** Rows of the stored head tensor whose size is the class count (it differs between 1 and 2 classes). */
function storedClasses(head: SeqClsHead, weights: Weights): number | undefined {
  const two = new Map(head.shapes(2));
  const perClass = head.shapes(1).find(([n, s]) => two.get(n)!.join(',') !== s.join(','));
  return perClass ? weights.get(perClass[0])?.shape[0] : undefined;
}

function exportConfig(json: JsonObject, arch: string, labels: string[], spec: ModelSpec, pad: number): JsonObject {
  return {
    ...json, architectures: [arch], torch_dtype: 'float32',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    ...(spec.attention === 'causal' ? { pad_token_id: pad } : {}),
  };
}

export interface SeqClsGraphInputs {
  ids: Value;
  attnBias: Value;
  pool: Value;
}

export function attnBiasShape(m: SeqClsModel, B: number, T: number): number[] {
  return attentionBiasShape(m.spec.attention, B, T);
}

/** Logits [B, num_labels]. */
export function seqClsForward(g: Graph, m: SeqClsModel, param: ParamFn, inp: SeqClsGraphInputs, hook?: LinearHook): Value {
  const { hidden } = m.spec.forward(g, param, { ids: inp.ids, attnBias: inp.attnBias }, hook);
  return m.head.classify(g, param, hidden, inp.pool, hook);
}

/** Right-padded rows -> ids, attention bias and the pooling one-hot. */
export function seqClsFeeds(m: SeqClsModel, rows: number[][], B: number, T: number): SeqClsFeeds {
  const ids = new BigInt64Array(B * T).fill(BigInt(m.padTokenId));
  const mask = new Uint8Array(B * T);
  const pool = new Float32Array(B * T);
  rows.forEach((r, b) => {
    const n = Math.min(r.length, T);
    for (let t = 0; t < n; t++) { ids[b * T + t] = BigInt(r[t]); mask[b * T + t] = 1; }
    pool[b * T + (m.head.pool === 'last' ? Math.max(0, n - 1) : 0)] = 1;
  });
  return { ids, attnBias: attentionBias(m.spec.attention, mask, B, T), pool, B, T };
}
