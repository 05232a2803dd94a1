// Plain text: one example per line, or documents separated by blank lines.
// Detection (txtMode 'auto'): paragraphs when the head of the file has blank lines between
// multi-line blocks, else lines.

import { open } from 'node:fs/promises';
import { linesOf, TextFileReader } from '../text-stream.ts';
import type { ImportContext, ImportOptions, RawExample } from '../types.ts';

export async function detectTxtMode(path: string): Promise<'lines' | 'paragraphs'> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const lines = buf.subarray(0, bytesRead).toString('utf8').split(/\r?\n/);
    if (bytesRead === buf.length) lines.pop(); // maybe cut
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
  } finally {
    await fh.close();
  }
}

export async function* importTxt(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const mode = !opts.txtMode || opts.txtMode === 'auto' ? await detectTxtMode(path) : opts.txtMode;
  ctx.notes.push(mode === 'lines' ? 'one example per line' : 'blank-line-separated documents');
  const reader = new TextFileReader(path, { onBytes: (done, total) => ctx.onProgress?.({ done, total, phase: 'read' }) });
  let doc: string[] = [];
  let docLine = 0;
  let docBad = -1;
  const flushDoc = (out: RawExample[]): void => {
    if (doc.length === 0) return;
    if (docBad >= 0) {
      const b = reader.bad.find((x) => x.line === docBad)!;
      ctx.skipped.add(`${path}:${b.line}:${b.column}`, `invalid UTF-8 (byte 0x${b.byte.toString(16).padStart(2, '0')})`, 'invalid UTF-8');
    } else {
      const text = doc.join('\n').trim();
      if (text) out.push({ text, where: `${path}:${docLine}` });
    }
    doc = [];
    docBad = -1;
  };
  for await (const lines of linesOf(reader.chunks())) {
    const out: RawExample[] = [];
    for (const ln of lines) {
      const blank = ln.text.trim() === '';
      if (mode === 'lines') {
        if (blank) continue;
        if (reader.badLines.has(ln.line)) {
          const b = reader.bad.find((x) => x.line === ln.line)!;
          ctx.skipped.add(`${path}:${b.line}:${b.column}`, `invalid UTF-8 (byte 0x${b.byte.toString(16).padStart(2, '0')})`, 'invalid UTF-8');
          continue;
        }
        out.push({ text: ln.text.trim(), where: `${path}:${ln.line}` });
      } else if (blank) {
        flushDoc(out);
      } else {
        if (doc.length === 0) docLine = ln.line;
        if (docBad < 0 && reader.badLines.has(ln.line)) docBad = ln.line;
        doc.push(ln.text);
      }
    }
    if (out.length) yield out;
  }
  const out: RawExample[] = [];
  flushDoc(out);
  if (out.length) yield out;
}
