// Our own byte-level BPE (scripts/bpe-train.ts, the demo model's vocabulary): the tokenizer.json it
// writes must be read the same by tokenizers.js (the reference) and by our fast byte-level path,
// and must round-trip any text.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../engine/data/index.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { EOS_TOKEN, trainByteLevelBpe, writeBpeTokenizer } from '../../scripts/bpe-train.ts';
import { tempDir } from '../helpers/tiny-model.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const DEMO = path.join(ROOT, 'models', 'demo-llama');

const SAMPLES = [
  'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse,',
  "Mr. Speaker, Mr. Vice President: it's the 2nd of January, 1790; we'll meet again.\n\n\tIndented  twice   spaced",
  'Banana Bread\n\nIngredients:\n- 2 cups (250 g) flour\n- 1/2 tsp salt\n- 3 ripe bananas, mashed\n',
  'Unicode: café, naïve, Ærøskøbing, 東京, emoji 🍌🍞, and <|endoftext|> in the middle.',
  '   leading spaces, trailing spaces   \n\n\n',
];

/** tokenizers.js (`@huggingface/tokenizers`) straight from the folder's files: the reference. */
function reference(dir: string): (text: string) => number[] {
  const read = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
  const tk = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
  return (text) => tk.encode(text, { add_special_tokens: false }).ids;
}

/** Whether a loaded tokenizer took the fast byte-level path (a private field: checked, not used). */
const usesFastPath = (tok: object) => (tok as { fast?: unknown }).fast !== null && (tok as { fast?: unknown }).fast !== undefined;

describe('byte-level BPE trainer', () => {
  const corpus = [SAMPLES[0]!.repeat(20), SAMPLES[1]!.repeat(20), 'the whale the ship the sea the captain '.repeat(50)];

  it('learns merges into a vocabulary of the asked size, EOS last, deterministically', () => {
    const a = trainByteLevelBpe(corpus, 320), b = trainByteLevelBpe(corpus, 320);
    expect(a).toEqual(b);
    expect(Object.keys(a.vocab)).toHaveLength(320);
    expect(a.eosId).toBe(319);
    expect(a.vocab[EOS_TOKEN]).toBe(319);
    expect(a.merges).toHaveLength(320 - 257);
    expect(a.vocab['Ġthe']).toBeDefined(); // the most frequent word became one token
    // every merge's result is in the vocabulary (what the fast path's integer table needs)
    for (const m of a.merges) expect(a.vocab[m.replace(' ', '')]).toBeDefined();
  });

  it('writes a tokenizer.json that tokenizers.js and our fast path read alike, round-tripping text', async () => {
    const dir = tempDir('bpe-');
    writeBpeTokenizer(dir, trainByteLevelBpe(corpus, 320), 256);
    const tok = await loadTokenizer(dir);
    const ref = reference(dir);
    expect(usesFastPath(tok)).toBe(true);
    expect(tok.vocabSize).toBe(320);
    expect(tok.eosTokenId).toBe(319);
    for (const s of SAMPLES) {
      const ids = tok.encode(s);
      expect(ids).toEqual(ref(s));
      expect(tok.decode(ids)).toBe(s);
    }
    expect(tok.encode(EOS_TOKEN)).toEqual([319]);
  });
});

describe.skipIf(!existsSync(path.join(DEMO, 'tokenizer.json')))('the demo model tokenizer (models/demo-llama)', () => {
  it('agrees with tokenizers.js on the samples and on the recipes, and round-trips them', async () => {
    const tok = await loadTokenizer(DEMO);
    const ref = reference(DEMO);
    expect(usesFastPath(tok)).toBe(true);
    expect(tok.vocabSize).toBe(4096);
    expect(tok.idToToken(tok.eosTokenId!)).toBe(EOS_TOKEN);
    // the recipes as the demo trains on them (title, ingredient lines, numbered directions)
    const recipes = (await loadDataset(path.join(ROOT, 'samples', 'recipes.jsonl'), {})).examples.map((e) => e.text);
    expect(recipes.length).toBeGreaterThan(50);
    for (const s of [...SAMPLES, ...recipes]) {
      const ids = tok.encode(s);
      expect(ids).toEqual(ref(s));
      expect(tok.decode(ids)).toBe(s);
    }
    // common English words are single tokens: the vocabulary was learned on English prose
    for (const w of [' the', ' ship', ' government', ' whale']) expect(tok.encode(w)).toHaveLength(1);
  });
});
