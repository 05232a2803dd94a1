// GPT-2 in GGUF (llama.cpp's "gpt2" architecture): GPT-2's Conv1D weights are (in, out), so
// they are transposed to nn.Linear's [out, in]; LayerNorms with biases; tied or separate output.

import { type ArchPlan, type ArchTensor, type GgufMapping, GgufExportError, blockLinear, transpose2d } from '../../export/gguf-arch.ts';
import { f32, u32 } from '../../export/gguf-writer.ts';
import type { GPT2Config } from '../gpt2.ts';
import type { Weights } from '../types.ts';

const GPT2_LINEARS: Record<string, string> = { 'attn.c_attn': 'attn_qkv', 'attn.c_proj': 'attn_output', 'mlp.c_fc': 'ffn_up', 'mlp.c_proj': 'ffn_down' };
function gpt2Plan(c: GPT2Config, w: Weights): ArchPlan {
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

export const gpt2Gguf = (c: GPT2Config): GgufMapping => ({
  arch: 'gpt2',
  plan: (w) => gpt2Plan(c, w),
  linearTarget(m) {
    const { block, base } = blockLinear(m, /^transformer\.h\.(\d+)\.(.+)$/, GPT2_LINEARS);
    return { name: `blk.${block}.${base}`, permuteHeads: 0 };
  },
});
