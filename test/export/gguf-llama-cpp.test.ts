// The GGUF export verified by llama.cpp itself (node-llama-cpp's prebuilt CPU binary), not by a
// reader of our own: llama.cpp loads each exported file, tokenizes the prompt with the GGUF's
// embedded tokenizer, and its greedy continuation (float32 KV cache) equals the studio's own
// generate token for token for F32 exports — the demo GPT-2 (base and with a merged adapter), and
// stories260K converted from llama2.c (base, adapter merged, adapter as a GGUF LoRA applied at run
// time). F16 and Q8_0 exports load and agree on the first tokens.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { type GgufType, exportGguf } from '../../engine/export/gguf.ts';
import { Generator } from '../../engine/generate/generator.ts';
import { convertLlama2c } from '../../engine/models/llama2c.ts';
import { SHARED, tempDir } from '../helpers/tiny-model.ts';
import { llamaCppGreedy } from './llama-cpp.ts';
import { makeLora } from './random-lora.ts';

const DEMO = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-gpt2');
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
});

describe('GGUF export, verified by llama.cpp: demo GPT-2 (models/demo-gpt2)', () => {
  const N = 16;
  const PROMPTS = [
    'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse,',
    'The Congress of the United States shall',
  ];
  let root: string, adapter: string;
  beforeAll(() => {
    root = tempDir('ls-gguf-gpt2-');
    adapter = makeLora(path.join(root, 'adapter'), DEMO, { targets: ['c_attn', 'c_proj', 'c_fc'], std: 0.12 });
  });

  it('F32: llama.cpp tokenizes as the studio does, and its greedy continuation is the studio\'s, token for token', async () => {
    const file = await gguf(root, DEMO, 'demo-f32');
    const tok = await loadTokenizer(DEMO);
    for (const text of PROMPTS) {
      const run = await llamaCppGreedy(file, text, N);
      expect(run.addsBos).toBe(false); // GPT-2 adds no BOS, in HF and in llama.cpp
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
