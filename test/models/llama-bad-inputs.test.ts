// Llama-family folders that must be refused with one line naming the file and the field.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, loadModelSpec } from '../../engine/models/registry.ts';

const SRC = path.join(import.meta.dirname, '..', 'fixtures', 'llama-tiny-f32');
const root = mkdtempSync(path.join(tmpdir(), 'llama-bad-'));
let n = 0;

function variant(edit: (cfg: Record<string, unknown>) => void, files?: (dir: string) => void): string {
  const dir = path.join(root, `v${n++}`);
  mkdirSync(dir);
  for (const f of readdirSync(SRC)) copyFileSync(path.join(SRC, f), path.join(dir, f));
  const cfg = JSON.parse(readFileSync(path.join(SRC, 'config.json'), 'utf8'));
  edit(cfg);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  files?.(dir);
  return dir;
}

const oneLine = (f: () => unknown, re: RegExp) => {
  let msg = '';
  try { f(); } catch (e) { msg = (e as Error).message; }
  expect(msg).toMatch(re);
  expect(msg).not.toContain('\n');
};

describe('Llama-family bad inputs', () => {
  it('inconsistent heads: hidden_size not divisible (no head_dim), KV heads not dividing heads', () => {
    oneLine(() => loadModelSpec(variant((c) => { delete c.head_dim; c.num_attention_heads = 5; c.num_key_value_heads = 5; })), /config\.json: "hidden_size" \(32\) must be a multiple of "num_attention_heads" \(5\)/);
    oneLine(() => loadModelSpec(variant((c) => { c.num_key_value_heads = 3; })), /config\.json: "num_key_value_heads" \(3\) must divide "num_attention_heads" \(4\)/);
    oneLine(() => loadModelSpec(variant((c) => { c.head_dim = 7; })), /config\.json: "head_dim" \(7\) must be even/);
  });

  it('unsupported features are refused naming the field', () => {
    oneLine(() => loadModelSpec(variant((c) => { c.rope_scaling = { rope_type: 'yarn', factor: 4 }; })), /config\.json: "rope_scaling" type "yarn" is not supported/);
    oneLine(() => loadModelSpec(variant((c) => { c.rope_scaling = { rope_type: 'llama3', factor: 8 }; })), /config\.json: "rope_scaling\.low_freq_factor" must be a positive number/);
    oneLine(() => loadModelSpec(variant((c) => { c.quantization_config = { quant_method: 'gptq', bits: 4 }; })), /config\.json: "quantization_config": quantized checkpoints are not supported/);
    oneLine(() => loadModelSpec(variant((c) => { c.hidden_act = 'gelu'; })), /config\.json: "hidden_act" is "gelu"/);
    oneLine(() => loadModelSpec(variant((c) => { c.model_type = 'qwen2'; c.architectures = ['Qwen2ForCausalLM']; c.use_sliding_window = true; })), /config\.json: "use_sliding_window" is true/);
    // Mistral's window only caps the context (full attention up to it is exact)
    expect(loadModelSpec(variant((c) => { c.model_type = 'mistral'; c.architectures = ['MistralForCausalLM']; c.sliding_window = 32; })).maxPositions).toBe(32);
  });

  it('a missing shard, a shard index naming a missing file, a wrong shape', () => {
    oneLine(() => loadModel(variant(() => {}, (d) => rmSync(path.join(d, 'model-00002-of-00002.safetensors')))), /model\.safetensors\.index\.json: names shard "model-00002-of-00002\.safetensors", which is not in/);
    oneLine(() => loadModel(variant(() => {}, (d) => {
      const idx = JSON.parse(readFileSync(path.join(d, 'model.safetensors.index.json'), 'utf8'));
      idx.weight_map['model.norm.weight'] = 'model-00003-of-00002.safetensors';
      writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify(idx));
    })), /model\.safetensors\.index\.json: names shard "model-00003-of-00002\.safetensors"/);
    oneLine(() => loadModel(variant((c) => { c.intermediate_size = 40; })), /tensor "model\.layers\.\d\.mlp\.\w+_proj\.weight" has shape \[\d+, \d+\], config\.json implies/);
    // tied although lm_head.weight is stored: HF ties it to the embedding, and so does the loader
    expect(loadModel(variant((c) => { c.tie_word_embeddings = true; })).spec.lmHead).toBe('model.embed_tokens.weight');
  });

  it('generation_config.json decides EOS; Llama 3\'s list of EOS ids takes the first', () => {
    const d = variant((c) => { c.eos_token_id = [7, 9]; });
    expect(loadModelSpec(d).eosTokenId).toBe(7);
    writeFileSync(path.join(d, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 5 }));
    expect(loadModelSpec(d).eosTokenId).toBe(5);
  });
});
