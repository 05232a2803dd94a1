import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contentHash, loadDataset, loadTokenizerCached, packForCausalLM, tokenizeDataset, type TextTokenizer } from '../../engine/data/index.ts';
import { haveShared, samplesDir, shared } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lora-studio-cache-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A toy tokenizer: one id per character code (so tests need no model folder). */
function charTokenizer(offset = 0): TextTokenizer {
  return {
    kind: 'other',
    vocabSize: 65536,
    eosTokenId: 0,
    bosTokenId: null,
    padTokenId: null,
    encode: (t: string) => Array.from(t, (c) => c.charCodeAt(0) + offset),
    decode: (ids: number[]) => String.fromCharCode(...ids.map((i) => i - offset)),
  };
}

describe('tokenized disk cache', () => {
  const examples = [{ text: 'abc', label: 1 }, { text: 'de' }, { text: '' }];

  it('tokenizes, writes the cache and reads it back on the next run', async () => {
    const dir = join(tmp, 'c1');
    const a = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir });
    expect(a.fromCache).toBe(false);
    expect(a.count).toBe(3);
    expect(Array.from(a.get(0))).toEqual([97, 98, 99]);
    expect(Array.from(a.lengths())).toEqual([3, 2, 0]);
    expect(a.toArrays()).toEqual([[97, 98, 99], [100, 101], []]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tok'))).toHaveLength(1);
    const b = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir });
    expect(b.fromCache).toBe(true);
    expect(b.key).toBe(a.key);
    expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
    expect(Array.from(b.offsets)).toEqual(Array.from(a.offsets));
  });

  it('the key changes with the content, the labels, the tokenizer and the settings', async () => {
    const dir = join(tmp, 'c2');
    const base = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir });
    const keys = new Set([base.key]);
    keys.add((await tokenizeDataset([{ text: 'abd', label: 1 }, ...examples.slice(1)], charTokenizer(), { cacheDir: dir })).key);
    keys.add((await tokenizeDataset([{ text: 'abc', label: 0 }, ...examples.slice(1)], charTokenizer(), { cacheDir: dir })).key);
    keys.add((await tokenizeDataset(examples, charTokenizer(1), { cacheDir: dir })).key);
    keys.add((await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir, maxLength: 2 })).key);
    keys.add((await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir, settings: { blockSize: 128 } })).key);
    expect(keys.size).toBe(6);
    const truncated = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir, maxLength: 2 });
    expect(truncated.fromCache).toBe(true);
    expect(truncated.toArrays()).toEqual([[97, 98], [100, 101], []]);
  });

  it('a corrupt or foreign cache file is ignored and replaced', async () => {
    const dir = join(tmp, 'c3');
    const a = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir });
    writeFileSync(a.file!, 'garbage');
    const b = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir });
    expect(b.fromCache).toBe(false);
    expect(Array.from(b.tokens)).toEqual([97, 98, 99, 100, 101]);
    const c = await tokenizeDataset(examples, charTokenizer(), { cacheDir: dir });
    expect(c.fromCache).toBe(true);
  });

  it('cacheDir null disables the cache; progress is reported', async () => {
    const phases: string[] = [];
    const a = await tokenizeDataset(examples, charTokenizer(), { cacheDir: null, onProgress: (p) => phases.push(`${p.phase}:${p.done}/${p.total}`) });
    expect(a.fromCache).toBe(false);
    expect(a.file).toBeUndefined();
    expect(phases.at(-1)).toBe('tokenize:3/3');
  });

  it('contentHash depends on order, text and label', () => {
    const h = contentHash(examples);
    expect(contentHash([...examples].reverse())).not.toBe(h);
    expect(contentHash(examples)).toBe(h);
    expect(contentHash([{ text: 'abc', label: '1' }, ...examples.slice(1)])).not.toBe(h);
  });
});

describe.skipIf(!haveShared('gpt2-tokenizer'))('with the GPT-2 tokenizer', () => {
  it('recipes -> tokens -> packed blocks, cached across runs', async () => {
    const tk = await loadTokenizerCached(shared('gpt2-tokenizer'));
    const ds = await loadDataset(join(samplesDir, 'recipes.jsonl'));
    const dir = join(tmp, 'gpt2');
    const t = await tokenizeDataset(ds.examples, tk, { cacheDir: dir });
    expect(t.count).toBe(ds.examples.length);
    expect(tk.decode(Array.from(t.get(0)))).toBe(ds.examples[0]!.text);
    const blocks = packForCausalLM(t.toArrays(), 128, tk.eosTokenId);
    expect(blocks.length).toBe(Math.ceil((t.totalTokens + t.count - 1) / 128));
    expect(Array.from(blocks[0]!).filter((x) => x === 50256).length).toBeGreaterThanOrEqual(0);
    const again = await tokenizeDataset(ds.examples, tk, { cacheDir: dir });
    expect(again.fromCache).toBe(true);
    // Another tokenizer (WordPiece would differ; a modified config must too).
    const other = await tokenizeDataset(ds.examples, tk, { cacheDir: dir, addSpecialTokens: true });
    expect(other.key).not.toBe(t.key);
  });
});

describe('one-call helpers', () => {
  it.skipIf(!haveShared('aclImdb-sample'))('loadTrainValidation uses aclImdb test as validation', async () => {
    const { loadTrainValidation } = await import('../../engine/data/index.ts');
    const tv = await loadTrainValidation(shared('aclImdb-sample', 'aclImdb'));
    expect(tv.splitBy).toBe('dataset');
    expect(tv.train).toHaveLength(80);
    expect(tv.validation).toHaveLength(40);
    expect(tv.labelNames).toEqual(['neg', 'pos']);
  });

  it('loadTrainValidation makes a seeded, stratified split otherwise', async () => {
    const { loadTrainValidation } = await import('../../engine/data/index.ts');
    const a = await loadTrainValidation(join(samplesDir, 'reviews.csv'), { validationRatio: 0.2, seed: 3 });
    const b = await loadTrainValidation(join(samplesDir, 'reviews.csv'), { validationRatio: 0.2, seed: 3 });
    expect(a.splitBy).toBe('seeded');
    expect(a.validation).toHaveLength(44);
    expect(a.validation.filter((e) => e.label === 0)).toHaveLength(22);
    expect(a.validation).toEqual(b.validation);
  });

  it('prepareCausalLM and prepareClassification', async () => {
    const { prepareCausalLM, prepareClassification } = await import('../../engine/data/index.ts');
    const tk = charTokenizer();
    const lm = await prepareCausalLM([{ text: 'ab' }, { text: 'cde' }], tk, { blockSize: 4, cacheDir: null });
    expect(lm.blocks.map((b) => Array.from(b))).toEqual([[97, 98, 0, 99], [100, 101]]);
    const cls = await prepareClassification([{ text: 'abcdef', label: 1 }, { text: 'x', label: 0 }], tk, { maxLength: 3, cacheDir: null });
    expect(cls.inputs).toEqual([[97, 98, 99], [120]]);
    expect(Array.from(cls.labels)).toEqual([1, 0]);
    await expect(prepareClassification([{ text: 'x' }], tk, { maxLength: 3, cacheDir: null })).rejects.toThrow(/no class label/);
  });
});

describe.skipIf(!haveShared('gpt2-tokenizer'))('worker threads', () => {
  it('tokenizeDataset with 2 workers gives exactly the single-thread result', async () => {
    const tk = await loadTokenizerCached(shared('gpt2-tokenizer'));
    const reviews = (await loadDataset(join(samplesDir, 'reviews.csv'))).examples;
    const examples = Array.from({ length: 20 * reviews.length }, (_, i) => ({ text: `${reviews[i % reviews.length]!.text} #${i}` }));
    const progress: number[] = [];
    const par = await tokenizeDataset(examples, tk, { cacheDir: null, workers: 2, workersMinChars: 0, onProgress: (p) => progress.push(p.done) });
    const one = await tokenizeDataset(examples, tk, { cacheDir: null });
    expect(par.threads).toBe(2);
    expect(one.threads).toBe(1);
    expect(par.count).toBe(examples.length);
    expect(Array.from(par.offsets)).toEqual(Array.from(one.offsets));
    expect(Buffer.from(par.tokens.buffer).equals(Buffer.from(one.tokens.buffer))).toBe(true);
    expect(progress.at(-1)).toBe(examples.length);
  });
});
