// How each model family maps onto a llama.cpp architecture: the architecture name, its
// hyper-parameter keys, and every tensor under llama.cpp's name in llama.cpp's layout (as its
// convert_hf_to_gguf.py writes them):
//   gpt2     GPT-2's Conv1D weights are (in, out): transposed to nn.Linear's [out, in].
//   llama    (LlamaForCausalLM, MistralForCausalLM) q/k rows permuted back from HF's rotate_half
//            order to the interleaved pairs llama.cpp's RoPE rotates.
//   qwen2    rotate_half RoPE (llama.cpp's NEOX mode): no permutation; q/k/v biases.
// A PyTorch shape [out, in] is stored as GGUF dimensions {in, out}: the bytes are the same.

import type { GPT2Config } from '../models/gpt2.ts';
import type { LlamaConfig } from '../models/llama.ts';
import { ropeInvFreq } from '../models/llama.ts';
import type { LinearModule, ModelSpec, Weights } from '../models/types.ts';
import { type MetaValue, f32, str, u32 } from './gguf-writer.ts';

/** Families the GGUF export writes, and the llama.cpp architecture of each. */
export const GGUF_ARCHS: Record<string, string> = { gpt2: 'gpt2', llama: 'llama', mistral: 'llama', qwen2: 'qwen2' };

export class GgufExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufExportError';
  }
}

/** A tensor in llama.cpp's name and layout (float32; PyTorch shape order). */
export interface ArchTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface ArchPlan {
  arch: string;
  metadata: [string, MetaValue][];
  tensors: ArchTensor[];
}

/** The refusal for a model llama.cpp's architectures cannot express. */
export function assertExportable(spec: ModelSpec): string {
  const arch = GGUF_ARCHS[spec.family.name];
  if (!arch) {
    throw new GgufExportError(`GGUF export writes GPT-2 and Llama-family models (gpt2, llama, mistral, qwen2); ${spec.family.name} (${spec.architecture}) has no llama.cpp architecture this export can express`);
  }
  return arch;
}

/** Rows of an [n, cols] matrix (or a bias, cols = 1) reordered from HF's rotate_half to pairs. */
export function unpermuteRows(data: Float32Array, heads: number, cols: number): Float32Array {
  const rows = data.length / cols, hd = rows / heads, half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const dst = h * hd + i * 2 + j, src = h * hd + j * half + i;
        out.set(data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** [rows, cols] -> [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

/** llama.cpp's tensor base name (without .weight / .bias) for a linear module, and its q/k permutation. */
export interface LinearTarget {
  name: string;
  /** Heads of the q/k permutation (Llama), or 0. */
  permuteHeads: number;
}

const GPT2_LINEARS: Record<string, string> = { 'attn.c_attn': 'attn_qkv', 'attn.c_proj': 'attn_output', 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down' };
const LLAMA_LINEARS: Record<string, string> = {
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
};

/** Where a linear module lives in the GGUF (the LoRA adapter GGUF names its A/B after it). */
export function linearTarget(spec: ModelSpec, m: LinearModule): LinearTarget {
  const arch = assertExportable(spec);
  const hit = /^(?:transformer\.h|model\.layers)\.(\d+)\.(.+)$/.exec(m.name);
  const table = arch === 'gpt2' ? GPT2_LINEARS : LLAMA_LINEARS;
  const base = hit ? table[hit[2]] : undefined;
  if (!hit || !base) throw new GgufExportError(`${m.name}: no llama.cpp tensor for this layer`);
  let permuteHeads = 0;
  if (arch === 'llama') {
    const c = spec.config as LlamaConfig;
    if (base === 'attn_q') permuteHeads = c.heads;
    if (base === 'attn_k') permuteHeads = c.kvHeads;
  }
  return { name: `blk.${hit[1]}.${base}`, permuteHeads };
}

function gpt2Plan(spec: ModelSpec, w: Weights): ArchPlan {
  const c = spec.config as GPT2Config;
  if (c.activation !== 'gelu_new') {
    throw new GgufExportError(`llama.cpp's gpt2 architecture computes GELU with the tanh approximation (gelu_new); this model's activation_function is ${c.activation}`);
  }
  const get = (n: string) => w.get(n)!;
  const t: ArchTensor[] = [];
  const copy = (name: string, src: string) => { const x = get(src); t.push({ name, shape: x.shape, data: x.data }); };
  const linear = (name: string, src: string) => {
    const x = get(`${src}.weight`);
    const [inF, outF] = x.shape;
    t.push({ name: `${name}.weight`, shape: [outF, inF], data: transpose2d(x.data, inF, outF) });
    copy(`${name}.bias`, `${src}.bias`);
  };
  copy('token_embd.weight', 'transformer.wte.weight');
  copy('position_embd.weight', 'transformer.wpe.weight');
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}`, b = `blk.${i}`;
    copy(`${b}.attn_norm.weight`, `${p}.ln_1.weight`); copy(`${b}.attn_norm.bias`, `${p}.ln_1.bias`);
    linear(`${b}.attn_qkv`, `${p}.attn.c_attn`);
    linear(`${b}.attn_output`, `${p}.attn.c_proj`);
    copy(`${b}.ffn_norm.weight`, `${p}.ln_2.weight`); copy(`${b}.ffn_norm.bias`, `${p}.ln_2.bias`);
    linear(`${b}.ffn_up`, `${p}.mlp.c_fc`);
    linear(`${b}.ffn_down`, `${p}.mlp.c_proj`);
  }
  copy('output_norm.weight', 'transformer.ln_f.weight'); copy('output_norm.bias', 'transformer.ln_f.bias');
  if (!c.tieWordEmbeddings) copy('output.weight', 'lm_head.weight');
  const a = 'gpt2';
  return {
    arch: a,
    metadata: [
      [`${a}.context_length`, u32(c.nPositions)],
      [`${a}.embedding_length`, u32(c.nEmbd)],
      [`${a}.feed_forward_length`, u32(c.nInner)],
      [`${a}.block_count`, u32(c.nLayer)],
      [`${a}.attention.head_count`, u32(c.nHead)],
      [`${a}.attention.layer_norm_epsilon`, f32(c.layerNormEpsilon)],
    ],
    tensors: t,
  };
}

function llamaPlan(spec: ModelSpec, w: Weights, arch: string): ArchPlan {
  const c = spec.config as LlamaConfig;
  if (arch === 'qwen2' && c.heads * c.headDim !== c.hidden) {
    throw new GgufExportError(`llama.cpp's qwen2 architecture needs num_attention_heads x head_dim = hidden_size (${c.heads} x ${c.headDim} != ${c.hidden})`);
  }
  const permute = arch === 'llama';
  const t: ArchTensor[] = [];
  const copy = (name: string, src: string) => { const x = w.get(src)!; t.push({ name, shape: x.shape, data: x.data }); };
  copy('token_embd.weight', 'model.embed_tokens.weight');
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`, b = `blk.${i}`;
    copy(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`);
    for (const [hf, gg, heads] of [['q_proj', 'attn_q', c.heads], ['k_proj', 'attn_k', c.kvHeads], ['v_proj', 'attn_v', 0], ['o_proj', 'attn_output', 0]] as const) {
      for (const kind of ['weight', 'bias'] as const) {
        const x = w.get(`${p}.self_attn.${hf}.${kind}`);
        if (!x) continue;
        const cols = kind === 'weight' ? x.shape[1] : 1;
        const data = permute && heads ? unpermuteRows(x.data, heads, cols) : x.data;
        t.push({ name: `${b}.${gg}.${kind}`, shape: x.shape, data });
      }
    }
    copy(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`);
    for (const [hf, gg] of [['gate_proj', 'ffn_gate'], ['up_proj', 'ffn_up'], ['down_proj', 'ffn_down']] as const) {
      copy(`${b}.${gg}.weight`, `${p}.mlp.${hf}.weight`);
      if (w.has(`${p}.mlp.${hf}.bias`)) copy(`${b}.${gg}.bias`, `${p}.mlp.${hf}.bias`);
    }
  }
  copy('output_norm.weight', 'model.norm.weight');
  if (!c.tieWordEmbeddings) copy('output.weight', 'lm_head.weight');
  const meta: [string, MetaValue][] = [
    [`${arch}.vocab_size`, u32(c.vocabSize)],
    [`${arch}.context_length`, u32(c.maxPositions)],
    [`${arch}.embedding_length`, u32(c.hidden)],
    [`${arch}.feed_forward_length`, u32(c.intermediate)],
    [`${arch}.block_count`, u32(c.layers)],
    [`${arch}.attention.head_count`, u32(c.heads)],
    [`${arch}.attention.head_count_kv`, u32(c.kvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
    [`${arch}.rope.dimension_count`, u32(c.headDim)],
    [`${arch}.rope.freq_base`, f32(c.ropeTheta)],
  ];
  if (c.headDim * c.heads !== c.hidden) {
    meta.push([`${arch}.attention.key_length`, u32(c.headDim)], [`${arch}.attention.value_length`, u32(c.headDim)]);
  }
  const rs = c.ropeScaling;
  if (rs.type === 'linear') meta.push([`${arch}.rope.scaling.type`, str('linear')], [`${arch}.rope.scaling.factor`, f32(rs.factor)]);
  if (rs.type === 'llama3') {
    // llama.cpp divides each frequency by rope_freqs: the ratio of unscaled to scaled frequency.
    const scaled = ropeInvFreq(c), plain = ropeInvFreq({ ...c, ropeScaling: { ...rs, type: 'default' } });
    t.push({ name: 'rope_freqs.weight', shape: [scaled.length], data: Float32Array.from(plain, (f, i) => f / scaled[i]) });
  }
  return { arch, metadata: meta, tensors: t };
}

/** The model's architecture metadata and tensors in llama.cpp's names and layout. */
export function archPlan(spec: ModelSpec, weights: Weights): ArchPlan {
  const arch = assertExportable(spec);
  return arch === 'gpt2' ? gpt2Plan(spec, weights) : llamaPlan(spec, weights, arch);
}
