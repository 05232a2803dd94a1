// The GGUF export verified by llama.cpp itself (node-llama-cpp's prebuilt CPU binary), not by a
// reader of our own: llama.cpp loads each exported file, tokenizes the prompt with the GGUF's
// embedded tokenizer, and its greedy continuation (float32 KV cache) equals the studio's own
// generate token for token for F32 exports — the demo Llama with its own byte-level BPE (base, with a
// merged adapter, and the adapter as a GGUF LoRA), and
// stories260K converted from llama2.c (base, adapter merged, adapter as a GGUF LoRA applied at run
// time). F16 and Q8_0 exports load and agree on the first tokens.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { type GgufType, exportGguf } from '../../engine/export/gguf.ts';
import { Generator } from '../../engine/generate/generator.ts';
import { llamaParamShapes, parseLlamaConfig } from '../../engine/models/llama.ts';
import { convertLlama2c } from '../../engine/models/llama2c.ts';
import { writeSafetensors } from '../../engine/store/safetensors.ts';
import { Rng } from '../../engine/util/rng.ts';
import { SHARED, tempDir } from '../helpers/tiny-model.ts';
import { disposeLlamaCpp, llamaCppGreedy } from './llama-cpp.ts';
import { makeLora } from './random-lora.ts';

const DEMO = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-llama');
const STORIES = path.join(SHARED, 'stories260K');
const haveStories = existsSync(path.join(STORIES, 'stories260K.bin'));
if (!haveStories) console.warn(`skipping the stories260K GGUF tests: ${STORIES} is absent`);

const generators = new Map<string, Promise<Generator>>();

/** The studio's greedy continuation of the prompt ids (one generator per model + adapter). */
async function studioGreedy(model: string, adapter: string | undefined, prompt: number[], n: number): Promise<number[]> {
  const key = `${model}\0${adapter ?? ''}`;
  if (!generators.has(key)) generators.set(key, Generator.load(model, adapter));
  const g = await generators.get(key)!;
  return (await g.generate(prompt, { doSample: false, maxNewTokens: n, eosTokenId: null })).tokens[0];
}

/** Exports once per name (a test that needs the base GGUF writes it when no test before did). */
async function gguf(root: string, model: string, name: string, o: { adapter?: string; type?: GgufType; loraOnly?: boolean } = {}): Promise<string> {
  const out = path.join(root, `${name}.gguf`);
  if (!existsSync(out)) await exportGguf({ model, out, type: o.type ?? 'f32', adapter: o.adapter, loraOnly: o.loraOnly });
  return out;
}

afterAll(async () => {
  for (const g of generators.values()) await (await g).release();
  await disposeLlamaCpp();
});

describe('GGUF export, verified by llama.cpp: the demo Llama (models/demo-llama, byte-level BPE)', () => {
  const N = 16;
  const PROMPTS = [
    'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,',
    'The Congress of the United States shall',
  ];
  let root: string, adapter: string;
  beforeAll(() => {
    root = tempDir('ls-gguf-demo-');
    adapter = makeLora(path.join(root, 'adapter'), DEMO, { targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], std: 0.12 });
  });

  it('F32: llama.cpp tokenizes as the studio does, and its greedy continuation is the studio\'s, token for token', async () => {
    const file = await gguf(root, DEMO, 'demo-f32');
    const tok = await loadTokenizer(DEMO);
    for (const text of PROMPTS) {
      const run = await llamaCppGreedy(file, text, N);
      expect(run.addsBos).toBe(false); // its GPT-2-style tokenizer adds no BOS, in HF and in llama.cpp
      expect(run.prompt).toEqual(tok.encode(text));
      expect(run.tokens).toEqual(await studioGreedy(DEMO, undefined, run.prompt, N));
    }
  });

  it('F32 with a LoRA adapter merged: llama.cpp continues as the studio\'s base + adapter does (and not as the base)', async () => {
    const file = await gguf(root, DEMO, 'demo-merged', { adapter });
    const run = await llamaCppGreedy(file, PROMPTS[0], N);
    const studio = await studioGreedy(DEMO, adapter, run.prompt, N);
    expect(run.tokens).toEqual(studio);
    expect(studio).not.toEqual(await studioGreedy(DEMO, undefined, run.prompt, N));
  });

  it('the adapter as a GGUF LoRA on the base GGUF: llama.cpp continues as the merged model', async () => {
    const base = await gguf(root, DEMO, 'demo-f32');
    const lora = await gguf(root, DEMO, 'demo-lora', { adapter, loraOnly: true });
    const run = await llamaCppGreedy(base, PROMPTS[0], N, { lora });
    expect(run.tokens).toEqual(await studioGreedy(DEMO, adapter, run.prompt, N));
  });

  it('F16 and Q8_0 load in llama.cpp and agree with the F32 model on the first tokens', async () => {
    const tok = await loadTokenizer(DEMO);
    const prompt = tok.encode(PROMPTS[0]);
    const ref = await studioGreedy(DEMO, undefined, prompt, 4);
    for (const type of ['f16', 'q8_0'] as const) {
      const run = await llamaCppGreedy(await gguf(root, DEMO, `demo-${type}`, { type }), PROMPTS[0], 4);
      expect(run.prompt).toEqual(prompt);
      expect(run.tokens.slice(0, 3), type).toEqual(ref.slice(0, 3));
    }
  });
});

describe.skipIf(!haveStories)('GGUF export, verified by llama.cpp: stories260K (llama2.c, converted)', () => {
  const N = 24;
  const PROMPT = 'Once upon a time, there was a little girl named Lily.';
  let root: string, model: string, adapter: string;
  beforeAll(() => {
    root = tempDir('ls-gguf-llama-');
    model = path.join(root, 'stories260K');
    convertLlama2c(path.join(STORIES, 'stories260K.bin'), path.join(STORIES, 'tok512.bin'), model);
    // Every projection, q/k included (their B rows are permuted for llama.cpp's RoPE), and
    // rsLoRA (scaling alpha/sqrt(r), which llama.cpp's alpha/r cannot say: B absorbs it).
    adapter = makeLora(path.join(root, 'adapter'), model, {
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 4, alpha: 8, rslora: true, std: 0.25,
    });
  });

  it('F32: BOS + llama.cpp\'s tokenization are the studio\'s, and the greedy continuation is the studio\'s (and run.c\'s)', async () => {
    const file = await gguf(root, model, 'stories-f32');
    const tok = await loadTokenizer(model);
    const run = await llamaCppGreedy(file, PROMPT, N);
    expect(run.addsBos).toBe(true);
    expect(run.prompt).toEqual(tok.encode(PROMPT));
    expect(run.tokens).toEqual(await studioGreedy(model, undefined, run.prompt, N));
    // run.c's reference: "Once upon a time" continues with the recorded tokens.
    const ref = (await import(path.join(STORIES, 'reference_outputs.json'), { with: { type: 'json' } })).default as { cases: { prompt: string; prompt_token_ids_with_bos: number[]; all_token_ids: number[] }[] };
    const c = ref.cases.find((x) => x.prompt === 'Once upon a time')!;
    const short = await llamaCppGreedy(file, c.prompt, 16);
    expect(short.prompt).toEqual(c.prompt_token_ids_with_bos);
    expect(short.tokens).toEqual(c.all_token_ids.slice(short.prompt.length, short.prompt.length + 16));
  });

  it('F32 with the adapter merged: llama.cpp continues as the studio\'s base + adapter (not as the base)', async () => {
    const file = await gguf(root, model, 'stories-merged', { adapter });
    const run = await llamaCppGreedy(file, PROMPT, N);
    const studio = await studioGreedy(model, adapter, run.prompt, N);
    expect(run.tokens).toEqual(studio);
    expect(studio).not.toEqual(await studioGreedy(model, undefined, run.prompt, N));
  });

  it('the adapter as a GGUF LoRA (--lora-only) applied by llama.cpp to the base GGUF: the merged model\'s continuation', async () => {
    const base = await gguf(root, model, 'stories-f32');
    const lora = await gguf(root, model, 'stories-lora', { adapter, loraOnly: true });
    const run = await llamaCppGreedy(base, PROMPT, N, { lora });
    expect(run.tokens).toEqual(await studioGreedy(model, adapter, run.prompt, N));
  });

  it('F16 and Q8_0 load in llama.cpp and agree on the first tokens', async () => {
    const tok = await loadTokenizer(model);
    const ref = await studioGreedy(model, undefined, tok.encode(PROMPT), 4);
    for (const type of ['f16', 'q8_0'] as const) {
      const run = await llamaCppGreedy(await gguf(root, model, `stories-${type}`, { type }), PROMPT, 4);
      expect(run.tokens.slice(0, 3), type).toEqual(ref.slice(0, 3));
    }
  });
});

/** GPT-2's byte-to-character map (bytes_to_unicode). */
function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(bs.includes(b) ? b : 256 + n++);
  return out;
}

/** A small byte-level BPE tokenizer.json in GPT-2's layout: 256 byte tokens, a few merges, <|endoftext|>. */
function tinyByteLevelTokenizer(vocabSize: number): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, i) => { vocab[c] = i; });
  const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ a', 'i s', 'Ġ d', 'o g', 'Ġd og', 'Ġ c', 'u t', 'Ġc ut', 'Ġcut e', 'a n', 'Ġa n', 'Ġan d', 'Ġ m', 'Ġm y', 'l l', 'e ll', 'H ell', 'Hell o'];
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const eos = vocabSize - 1; // ids between the merges and EOS are unused (llama.cpp: UNUSED "[PADn]")
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: eos, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** A random Llama-family folder with a small byte-level BPE tokenizer. */
function randomLlamaFamily(dir: string, config: Record<string, unknown>, seed: number): string {
  mkdirSync(dir, { recursive: true });
  const V = 300;
  const json = { vocab_size: V, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, max_position_embeddings: 128, rms_norm_eps: 1e-5, bos_token_id: V - 1, eos_token_id: V - 1, ...config };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json));
  const rng = new Rng(seed);
  writeSafetensors(path.join(dir, 'model.safetensors'), llamaParamShapes(parseLlamaConfig(json, 'config.json')).map(([name, shape]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const std = name.includes('embed_tokens') || name.startsWith('lm_head') ? 0.5 : name.endsWith('.bias') ? 0.05 : 0.15;
    for (let i = 0; i < data.length; i++) data[i] = name.endsWith('norm.weight') ? 1 + rng.normal() * 0.1 : rng.normal() * std;
    return { name, dtype: 'F32' as const, shape, data };
  }), { format: 'pt' });
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tinyByteLevelTokenizer(V)));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'GPT2Tokenizer', bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', add_bos_token: false }));
  return dir;
}

describe('GGUF export, verified by llama.cpp: random llama / mistral / qwen2 shapes', () => {
  const N = 12;
  const PROMPT = 'Hello, my dog is cute and the cat is not. Zebras!';
  const MODELS: Record<string, Record<string, unknown>> = {
    // GQA, head_dim 12 (key_length), llama3 rope scaling (rope_freqs), q/k/v/o biases (permuted), untied head
    llama: { model_type: 'llama', num_attention_heads: 4, num_key_value_heads: 2, head_dim: 12, attention_bias: true, tie_word_embeddings: false,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } },
    // multi-query attention, linear rope scaling, tied head: llama.cpp's llama architecture
    mistral: { model_type: 'mistral', num_attention_heads: 4, num_key_value_heads: 1, rope_scaling: { type: 'linear', factor: 2 }, tie_word_embeddings: true },
    // q/k/v biases, rotate_half RoPE kept as is (NEOX)
    qwen2: { model_type: 'qwen2', num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 1000000, tie_word_embeddings: true },
  };
  for (const [name, cfg] of Object.entries(MODELS)) {
    const withLora = name === 'llama'; // the q/k permutation of B with GQA and head_dim 12
    it(`${name}: llama.cpp's tokenization and F32 continuation${withLora ? ', and the GGUF LoRA (q/k/v/o),' : ''} equal the studio's`, async () => {
      const root = tempDir(`ls-gguf-${name}-`);
      const model = randomLlamaFamily(path.join(root, 'model'), cfg, name.length);
      const tok = await loadTokenizer(model);
      const base = await gguf(root, model, 'base');
      const run = await llamaCppGreedy(base, PROMPT, N);
      expect(run.prompt).toEqual(tok.encode(PROMPT));
      expect(run.tokens).toEqual(await studioGreedy(model, undefined, run.prompt, N));
      if (!withLora) return;
      const adapter = makeLora(path.join(root, 'adapter'), model, { targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], std: 0.3 });
      const lora = await llamaCppGreedy(base, PROMPT, N, { lora: await gguf(root, model, 'lora', { adapter, loraOnly: true }) });
      const merged = await studioGreedy(model, adapter, run.prompt, N);
      expect(lora.tokens).toEqual(merged);
      expect(merged).not.toEqual(run.tokens);
    });
  }
});
