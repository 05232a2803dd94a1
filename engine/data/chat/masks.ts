// Character spans of a rendered text -> token ids and which tokens are trained.
//
// The text is tokenized once, whole (so the model trains on exactly the tokens it reads at
// inference); a boundary at character c maps to a token index: the whole text's ids split there
// when text[:c] tokenizes to their start, or text[c:] to their end (text[:c] alone can merge its
// last characters differently). Otherwise a token straddles the boundary, and it counts as part of
// the answer: the span's first token is the one holding its first character, its last token the
// one holding its last character.

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
  const enc = (t: string) => tok.encode(t, { addSpecialTokens: false });
  /** Tokens wholly before character c, and whether a token straddles c. */
  const boundary = (c: number): { k: number; aligned: boolean } => {
    if (c >= text.length) return { k: body.length, aligned: true };
    const pre = enc(text.slice(0, c));
    const k = commonPrefix(pre, body);
    if (k === pre.length) return { k, aligned: true };
    // text[:c] alone may tokenize differently at its end ("\n\n" as one token where the whole
    // text has two): the boundary is still clean if the rest of the text tokenizes to the tail.
    const rest = enc(text.slice(c));
    const b = body.length - rest.length;
    if (b >= k && rest.every((id, i) => body[b + i] === id)) return { k: b, aligned: true };
    return { k, aligned: false };
  };
  for (const [s, e] of spans) {
    if (e <= s) continue;
    const start = boundary(s).k;
    const end = boundary(e);
    const stop = end.aligned ? end.k : Math.min(body.length, end.k + 1);
    for (let t = start; t < stop; t++) trained[t + off] = true;
  }
  return { ids, trained };
}

/** HF-style labels: the id where trained (or everywhere with `all`), -100 elsewhere. */
export function labelsOf(t: Tokenized, all = false): number[] {
  return t.ids.map((id, i) => (all || t.trained[i] ? id : IGNORE_INDEX));
}
