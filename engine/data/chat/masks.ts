// Character spans of a rendered text -> token ids and which tokens are trained.
//
// The text is tokenized once, whole (so the model trains on exactly the tokens it reads at
// inference); a boundary at character c maps to a token index by tokenizing text[:c] and taking
// the longest common prefix with the whole text's ids. When a token straddles a boundary it counts
// as part of the answer: the span's first token is the one holding its first character, its last
// token the one holding its last character.

import { IGNORE_INDEX } from '../preprocess.ts';
import type { TextTokenizer } from '../tokenizer.ts';

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Whether the tokenizer puts BOS in front of a text by default (Llama's SentencePiece does; GPT-2 does not). */
export function addsBos(tok: TextTokenizer): boolean {
  if (tok.bosTokenId === null) return false;
  const w = tok.encode('a', { addSpecialTokens: true });
  const wo = tok.encode('a', { addSpecialTokens: false });
  return w[0] === tok.bosTokenId && wo[0] !== tok.bosTokenId;
}

export interface Tokenized {
  ids: number[];
  /** true where the token belongs to a trained span. */
  trained: boolean[];
}

/**
 * Token ids of `text` (special tokens written in the text become their ids; no special tokens are
 * added, except BOS in front when `bos` is given) and the tokens inside `spans`.
 */
export function tokenizeSpans(tok: TextTokenizer, text: string, spans: readonly [number, number][], bos: number | null = null): Tokenized {
  const body = tok.encode(text, { addSpecialTokens: false });
  const off = bos === null ? 0 : 1;
  const ids = bos === null ? body : [bos, ...body];
  const trained = new Array<boolean>(ids.length).fill(false);
  for (const [s, e] of spans) {
    if (e <= s) continue;
    const start = commonPrefix(tok.encode(text.slice(0, s), { addSpecialTokens: false }), body);
    const upTo = tok.encode(text.slice(0, e), { addSpecialTokens: false });
    const k = commonPrefix(upTo, body);
    const end = k === upTo.length ? k : Math.min(body.length, k + 1);
    for (let t = start; t < end; t++) trained[t + off] = true;
  }
  return { ids, trained };
}

/** HF-style labels: the id where trained (or everywhere with `all`), -100 elsewhere. */
export function labelsOf(t: Tokenized, all = false): number[] {
  return t.ids.map((id, i) => (all || t.trained[i] ? id : IGNORE_INDEX));
}
