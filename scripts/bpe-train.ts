// A small byte-level BPE trainer (GPT-2 style) for the demo model's own vocabulary, written as a
// Hugging Face tokenizer.json that both tokenizers.js and engine/data/bytelevel-bpe.ts's fast path
// read (no normalizer, a lone ByteLevel pre-tokenizer with GPT-2's regex, a plain BPE model).
//
// Why our own: GPT-2's 50,257-token vocabulary made 6.4M of the old demo model's 7.2M parameters
// an embedding and most of its compute the 50k-way softmax; a 4,096-token vocabulary trained on the
// same corpus spends the size budget and the CPU time on the transformer instead.
//
// Algorithm (as HF tokenizers' BpeTrainer, without its extras): pre-tokenize with GPT-2's regex,
// count words, map bytes to GPT-2's printable unicode, then repeatedly merge the most frequent
// adjacent pair (ties: the smallest pair of ids, so the result is deterministic) inside words.
// Pair counts are updated incrementally from the words that hold the merged pair.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BYTE_TO_UNICODE, GPT2_PATTERN } from '../engine/data/bytelevel-bpe.ts';

export const EOS_TOKEN = '<|endoftext|>';

export interface TrainedBpe {
  /** token string (byte-level unicode) -> id; the EOS token is the last id. */
  vocab: Record<string, number>;
  /** "a b" lines in rank order. */
  merges: string[];
  eosId: number;
}

const STRIDE = 1 << 16; // ids stay below 65,536: a pair key a * STRIDE + b is an exact integer

/** Word counts of the pre-tokenized texts, each word as byte-level symbol ids (0..255). */
function countWords(texts: Iterable<string>, byteIdOf: Int32Array): { words: Int32Array[]; counts: number[] } {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const m of text.matchAll(new RegExp(GPT2_PATTERN.source, GPT2_PATTERN.flags))) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }
  const enc = new TextEncoder();
  const words: Int32Array[] = [];
  const out: number[] = [];
  for (const [w, c] of counts) {
    words.push(Int32Array.from(enc.encode(w), (b) => byteIdOf[b]!));
    out.push(c);
  }
  return { words, counts: out };
}

class PairStats {
  readonly count = new Map<number, number>();
  readonly where = new Map<number, number[]>();
  add(word: Int32Array, wi: number, c: number, sign: 1 | -1): void {
    for (let i = 0; i + 1 < word.length; i++) {
      const key = word[i]! * STRIDE + word[i + 1]!;
      const n = (this.count.get(key) ?? 0) + sign * c;
      if (n <= 0) this.count.delete(key);
      else this.count.set(key, n);
      if (sign > 0) {
        const list = this.where.get(key);
        if (list) list.push(wi);
        else this.where.set(key, [wi]);
      }
    }
  }
  best(): number | null {
    let bestKey = -1, bestN = 0;
    for (const [key, n] of this.count) if (n > bestN || (n === bestN && key < bestKey)) [bestKey, bestN] = [key, n];
    return bestN >= 2 ? bestKey : null; // a pair seen once is not worth a token
  }
}

/** Replace every (a, b) in `word`, left to right, by `id`. */
function mergeWord(word: Int32Array, a: number, b: number, id: number): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < word.length; i++) {
    if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(word[i]!);
  }
  return Int32Array.from(out);
}

/** Train a byte-level BPE of `vocabSize` tokens (256 bytes + merges + EOS) on `texts`. */
export function trainByteLevelBpe(texts: Iterable<string>, vocabSize: number, log: (m: string) => void = () => {}): TrainedBpe {
  if (vocabSize < 257 || vocabSize > STRIDE) throw new Error(`vocabulary size must be 257..${STRIDE}, got ${vocabSize}`);
  // Base symbols in GPT-2's order: the 256 byte characters sorted by code point ('!' is id 0).
  const tokens = [...BYTE_TO_UNICODE].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
  const idOf = new Map(tokens.map((t, i) => [t, i]));
  const byteIdOf = Int32Array.from(BYTE_TO_UNICODE, (ch) => idOf.get(ch)!);
  const { words, counts } = countWords(texts, byteIdOf);
  log(`bpe: ${words.length.toLocaleString('en')} distinct words`);
  const stats = new PairStats();
  words.forEach((w, i) => stats.add(w, i, counts[i]!, 1));
  const merges: string[] = [];
  const seen = new Int32Array(words.length).fill(-1);
  while (tokens.length < vocabSize - 1) {
    const key = stats.best();
    if (key === null) break;
    const a = Math.floor(key / STRIDE), b = key % STRIDE;
    const str = tokens[a]! + tokens[b]!;
    // Two different pairs can spell the same string; they then share one id, as in HF.
    let id = idOf.get(str);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(str);
      idOf.set(str, id);
    }
    merges.push(`${tokens[a]} ${tokens[b]}`);
    const step = merges.length;
    for (const wi of stats.where.get(key) ?? []) {
      if (seen[wi] === step) continue; // a word is listed once per occurrence of the pair
      seen[wi] = step;
      const w = words[wi]!;
      stats.add(w, wi, counts[wi]!, -1);
      words[wi] = mergeWord(w, a, b, id);
      stats.add(words[wi]!, wi, counts[wi]!, 1);
    }
    stats.where.delete(key);
  }
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const eosId = tokens.length;
  vocab[EOS_TOKEN] = eosId;
  log(`bpe: ${merges.length} merges, ${eosId + 1} tokens`);
  return { vocab, merges, eosId };
}

/** tokenizer.json (+ tokenizer_config.json, special_tokens_map.json) in GPT-2's HF layout. */
export function writeBpeTokenizer(dir: string, bpe: TrainedBpe, modelMaxLength: number): void {
  mkdirSync(dir, { recursive: true });
  const special = { id: bpe.eosId, content: EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: [special], normalizer: null,
    pre_tokenizer: byteLevel(false, true), post_processor: byteLevel(true, false), decoder: byteLevel(true, true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab: bpe.vocab, merges: bpe.merges,
    },
  };
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    add_prefix_space: false,
    added_tokens_decoder: { [bpe.eosId]: { content: EOS_TOKEN, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true } },
    bos_token: EOS_TOKEN, clean_up_tokenization_spaces: false, eos_token: EOS_TOKEN, model_max_length: modelMaxLength, tokenizer_class: 'GPT2Tokenizer', unk_token: EOS_TOKEN,
  }, null, 2));
  writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ bos_token: EOS_TOKEN, eos_token: EOS_TOKEN, unk_token: EOS_TOKEN }, null, 2));
}
