import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer, loadTokenizerCached } from '../../engine/data/tokenizer.ts';
import { DataError, FormatError } from '../../engine/data/errors.ts';
import { haveShared, shared } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lora-studio-tok-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string>): string {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdir(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}
function mkdir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

const TRICKY = [
  'Hello world',
  'Hello, my dog is cute',
  "I'm sure they'll say it's 'fine' -- we've done it, haven't we?",
  '  leading and trailing spaces   ',
  'tabs\tand\nnewlines\r\n\r\nand  double  spaces',
  'Ünïcödé façade naïve café — “quotes” … ½ ©',
  '日本語のテキストと中文文本',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷',
  'numbers 1234567890 3.14159 1e-5 0xFF',
  'a<|endoftext|>b <|endoftext|> c<|endoftext|><|endoftext|>',
  '<br /><br />This movie was <i>great</i>!!!',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'x'.repeat(300) + ' end',
  '',
  ' ',
  '\u0000\u0001 control \u007f chars',
  'lone surrogate \ud800 here',
  // the hand-written ASCII scanner's corner cases
  "a  b", 'a\n\nb', 'a \n b', '  ', 'x', "x'S 'S", "'re'll've'd'm't's", "''s", "it's'", " 's", "!'s", "'",
  '\t\tfoo', 'foo   ', '123abc', 'a1b2', ' !!', ' 12', ' \t', '\f\v\r\n', 'end.\n', "don't, won't; y'all", 'A\r\n\r\nB  \tC',
];

describe.skipIf(!haveShared('gpt2-tokenizer'))('GPT-2 byte-level BPE', () => {
  it('loads tokenizer.json and gives the known vectors', async () => {
    const tk = await loadTokenizerCached(shared('gpt2-tokenizer'));
    expect(tk.kind).toBe('bpe');
    expect(tk.encode('Hello world')).toEqual([15496, 995]);
    expect(tk.encode('Hello, my dog is cute')).toEqual([15496, 11, 616, 3290, 318, 13779]);
    expect(tk.vocabSize).toBe(50257);
    expect(tk.eosTokenId).toBe(50256);
    expect(tk.bosTokenId).toBe(50256);
    expect(tk.padTokenId).toBeNull();
    // GPT-2 adds nothing, whichever way it is asked.
    expect(tk.encode('Hello world', { addSpecialTokens: true })).toEqual([15496, 995]);
    expect(tk.encode('Hello<|endoftext|>')).toEqual([15496, 50256]);
    expect(tk.decode([15496, 11, 616, 3290, 318, 13779])).toBe('Hello, my dog is cute');
    expect(tk.decode([15496, 995, 50256])).toBe('Hello world<|endoftext|>');
    expect(tk.decode([15496, 995, 50256], { skipSpecialTokens: true })).toBe('Hello world');
  });

  it('builds the same tokenizer from vocab.json + merges.txt alone', async () => {
    const dir = join(tmp, 'gpt2-slow');
    mkdir(dir);
    symlinkSync(shared('gpt2-tokenizer', 'vocab.json'), join(dir, 'vocab.json'));
    symlinkSync(shared('gpt2-tokenizer', 'merges.txt'), join(dir, 'merges.txt'));
    const slow = await loadTokenizer(dir);
    const fast = await loadTokenizerCached(shared('gpt2-tokenizer'));
    expect(slow.kind).toBe('bpe');
    expect(slow.sourceFiles).toEqual(['vocab.json', 'merges.txt']);
    expect(slow.encode('Hello world')).toEqual([15496, 995]);
    expect(slow.eosTokenId).toBe(50256);
    expect(slow.padTokenId).toBeNull();
    expect(slow.vocabSize).toBe(50257);
    for (const s of TRICKY) expect(slow.encode(s), JSON.stringify(s)).toEqual(fast.encode(s));
  });

  it('honours a configured pad token', async () => {
    const dir = join(tmp, 'gpt2-pad');
    mkdir(dir);
    symlinkSync(shared('gpt2-tokenizer', 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', pad_token: '<|endoftext|>' }));
    const tk = await loadTokenizer(dir);
    expect(tk.padTokenId).toBe(50256);
    expect(tk.eosTokenId).toBe(50256);
  });

  it('the fast byte-level path matches tokenizers.js exactly on real corpora', async () => {
    const tk = (await loadTokenizerCached(shared('gpt2-tokenizer'))) as Awaited<ReturnType<typeof loadTokenizerCached>> & {
      encodeReference(t: string): number[];
    };
    const texts = [...TRICKY];
    if (haveShared('uci-sentiment')) {
      // every third sentence of each file keeps the test quick (tokenizers.js is the slow side)
      for (const f of ['imdb_labelled.txt', 'yelp_labelled.txt', 'amazon_cells_labelled.txt']) {
        texts.push(...readFileSync(shared('uci-sentiment', f), 'utf8').split('\n').filter((_, i) => i % 3 === 0).map((l) => l.split('\t')[0]!));
      }
    }
    if (haveShared('aclImdb-sample')) {
      for (const split of ['train', 'test']) {
        for (const lab of ['pos', 'neg']) {
          const dir = shared('aclImdb-sample', 'aclImdb', split, lab);
          for (const f of readdirSync(dir).slice(0, 8)) texts.push(readFileSync(join(dir, f), 'utf8'));
        }
      }
    }
    if (haveShared('sms-spam')) {
      texts.push(...readFileSync(shared('sms-spam', 'SMSSpamCollection'), 'utf8').split('\n').filter((_, i) => i % 8 === 0));
    }
    // random strings over the characters the pattern treats specially
    const alphabet = [' ', ' ', '\n', '\t', '\r', "'", 's', 't', 'r', 'e', 'v', 'l', 'd', 'm', 'A', '1', '!', '.', 'é', '<|endoftext|>'];
    let seed = 7;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let k = 0; k < 3000; k++) {
      let t = '';
      const len = Math.floor(rnd() * 24);
      for (let i = 0; i < len; i++) t += alphabet[Math.floor(rnd() * (k % 2 ? alphabet.length : alphabet.length - 2))];
      texts.push(t);
    }
    let n = 0;
    for (const t of texts) {
      expect(tk.encode(t), JSON.stringify(t)).toEqual(tk.encodeReference(t));
      n++;
    }
    expect(n).toBeGreaterThan(10);
  });
});

describe.skipIf(!haveShared('tiny-gpt2', 'tiny_gpt2'))('toy GPT-2 vocabulary', () => {
  it('loads vocab.json + merges.txt with an <unk> token and never yields undefined ids', async () => {
    const tk = await loadTokenizer(shared('tiny-gpt2', 'tiny_gpt2'));
    expect(tk.kind).toBe('bpe');
    expect(tk.vocabSize).toBe(21);
    expect(tk.eosTokenId).toBe(20);
    expect(tk.encode(' lower newer')).toEqual([14, 15, 10, 9, 3, 2, 15]);
    const ids = tk.encode('zzz ¿?');
    expect(ids.every((x) => Number.isInteger(x) && x >= 0 && x < 21)).toBe(true);
    expect(ids).toContain(19);
  });
});

describe('WordPiece from vocab.txt', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', ',', '!', 'the', 'movie', 'was', 'great', 'un', '##believ', '##able', 'cafe', 'Hello'];
  it('lower-cases, adds [CLS]/[SEP] by default and maps unknown words to [UNK]', async () => {
    const dir = folder('bert', { 'vocab.txt': vocab.join('\n') + '\n' });
    const tk = await loadTokenizer(dir);
    expect(tk.kind).toBe('wordpiece');
    expect(tk.vocabSize).toBe(vocab.length);
    expect(tk.padTokenId).toBe(0);
    expect(tk.eosTokenId).toBeNull();
    expect(tk.encode('Hello, World!')).toEqual([2, 5, 7, 6, 8, 3]);
    expect(tk.encode('Hello, World!', { addSpecialTokens: false })).toEqual([5, 7, 6, 8]);
    expect(tk.encode('The movie was unbelievable')).toEqual([2, 9, 10, 11, 13, 14, 15, 3]);
    expect(tk.encode('Café zebra', { addSpecialTokens: false })).toEqual([16, 1]);
    expect(tk.decode([2, 9, 10, 11, 13, 14, 15, 3], { skipSpecialTokens: true })).toBe('the movie was unbelievable');
  });

  it('keeps case when tokenizer_config says do_lower_case: false', async () => {
    const dir = folder('bert-cased', {
      'vocab.txt': vocab.join('\n'),
      'tokenizer_config.json': JSON.stringify({ do_lower_case: false }),
    });
    const tk = await loadTokenizer(dir);
    expect(tk.encode('Hello hello', { addSpecialTokens: false })).toEqual([17, 5]);
  });

  it('agrees with the same vocabulary given as tokenizer.json', async () => {
    const dir = folder('bert-json', {
      'tokenizer.json': JSON.stringify({
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t, i) => ({ id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        post_processor: {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
          pair: [],
          special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
        },
        decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
        model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
      }),
      'tokenizer_config.json': JSON.stringify({ pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]' }),
    });
    const a = await loadTokenizer(dir);
    const b = await loadTokenizer(join(tmp, 'bert'));
    expect(a.kind).toBe('wordpiece');
    expect(a.padTokenId).toBe(0);
    rmSync(join(dir, 'tokenizer_config.json'));
    expect((await loadTokenizer(dir)).padTokenId).toBe(0); // BertTokenizer's default [PAD]
    for (const s of ['Hello, World!', 'The movie was unbelievable', 'Café zebra!!']) expect(a.encode(s)).toEqual(b.encode(s));
  });
});

describe.skipIf(!haveShared('aclImdb-sample'))('WordPiece fast path', () => {
  // A BERT-like vocabulary from the aclImdb word list: specials, characters, ## characters,
  // 6000 frequent words and some ## suffixes.
  function bigVocab(): string[] {
    const words = readFileSync(shared('aclImdb-sample', 'aclImdb', 'imdb.vocab'), 'utf8').split('\n');
    const v = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
    for (let c = 33; c < 127; c++) v.push(String.fromCharCode(c));
    for (let c = 33; c < 127; c++) v.push('##' + String.fromCharCode(c));
    for (const suf of ['ing', 'ed', 's', 'ly', 'er', 'est', 'ness', 'tion', 'ment', 'able']) v.push('##' + suf);
    for (const w of words.slice(0, 6000)) if (w && /^[\x21-\x7e]+$/.test(w) && !v.includes(w)) v.push(w);
    v.push('Movie', 'The');
    return v;
  }

  it('matches tokenizers.js on reviews and random strings, with and without special tokens', async () => {
    const vocab = bigVocab();
    const uncased = await loadTokenizer(folder('bert-big', { 'vocab.txt': vocab.join('\n') }));
    const cased = await loadTokenizer(folder('bert-big-cased', { 'vocab.txt': vocab.join('\n'), 'tokenizer_config.json': '{"do_lower_case": false}' }));
    const texts: string[] = [...TRICKY, 'Hello [CLS] world', 'a[SEP]b', '[unk] is not special in text'];
    for (const split of ['train', 'test']) {
      for (const lab of ['pos', 'neg']) {
        const dir = shared('aclImdb-sample', 'aclImdb', split, lab);
        for (const f of readdirSync(dir).slice(0, 8)) texts.push(readFileSync(join(dir, f), 'utf8'));
      }
    }
    if (haveShared('uci-sentiment')) {
      texts.push(...readFileSync(shared('uci-sentiment', 'yelp_labelled.txt'), 'utf8').split('\n').filter((_, i) => i % 4 === 0));
    }
    const alphabet = [' ', ' ', '\n', '\t', '\r', '\u000b', '\u000c', '\u0000', '\u0001', '\u007f', 'a', 'b', 'M', 'movie', 'The', 'un', 'able', "'", '.', '-', '#', '##', '[', ']', 'x'.repeat(60), 'é'];
    let seed = 11;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let k = 0; k < 1200; k++) {
      let t = '';
      const len = Math.floor(rnd() * 16);
      for (let i = 0; i < len; i++) t += alphabet[Math.floor(rnd() * (k % 3 ? alphabet.length - 1 : alphabet.length))];
      texts.push(t);
    }
    type Ref = { encodeReference(t: string, o?: { addSpecialTokens?: boolean }): number[] };
    for (const tk of [uncased, cased]) {
      for (const t of texts) {
        for (const add of [true, false]) {
          expect(tk.encode(t, { addSpecialTokens: add }), JSON.stringify(t)).toEqual((tk as unknown as Ref).encodeReference(t, { addSpecialTokens: add }));
        }
      }
    }
    expect(uncased.encode('The Movie')).toEqual([2, vocab.indexOf('the'), vocab.indexOf('movie'), 3]);
    expect(cased.encode('The Movie', { addSpecialTokens: false })).toEqual([vocab.indexOf('The'), vocab.indexOf('Movie')]);
  });
});

describe('errors', () => {
  it('a folder with no tokenizer files names the folder and the files looked for', async () => {
    const dir = folder('empty-model', { 'config.json': '{}' });
    const err = await loadTokenizer(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    const msg = (err as Error).message;
    expect(msg).toContain(dir);
    expect(msg).toContain('tokenizer.json');
    expect(msg).toContain('vocab.json + merges.txt');
    expect(msg).toContain('vocab.txt');
  });

  it('says which half is missing when only vocab.json is present', async () => {
    const dir = folder('half', { 'vocab.json': '{"a":0}' });
    await expect(loadTokenizer(dir)).rejects.toThrow(/merges\.txt is missing/);
  });

  it('a missing folder is a clear error', async () => {
    await expect(loadTokenizer(join(tmp, 'nope'))).rejects.toThrow(/does not exist/);
  });

  it('broken tokenizer.json gives file, line and column', async () => {
    const dir = folder('broken', { 'tokenizer.json': '{\n  "model": {\n    "type": "BPE",,\n  }\n}' });
    const err = (await loadTokenizer(dir).catch((e: unknown) => e)) as FormatError;
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(join(dir, 'tokenizer.json'));
    expect(err.line).toBe(3);
  });
});
