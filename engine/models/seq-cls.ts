// Sequence classification over either family, with one interface for the trainer, `classify`
// and `merge`:
//   - DistilBertForSequenceClassification (engine/models/distilbert.ts), pooled at [CLS];
//   - GPT2ForSequenceClassification: GPT-2 + a bias-free `score` head [num_labels, n_embd]
//     applied to every position, pooled at the last non-padding token (HF semantics).
// Pooling is a [B, 1, T] one-hot fed from JS, so both graphs are plain MatMuls to differentiate.

import path from 'node:path';
import { existsSync } from 'node:fs';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, readJsonFile } from '../store/json.ts';
import { openSafetensors } from '../store/safetensors.ts';
import type { Graph, Value } from '../onnx/graph.ts';
import { Rng } from '../util/rng.ts';
import { type GPT2Config, type LinearHook, type LinearModule, type Weights, causalAttentionBias, gpt2Forward, gpt2LinearModules, gpt2ParamShapes, parseGPT2Config } from './gpt2.ts';
import { type DistilBertConfig, distilbertClassify, distilbertEncoderShapes, distilbertHeadShapes, distilbertLinearModules, loadDistilBert, paddingAttentionBias } from './distilbert.ts';

export type SeqClsArch = 'distilbert' | 'gpt2';

export interface SeqClsModel {
  arch: SeqClsArch;
  dir: string;
  numLabels: number;
  /** Class names by index (config id2label, else LABEL_i). */
  labels: string[];
  /** Every parameter, heads included. */
  weights: Weights;
  /** Names and shapes in checkpoint order (what an export writes). */
  paramShapes: [string, number[]][];
  /** LoRA candidates; `layout` says how their weights are stored. */
  linearModules: LinearModule[];
  layout: 'linear' | 'conv1d';
  /** PEFT modules_to_save for the heads and their tensors. */
  headModules: string[];
  headTensors: string[];
  /** Whether the heads came from the checkpoint (else freshly initialized). */
  headsLoaded: boolean;
  padTokenId: number;
  maxPositions: number;
  /** config.json as it will be exported (architectures, num_labels, id2label set). */
  exportConfig: JsonObject;
  distilbert?: DistilBertConfig;
  gpt2?: GPT2Config;
}

export interface SeqClsFeeds {
  ids: BigInt64Array;
  attnBias: Float32Array;
  pool: Float32Array;
  B: number;
  T: number;
}

export function modelType(dir: string): string {
  const file = path.join(dir, 'config.json');
  const json = readJsonFile(file, 'model config');
  return typeof json.model_type === 'string' ? json.model_type : '';
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

export function loadSeqClsModel(dir: string, o: LoadSeqClsOptions = {}): SeqClsModel {
  const type = modelType(dir);
  const file = path.join(dir, 'config.json');
  const json = readJsonFile(file, 'model config');
  const std = typeof json.initializer_range === 'number' ? json.initializer_range : 0.02;
  let labels = o.labels ?? labelsFrom(json, o.numLabels);
  if (type === 'distilbert') {
    const m = loadDistilBert(dir);
    const heads = distilbertHeadShapes(m.config, labels.length);
    const headsLoaded = m.hasHeads && heads.every(([n, s]) => m.weights.get(n)?.shape.join(',') === s.join(','));
    if (m.hasHeads && !headsLoaded && o.numLabels === undefined) {
      labels = labelsFrom(json, m.weights.get('classifier.weight')?.shape[0]);
      return loadSeqClsModel(dir, { ...o, numLabels: labels.length });
    }
    if (!headsLoaded) initHead(m.weights, heads, std, o.seed ?? 42);
    return {
      arch: 'distilbert', dir, numLabels: labels.length, labels, weights: m.weights,
      paramShapes: [...distilbertEncoderShapes(m.config), ...heads], linearModules: distilbertLinearModules(m.config), layout: 'linear',
      headModules: ['pre_classifier', 'classifier'], headTensors: heads.map(([n]) => n), headsLoaded,
      padTokenId: m.config.padTokenId, maxPositions: m.config.maxPositions, distilbert: m.config,
      exportConfig: exportConfig(json, 'DistilBertForSequenceClassification', labels),
    };
  }
  if (type === 'gpt2' || (Array.isArray(json.architectures) && json.architectures.some((a) => String(a).startsWith('GPT2')))) {
    const config = parseGPT2Config(json, file);
    const { weights, score } = loadGPT2Tensors(dir, config);
    let headsLoaded = false;
    if (score && (o.numLabels === undefined || score.shape[0] === labels.length)) {
      if (score.shape[0] !== labels.length) labels = labelsFrom(json, score.shape[0]);
      weights.set('score.weight', score);
      headsLoaded = true;
    } else {
      initHead(weights, [['score.weight', [labels.length, config.nEmbd]]], std, o.seed ?? 42);
    }
    const pad = typeof json.pad_token_id === 'number' ? json.pad_token_id : config.eosTokenId ?? 0;
    return {
      arch: 'gpt2', dir, numLabels: labels.length, labels, weights,
      paramShapes: [...gpt2ParamShapes({ ...config, tieWordEmbeddings: true }), ['score.weight', [labels.length, config.nEmbd]]],
      linearModules: gpt2LinearModules(config), layout: 'conv1d', headModules: ['score'], headTensors: ['score.weight'], headsLoaded,
      padTokenId: pad, maxPositions: config.nPositions, gpt2: config,
      exportConfig: { ...exportConfig(json, 'GPT2ForSequenceClassification', labels), pad_token_id: pad },
    };
  }
  throw new FormatError(file, `sequence classification supports DistilBERT and GPT-2 models; this one is "${type || 'unknown'}"`);
}

function exportConfig(json: JsonObject, arch: string, labels: string[]): JsonObject {
  return {
    ...json, architectures: [arch], torch_dtype: 'float32',
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  };
}

// GPT-2 tensors, accepting a `score.weight` (GPT2ForSequenceClassification checkpoints) and
// ignoring an LM head and the causal-mask buffers.
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
function loadGPT2Tensors(dir: string, config: GPT2Config): { weights: Weights; score?: { shape: number[]; data: Float32Array } } {
  const file = path.join(dir, 'model.safetensors');
  if (!existsSync(file)) throw new FormatError(file, 'model.safetensors not found');
  const st = openSafetensors(file);
  try {
    const expected = new Map(gpt2ParamShapes({ ...config, tieWordEmbeddings: true }));
    const weights: Weights = new Map();
    let score: { shape: number[]; data: Float32Array } | undefined;
    for (const [stored, info] of st.tensors) {
      const bare = stored.startsWith('transformer.') ? stored.slice('transformer.'.length) : stored;
      if (MASK_BUFFER.test(bare) || bare === 'lm_head.weight') continue;
      if (bare === 'score.weight') { score = { shape: [...info.shape], data: st.readFloat32(stored) }; continue; }
      const name = `transformer.${bare}`;
      const shape = expected.get(name);
      if (!shape) throw new FormatError(file, `unexpected tensor "${stored}" for a GPT-2 with ${config.nLayer} layers`);
      if (info.shape.join(',') !== shape.join(',')) throw new FormatError(file, `tensor "${stored}" has shape [${info.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
      weights.set(name, { shape, data: st.readFloat32(stored) });
    }
    const missing = [...expected.keys()].filter((k) => !weights.has(k));
    if (missing.length) throw new FormatError(file, `missing tensor "${missing[0]}"`);
    return { weights, score };
  } finally {
    st.close();
  }
}

export interface SeqClsGraphInputs {
  ids: Value;
  attnBias: Value;
  pool: Value;
}

export function attnBiasShape(m: SeqClsModel, B: number, T: number): number[] {
  return m.arch === 'gpt2' ? [B, 1, T, T] : [B, 1, 1, T];
}

/** Logits [B, num_labels]. */
export function seqClsForward(g: Graph, m: SeqClsModel, param: (name: string) => Value, inp: SeqClsGraphInputs, hook?: LinearHook): Value {
  if (m.arch === 'distilbert') return distilbertClassify(g, m.distilbert!, param, inp, hook);
  const [B] = inp.ids.shape as number[];
  // The score head in the LM head's place: an untied head named lm_head.weight, [C, d].
  const cfg: GPT2Config = { ...m.gpt2!, tieWordEmbeddings: false };
  const all = gpt2Forward(g, cfg, (n) => param(n === 'lm_head.weight' ? 'score.weight' : n), { ids: inp.ids, attnBias: inp.attnBias }, hook);
  return g.reshape(g.matmul(inp.pool, all), [B, m.numLabels]);
}

/** Right-padded rows -> ids, attention bias and the pooling one-hot. */
export function seqClsFeeds(m: SeqClsModel, rows: number[][], B: number, T: number): SeqClsFeeds {
  const ids = new BigInt64Array(B * T).fill(BigInt(m.padTokenId));
  const mask = new Uint8Array(B * T);
  const pool = new Float32Array(B * T);
  rows.forEach((r, b) => {
    const n = Math.min(r.length, T);
    for (let t = 0; t < n; t++) { ids[b * T + t] = BigInt(r[t]); mask[b * T + t] = 1; }
    // [CLS] for DistilBERT; the last non-padding token for GPT-2.
    pool[b * T + (m.arch === 'gpt2' ? Math.max(0, n - 1) : 0)] = 1;
  });
  const attnBias = m.arch === 'gpt2' ? causalAttentionBias(mask, B, T) : paddingAttentionBias(mask, B, T);
  return { ids, attnBias, pool, B, T };
}
