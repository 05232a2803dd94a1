// Plain text: one example per line, documents separated by blank lines, or the whole file as one
// document (what causal-LM training reads: newlines kept, documents never cut at a line).
// Detection (txtMode 'auto'): paragraphs when the head of the file has blank lines between
// multi-line blocks, else lines.
//
// Whatever the mode, the same units are judged the same way: in 'document' mode the file is read
// as the detected lines or paragraphs, a unit with invalid UTF-8 is left out of the document and
// reported exactly as 'auto' reports it, so `data inspect` and training give the same skip report.

import { stat } from 'node:fs/promises';
import { readHead } from '../../util/files.ts';
import { DataError } from '../errors.ts';
import { badByteReason, dataFileError, linesOf, TextFileReader, type TextChunk } from '../text-stream.ts';
import type { ImportContext, ImportOptions, RawExample } from '../types.ts';

/** A text file read whole as one document must fit in one string (V8: ~512 M characters). */
export const MAX_DOCUMENT_BYTES = 256 * 1024 * 1024;

export async function detectTxtMode(path: string): Promise<'lines' | 'paragraphs'> {
  const buf = await readHead(path, 64 * 1024, { what: 'a text file', error: dataFileError });
  const lines = buf.toString('utf8').split(/\r?\n/);
  if (buf.length === 64 * 1024) lines.pop(); // maybe cut
  // Blocks of consecutive non-empty lines; paragraphs when blank lines separate blocks and
  // most blocks span several lines.
  const blocks: number[] = [];
  let run = 0;
  for (const l of lines) {
    if (l.trim() === '') {
      if (run) blocks.push(run);
      run = 0;
    } else run++;
  }
  if (run) blocks.push(run);
  const multi = blocks.filter((b) => b > 1).length;
  return blocks.length > 1 && multi > blocks.length / 2 ? 'paragraphs' : 'lines';
}

export async function* importTxt(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const requested = opts.txtMode ?? 'auto';
  const document = requested === 'document';
  const mode = requested === 'lines' || requested === 'paragraphs' ? requested : await detectTxtMode(path);
  if (document) {
    const { size } = await stat(path);
    if (size > MAX_DOCUMENT_BYTES) {
      throw new DataError(`${path}: ${size} bytes is too large to read as one document (limit ${MAX_DOCUMENT_BYTES}); read it line by line or by paragraphs (txtMode lines|paragraphs)`, path);
    }
  }
  ctx.notes.push(
    document
      ? `one document (the whole file; ${mode === 'lines' ? 'a line' : 'a paragraph'} with invalid UTF-8 is left out)`
      : mode === 'lines'
        ? 'one example per line'
        : 'blank-line-separated documents',
  );
  const reader = new TextFileReader(path, { onBytes: (done, total) => ctx.onProgress?.({ done, total, phase: 'read' }) });
  // document mode keeps the decoded text as read (CRLF and blank lines included)
  const parts: string[] = [];
  async function* tap(chunks: AsyncGenerator<TextChunk>): AsyncGenerator<TextChunk> {
    for await (const c of chunks) {
      if (document) parts.push(c.text);
      yield c;
    }
  }
  const dropped: [number, number][] = []; // line ranges left out of the document
  let units = 0;
  const badAt = (line: number) => reader.badAt(line)!;
  const skipBad = (line: number): void => {
    const b = badAt(line);
    ctx.skipped.add(`${path}:${b.line}:${b.column}`, badByteReason(b), 'invalid UTF-8');
  };

  let para: string[] = [];
  let paraFirst = 0;
  let paraLast = 0;
  let paraBad = -1;
  const flushParagraph = (out: RawExample[]): void => {
    if (para.length === 0) return;
    units++;
    if (paraBad >= 0) {
      skipBad(paraBad);
      dropped.push([paraFirst, paraLast]);
    } else if (!document) {
      const text = para.join('\n').trim();
      if (text) out.push({ text, where: `${path}:${paraFirst}` });
    }
    para = [];
    paraBad = -1;
  };
  for await (const lines of linesOf(tap(reader.chunks()))) {
    const out: RawExample[] = [];
    for (const ln of lines) {
      const blank = ln.text.trim() === '';
      if (mode === 'lines') {
        if (blank) continue;
        units++;
        if (reader.badLines.has(ln.line)) {
          skipBad(ln.line);
          dropped.push([ln.line, ln.line]);
          continue;
        }
        if (!document) out.push({ text: ln.text.trim(), where: `${path}:${ln.line}` });
      } else if (blank) {
        flushParagraph(out);
      } else {
        if (para.length === 0) paraFirst = ln.line;
        paraLast = ln.line;
        if (paraBad < 0 && reader.badLines.has(ln.line)) paraBad = ln.line;
        para.push(ln.text);
      }
    }
    if (out.length) yield out;
  }
  const out: RawExample[] = [];
  flushParagraph(out);
  ctx.units = units;
  if (document) {
    let text = parts.join('');
    parts.length = 0;
    if (dropped.length) {
      const lines = text.split('\n');
      const keep = new Uint8Array(lines.length).fill(1);
      for (const [a, b] of dropped) for (let l = a; l <= b; l++) keep[l - 1] = 0;
      text = lines.filter((_, i) => keep[i]).join('\n');
    }
    if (text.trim()) out.push({ text, where: path });
  }
  if (out.length) yield out;
}
