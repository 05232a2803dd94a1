// What every model family provides, and the generic types the rest of the engine uses. A family
// is one file (gpt2.ts, distilbert.ts, ...) plus a line in registry.ts; nothing outside
// engine/models names a family's modules or config fields.

import type { Graph, Value } from '../onnx/graph.ts';
import type { GgufMapping } from '../export/gguf-arch.ts';
import type { JsonObject } from '../store/json.ts';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}
export type Weights = Map<string, Tensor>;

/** How a linear layer stores its weight: GPT-2's Conv1D (in, out) or nn.Linear [out, in]. */
export type Layout = 'conv1d' | 'linear';

/** A layer LoRA can adapt: its name as PEFT sees it, its (in, out) features and its layout. */
export interface LinearModule {
  name: string;
  inFeatures: number;
  outFeatures: number;
  weight: string;
  /** The bias tensor, or null for a bias-free layer (Llama's projections). */
  bias: string | null;
  layout: Layout;
}

/** A weight as a graph value (an initializer when frozen, an input when trained). */
export type ParamFn = (name: string) => Value;

/** Wraps a linear layer's output: LoRA adds its low-rank update here. */
export type LinearHook = (module: string, x: Value, y: Value) => Value;

/** Applies dropout with probability p at a named site (training only); identity when absent. */
export type DropoutHook = (site: string, x: Value, p: number) => Value;

export interface KV {
  k: Value;
  v: Value;
}

export interface ForwardInputs {
  /** [B, T] token ids (int64); T may be symbolic (generation). */
  ids: Value;
  /** Additive attention bias (0 = attend, -1e9 = masked): causal [B|1, 1, T, P+T], bidirectional [B, 1, 1, T]. */
  attnBias: Value;
  /** [B, T] position ids (int64) when they do not start at 0 (a KV cache's past length). */
  positionIds?: Value;
  /** Per layer, the cached keys and values of earlier positions: [B, kvHeads, P, headDim] each. */
  past?: KV[];
  /** The model's own dropouts (HF's *_pdrop), where the caller trains with them. */
  dropout?: DropoutHook;
}

export interface ForwardOutputs {
  /** The last hidden states [B, T, hidden] (after the final norm, where the family has one). */
  hidden: Value;
  /** Per layer, keys and values including this call's positions (the next call's `past`). */
  present: KV[];
}

/** A family's sequence-classification head (HF's …ForSequenceClassification). */
export interface SeqClsHead {
  /** The HF class an export names in config.json `architectures`. */
  architecture: string;
  /** Head tensors for `numLabels` classes, in checkpoint order. */
  shapes(numLabels: number): [string, number[]][];
  /** PEFT modules_to_save. */
  modules: string[];
  /** Which position is pooled: [CLS] (first) or the last non-padding token (decoders). */
  pool: 'first' | 'last';
  /** Logits [B, C] from the hidden states [B, T, d] and the pooling one-hot [B, 1, T]. */
  classify(g: Graph, param: ParamFn, hidden: Value, pool: Value, hook?: LinearHook): Value;
}

/** A parsed config.json: everything the engine needs to know about one model, generically. */
export interface ModelSpec<C = unknown> {
  family: ModelFamily<C>;
  /** The family's typed config (only the family's own code reads it). */
  config: C;
  /** config.json as read. */
  raw: JsonObject;
  /** The HF class of the language model (`architectures[0]` of an export). */
  architecture: string;
  vocabSize: number;
  maxPositions: number;
  hidden: number;
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
  /** Causal (decoders) or bidirectional with a padding mask (encoders). */
  attention: 'causal' | 'bidirectional';
  /** Key/value cache geometry per layer (decoders). */
  cache: { layers: number; heads: number; headDim: number };
  /** Every backbone parameter in checkpoint order, without any output head. */
  backbone: [string, number[]][];
  /** The LM head tensors when untied ([] when tied or for encoders). */
  lmHeadShapes: [string, number[]][];
  /** The tensor the LM logits multiply with (the embedding when tied), or null (no LM). */
  lmHead: string | null;
  linearModules: LinearModule[];
  /** What `info` and the Models view show (HF config names). */
  summary: Record<string, number | string | boolean | null>;
  /** Maps a checkpoint tensor name to this engine's name, or null for buffers to ignore. */
  canonicalName(stored: string): string | null;
  /** The forward pass up to the last hidden states. */
  forward(g: Graph, param: ParamFn, inp: ForwardInputs, hook?: LinearHook): ForwardOutputs;
  seqCls?: SeqClsHead;
  /** How the model is written as GGUF for llama.cpp (absent: not exportable). */
  gguf?: GgufMapping;
}

export interface ModelFamily<C = unknown> {
  /** Registry key, also PEFT's model_type (gpt2, distilbert, llama, ...). */
  name: string;
  /** Whether a config.json belongs to this family. */
  matches(json: JsonObject): boolean;
  parse(json: JsonObject, file: string): ModelSpec<C>;
  /** PEFT's default target modules for this model type. */
  defaultTargets: string[];
  /** HF Trainer's rule: biases and norm weights get no weight decay. */
  isNoDecay(name: string): boolean;
  /** Whether the family can be trained as a causal LM (encoders cannot). */
  causalLM: boolean;
}

/** A model folder loaded: its spec and its weights as float32. */
export interface LoadedModel<C = unknown> {
  dir: string;
  spec: ModelSpec<C>;
  /** The same as spec.config, typed for the family's own code and tests. */
  config: C;
  weights: Weights;
  /** The dtype the checkpoint stored its floats in (F32, F16, BF16, or a mix like F32+BF16). */
  storedDtype: string;
}

/** All parameters of a language model (backbone + untied head), checkpoint order. */
export const lmParamShapes = (s: ModelSpec): [string, number[]][] => [...s.backbone, ...s.lmHeadShapes];

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
