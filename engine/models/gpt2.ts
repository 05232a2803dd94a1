// GPT-2 (Radford et al., 2019) from a Hugging Face folder: config, weights, forward graph.
// Parameter names are those of HF's GPT2LMHeadModel (`transformer.h.0.attn.c_attn.weight`), so
// PEFT adapters map onto them directly. c_attn / c_proj / c_fc are Conv1D: weights are (in, out).

import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, optionalBoolean, optionalInteger, optionalNumber, optionalString } from '../store/json.ts';
import { scoreHead } from './heads.ts';
import { gpt2Gguf } from './gguf/gpt2.ts';
import { lmLogits, loadModel } from './registry.ts';
import type { ForwardInputs, ForwardOutputs, LinearHook, LinearModule, LoadedModel, ModelFamily, ModelSpec, ParamFn } from './types.ts';
import { boundedInteger } from './config.ts';

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
  const nEmbd = boundedInteger(json, 'n_embd', file);
  const nHead = boundedInteger(json, 'n_head', file);
  if (nEmbd % nHead !== 0) throw new FormatError(file, `n_embd (${nEmbd}) must be a multiple of n_head (${nHead})`);
  const act = optionalString(json, 'activation_function', file) ?? 'gelu_new';
  if (!(act in ACTIVATIONS)) throw new FormatError(file, `unsupported activation_function "${act}" (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  const cfg: GPT2Config = {
    vocabSize: boundedInteger(json, 'vocab_size', file),
    nPositions: boundedInteger(json, 'n_positions', file),
    nEmbd,
    nLayer: boundedInteger(json, 'n_layer', file),
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
      mods.push({ name: `${p}.${name}`, inFeatures: inF, outFeatures: outF, weight: `${p}.${name}.weight`, bias: `${p}.${name}.bias`, layout: 'conv1d' });
    }
  }
  return mods;
}

/** The forward pass up to the final LayerNorm's output [B, T, n_embd]. */
function forward(g: Graph, c: GPT2Config, param: ParamFn, inp: ForwardInputs, hook?: LinearHook): ForwardOutputs {
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
  return { hidden: ln('transformer.ln_f', h), present };
}

// Causal-mask buffers of real checkpoints; `h.N.attn.c_attn.bias` also ends in `attn.bias`.
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

function spec(c: GPT2Config): ModelSpec<GPT2Config> {
  const shapes = gpt2ParamShapes(c);
  const lmHeadShapes = shapes.filter(([n]) => n === 'lm_head.weight');
  return {
    family: gpt2Family, config: c, raw: c.raw, architecture: 'GPT2LMHeadModel',
    vocabSize: c.vocabSize, maxPositions: c.nPositions, hidden: c.nEmbd,
    bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId,
    padTokenId: typeof c.raw.pad_token_id === 'number' ? c.raw.pad_token_id : c.eosTokenId,
    attention: 'causal',
    cache: { layers: c.nLayer, heads: c.nHead, headDim: c.nEmbd / c.nHead },
    backbone: shapes.filter(([n]) => n !== 'lm_head.weight'),
    lmHeadShapes,
    lmHead: c.tieWordEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight',
    linearModules: gpt2LinearModules(c),
    summary: {
      vocab_size: c.vocabSize, n_positions: c.nPositions, n_embd: c.nEmbd, n_layer: c.nLayer, n_head: c.nHead,
      n_inner: c.nInner, activation_function: c.activation, layer_norm_epsilon: c.layerNormEpsilon,
      tie_word_embeddings: c.tieWordEmbeddings, eos_token_id: c.eosTokenId,
    },
    canonicalName(stored) {
      const bare = stored.startsWith('transformer.') ? stored.slice('transformer.'.length) : stored;
      if (MASK_BUFFER.test(bare)) return null;
      if (bare === 'lm_head.weight') return c.tieWordEmbeddings ? null : bare; // tied: the same values as wte
      if (bare === 'score.weight') return bare;
      return `transformer.${bare}`;
    },
    forward: (g, param, inp, hook) => forward(g, c, param, inp, hook),
    seqCls: scoreHead('GPT2ForSequenceClassification', c.nEmbd),
    gguf: gpt2Gguf(c),
  };
}

export const gpt2Family: ModelFamily<GPT2Config> = {
  name: 'gpt2',
  causalLM: true,
  matches: (json) => json.model_type === 'gpt2' || (Array.isArray(json.architectures) && json.architectures.some((a) => String(a).startsWith('GPT2'))),
  parse: (json, file) => spec(parseGPT2Config(json, file)),
  defaultTargets: ['c_attn'],
  // LayerNorm weights and biases are excluded from weight decay (HF Trainer's rule).
  isNoDecay: (name) => name.endsWith('.bias') || /\.ln_(1|2|f)\.weight$/.test(name),
};

// ---- for GPT-2's own tests and scripts

export const loadGPT2 = (dir: string): LoadedModel<GPT2Config> => loadModel(dir, { family: gpt2Family });

/** Logits [B, T, vocab] (every position). */
export function gpt2Forward(g: Graph, c: GPT2Config, param: ParamFn, inp: ForwardInputs, hook?: LinearHook): Value {
  return gpt2ForwardCached(g, c, param, inp, hook).logits;
}

export function gpt2ForwardCached(g: Graph, c: GPT2Config, param: ParamFn, inp: ForwardInputs & { lastOnly?: boolean }, hook?: LinearHook): { logits: Value; present: ForwardOutputs['present'] } {
  return lmLogits(g, spec(c), param, inp, hook, { lastOnly: inp.lastOnly });
}
