// Small random GPT-2 folders with the real GPT-2 tokenizer (from ../shared/data), for tests
// that go through text. Written to a temp dir; the shared data is read, never copied into git.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gpt2ParamShapes, parseGPT2Config } from '../../engine/models/gpt2.ts';
import { writeSafetensors } from '../../engine/store/safetensors.ts';
import { Rng } from '../../engine/util/rng.ts';

export const SHARED = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data');
export const TOKENIZER_DIR = path.join(SHARED, 'gpt2-tokenizer');
export const hasSharedData = existsSync(TOKENIZER_DIR);
export const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');

export function tempDir(prefix = 'ls-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TinySpec {
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  nPositions?: number;
  seed?: number;
  tokenizer?: boolean;
}

export function makeTinyGPT2(dir: string, spec: TinySpec = {}): string {
  mkdirSync(dir, { recursive: true });
  const json = {
    model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 50257, n_positions: spec.nPositions ?? 64,
    n_embd: spec.nEmbd ?? 16, n_layer: spec.nLayer ?? 2, n_head: spec.nHead ?? 2, n_inner: null, activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5, bos_token_id: 50256, eos_token_id: 50256, tie_word_embeddings: true,
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  const rng = new Rng(spec.seed ?? 1);
  const cfg = parseGPT2Config(json, 'config.json');
  writeSafetensors(path.join(dir, 'model.safetensors'), gpt2ParamShapes(cfg).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isLnW = /ln_(1|2|f)\.weight$/.test(name);
    // A wide embedding so that logits (h · wte) can move far enough for a frozen-head LoRA to learn.
    const std = name.endsWith('wte.weight') ? 0.4 : 0.1;
    for (let i = 0; i < n; i++) data[i] = isLnW ? 1 : name.endsWith('.bias') ? 0 : rng.normal() * std;
    return { name, dtype: 'F32' as const, shape, data };
  }), { format: 'pt' });
  if (spec.tokenizer !== false) {
    for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']) {
      copyFileSync(path.join(TOKENIZER_DIR, f), path.join(dir, f));
    }
  }
  return dir;
}

/** Original sample text (written for these tests), repeated so a tiny model can learn it. */
export const SAMPLE_TEXT = Array.from({ length: 12 }, (_, i) =>
  `Recipe ${i + 1}. Whisk two eggs with a pinch of salt. Warm butter in a pan, pour in the eggs and stir slowly until just set. Serve on toast.`,
).join('\n');
