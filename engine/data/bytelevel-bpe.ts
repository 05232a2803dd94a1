// A fast encoder for byte-level BPE tokenizers (GPT-2 and its kin).
//
// tokenizers.js stays the reference: this class only takes over `encode` when a tokenizer.json
// has exactly the GPT-2 shape (no normalizer, a lone ByteLevel pre-tokenizer with the GPT-2
// regex, a plain BPE model), and it reproduces tokenizers.js step by step: added tokens split
// first (longest match), then the regex, then bytes -> unicode, then merges by rank, then ids
// (unknown symbols -> unk when configured, else dropped). The tests compare the two on whole
// corpora. What makes it faster is a word cache keyed by the raw piece of text and no
// intermediate token strings on a cache hit: 10x and more on review-sized text.

type Json = Record<string, unknown>;

export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible byte -> printable-unicode table. */
export const BYTE_TO_UNICODE: string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i]!)));
  return out;
})();

const NON_ASCII = /[^\x00-\x7f]/;

/** ASCII character classes of the GPT-2 pattern: 1 letter, 2 digit, 3 whitespace, 4 other. */
const CLS = (() => {
  const t = new Uint8Array(128).fill(4);
  for (let c = 65; c <= 90; c++) t[c] = 1;
  for (let c = 97; c <= 122; c++) t[c] = 1;
  for (let c = 48; c <= 57; c++) t[c] = 2;
  for (const c of [9, 10, 11, 12, 13, 32]) t[c] = 3;
  return t;
})();

/** A binary min-heap of numbers (keys rank * n + position: exact integers below 2^53). */
class MinHeap {
  private heap: Float64Array;
  size = 0;
  constructor(capacity: number) {
    this.heap = new Float64Array(Math.max(16, capacity));
  }
  push(key: number): void {
    if (this.size === this.heap.length) {
      const bigger = new Float64Array(this.heap.length * 2);
      bigger.set(this.heap);
      this.heap = bigger;
    }
    const h = this.heap;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= key) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = key;
  }
  pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.size]!;
    const size = this.size;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      const c = l + 1 < size && h[l + 1]! < h[l]! ? l + 1 : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

/** Words longer than this merge through a priority queue (n log n) instead of rescans (n²). */
const LONG_WORD = 24;

/**
 * BPE merges over a doubly linked list with a binary heap of candidate pairs keyed by
 * (rank, position of the left symbol): the lowest rank merges first, ties go to the leftmost pair,
 * exactly the order of tokenizers.js's queue (score = rank + position / length) and of the plain
 * rescanning loop. Stale heap entries (a neighbour merged since) are skipped on pop: ranks are
 * unique per pair, so an entry is current iff the pair now at its position has its rank.
 * O(n log n) for a piece of n symbols, so a run of 100,000 '!' (one pre-token) stays fast.
 */
export function mergeByRank<S>(n: number, symbolAt: (i: number) => S, rankOf: (a: S, b: S) => number, merge: (a: S, b: S) => S): S[] {
  const sym: (S | undefined)[] = new Array(n);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    sym[i] = symbolAt(i);
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new MinHeap(n);
  for (let i = 0; i + 1 < n; i++) {
    const r = rankOf(sym[i]!, sym[i + 1]!);
    if (r >= 0) heap.push(r * n + i);
  }
  while (heap.size > 0) {
    const key = heap.pop();
    const i = key % n;
    const r = (key - i) / n;
    const j = next[i]!;
    if (j < 0 || sym[i] === undefined) continue;
    const a = sym[i]!;
    const b = sym[j]!;
    if (rankOf(a, b) !== r) continue; // stale
    const m = merge(a, b);
    sym[i] = m;
    sym[j] = undefined;
    const nj = next[j]!;
    next[i] = nj;
    if (nj >= 0) prev[nj] = i;
    const p = prev[i]!;
    if (p >= 0) {
      const rp = rankOf(sym[p]!, m);
      if (rp >= 0) heap.push(rp * n + p);
    }
    if (nj >= 0) {
      const rn = rankOf(m, sym[nj]!);
      if (rn >= 0) heap.push(rn * n + i);
    }
  }
  const out: S[] = [];
  for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

export class ByteLevelBPE {
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly unkId: number | undefined;
  private readonly addPrefixSpace: boolean;
  private readonly addedRe: RegExp | null;
  private readonly addedIds: Map<string, number>;
  /** Integer merge table, when every byte symbol and every merge result is in the vocabulary
   * (true of GPT-2): pair key a * stride + b -> index into mergeRank / mergeId. */
  private readonly pairIndex: Map<number, number> | null = null;
  private readonly mergeRank: Int32Array | null = null;
  private readonly mergeId: Int32Array | null = null;
  private readonly byteId: Int32Array | null = null;
  private readonly stride: number;
  private cache = new Map<string, number[]>();
  private readonly cacheLimit = 200_000;
  // Open-addressing word cache for the ASCII scanner: looked up by (hash, text range) so that a
  // hit allocates no substring.
  private slotBits = 18;
  private slots = new Int32Array(1 << 18);
  private entryKey: string[] = [];
  private entryHash: number[] = [];
  private entryIds: number[][] = [];
  private readonly encoder = new TextEncoder();

  private constructor(
    vocab: Map<string, number>,
    ranks: Map<string, number>,
    unkId: number | undefined,
    addPrefixSpace: boolean,
    added: { content: string; id: number }[],
  ) {
    this.vocab = vocab;
    this.ranks = ranks;
    this.unkId = unkId;
    this.addPrefixSpace = addPrefixSpace;
    this.addedIds = new Map(added.map((t) => [t.content, t.id]));
    const contents = [...this.addedIds.keys()].filter((c) => c.length > 0).sort((a, b) => b.length - a.length);
    this.addedRe = contents.length ? new RegExp(contents.map(escapeRegex).join('|'), 'g') : null;
    let maxId = 0;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.stride = maxId + 1;
    const byteId = new Int32Array(256);
    let ok = true;
    for (let b = 0; b < 256 && ok; b++) {
      const id = vocab.get(BYTE_TO_UNICODE[b]!);
      if (id === undefined) ok = false;
      else byteId[b] = id;
    }
    if (ok) {
      const pairIndex = new Map<number, number>();
      const mergeRank = new Int32Array(ranks.size);
      const mergeId = new Int32Array(ranks.size);
      let k = 0;
      for (const [key, rank] of ranks) {
        const sp = key.indexOf(' ');
        const a = vocab.get(key.slice(0, sp));
        const b = vocab.get(key.slice(sp + 1));
        const merged = vocab.get(key.slice(0, sp) + key.slice(sp + 1));
        if (a === undefined || b === undefined || merged === undefined) {
          ok = false;
          break;
        }
        pairIndex.set(a * this.stride + b, k);
        mergeRank[k] = rank;
        mergeId[k] = merged;
        k++;
      }
      if (ok) {
        this.pairIndex = pairIndex;
        this.mergeRank = mergeRank;
        this.mergeId = mergeId;
        this.byteId = byteId;
      }
    }
  }

  /** Build from a tokenizer.json object when it has the GPT-2 byte-level shape; else null. */
  static fromTokenizerJson(json: Json): ByteLevelBPE | null {
    const model = json.model as Json | undefined;
    if (!model || model.type !== 'BPE') return null;
    if (json.normalizer !== null && json.normalizer !== undefined) return null;
    const pre = json.pre_tokenizer as Json | null | undefined;
    if (!pre || pre.type !== 'ByteLevel' || pre.use_regex === false) return null;
    if (model.byte_fallback || model.ignore_merges || model.dropout) return null;
    if (model.continuing_subword_prefix || model.end_of_word_suffix || model.continuing_subword_suffix) return null;
    const vocabObj = model.vocab as Record<string, number> | undefined;
    const merges = model.merges as (string | string[])[] | undefined;
    if (!vocabObj || !Array.isArray(merges)) return null;
    const added: { content: string; id: number }[] = [];
    for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
      if (t.lstrip || t.rstrip || t.single_word) return null;
      if (typeof t.content !== 'string' || typeof t.id !== 'number') return null;
      added.push({ content: t.content, id: t.id });
    }
    const vocab = new Map<string, number>();
    for (const k in vocabObj) vocab.set(k, vocabObj[k]!);
    for (const t of added) vocab.set(t.content, t.id);
    const ranks = new Map<string, number>();
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i]!;
      let key: string;
      if (Array.isArray(m)) {
        if (m.length !== 2 || m[0]!.includes(' ') || m[1]!.includes(' ')) return null;
        key = `${m[0]} ${m[1]}`;
      } else {
        const parts = m.split(' ');
        // tokenizers.js keeps the first two fields of a line (split(" ", 2)).
        key = `${parts[0]} ${parts[1]}`;
      }
      if (!ranks.has(key)) ranks.set(key, i);
      // tokenizers.js: later duplicates overwrite the rank (new Map of entries). Mirror that.
      else ranks.set(key, i);
    }
    const unk = typeof model.unk_token === 'string' ? vocab.get(model.unk_token) : undefined;
    return new ByteLevelBPE(vocab, ranks, unk, !!pre.add_prefix_space, added);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    if (this.addedRe === null) {
      this.encodeSection(text, out);
      return out;
    }
    const re = this.addedRe;
    re.lastIndex = 0;
    let start = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m.index > start) this.encodeSection(text.slice(start, m.index), out);
      out.push(this.addedIds.get(m[0])!);
      start = m.index + m[0].length;
    }
    if (start < text.length) this.encodeSection(start === 0 ? text : text.slice(start), out);
    return out;
  }

  private encodeSection(text: string, out: number[]): void {
    if (text.length === 0) return;
    if (this.addPrefixSpace && !text.startsWith(' ')) text = ' ' + text;
    if (!NON_ASCII.test(text)) {
      this.encodeAscii(text, out);
      return;
    }
    const re = GPT2_PATTERN;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    const cache = this.cache;
    while ((m = re.exec(text)) !== null) {
      const piece = m[0];
      let ids = cache.get(piece);
      if (ids === undefined) {
        ids = this.bpeIds(piece);
        if (piece.length < 256) {
          if (cache.size >= this.cacheLimit) {
            this.cache = new Map();
          }
          this.cache.set(piece, ids);
        }
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
  }

  private bpeIds(piece: string): number[] {
    if (this.pairIndex !== null) return this.bpeIdsFast(piece);
    // bytes -> printable unicode symbols
    const word: string[] = [];
    let ascii = true;
    for (let i = 0; i < piece.length; i++) {
      if (piece.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      for (let i = 0; i < piece.length; i++) word.push(BYTE_TO_UNICODE[piece.charCodeAt(i)]!);
    } else {
      const bytes = this.encoder.encode(piece);
      for (let i = 0; i < bytes.length; i++) word.push(BYTE_TO_UNICODE[bytes[i]!]!);
    }
    // merges, lowest rank first; ties go to the leftmost pair (as tokenizers.js's queue does)
    const ranks = this.ranks;
    if (word.length > LONG_WORD) {
      const merged = mergeByRank(word.length, (i) => word[i]!, (a, b) => ranks.get(a + ' ' + b) ?? -1, (a, b) => a + b);
      word.length = 0;
      for (const sym of merged) word.push(sym);
    }
    while (word.length > 1) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i < word.length - 1; i++) {
        const r = ranks.get(word[i] + ' ' + word[i + 1]);
        if (r !== undefined && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      word.splice(at, 2, word[at]! + word[at + 1]!);
    }
    const ids: number[] = [];
    for (const sym of word) {
      const id = this.vocab.get(sym);
      if (id !== undefined) ids.push(id);
      else if (this.unkId !== undefined) ids.push(this.unkId);
    }
    return ids;
  }

  /** The same merges over integer ids (every symbol and merge result is in the vocabulary). */
  private bpeIdsFast(piece: string): number[] {
    const byteId = this.byteId!;
    const pairIndex = this.pairIndex!;
    const mergeRank = this.mergeRank!;
    const mergeId = this.mergeId!;
    const stride = this.stride;
    let word: number[] = [];
    let ascii = true;
    for (let i = 0; i < piece.length; i++) {
      if (piece.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      for (let i = 0; i < piece.length; i++) word.push(byteId[piece.charCodeAt(i)]!);
    } else {
      const bytes = this.encoder.encode(piece);
      word = new Array<number>(bytes.length);
      for (let i = 0; i < bytes.length; i++) word[i] = byteId[bytes[i]!]!;
    }
    if (word.length > LONG_WORD) return this.mergeIdsLong(word);
    while (word.length > 1) {
      let best = 0x7fffffff;
      let at = -1;
      let bestK = -1;
      for (let i = 0; i < word.length - 1; i++) {
        const k = pairIndex.get(word[i]! * stride + word[i + 1]!);
        if (k !== undefined && mergeRank[k]! < best) {
          best = mergeRank[k]!;
          at = i;
          bestK = k;
        }
      }
      if (at < 0) break;
      word.splice(at, 2, mergeId[bestK]!);
    }
    return word;
  }

  /** mergeByRank specialised to integer ids (no closures; one table lookup per candidate). */
  private mergeIdsLong(word: number[]): number[] {
    const pairIndex = this.pairIndex!;
    const mergeRank = this.mergeRank!;
    const mergeId = this.mergeId!;
    const stride = this.stride;
    const n = word.length;
    const sym = Int32Array.from(word);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MinHeap(n);
    for (let i = 0; i + 1 < n; i++) {
      const k = pairIndex.get(sym[i]! * stride + sym[i + 1]!);
      if (k !== undefined) heap.push(mergeRank[k]! * n + i);
    }
    while (heap.size > 0) {
      const key = heap.pop();
      const i = key % n;
      const j = next[i]!;
      if (j < 0 || sym[i]! < 0) continue;
      const k = pairIndex.get(sym[i]! * stride + sym[j]!);
      if (k === undefined || mergeRank[k]! * n + i !== key) continue; // stale
      const m = mergeId[k]!;
      sym[i] = m;
      sym[j] = -1;
      const nj = next[j]!;
      next[i] = nj;
      if (nj >= 0) prev[nj] = i;
      const p = prev[i]!;
      if (p >= 0) {
        const kp = pairIndex.get(sym[p]! * stride + m);
        if (kp !== undefined) heap.push(mergeRank[kp]! * n + p);
      }
      if (nj >= 0) {
        const kn = pairIndex.get(m * stride + sym[nj]!);
        if (kn !== undefined) heap.push(mergeRank[kn]! * n + i);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
    return out;
  }

  /**
   * The GPT-2 pattern for ASCII text, by hand:
   *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
   * (the tests check it against the regex on whole corpora).
   */
  private encodeAscii(text: string, out: number[]): void {
    const n = text.length;
    let i = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      let j: number;
      let h = 0x811c9dc5;
      if (c === 39 /* ' */ && i + 1 < n) {
        const d = text.charCodeAt(i + 1);
        j = -1;
        if (d === 115 || d === 116 || d === 109 || d === 100) j = i + 2; // 's 't 'm 'd
        else if (i + 2 < n) {
          const e = text.charCodeAt(i + 2);
          if ((d === 114 && e === 101) || (d === 118 && e === 101) || (d === 108 && e === 108)) j = i + 3; // 're 've 'll
        }
        if (j < 0) {
          j = i + 1;
          while (j < n && CLS[text.charCodeAt(j)] === 4) j++;
        }
      } else {
        const k = CLS[c]!;
        if (k !== 3) {
          j = i + 1;
          while (j < n && CLS[text.charCodeAt(j)] === k) j++;
        } else if (c === 32 && i + 1 < n && CLS[text.charCodeAt(i + 1)] !== 3) {
          const k2 = CLS[text.charCodeAt(i + 1)]!;
          j = i + 2;
          while (j < n && CLS[text.charCodeAt(j)] === k2) j++;
        } else {
          j = i + 1;
          while (j < n && CLS[text.charCodeAt(j)] === 3) j++;
          if (j < n && j - i >= 2) j--; // \s+(?!\S): leave the last blank to the next word
        }
      }
      for (let p = i; p < j; p++) h = Math.imul(h ^ text.charCodeAt(p), 0x01000193);
      const ids = this.lookup(text, i, j, h);
      for (let p = 0; p < ids.length; p++) out.push(ids[p]!);
      i = j;
    }
  }

  private lookup(text: string, start: number, end: number, h: number): number[] {
    const mask = (1 << this.slotBits) - 1;
    const len = end - start;
    let at = (h ^ (h >>> 15)) & mask;
    const slots = this.slots;
    for (;;) {
      const e = slots[at]!;
      if (e === 0) break;
      const key = this.entryKey[e - 1]!;
      if (this.entryHash[e - 1] === h && key.length === len && text.startsWith(key, start)) return this.entryIds[e - 1]!;
      at = (at + 1) & mask;
    }
    const piece = text.slice(start, end);
    const ids = this.bpeIds(piece);
    if (len < 256) {
      if (this.entryKey.length >= this.cacheLimit || this.entryKey.length * 2 >= this.slots.length) {
        // full: start over (bounded memory)
        this.slots = new Int32Array(1 << this.slotBits);
        this.entryKey = [];
        this.entryHash = [];
        this.entryIds = [];
        return ids;
      }
      this.entryKey.push(piece);
      this.entryHash.push(h);
      this.entryIds.push(ids);
      slots[at] = this.entryKey.length;
    }
    return ids;
  }
}
