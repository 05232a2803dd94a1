// llama2.c's tokenizer.bin (Karpathy's tokenizer.py export of a SentencePiece model): int32
// max_token_length, then per token float32 score, int32 length and that many UTF-8 bytes, with
// "▁" written as a space and BOS / EOS as "\n<s>\n" / "\n</s>\n". Read back into SentencePiece
// pieces and turned into an equivalent Hugging Face tokenizer.json (engine/data/sentencepiece-bpe.ts).

import { readFileSync, statSync } from 'node:fs';
import { type Piece, sentencePieceTokenizerJson } from '../data/sentencepiece-bpe.ts';
import { FormatError } from '../store/errors.ts';

const MAX_FILE = 256 * 1024 * 1024;

/** The pieces of a tokenizer.bin with `vocabSize` tokens (the model's header says how many). */
export function readLlama2cTokenizer(file: string, vocabSize: number): Piece[] {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    throw new FormatError(file, 'not found (expected a llama2.c tokenizer.bin)');
  }
  if (size > MAX_FILE) throw new FormatError(file, `is ${size} bytes: too large for a llama2.c tokenizer.bin`);
  const buf = readFileSync(file);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4) throw new FormatError(file, 'too short for a llama2.c tokenizer (no max_token_length)');
  const maxLen = dv.getInt32(0, true);
  if (maxLen < 1 || maxLen > 1 << 16) throw new FormatError(file, `max_token_length is ${maxLen}: not a llama2.c tokenizer.bin`);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces: Piece[] = [];
  let off = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (off + 8 > buf.length) throw new FormatError(file, `ends at token ${i}, but the model has ${vocabSize} tokens (vocab_size)`);
    const score = dv.getFloat32(off, true), len = dv.getInt32(off + 4, true);
    off += 8;
    if (len < 0 || len > maxLen || off + len > buf.length) throw new FormatError(file, `token ${i} has length ${len} (max_token_length ${maxLen}, ${buf.length - off} bytes left)`);
    let text: string;
    try {
      text = utf8.decode(buf.subarray(off, off + len));
    } catch {
      throw new FormatError(file, `token ${i} is not valid UTF-8`);
    }
    off += len;
    if (!Number.isFinite(score)) throw new FormatError(file, `token ${i} has a non-finite score`);
    pieces.push({ piece: text.replace(/ /g, '▁'), score });
  }
  if (off !== buf.length) throw new FormatError(file, `has ${buf.length - off} bytes after its ${vocabSize} tokens (vocab_size disagrees with the model)`);
  // tokenizer.py wrote BOS and EOS with newlines around them (for run.c's printing).
  if (pieces[1]?.piece === '\n<s>\n') pieces[1] = { ...pieces[1], piece: '<s>' };
  if (pieces[2]?.piece === '\n</s>\n') pieces[2] = { ...pieces[2], piece: '</s>' };
  return pieces;
}

/** The tokenizer.json of a llama2.c tokenizer: <unk> 0, <s> 1 (prepended, as run.c does), </s> 2. */
export function llama2cTokenizerJson(pieces: Piece[]): Record<string, unknown> {
  return sentencePieceTokenizerJson(pieces, { unk: 0, bos: 1, eos: 2, addBos: true, addEos: false });
}
