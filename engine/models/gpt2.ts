// GPT-2 (Radford et al., 2019) from a Hugging Face folder: config, weights, forward graph.
// Parameter names are those of HF's GPT2LMHeadModel (`transformer.h.0.attn.c_attn.weight`), so
// PEFT adapters map onto them directly. c_attn / c_proj / c_fc are Conv1D: weights are (in, out).

import path from 'node:path';
import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, optionalBoolean, optionalInteger, optionalNumber, optionalString, readJsonFile, requireInteger } from '../store/json.ts';
import { openSafetensors } from '../store/safetensors.ts';

export interface GPT2Config {
  vocabSize: number;
  nPositions: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nInner: number;
  activation: 'gelu_new' | 'gelu' | 'relu';
  layerNormEpsilon: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** Model dropouts as configured; training applies them only when asked (--model-dropout). */
  residPdrop: number;
  embdPdrop: number;
  attnPdrop: number;
  raw: JsonObject;
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}
export type Weights = Map<string, Tensor>;

/** A layer LoRA can adapt: its name as PEFT sees it and its (in, out) features. */
export interface LinearModule {
  name: string;
  inFeatures: number;
  outFeatures: number;
  weight: string;
  bias: string;
}

const ACTIVATIONS: Record<string, GPT2Config['activation']> = {
  gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', gelu_fast: 'gelu_new', gelu: 'gelu', relu: 'relu',
};

export function parseGPT2Config(json: JsonObject, file: string): GPT2Config {
  const type = optionalString(json, 'model_type', file);
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  if (type !== 'gpt2' && !archs.some((a) => a.startsWith('GPT2'))) {
    const what = type ?? (archs[0] || 'no model_type or architectures');
    throw new FormatError(file, `unsupported architecture "${what}": this build loads GPT-2 models (model_type "gpt2")`);
  }
  const nEmbd = requireInteger(json, 'n_embd', file);
  const nHead = requireInteger(json, 'n_head', file);
  if (nEmbd % nHead !== 0) throw new FormatError(file, `n_embd (${nEmbd}) must be a multiple of n_head (${nHead})`);
  const act = optionalString(json, 'activation_function', file) ?? 'gelu_new';
  if (!(act in ACTIVATIONS)) throw new FormatError(file, `unsupported activation_function "${act}" (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  const cfg: GPT2Config = {
    vocabSize: requireInteger(json, 'vocab_size', file),
    nPositions: requireInteger(json, 'n_positions', file),
    nEmbd,
    nLayer: requireInteger(json, 'n_layer', file),
    nHead,
    nInner: (json.n_inner === null ? undefined : optionalInteger(json, 'n_inner', file)) ?? 4 * nEmbd,
    activation: ACTIVATIONS[act],
    layerNormEpsilon: optionalNumber(json, 'layer_norm_epsilon', file) ?? 1e-5,
    tieWordEmbeddings: optionalBoolean(json, 'tie_word_embeddings', file) ?? true,
    bosTokenId: optionalInteger(json, 'bos_token_id', file) ?? null,
    eosTokenId: optionalInteger(json, 'eos_token_id', file) ?? null,
    residPdrop: optionalNumber(json, 'resid_pdrop', file) ?? 0.1,
    embdPdrop: optionalNumber(json, 'embd_pdrop', file) ?? 0.1,
    attnPdrop: optionalNumber(json, 'attn_pdrop', file) ?? 0.1,
    raw: json,
  };
  for (const k of ['vocabSize', 'nPositions', 'nEmbd', 'nLayer', 'nHead', 'nInner'] as const) {
    if (cfg[k] <= 0) throw new FormatError(file, `${k} must be positive, got ${cfg[k]}`);
  }
  return cfg;
}

/** Every parameter in HF order, with its shape. The LM head is wte unless untied. */
export function gpt2ParamShapes(c: GPT2Config): [string, number[]][] {
  const d = c.nEmbd;
  const out: [string, number[]][] = [['transformer.wte.weight', [c.vocabSize, d]], ['transformer.wpe.weight', [c.nPositions, d]]];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}`;
    out.push(
      [`${p}.ln_1.weight`, [d]], [`${p}.ln_1.bias`, [d]],
      [`${p}.attn.c_attn.weight`, [d, 3 * d]], [`${p}.attn.c_attn.bias`, [3 * d]],
      [`${p}.attn.c_proj.weight`, [d, d]], [`${p}.attn.c_proj.bias`, [d]],
      [`${p}.ln_2.weight`, [d]], [`${p}.ln_2.bias`, [d]],
      [`${p}.mlp.c_fc.weight`, [d, c.nInner]], [`${p}.mlp.c_fc.bias`, [c.nInner]],
      [`${p}.mlp.c_proj.weight`, [c.nInner, d]], [`${p}.mlp.c_proj.bias`, [d]],
    );
  }
  out.push(['transformer.ln_f.weight', [d]], ['transformer.ln_f.bias', [d]]);
  if (!c.tieWordEmbeddings) out.push(['lm_head.weight', [c.vocabSize, d]]);
  return out;
}

export function gpt2LinearModules(c: GPT2Config): LinearModule[] {
  const d = c.nEmbd;
  const mods: LinearModule[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}`;
    for (const [name, inF, outF] of [['attn.c_attn', d, 3 * d], ['attn.c_proj', d, d], ['mlp.c_fc', d, c.nInner], ['mlp.c_proj', c.nInner, d]] as const) {
      mods.push({ name: `${p}.${name}`, inFeatures: inF, outFeatures: outF, weight: `${p}.${name}.weight`, bias: `${p}.${name}.bias` });
    }
  }
  return mods;
}

/** LayerNorm weights and biases are excluded from weight decay (HF Trainer's rule). */
export const isNoDecay = (name: string): boolean => name.endsWith('.bias') || /\.ln_(1|2|f)\.weight$/.test(name);

// Causal-mask buffers of real checkpoints; `h.N.attn.c_attn.bias` also ends in `attn.bias`.
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

export interface LoadedGPT2 {
  dir: string;
  config: GPT2Config;
  weights: Weights;
  /** The dtype the checkpoint stored its floats in. */
  storedDtype: string;
}

export function loadGPT2Config(dir: string): GPT2Config {
  const file = path.join(dir, 'config.json');
  return parseGPT2Config(readJsonFile(file, 'model config'), file);
}

export function loadGPT2(dir: string): LoadedGPT2 {
  const config = loadGPT2Config(dir);
  const file = path.join(dir, 'model.safetensors');
  const st = openSafetensors(file);
  try {
    const expected = new Map(gpt2ParamShapes(config));
    const weights: Weights = new Map();
    const dtypes = new Set<string>();
    let lmHead: string | null = null;
    for (const [stored, info] of st.tensors) {
      const bare = stored.startsWith('transformer.') ? stored.slice('transformer.'.length) : stored;
      if (MASK_BUFFER.test(bare)) continue;
      if (bare === 'lm_head.weight') {
        lmHead = stored;
        if (config.tieWordEmbeddings) continue; // tied: the same values as wte
      }
      const name = bare === 'lm_head.weight' ? bare : `transformer.${bare}`;
      const shape = expected.get(name);
      if (!shape) throw new FormatError(file, `unexpected tensor "${stored}" for a GPT-2 with ${config.nLayer} layers`);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new FormatError(file, `tensor "${stored}" has shape [${info.shape.join(', ')}], config.json implies [${shape.join(', ')}]`);
      }
      if (!['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) throw new FormatError(file, `tensor "${stored}" has dtype ${info.dtype}, expected a float type`);
      dtypes.add(info.dtype);
      weights.set(name, { shape, data: st.readFloat32(stored) });
    }
    const missing = [...expected.keys()].filter((k) => !weights.has(k));
    if (missing.length === 1 && missing[0] === 'lm_head.weight' && !lmHead) {
      throw new FormatError(file, 'config.json says tie_word_embeddings=false but there is no lm_head.weight');
    }
    if (missing.length) throw new FormatError(file, `missing tensor "${missing[0]}"${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`);
    return { dir, config, weights, storedDtype: [...dtypes].join('+') };
  } finally {
    st.close();
  }
}

/** Wraps a linear layer's output: LoRA adds its low-rank update here. */
export type LinearHook = (module: string, x: Value, y: Value) => Value;

/** Applies dropout with probability p at a named site (training only); identity when absent. */
export type DropoutHook = (site: string, x: Value, p: number) => Value;

export interface ForwardInputs {
  /** [B, T] token ids (int64); T may be symbolic (generation). */
  ids: Value;
  /** [B, 1, T, P+T] additive attention bias: 0 where a query may attend, -1e9 elsewhere. */
  attnBias: Value;
  /** [B, T] position ids (int64) when they do not start at 0 (a KV cache's past length). */
  positionIds?: Value;
  /** Per layer, the cached keys and values of earlier positions: [B, H, P, head_dim] each. */
  past?: { k: Value; v: Value }[];
  /** Only the last position's logits (generation): skips the LM head for the others. */
  lastOnly?: boolean;
  /** HF's embd/attn/resid dropouts, where the caller trains with them. */
  dropout?: DropoutHook;
}

export interface ForwardOutputs {
  logits: Value;
  /** Per layer, keys and values including this call's positions (the next call's `past`). */
  present: { k: Value; v: Value }[];
}

/**
 * The forward graph, up to the logits [B, T, vocab]. `param(name)` gives each weight as a
 * graph value (an initializer when frozen, an input when trained).
 */
export function gpt2Forward(g: Graph, c: GPT2Config, param: (name: string) => Value, inp: ForwardInputs, hook?: LinearHook): Value {
  return gpt2ForwardCached(g, c, param, inp, hook).logits;
}

export function gpt2ForwardCached(g: Graph, c: GPT2Config, param: (name: string) => Value, inp: ForwardInputs, hook?: LinearHook): ForwardOutputs {
  const [B, T] = inp.ids.shape;
  const d = c.nEmbd, H = c.nHead, hd = d / H;
  const linear = (mod: string, x: Value): Value => {
    const y = g.add(g.matmul(x, param(`${mod}.weight`)), param(`${mod}.bias`));
    return hook ? hook(mod, x, y) : y;
  };
  const ln = (name: string, x: Value) => g.layerNorm(x, param(`${name}.weight`), param(`${name}.bias`), c.layerNormEpsilon);
  const act = (x: Value) => (c.activation === 'gelu_new' ? g.geluTanh(x) : c.activation === 'gelu' ? g.geluErf(x) : g.relu(x));
  const drop = (site: string, x: Value, p: number) => (inp.dropout && p > 0 ? inp.dropout(site, x, p) : x);

  const wpe = inp.positionIds
    ? g.gather(param('transformer.wpe.weight'), inp.positionIds, 0)
    : g.slice(param('transformer.wpe.weight'), [0], [T as number], [0]);
  let h = drop('embd', g.add(g.gather(param('transformer.wte.weight'), inp.ids, 0), wpe), c.embdPdrop);
  const present: { k: Value; v: Value }[] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}`;
    // attention
    const qkv = linear(`${p}.attn.c_attn`, ln(`${p}.ln_1`, h));
    let [q, k, v] = g.split(qkv, -1, [d, d, d]).map((t) => g.transpose(g.reshape(t, [B, T, H, hd]), [0, 2, 1, 3]));
    if (inp.past) {
      k = g.concat([inp.past[i].k, k], 2);
      v = g.concat([inp.past[i].v, v], 2);
    }
    present.push({ k, v });
    const scores = g.add(g.matmulT(q, k, false, true, 1 / Math.sqrt(hd)), inp.attnBias);
    const att = g.matmul(drop(`h.${i}.attn.probs`, g.softmax(scores, -1), c.attnPdrop), v);
    const merged = g.reshape(g.transpose(att, [0, 2, 1, 3]), [B, T, d]);
    h = g.add(h, drop(`h.${i}.attn.resid`, linear(`${p}.attn.c_proj`, merged), c.residPdrop));
    // MLP
    const m = linear(`${p}.mlp.c_proj`, act(linear(`${p}.mlp.c_fc`, ln(`${p}.ln_2`, h))));
    h = g.add(h, drop(`h.${i}.mlp.resid`, m, c.residPdrop));
  }
  if (inp.lastOnly) h = g.slice(h, [-1], [2 ** 31 - 1], [1]);
  h = ln('transformer.ln_f', h);
  const head = c.tieWordEmbeddings ? param('transformer.wte.weight') : param('lm_head.weight');
  return { logits: g.matmulT(h, head, false, true), present };
}

/**
 * Causal attention bias for a right- or left-padded batch: query t may attend key s when s <= t
 * and mask[s] = 1. Rows with nothing to attend to get a uniform (harmless) distribution.
 */
export function causalAttentionBias(mask: ArrayLike<number>, B: number, T: number): Float32Array {
  const out = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * T;
      for (let s = 0; s < T; s++) out[row + s] = s <= t && mask[b * T + s] ? 0 : -1e9;
    }
  }
  return out;
}
