// The Llama-family benchmark shapes (config.json objects) shared by the benchmarks.
export const LLAMA_SHAPES: Record<string, { config: Record<string, unknown>; batch: number; ctx: number; name: string }> = {
  smollm2: {
    name: 'SmolLM2-135M (30 layers, hidden 576, 9/3 heads, intermediate 1536, vocab 49152, tied; batch 4 x 256)', batch: 4, ctx: 256,
    config: { model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true },
  },
  tinyllama: {
    name: 'TinyLlama-1.1B (22 layers, hidden 2048, 32/4 heads, intermediate 5632, vocab 32000, untied; batch 1 x 256)', batch: 1, ctx: 256,
    config: { model_type: 'llama', vocab_size: 32000, hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4, max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false },
  },
};
