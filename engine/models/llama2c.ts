// `lora-studio convert llama2c`: Karpathy's llama2.c legacy export (run.c's model.bin) and its
// tokenizer.bin to a Hugging Face LlamaForCausalLM folder that behaves like run.c (BOS prepended,
// the same tokens, the same greedy output).
//
// model.bin: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negative when
// the classifier is not tied to the embedding — and seq_len), then float32 tensors, each stored
// as nn.Linear's [out, in]: token_embedding [V, dim], rms_att [L, dim], wq [L, dim, dim],
// wk / wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
// w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim], freq_cis_real / imag
// [seq_len, head_size / 2] (skipped: RoPE is recomputed), and wcls [V, dim] when untied.
// llama2.c (like Meta's checkpoints) rotates interleaved pairs (x0, x1), (x2, x3), ...; HF rotates
// the two halves of each head. HF's convert_llama_weights_to_hf.py permutes the rows of wq and wk
// so that both compute the same thing; so does this converter.

import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../store/atomic.ts';
import { FormatError } from '../store/errors.ts';
import { writeSafetensors } from '../store/safetensors.ts';
import { llama2cTokenizerJson, readLlama2cTokenizer } from './llama2c-tokenizer.ts';
import { numel } from './types.ts';

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  /** The classifier is the token embedding (vocab_size positive in the header). */
  shared: boolean;
  seqLen: number;
}

const HEADER_BYTES = 28;
const MAX_FIELD = 1 << 20;

export function parseLlama2cHeader(file: string, buf: Uint8Array): Llama2cHeader {
  if (buf.length < HEADER_BYTES) throw new FormatError(file, `is ${buf.length} bytes: too short for a llama2.c model header (28 bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, HEADER_BYTES);
  if (dv.getUint32(0, true) === 0x616b3432) throw new FormatError(file, 'is a llama2.c version 1+ export ("ak42" magic); only the legacy format (export.py --version 0) is supported');
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;
  const v = names.map((_, i) => dv.getInt32(i * 4, true));
  names.forEach((n, i) => {
    const x = n === 'vocab_size' ? Math.abs(v[i]) : v[i];
    if (!(x >= 1 && x <= MAX_FIELD)) throw new FormatError(file, `header field ${n} is ${v[i]}: not a llama2.c model`);
  });
  const h: Llama2cHeader = { dim: v[0], hiddenDim: v[1], nLayers: v[2], nHeads: v[3], nKvHeads: v[4], vocabSize: Math.abs(v[5]), shared: v[5] > 0, seqLen: v[6] };
  if (h.dim % h.nHeads !== 0) throw new FormatError(file, `header field dim (${h.dim}) is not a multiple of n_heads (${h.nHeads})`);
  if (h.nHeads % h.nKvHeads !== 0) throw new FormatError(file, `header field n_kv_heads (${h.nKvHeads}) does not divide n_heads (${h.nHeads})`);
  if ((h.dim / h.nHeads) % 2 !== 0) throw new FormatError(file, `header: head size ${h.dim / h.nHeads} is odd (RoPE needs pairs)`);
  return h;
}

/** The tensors of a legacy export in file order: [name, shape] (per layer stacked on axis 0). */
function layout(h: Llama2cHeader): [string, number[]][] {
  const hd = h.dim / h.nHeads, kv = h.nKvHeads * hd, L = h.nLayers;
  return [
    ['token_embedding', [h.vocabSize, h.dim]], ['rms_att', [L, h.dim]], ['wq', [L, h.dim, h.dim]], ['wk', [L, kv, h.dim]],
    ['wv', [L, kv, h.dim]], ['wo', [L, h.dim, h.dim]], ['rms_ffn', [L, h.dim]], ['w1', [L, h.hiddenDim, h.dim]],
    ['w2', [L, h.dim, h.hiddenDim]], ['w3', [L, h.hiddenDim, h.dim]], ['rms_final', [h.dim]],
    ['freq_cis_real', [h.seqLen, hd / 2]], ['freq_cis_imag', [h.seqLen, hd / 2]],
    ...(h.shared ? [] : [['wcls', [h.vocabSize, h.dim]] as [string, number[]]]),
  ];
}

/** HF's permute(w, n_heads): interleaved RoPE pairs -> rotate_half halves, per head, on the rows of [rows, cols]. */
export function permuteRotary(w: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  const hd = rows / heads, half = hd / 2, out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let p = 0; p < 2; p++) {
        const src = (h * hd + 2 * j + p) * cols, dst = (h * hd + p * half + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

export interface Llama2cModel {
  header: Llama2cHeader;
  /** HF LlamaForCausalLM tensors, float32. */
  tensors: { name: string; shape: number[]; data: Float32Array }[];
  config: Record<string, unknown>;
}

const MAX_MODEL = 16 * 1024 ** 3;

/** Reads a legacy llama2.c model.bin into HF names and layout (q/k rows permuted). */
export function readLlama2cModel(file: string): Llama2cModel {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new FormatError(file, 'not found (expected a llama2.c model .bin)');
  }
  if (size > MAX_MODEL) throw new FormatError(file, `is ${size} bytes: larger than this converter reads (16 GiB)`);
  const buf = readFileSync(file);
  const h = parseLlama2cHeader(file, buf);
  const parts = layout(h);
  const floats = parts.reduce((a, [, s]) => a + numel(s), 0);
  const expected = HEADER_BYTES + 4 * floats;
  if (buf.length !== expected) {
    const other = h.shared ? expected + 4 * h.vocabSize * h.dim : expected - 4 * h.vocabSize * h.dim;
    const hint = buf.length === other ? ` (that size fits vocab_size ${h.shared ? -h.vocabSize : h.vocabSize}: the header's classifier sign is wrong)` : '';
    throw new FormatError(file, `is ${buf.length} bytes, but its header (dim ${h.dim}, hidden_dim ${h.hiddenDim}, n_layers ${h.nLayers}, n_heads ${h.nHeads}, n_kv_heads ${h.nKvHeads}, vocab_size ${h.shared ? h.vocabSize : -h.vocabSize}, seq_len ${h.seqLen}) implies ${expected}${hint}`);
  }
  // One aligned copy of the float section (the Buffer may not start on a 4-byte boundary).
  const all = new Float32Array(floats);
  new Uint8Array(all.buffer).set(buf.subarray(HEADER_BYTES));
  const got = new Map<string, Float32Array>();
  let off = 0;
  for (const [name, shape] of parts) {
    got.set(name, all.subarray(off, off + numel(shape)));
    off += numel(shape);
  }
  const hd = h.dim / h.nHeads, kv = h.nKvHeads * hd;
  const layer = (name: string, i: number, rows: number, cols: number) => got.get(name)!.subarray(i * rows * cols, (i + 1) * rows * cols);
  const tensors: Llama2cModel['tensors'] = [{ name: 'model.embed_tokens.weight', shape: [h.vocabSize, h.dim], data: got.get('token_embedding')! }];
  for (let i = 0; i < h.nLayers; i++) {
    const p = `model.layers.${i}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [h.dim], data: layer('rms_att', i, 1, h.dim) },
      { name: `${p}.self_attn.q_proj.weight`, shape: [h.dim, h.dim], data: permuteRotary(layer('wq', i, h.dim, h.dim), h.nHeads, h.dim, h.dim) },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h.dim], data: permuteRotary(layer('wk', i, kv, h.dim), h.nKvHeads, kv, h.dim) },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h.dim], data: layer('wv', i, kv, h.dim) },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h.dim, h.dim], data: layer('wo', i, h.dim, h.dim) },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h.dim], data: layer('rms_ffn', i, 1, h.dim) },
      { name: `${p}.mlp.gate_proj.weight`, shape: [h.hiddenDim, h.dim], data: layer('w1', i, h.hiddenDim, h.dim) },
      { name: `${p}.mlp.down_proj.weight`, shape: [h.dim, h.hiddenDim], data: layer('w2', i, h.dim, h.hiddenDim) },
      { name: `${p}.mlp.up_proj.weight`, shape: [h.hiddenDim, h.dim], data: layer('w3', i, h.hiddenDim, h.dim) },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [h.dim], data: got.get('rms_final')! });
  if (!h.shared) tensors.push({ name: 'lm_head.weight', shape: [h.vocabSize, h.dim], data: got.get('wcls')! });
  for (const t of tensors) {
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new FormatError(file, `tensor ${t.name} has a non-finite value at element ${bad}`);
  }
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama',
    vocab_size: h.vocabSize, hidden_size: h.dim, intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers, num_attention_heads: h.nHeads, num_key_value_heads: h.nKvHeads,
    max_position_embeddings: h.seqLen, rms_norm_eps: 1e-5, rope_theta: 10000.0, rope_scaling: null,
    hidden_act: 'silu', tie_word_embeddings: h.shared, attention_bias: false, mlp_bias: false,
    bos_token_id: 1, eos_token_id: 2, initializer_range: 0.02, torch_dtype: 'float32', use_cache: true,
  };
  return { header: h, tensors, config };
}

export interface ConvertResult {
  out: string;
  header: Llama2cHeader;
  params: number;
  files: string[];
}

/** Writes the HF folder: config.json, model.safetensors, tokenizer files, generation_config.json. */
export function convertLlama2c(modelFile: string, tokenizerFile: string, out: string): ConvertResult {
  const m = readLlama2cModel(modelFile);
  const pieces = readLlama2cTokenizer(tokenizerFile, m.header.vocabSize);
  mkdirSync(out, { recursive: true });
  writeSafetensors(path.join(out, 'model.safetensors'), m.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data })), { format: 'pt' });
  writeJsonAtomic(path.join(out, 'config.json'), m.config);
  writeJsonAtomic(path.join(out, 'tokenizer.json'), llama2cTokenizerJson(pieces));
  writeJsonAtomic(path.join(out, 'tokenizer_config.json'), {
    tokenizer_class: 'LlamaTokenizer', add_bos_token: true, add_eos_token: false,
    bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: null,
    model_max_length: m.header.seqLen, clean_up_tokenization_spaces: false, legacy: true,
  });
  writeJsonAtomic(path.join(out, 'special_tokens_map.json'), { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
  // run.c stops when the model emits BOS (token 1): a new story begins.
  writeJsonAtomic(path.join(out, 'generation_config.json'), { bos_token_id: 1, eos_token_id: 2, _from_model_config: true });
  const params = m.tensors.reduce((a, t) => a + t.data.length, 0);
  return {
    out, header: m.header, params,
    files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'],
  };
}
