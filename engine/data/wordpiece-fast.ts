// A fast encoder for BERT-style WordPiece tokenizers (BERT, DistilBERT) on ASCII text.
//
// tokenizers.js stays the reference and handles everything else (non-ASCII text, text that
// contains an added token such as [CLS]): this path reproduces, for ASCII input, its
// BertNormalizer (clean_text, lowercase), BertPreTokenizer (split on whitespace, punctuation as
// single tokens) and WordPiece (greedy longest match, "##" continuations, [UNK] for a word that
// cannot be split or is longer than max_input_chars_per_word), with a word cache. The tests
// compare the two on corpora and random strings.

type Json = Record<string, unknown>;

const NON_ASCII = /[^\x00-\x7f]/;

/** 0 drop, 1 whitespace, 2 punctuation, 3 word character (for clean_text on). */
function classTable(cleanText: boolean): Uint8Array {
  const t = new Uint8Array(128).fill(3);
  for (let c = 0; c < 128; c++) {
    const ws = c === 9 || c === 10 || c === 11 || c === 12 || c === 13 || c === 32;
    const punct = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    if (cleanText) {
      if (c === 0) t[c] = 0;
      else if (c === 9 || c === 10 || c === 13) t[c] = 1;
      else if (c < 32 || c === 127) t[c] = 0; // control characters are removed
      else if (ws) t[c] = 1;
      else if (punct) t[c] = 2;
    } else if (ws) t[c] = 1;
    else if (punct) t[c] = 2;
  }
  return t;
}

export class WordPieceFast {
  private readonly cls: Uint8Array;
  private cache = new Map<string, number[]>();

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly unkId: number,
    private readonly prefix: string,
    private readonly maxChars: number,
    private readonly lowercase: boolean,
    cleanText: boolean,
    private readonly addedLower: string[],
    private readonly specialPrefix: number[],
    private readonly specialSuffix: number[],
  ) {
    this.cls = classTable(cleanText);
  }

  /**
   * Build from a tokenizer.json object when it has the BERT shape; null otherwise.
   * `reference` encodes with tokenizers.js; it tells where the special tokens go.
   */
  static fromTokenizerJson(
    json: Json,
    config: Json,
    reference: (text: string, addSpecial: boolean) => number[],
  ): WordPieceFast | null {
    const model = json.model as Json | undefined;
    const norm = json.normalizer as Json | null | undefined;
    const pre = json.pre_tokenizer as Json | null | undefined;
    if (!model || model.type !== 'WordPiece' || typeof model.continuing_subword_prefix !== 'string') return null;
    if (!norm || norm.type !== 'BertNormalizer' || !pre || pre.type !== 'BertPreTokenizer') return null;
    if (config.remove_space === true || config.do_lowercase_and_remove_accent) return null;
    const vocabObj = model.vocab as Record<string, number> | undefined;
    if (!vocabObj || typeof model.unk_token !== 'string') return null;
    const vocab = new Map<string, number>();
    for (const k in vocabObj) vocab.set(k, vocabObj[k]!);
    const unkId = vocab.get(model.unk_token);
    if (unkId === undefined) return null;
    const added: string[] = [];
    for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
      if (typeof t.content !== 'string') return null;
      added.push(t.content.toLowerCase());
      vocab.set(t.content, t.id as number);
    }
    // Where the post-processor puts special tokens around a single sequence.
    const probe = 'hello world';
    const plain = reference(probe, false);
    const full = reference(probe, true);
    let at = -1;
    for (let i = 0; i + plain.length <= full.length && at < 0; i++) {
      if (plain.every((x, k) => full[i + k] === x)) at = i;
    }
    if (at < 0) return null;
    return new WordPieceFast(
      vocab,
      unkId,
      model.continuing_subword_prefix,
      typeof model.max_input_chars_per_word === 'number' ? model.max_input_chars_per_word : 100,
      !!norm.lowercase,
      !!norm.clean_text,
      added,
      full.slice(0, at),
      full.slice(at + plain.length),
    );
  }

  /** Non-ASCII text: tokenizers.js's own normalizer and pre-tokenizer, then the cached WordPiece. */
  splitter: ((text: string) => string[]) | null = null;

  /** Token ids, or null when this text needs the reference path. */
  encode(text: string, addSpecial: boolean): number[] | null {
    if (this.addedLower.length) {
      const lower = text.toLowerCase();
      for (const a of this.addedLower) if (lower.includes(a)) return null;
    }
    if (NON_ASCII.test(text)) {
      if (!this.splitter) return null;
      const out: number[] = addSpecial ? [...this.specialPrefix] : [];
      for (const w of this.splitter(text)) {
        let ids = this.cache.get(w);
        if (ids === undefined) {
          ids = this.wordpiece(w);
          if (this.cache.size >= 200_000) this.cache = new Map();
          this.cache.set(w, ids);
        }
        for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
      }
      if (addSpecial) for (const x of this.specialSuffix) out.push(x);
      return out;
    }
    const s = this.lowercase ? text.toLowerCase() : text;
    const out: number[] = addSpecial ? [...this.specialPrefix] : [];
    const cls = this.cls;
    const n = s.length;
    let i = 0;
    let word = '';
    const flush = (): void => {
      if (word === '') return;
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.wordpiece(word);
        if (this.cache.size >= 200_000) this.cache = new Map();
        this.cache.set(word, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
      word = '';
    };
    // Words are runs of word characters; dropped control characters join their neighbours
    // (clean_text removes them before splitting).
    let start = -1;
    while (i < n) {
      const k = cls[s.charCodeAt(i)]!;
      if (k === 3) {
        if (start < 0) start = i;
        i++;
        continue;
      }
      if (start >= 0) {
        word += s.slice(start, i);
        start = -1;
      }
      if (k === 0) {
        i++;
        continue;
      }
      flush();
      if (k === 2) {
        word = s[i]!;
        flush();
      }
      i++;
    }
    if (start >= 0) word += s.slice(start, n);
    flush();
    if (addSpecial) for (const x of this.specialSuffix) out.push(x);
    return out;
  }

  private wordpiece(word: string): number[] {
    // tokenizers.js works on code points ([...word]); for ASCII that is the string itself.
    const chars: string | string[] = NON_ASCII.test(word) ? [...word] : word;
    if (chars.length > this.maxChars) return [this.unkId];
    const piece = (a: number, b: number): string => (typeof chars === 'string' ? chars.slice(a, b) : chars.slice(a, b).join(''));
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let id: number | undefined;
      while (start < end) {
        const sub = start > 0 ? this.prefix + piece(start, end) : piece(start, end);
        id = this.vocab.get(sub);
        if (id !== undefined) break;
        end--;
      }
      if (id === undefined) return [this.unkId];
      out.push(id);
      start = end;
    }
    return out;
  }
}
