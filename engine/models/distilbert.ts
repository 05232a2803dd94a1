// DistilBERT (Sanh et al., 2019) for sequence classification, from a Hugging Face folder in the
// distilbert-base-uncased layout: `distilbert.embeddings.*`, 6 (here: n_layers) blocks of
// attention (q_lin, k_lin, v_lin, out_lin) + FFN (lin1, lin2) with post-LayerNorms, and the
// classification heads pre_classifier (dim -> dim, ReLU) and classifier (dim -> num_labels) on
// the [CLS] position. nn.Linear weights are stored [out, in]. Attention is bidirectional with a
// padding mask. The MLM head of the base checkpoint (vocab_transform, ...) is ignored.

import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, optionalInteger, optionalString } from '../store/json.ts';
import { boundedInteger } from './config.ts';
import type { ForwardInputs, ForwardOutputs, LinearHook, LinearModule, ModelFamily, ModelSpec, ParamFn, SeqClsHead } from './types.ts';

export interface DistilBertConfig {
  vocabSize: number;
  maxPositions: number;
  dim: number;
  nLayers: number;
  nHeads: number;
  hiddenDim: number;
  activation: 'gelu' | 'relu';
  padTokenId: number;
  raw: JsonObject;
}

export function parseDistilBertConfig(json: JsonObject, file: string): DistilBertConfig {
  const type = optionalString(json, 'model_type', file);
  if (type !== 'distilbert') throw new FormatError(file, `model_type is ${JSON.stringify(type)}, expected "distilbert"`);
  const act = optionalString(json, 'activation', file) ?? 'gelu';
  if (act !== 'gelu' && act !== 'relu') throw new FormatError(file, `unsupported activation "${act}" (supported: gelu, relu)`);
  const c: DistilBertConfig = {
    vocabSize: boundedInteger(json, 'vocab_size', file),
    maxPositions: boundedInteger(json, 'max_position_embeddings', file),
    dim: boundedInteger(json, 'dim', file),
    nLayers: boundedInteger(json, 'n_layers', file),
    nHeads: boundedInteger(json, 'n_heads', file),
    hiddenDim: boundedInteger(json, 'hidden_dim', file),
    activation: act,
    padTokenId: optionalInteger(json, 'pad_token_id', file) ?? 0,
    raw: json,
  };
  if (c.dim % c.nHeads !== 0) throw new FormatError(file, `dim (${c.dim}) must be a multiple of n_heads (${c.nHeads})`);
  return c;
}

const P = 'distilbert';

/** Encoder parameters with HF DistilBertForSequenceClassification names. */
export function distilbertEncoderShapes(c: DistilBertConfig): [string, number[]][] {
  const d = c.dim;
  const out: [string, number[]][] = [
    [`${P}.embeddings.word_embeddings.weight`, [c.vocabSize, d]],
    [`${P}.embeddings.position_embeddings.weight`, [c.maxPositions, d]],
    [`${P}.embeddings.LayerNorm.weight`, [d]], [`${P}.embeddings.LayerNorm.bias`, [d]],
  ];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `${P}.transformer.layer.${i}`;
    for (const m of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) out.push([`${p}.attention.${m}.weight`, [d, d]], [`${p}.attention.${m}.bias`, [d]]);
    out.push(
      [`${p}.sa_layer_norm.weight`, [d]], [`${p}.sa_layer_norm.bias`, [d]],
      [`${p}.ffn.lin1.weight`, [c.hiddenDim, d]], [`${p}.ffn.lin1.bias`, [c.hiddenDim]],
      [`${p}.ffn.lin2.weight`, [d, c.hiddenDim]], [`${p}.ffn.lin2.bias`, [d]],
      [`${p}.output_layer_norm.weight`, [d]], [`${p}.output_layer_norm.bias`, [d]],
    );
  }
  return out;
}

export function distilbertHeadShapes(c: DistilBertConfig, numLabels: number): [string, number[]][] {
  return [
    ['pre_classifier.weight', [c.dim, c.dim]], ['pre_classifier.bias', [c.dim]],
    ['classifier.weight', [numLabels, c.dim]], ['classifier.bias', [numLabels]],
  ];
}

/** Layers LoRA can adapt (nn.Linear, [out, in]); the heads are trained whole (modules_to_save). */
export function distilbertLinearModules(c: DistilBertConfig): LinearModule[] {
  const mods: LinearModule[] = [];
  for (let i = 0; i < c.nLayers; i++) {
    const p = `${P}.transformer.layer.${i}`;
    for (const [name, inF, outF] of [['attention.q_lin', c.dim, c.dim], ['attention.k_lin', c.dim, c.dim], ['attention.v_lin', c.dim, c.dim],
      ['attention.out_lin', c.dim, c.dim], ['ffn.lin1', c.dim, c.hiddenDim], ['ffn.lin2', c.hiddenDim, c.dim]] as const) {
      mods.push({ name: `${p}.${name}`, inFeatures: inF, outFeatures: outF, weight: `${p}.${name}.weight`, bias: `${p}.${name}.bias`, layout: 'linear' });
    }
  }
  return mods;
}

const IGNORED = /^(vocab_transform|vocab_layer_norm|vocab_projector)\.|^(distilbert\.)?embeddings\.position_ids$/;

const linearOf = (g: Graph, param: ParamFn, hook?: LinearHook) => (mod: string, x: Value): Value => {
  const y = g.add(g.matmulT(x, param(`${mod}.weight`), false, true), param(`${mod}.bias`));
  return hook ? hook(mod, x, y) : y;
};

/** The encoder (HF DistilBertModel in eval mode): the last hidden states [B, T, dim]. */
function forward(g: Graph, c: DistilBertConfig, param: ParamFn, inp: ForwardInputs, hook?: LinearHook): ForwardOutputs {
  const [B, T] = inp.ids.shape as number[];
  const d = c.dim, H = c.nHeads, hd = d / H;
  const eps = 1e-12;
  const linear = linearOf(g, param, hook);
  const ln = (name: string, x: Value) => g.layerNorm(x, param(`${name}.weight`), param(`${name}.bias`), eps);
  let h = g.add(g.gather(param(`${P}.embeddings.word_embeddings.weight`), inp.ids, 0), g.slice(param(`${P}.embeddings.position_embeddings.weight`), [0], [T], [0]));
  h = ln(`${P}.embeddings.LayerNorm`, h);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `${P}.transformer.layer.${i}`;
    const heads = (t: Value) => g.transpose(g.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]);
    const q = heads(linear(`${p}.attention.q_lin`, h));
    const k = heads(linear(`${p}.attention.k_lin`, h));
    const v = heads(linear(`${p}.attention.v_lin`, h));
    const scores = g.add(g.matmulT(q, k, false, true, 1 / Math.sqrt(hd)), inp.attnBias);
    const ctx = g.reshape(g.transpose(g.matmul(g.softmax(scores, -1), v), [0, 2, 1, 3]), [B, T, d]);
    const sa = ln(`${p}.sa_layer_norm`, g.add(linear(`${p}.attention.out_lin`, ctx), h));
    const mid = linear(`${p}.ffn.lin1`, sa);
    const ff = linear(`${p}.ffn.lin2`, c.activation === 'gelu' ? g.geluErf(mid) : g.relu(mid));
    h = ln(`${p}.output_layer_norm`, g.add(ff, sa));
  }
  return { hidden: h, present: [] };
}

/** pre_classifier (dim -> dim, ReLU) and classifier (dim -> num_labels) on [CLS]. */
function head(c: DistilBertConfig): SeqClsHead {
  return {
    architecture: 'DistilBertForSequenceClassification',
    shapes: (numLabels) => [
      ['pre_classifier.weight', [c.dim, c.dim]], ['pre_classifier.bias', [c.dim]],
      ['classifier.weight', [numLabels, c.dim]], ['classifier.bias', [numLabels]],
    ],
    modules: ['pre_classifier', 'classifier'],
    pool: 'first',
    classify(g, param, h, pool, hook) {
      const [B] = h.shape as number[];
      const linear = linearOf(g, param, hook);
      const pooled = g.reshape(g.matmul(pool, h), [B, c.dim]);
      return linear('classifier', g.relu(linear('pre_classifier', pooled)));
    },
  };
}

function spec(c: DistilBertConfig): ModelSpec<DistilBertConfig> {
  return {
    family: distilbertFamily, config: c, raw: c.raw, architecture: 'DistilBertModel',
    vocabSize: c.vocabSize, maxPositions: c.maxPositions, hidden: c.dim,
    bosTokenId: null, eosTokenId: null, padTokenId: c.padTokenId,
    attention: 'bidirectional',
    cache: { layers: c.nLayers, heads: c.nHeads, headDim: c.dim / c.nHeads },
    backbone: distilbertEncoderShapes(c), lmHeadShapes: [], lmHead: null,
    linearModules: distilbertLinearModules(c),
    summary: {
      vocab_size: c.vocabSize, max_position_embeddings: c.maxPositions, dim: c.dim, n_layers: c.nLayers, n_heads: c.nHeads,
      hidden_dim: c.hiddenDim, activation: c.activation, pad_token_id: c.padTokenId,
    },
    canonicalName(stored) {
      if (IGNORED.test(stored)) return null;
      if (/^(pre_classifier|classifier)\.(weight|bias)$/.test(stored)) return stored;
      return stored.startsWith(`${P}.`) ? stored : `${P}.${stored}`; // DistilBertModel checkpoints have no prefix
    },
    forward: (g, param, inp, hook) => forward(g, c, param, inp, hook),
    seqCls: head(c),
  };
}

export const distilbertFamily: ModelFamily<DistilBertConfig> = {
  name: 'distilbert',
  causalLM: false,
  matches: (json) => json.model_type === 'distilbert',
  parse: (json, file) => spec(parseDistilBertConfig(json, file)),
  defaultTargets: ['q_lin', 'v_lin'],
  isNoDecay: (n) => n.endsWith('.bias') || /(LayerNorm|layer_norm)\.weight$/.test(n),
};
