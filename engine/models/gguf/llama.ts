// The Llama family in GGUF: LlamaForCausalLM and MistralForCausalLM as llama.cpp's "llama"
// (q/k rows permuted back from HF's rotate_half order to the interleaved pairs llama.cpp's RoPE
// rotates), Qwen2ForCausalLM as "qwen2" (rotate_half, llama.cpp's NEOX mode: no permutation;
// q/k/v biases). llama3 rope scaling becomes a rope_freqs tensor.

import { type ArchPlan, type ArchTensor, type GgufMapping, GgufExportError, blockLinear, unpermuteRows } from '../../export/gguf-arch.ts';
import { type MetaValue, f32, str, u32 } from '../../export/gguf-writer.ts';
import { type LlamaConfig, ropeInvFreq } from '../llama.ts';
import type { Weights } from '../types.ts';

const LLAMA_LINEARS: Record<string, string> = {
  'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down',
};

function llamaPlan(c: LlamaConfig, w: Weights, arch: string): ArchPlan {
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

/** llama and mistral write llama.cpp's "llama"; qwen2 its own "qwen2". */
export const llamaGguf = (c: LlamaConfig, arch: 'llama' | 'qwen2'): GgufMapping => ({
  arch,
  plan: (w) => llamaPlan(c, w, arch),
  linearTarget(m) {
    const { block, base } = blockLinear(m, /^model\.layers\.(\d+)\.(.+)$/, LLAMA_LINEARS);
    const permuteHeads = arch !== 'llama' ? 0 : base === 'attn_q' ? c.heads : base === 'attn_k' ? c.kvHeads : 0;
    return { name: `blk.${block}.${base}`, permuteHeads };
  },
});
