// The Llama family from Hugging Face folders: LlamaForCausalLM, MistralForCausalLM and
// Qwen2ForCausalLM (one decoder: RMSNorm, rotate_half RoPE, grouped-query attention, SwiGLU MLP).
// Semantics follow transformers' modeling_llama.py / modeling_mistral.py / modeling_qwen2.py:
//   h = x + o_proj(attn(RoPE(q_proj(rms(x))), RoPE(k_proj(rms(x))), v_proj(rms(x))))
//   out = h + down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
// nn.Linear weights are [out, in]. Qwen2 has biases on q/k/v; Llama's attention_bias / mlp_bias
// put them on every attention / MLP projection. The KV cache holds num_key_value_heads heads.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, isJsonObject, optionalBoolean, optionalInteger, optionalNumber, optionalString, readJsonFile } from '../store/json.ts';
import { boundedInteger } from './config.ts';
import { scoreHead } from './heads.ts';
import { llamaGguf } from './gguf/llama.ts';
import { loadModel } from './registry.ts';
import type { ForwardInputs, ForwardOutputs, LinearHook, LinearModule, LoadedModel, ModelFamily, ModelSpec, ParamFn } from './types.ts';

export type LlamaVariant = 'llama' | 'mistral' | 'qwen2';

export interface RopeScaling {
  type: 'default' | 'linear' | 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface LlamaConfig {
  variant: LlamaVariant;
  vocabSize: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** max_position_embeddings, capped at a Mistral sliding_window (where full attention is exact). */
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** Biases on q/k/v (Qwen2, attention_bias) and on o_proj (attention_bias only). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  padTokenId: number | null;
  raw: JsonObject;
}

const VARIANTS: Record<LlamaVariant, { arch: string; seqCls: string; defaultEps: number; defaultMaxPos: number }> = {
  llama: { arch: 'LlamaForCausalLM', seqCls: 'LlamaForSequenceClassification', defaultEps: 1e-6, defaultMaxPos: 2048 },
  mistral: { arch: 'MistralForCausalLM', seqCls: 'MistralForSequenceClassification', defaultEps: 1e-6, defaultMaxPos: 4096 * 32 },
  qwen2: { arch: 'Qwen2ForCausalLM', seqCls: 'Qwen2ForSequenceClassification', defaultEps: 1e-6, defaultMaxPos: 32768 },
};

function variantOf(json: JsonObject): LlamaVariant | null {
  const t = json.model_type;
  if (t === 'llama' || t === 'mistral' || t === 'qwen2') return t;
  if (typeof t === 'string') return null;
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  if (archs.some((a) => a.startsWith('Llama'))) return 'llama';
  if (archs.some((a) => a.startsWith('Mistral'))) return 'mistral';
  if (archs.some((a) => a.startsWith('Qwen2') && !a.startsWith('Qwen2Moe') && !a.startsWith('Qwen2VL') && !a.startsWith('Qwen2Audio'))) return 'qwen2';
  return null;
}

/** An optional token id; Llama 3 lists several EOS ids (the first is the one generation stops at). */
function tokenId(json: JsonObject, key: string, file: string): number | null {
  const v = json[key];
  if (Array.isArray(v)) {
    if (v.length === 0) return null;
    if (!Number.isInteger(v[0])) throw new FormatError(file, `"${key}" must be an integer or a list of integers`);
    return v[0] as number;
  }
  if (v === null) return null;
  return optionalInteger(json, key, file) ?? null;
}

function parseRopeScaling(json: JsonObject, file: string, maxPos: number): RopeScaling {
  const none: RopeScaling = { type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: maxPos };
  const rs = json.rope_scaling;
  if (rs === undefined || rs === null) return none;
  if (!isJsonObject(rs)) throw new FormatError(file, '"rope_scaling" must be an object or null');
  const type = rs.rope_type ?? rs.type ?? 'default';
  if (type === 'default') return none;
  if (type !== 'linear' && type !== 'llama3') {
    throw new FormatError(file, `"rope_scaling" type "${String(type)}" is not supported (supported: default, linear, llama3)`);
  }
  const num = (k: string, dflt?: number): number => {
    const v = rs[k];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new FormatError(file, `"rope_scaling.${k}" must be a positive number (rope type ${type})`);
    return v;
  };
  if (rs.attention_factor !== undefined && rs.attention_factor !== null && rs.attention_factor !== 1) {
    throw new FormatError(file, '"rope_scaling.attention_factor" other than 1 is not supported');
  }
  if (type === 'linear') return { ...none, type, factor: num('factor') };
  const r: RopeScaling = {
    type, factor: num('factor'), lowFreqFactor: num('low_freq_factor'), highFreqFactor: num('high_freq_factor'),
    originalMaxPositions: num('original_max_position_embeddings'),
  };
  if (r.highFreqFactor <= r.lowFreqFactor) throw new FormatError(file, '"rope_scaling.high_freq_factor" must exceed "low_freq_factor"');
  return r;
}

export function parseLlamaConfig(json: JsonObject, file: string): LlamaConfig {
  const variant = variantOf(json);
  if (!variant) throw new FormatError(file, `unsupported architecture "${String(json.model_type ?? json.architectures)}": expected model_type llama, mistral or qwen2`);
  const V = VARIANTS[variant];
  if (json.quantization_config !== undefined && json.quantization_config !== null) {
    throw new FormatError(file, '"quantization_config": quantized checkpoints are not supported (use an unquantized F32/F16/BF16 model)');
  }
  const act = optionalString(json, 'hidden_act', file) ?? 'silu';
  if (act !== 'silu') throw new FormatError(file, `"hidden_act" is "${act}"; this family supports silu only`);
  const hidden = boundedInteger(json, 'hidden_size', file);
  const heads = boundedInteger(json, 'num_attention_heads', file);
  const kvHeads = json.num_key_value_heads === undefined || json.num_key_value_heads === null ? heads : boundedInteger(json, 'num_key_value_heads', file);
  if (heads % kvHeads !== 0) throw new FormatError(file, `"num_key_value_heads" (${kvHeads}) must divide "num_attention_heads" (${heads})`);
  let headDim: number;
  if (json.head_dim !== undefined && json.head_dim !== null) {
    headDim = boundedInteger(json, 'head_dim', file);
  } else {
    if (hidden % heads !== 0) throw new FormatError(file, `"hidden_size" (${hidden}) must be a multiple of "num_attention_heads" (${heads}) when "head_dim" is not given`);
    headDim = hidden / heads;
  }
  if (headDim % 2 !== 0) throw new FormatError(file, `"head_dim" (${headDim}) must be even for rotary embeddings`);
  const prf = json.partial_rotary_factor;
  if (prf !== undefined && prf !== null && prf !== 1) throw new FormatError(file, '"partial_rotary_factor" other than 1 is not supported');
  const maxPosRaw = json.max_position_embeddings === undefined ? V.defaultMaxPos : boundedInteger(json, 'max_position_embeddings', file);
  let maxPositions = maxPosRaw;
  if (variant === 'qwen2' && optionalBoolean(json, 'use_sliding_window', file)) {
    throw new FormatError(file, '"use_sliding_window" is true: sliding-window attention is not supported');
  }
  if (variant === 'mistral' && json.sliding_window !== undefined && json.sliding_window !== null) {
    // Up to the window, sliding-window attention is full causal attention: the context stops there.
    maxPositions = Math.min(maxPositions, boundedInteger(json, 'sliding_window', file));
  }
  const attentionBias = optionalBoolean(json, 'attention_bias', file) ?? false;
  const mlpBias = optionalBoolean(json, 'mlp_bias', file) ?? false;
  if (variant !== 'llama' && (attentionBias || mlpBias)) {
    throw new FormatError(file, `"${attentionBias ? 'attention_bias' : 'mlp_bias'}" is not part of ${V.arch}`);
  }
  const eps = optionalNumber(json, 'rms_norm_eps', file) ?? V.defaultEps;
  if (!(eps > 0)) throw new FormatError(file, `"rms_norm_eps" must be positive, got ${eps}`);
  const theta = optionalNumber(json, 'rope_theta', file) ?? 10000;
  if (!(theta > 1)) throw new FormatError(file, `"rope_theta" must be greater than 1, got ${theta}`);
  // generation_config.json (next to config.json) decides BOS / EOS for generation when it names them.
  const genFile = path.join(path.dirname(file), 'generation_config.json');
  const gen = existsSync(genFile) ? readJsonFile(genFile, 'generation config') : {};
  const ids = (key: string) => (gen[key] !== undefined && gen[key] !== null ? tokenId(gen, key, genFile) : tokenId(json, key, file));
  return {
    variant,
    vocabSize: boundedInteger(json, 'vocab_size', file),
    hidden,
    intermediate: boundedInteger(json, 'intermediate_size', file),
    layers: boundedInteger(json, 'num_hidden_layers', file),
    heads, kvHeads, headDim,
    rmsNormEps: eps,
    ropeTheta: theta,
    ropeScaling: parseRopeScaling(json, file, maxPosRaw),
    maxPositions,
    tieWordEmbeddings: optionalBoolean(json, 'tie_word_embeddings', file) ?? false,
    qkvBias: variant === 'qwen2' || attentionBias,
    oBias: attentionBias,
    mlpBias,
    bosTokenId: ids('bos_token_id'),
    eosTokenId: ids('eos_token_id'),
    padTokenId: ids('pad_token_id'),
    raw: json,
  };
}

/** HF's rope init functions (default, linear, llama3): inverse frequencies, float64. */
export function ropeInvFreq(c: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const half = c.headDim / 2, rs = c.ropeScaling;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
  if (rs.type === 'linear') for (let i = 0; i < half; i++) inv[i] /= rs.factor;
  if (rs.type === 'llama3') {
    const lowWavelen = rs.originalMaxPositions / rs.lowFreqFactor, highWavelen = rs.originalMaxPositions / rs.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] /= rs.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (rs.originalMaxPositions / wavelen - rs.lowFreqFactor) / (rs.highFreqFactor - rs.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / rs.factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** cos and sin of position × inverse frequency, [positions, headDim / 2] each (computed in float64). */
export function ropeTables(c: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>, positions: number): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(c), half = inv.length;
  const cos = new Float32Array(positions * half), sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      cos[p * half + i] = Math.cos(p * inv[i]);
      sin[p * half + i] = Math.sin(p * inv[i]);
    }
  }
  return { cos, sin };
}

/** Above this many table entries, cos/sin are computed in the graph from the position ids. */
const MAX_TABLE = 1 << 21;

export function llamaParamShapes(c: LlamaConfig): [string, number[]][] {
  const d = c.hidden, qd = c.heads * c.headDim, kvd = c.kvHeads * c.headDim, I = c.intermediate;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocabSize, d]]];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    out.push([`${p}.input_layernorm.weight`, [d]]);
    for (const [m, o, inF, bias] of [['q_proj', qd, d, c.qkvBias], ['k_proj', kvd, d, c.qkvBias], ['v_proj', kvd, d, c.qkvBias], ['o_proj', d, qd, c.oBias]] as const) {
      out.push([`${p}.self_attn.${m}.weight`, [o, inF]]);
      if (bias) out.push([`${p}.self_attn.${m}.bias`, [o]]);
    }
    out.push([`${p}.post_attention_layernorm.weight`, [d]]);
    for (const [m, o, inF] of [['gate_proj', I, d], ['up_proj', I, d], ['down_proj', d, I]] as const) {
      out.push([`${p}.mlp.${m}.weight`, [o, inF]]);
      if (c.mlpBias) out.push([`${p}.mlp.${m}.bias`, [o]]);
    }
  }
  out.push(['model.norm.weight', [d]]);
  if (!c.tieWordEmbeddings) out.push(['lm_head.weight', [c.vocabSize, d]]);
  return out;
}

export function llamaLinearModules(c: LlamaConfig): LinearModule[] {
  const d = c.hidden, qd = c.heads * c.headDim, kvd = c.kvHeads * c.headDim, I = c.intermediate;
  const mods: LinearModule[] = [];
  for (let i = 0; i < c.layers; i++) {
    for (const [m, inF, outF, bias] of [
      ['self_attn.q_proj', d, qd, c.qkvBias], ['self_attn.k_proj', d, kvd, c.qkvBias], ['self_attn.v_proj', d, kvd, c.qkvBias],
      ['self_attn.o_proj', qd, d, c.oBias], ['mlp.gate_proj', d, I, c.mlpBias], ['mlp.up_proj', d, I, c.mlpBias], ['mlp.down_proj', I, d, c.mlpBias],
    ] as const) {
      const name = `model.layers.${i}.${m}`;
      mods.push({ name, inFeatures: inF, outFeatures: outF, weight: `${name}.weight`, bias: bias ? `${name}.bias` : null, layout: 'linear' });
    }
  }
  return mods;
}

/** The decoder up to the final RMSNorm's output [B, T, hidden]. */
function forward(g: Graph, c: LlamaConfig, param: ParamFn, inp: ForwardInputs, hook?: LinearHook): ForwardOutputs {
  const [B, T] = inp.ids.shape;
  const H = c.heads, KV = c.kvHeads, R = H / KV, hd = c.headDim, half = hd / 2;
  const linear = (mod: string, x: Value, bias: boolean): Value => {
    let y = g.matmulT(x, param(`${mod}.weight`), false, true);
    if (bias) y = g.add(y, param(`${mod}.bias`));
    return hook ? hook(mod, x, y) : y;
  };
  // LlamaRMSNorm: x / sqrt(mean(x²) + eps) · weight, in float32.
  const eps = g.scalar(c.rmsNormEps);
  const rms = (name: string, x: Value) => g.mul(g.div(x, g.sqrt(g.add(g.reduceMean(g.mul(x, x), [-1]), eps))), param(name));

  // cos / sin [B|1, 1, T, hd/2] of each position (the generator feeds positions past the cache).
  let cos: Value, sin: Value;
  const table = (rows: number) => {
    const t = ropeTables(c, rows);
    return [g.initializer(g.fresh('rope_cos'), 'float32', [rows, half], t.cos), g.initializer(g.fresh('rope_sin'), 'float32', [rows, half], t.sin)];
  };
  if (!inp.positionIds) {
    if (typeof T !== 'number') throw new Error('llama forward: a symbolic sequence length needs position ids');
    const [ct, st] = table(T);
    [cos, sin] = [g.reshape(ct, [1, 1, T, half]), g.reshape(st, [1, 1, T, half])];
  } else if (c.maxPositions * half <= MAX_TABLE) {
    const [ct, st] = table(c.maxPositions);
    [cos, sin] = [g.unsqueeze(g.gather(ct, inp.positionIds, 0), [1]), g.unsqueeze(g.gather(st, inp.positionIds, 0), [1])];
  } else {
    // A long context: HF's own float32 computation, (position · inv_freq).cos() / .sin().
    const inv = g.initializer(g.fresh('rope_inv_freq'), 'float32', [half], Float32Array.from(ropeInvFreq(c)));
    const freqs = g.unsqueeze(g.mul(g.unsqueeze(g.cast(inp.positionIds, 'float32'), [-1]), inv), [1]);
    cos = g.node('Cos', [freqs], [{ dtype: 'float32', shape: freqs.shape }])[0];
    sin = g.node('Sin', [freqs], [{ dtype: 'float32', shape: freqs.shape }])[0];
  }
  const cos5 = g.unsqueeze(cos, [1]), sin5 = g.unsqueeze(sin, [1]);
  // rotate_half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin) over the two halves of each head.
  const rope = (x: Value, cs: Value, sn: Value) => {
    const [x1, x2] = g.split(x, -1, [half, half]);
    return g.concat([g.sub(g.mul(x1, cs), g.mul(x2, sn)), g.add(g.mul(x2, cs), g.mul(x1, sn))], -1);
  };
  // GQA without materializing repeat_kv: query heads grouped [B, KV, R, T, hd] (head = kv·R + r,
  // as repeat_kv orders them) against keys and values [B, KV, 1, S, hd].
  const bias5 = g.unsqueeze(inp.attnBias, [1]);
  let h = g.gather(param('model.embed_tokens.weight'), inp.ids, 0);
  const present: ForwardOutputs['present'] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    const x = rms(`${p}.input_layernorm.weight`, h);
    const q = rope(g.transpose(g.reshape(linear(`${p}.self_attn.q_proj`, x, c.qkvBias), [B, T, KV, R, hd]), [0, 2, 3, 1, 4]), cos5, sin5);
    let k = rope(g.transpose(g.reshape(linear(`${p}.self_attn.k_proj`, x, c.qkvBias), [B, T, KV, hd]), [0, 2, 1, 3]), cos, sin);
    let v = g.transpose(g.reshape(linear(`${p}.self_attn.v_proj`, x, c.qkvBias), [B, T, KV, hd]), [0, 2, 1, 3]);
    if (inp.past) {
      k = g.concat([inp.past[i].k, k], 2);
      v = g.concat([inp.past[i].v, v], 2);
    }
    present.push({ k, v });
    const scores = g.add(g.matmulT(q, g.unsqueeze(k, [2]), false, true, 1 / Math.sqrt(hd)), bias5);
    const att = g.matmul(g.softmax(scores, -1), g.unsqueeze(v, [2])); // [B, KV, R, T, hd]
    const merged = g.reshape(g.transpose(att, [0, 3, 1, 2, 4]), [B, T, H * hd]);
    h = g.add(h, linear(`${p}.self_attn.o_proj`, merged, c.oBias));
    const y = rms(`${p}.post_attention_layernorm.weight`, h);
    const gate = linear(`${p}.mlp.gate_proj`, y, c.mlpBias);
    const act = g.mul(gate, g.sigmoid(gate)); // silu
    h = g.add(h, linear(`${p}.mlp.down_proj`, g.mul(act, linear(`${p}.mlp.up_proj`, y, c.mlpBias)), c.mlpBias));
  }
  return { hidden: rms('model.norm.weight', h), present };
}

const BUFFER = /\.rotary_emb\.inv_freq$/;

function spec(c: LlamaConfig): ModelSpec<LlamaConfig> {
  const shapes = llamaParamShapes(c);
  const V = VARIANTS[c.variant];
  return {
    family: llamaFamilies[c.variant], config: c, raw: c.raw, architecture: V.arch,
    vocabSize: c.vocabSize, maxPositions: c.maxPositions, hidden: c.hidden,
    bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId, padTokenId: c.padTokenId,
    attention: 'causal',
    cache: { layers: c.layers, heads: c.kvHeads, headDim: c.headDim },
    backbone: shapes.filter(([n]) => n !== 'lm_head.weight'),
    lmHeadShapes: shapes.filter(([n]) => n === 'lm_head.weight'),
    lmHead: c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight',
    linearModules: llamaLinearModules(c),
    summary: {
      model_type: c.variant, vocab_size: c.vocabSize, hidden_size: c.hidden, intermediate_size: c.intermediate,
      num_hidden_layers: c.layers, num_attention_heads: c.heads, num_key_value_heads: c.kvHeads, head_dim: c.headDim,
      max_position_embeddings: c.maxPositions, rms_norm_eps: c.rmsNormEps, rope_theta: c.ropeTheta,
      rope_scaling: c.ropeScaling.type, tie_word_embeddings: c.tieWordEmbeddings, bos_token_id: c.bosTokenId, eos_token_id: c.eosTokenId,
    },
    canonicalName(stored) {
      if (BUFFER.test(stored)) return null;
      if (stored === 'lm_head.weight') return c.tieWordEmbeddings ? null : stored; // tied: the embedding's values
      if (stored === 'score.weight' || stored.startsWith('model.')) return stored;
      return `model.${stored}`; // LlamaModel checkpoints (no LM head) have no prefix
    },
    forward: (g, param, inp, hook) => forward(g, c, param, inp, hook),
    seqCls: scoreHead(V.seqCls, c.hidden),
    gguf: llamaGguf(c, c.variant === 'qwen2' ? 'qwen2' : 'llama'),
  };
}

const family = (name: LlamaVariant): ModelFamily<LlamaConfig> => ({
  name,
  causalLM: true,
  matches: (json) => variantOf(json) === name,
  parse: (json, file) => spec(parseLlamaConfig(json, file)),
  defaultTargets: ['q_proj', 'v_proj'],
  // HF Trainer's rule: biases and RMSNorm weights get no weight decay.
  isNoDecay: (n) => n.endsWith('.bias') || /norm\.weight$/.test(n),
});

/** One family object per model_type (PEFT's model_type), all built from this file. */
export const llamaFamilies: Record<LlamaVariant, ModelFamily<LlamaConfig>> = {
  llama: family('llama'), mistral: family('mistral'), qwen2: family('qwen2'),
};

export const loadLlama = (dir: string): LoadedModel<LlamaConfig> => {
  const m = loadModel(dir);
  if (!(Object.values(llamaFamilies) as ModelFamily<unknown>[]).includes(m.spec.family)) {
    throw new FormatError(`${dir}/config.json`, `is a ${m.spec.family.name} model, expected llama, mistral or qwen2`);
  }
  return m as LoadedModel<LlamaConfig>;
};
