// DistilBERT (Sanh et al., 2019) for sequence classification, from a Hugging Face folder in the
// distilbert-base-uncased layout: `distilbert.embeddings.*`, 6 (here: n_layers) blocks of
// attention (q_lin, k_lin, v_lin, out_lin) + FFN (lin1, lin2) with post-LayerNorms, and the
// classification heads pre_classifier (dim -> dim, ReLU) and classifier (dim -> num_labels) on
// the [CLS] position. nn.Linear weights are stored [out, in]. Attention is bidirectional with a
// padding mask. The MLM head of the base checkpoint (vocab_transform, ...) is ignored.

import path from 'node:path';
import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, optionalInteger, optionalNumber, optionalString, readJsonFile, requireInteger } from '../store/json.ts';
import { openSafetensors } from '../store/safetensors.ts';
import type { LinearHook, LinearModule, Weights } from './gpt2.ts';

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
    vocabSize: requireInteger(json, 'vocab_size', file),
    maxPositions: requireInteger(json, 'max_position_embeddings', file),
    dim: requireInteger(json, 'dim', file),
    nLayers: requireInteger(json, 'n_layers', file),
    nHeads: requireInteger(json, 'n_heads', file),
    hiddenDim: requireInteger(json, 'hidden_dim', file),
    activation: act,
    padTokenId: optionalInteger(json, 'pad_token_id', file) ?? 0,
    raw: json,
  };
  if (c.dim % c.nHeads !== 0) throw new FormatError(file, `dim (${c.dim}) must be a multiple of n_heads (${c.nHeads})`);
  void optionalNumber;
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
      mods.push({ name: `${p}.${name}`, inFeatures: inF, outFeatures: outF, weight: `${p}.${name}.weight`, bias: `${p}.${name}.bias` });
    }
  }
  return mods;
}

const IGNORED = /^(vocab_transform|vocab_layer_norm|vocab_projector)\.|^(distilbert\.)?embeddings\.position_ids$/;

export interface LoadedDistilBert {
  dir: string;
  config: DistilBertConfig;
  /** Encoder weights, plus the heads when the checkpoint has them. */
  weights: Weights;
  hasHeads: boolean;
}

export function loadDistilBert(dir: string): LoadedDistilBert {
  const cfgFile = path.join(dir, 'config.json');
  const config = parseDistilBertConfig(readJsonFile(cfgFile, 'model config'), cfgFile);
  const file = path.join(dir, 'model.safetensors');
  const st = openSafetensors(file);
  try {
    const expected = new Map(distilbertEncoderShapes(config));
    const weights: Weights = new Map();
    let hasHeads = false;
    for (const [stored, info] of st.tensors) {
      if (IGNORED.test(stored)) continue;
      let name = stored;
      if (/^(pre_classifier|classifier)\.(weight|bias)$/.test(stored)) {
        hasHeads = true;
      } else {
        if (!name.startsWith(`${P}.`)) name = `${P}.${name}`; // DistilBertModel checkpoints have no prefix
        const shape = expected.get(name);
        if (!shape) throw new FormatError(file, `unexpected tensor "${stored}" for a DistilBERT with ${config.nLayers} layers`);
        if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
          throw new FormatError(file, `tensor "${stored}" has shape [${info.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
        }
      }
      if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) throw new FormatError(file, `tensor "${stored}" has dtype ${info.dtype}, expected a float type`);
      weights.set(name, { shape: [...info.shape], data: st.readFloat32(stored) });
    }
    const missing = [...expected.keys()].filter((k) => !weights.has(k));
    if (missing.length) throw new FormatError(file, `missing tensor "${missing[0]}"${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`);
    return { dir, config, weights, hasHeads };
  } finally {
    st.close();
  }
}

export interface ClsInputs {
  /** [B, T] token ids. */
  ids: Value;
  /** Additive attention bias: [B, 1, 1, T] (0 on tokens, -1e9 on padding). */
  attnBias: Value;
  /** [B, 1, T] one-hot of the pooled position ([CLS] = 0 here). */
  pool: Value;
}

/** Logits [B, num_labels] (HF DistilBertForSequenceClassification in eval mode). */
export function distilbertClassify(g: Graph, c: DistilBertConfig, param: (name: string) => Value, inp: ClsInputs, hook?: LinearHook): Value {
  const [B, T] = inp.ids.shape as number[];
  const d = c.dim, H = c.nHeads, hd = d / H;
  const eps = 1e-12;
  const linear = (mod: string, x: Value): Value => {
    const y = g.add(g.matmulT(x, param(`${mod}.weight`), false, true), param(`${mod}.bias`));
    return hook ? hook(mod, x, y) : y;
  };
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
  const pooled = g.reshape(g.matmul(inp.pool, h), [B, d]);
  const pre = g.relu(linear('pre_classifier', pooled));
  return linear('classifier', pre);
}

/** Padding-only attention bias [B, 1, 1, T]. */
export function paddingAttentionBias(mask: ArrayLike<number>, B: number, T: number): Float32Array {
  const out = new Float32Array(B * T);
  for (let i = 0; i < B * T; i++) out[i] = mask[i] ? 0 : -1e9;
  return out;
}
