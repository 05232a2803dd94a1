// Streaming UTF-8 text reading with exact positions for bad bytes.
//
// Files are read in chunks (never whole), decoded with the platform's TextDecoder, a leading
// BOM dropped, and CRLF handled by the line splitter. Invalid UTF-8 does not stop the read:
// the bad sequence becomes U+FFFD and its line and column are recorded so that an importer can
// skip (and report) exactly the rows it touched.

import { fsProblem, openFile } from '../util/files.ts';
import { DataError, FormatError } from './errors.ts';
import type { SkipReport } from './types.ts';

/** The data layer's one-line error for a file it cannot read (special file, missing, …). */
export const dataFileError = (file: string, problem: string): DataError =>
  new DataError(`${file}${problem === 'not found' ? ' does not exist' : `: ${problem}`}`, file);

/**
 * Refuses bytes that are not UTF-8 text at all: a UTF-16/UTF-32 byte-order mark, or a NUL byte
 * (binary data; UTF-16 without a BOM shows as NULs too). `offset` is where `bytes` starts in the file.
 */
export function checkNotBinary(file: string, bytes: Uint8Array, offset = 0): void {
  if (offset === 0 && bytes.length >= 2) {
    const [a, b, c, d] = bytes;
    if ((a === 0xff && b === 0xfe) || (a === 0xfe && b === 0xff)) {
      const utf32 = a === 0xff && c === 0 && d === 0;
      throw new FormatError(file, `is ${utf32 ? 'UTF-32' : 'UTF-16'} text (byte-order mark ${[a, b].map((x) => x!.toString(16).toUpperCase()).join(' ')}); convert it to UTF-8, e.g. iconv -f ${utf32 ? 'utf-32' : 'utf-16'} -t utf-8`);
    }
    if (a === 0 && b === 0 && c === 0xfe && d === 0xff) throw new FormatError(file, 'is UTF-32 text; convert it to UTF-8, e.g. iconv -f utf-32 -t utf-8');
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    // NUL at every other byte near the start (and almost never at the others): UTF-16 without
    // a byte-order mark
    const n = Math.min(bytes.length, 512) & ~1;
    let odd = 0;
    let even = 0;
    for (let i = 0; i < n; i += 2) {
      if (bytes[i] === 0) even++;
      if (bytes[i + 1] === 0) odd++;
    }
    const half = n / 2;
    const utf16 = offset === 0 && n >= 8 && ((odd >= 0.4 * half && even <= 0.05 * half) || (even >= 0.4 * half && odd <= 0.05 * half));
    const hint = utf16 ? ' (UTF-16 text without a byte-order mark? convert it to UTF-8)' : '';
    throw new FormatError(file, `is binary data, not UTF-8 text: a NUL byte at offset ${offset + nul}${hint}`);
  }
}

export interface BadBytes {
  line: number;
  column: number;
  /** The first offending byte, e.g. 0xff (0 for a NUL byte past the head of the file). */
  byte: number;
}

/** The skip reason for a bad byte: invalid UTF-8, or a NUL (binary data inside a text file). */
export function badByteReason(b: BadBytes): string {
  return b.byte === 0 ? 'a NUL byte (binary data, not text)' : `invalid UTF-8 (byte 0x${b.byte.toString(16).padStart(2, '0')})`;
}

/** Byte offsets (within buf[0, end)) where an invalid UTF-8 sequence starts. */
export function findInvalidUtf8(buf: Uint8Array, end = buf.length): number[] {
  const bad: number[] = [];
  let i = 0;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      bad.push(i);
      i++;
      continue;
    }
    let cp = b & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
    let ok = true;
    let j = 1;
    for (; j <= need; j++) {
      if (i + j >= end) {
        ok = false;
        break;
      }
      const c = buf[i + j]!;
      if ((c & 0xc0) !== 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (!ok) {
      bad.push(i);
      i += Math.max(1, j);
      continue;
    }
    i += need + 1;
  }
  return bad;
}

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A small file read whole, as text; or null after reporting it to the skip report: binary (a NUL
 * byte, at its offset) or not UTF-8 (the first invalid byte, at its line and column).
 */
export function decodeWholeFile(file: string, buf: Uint8Array, skipped: SkipReport): string | null {
  const nul = buf.indexOf(0);
  if (nul >= 0) {
    skipped.add(file, `binary data, not text (a NUL byte at offset ${nul})`, 'binary file');
    return null;
  }
  try {
    return FATAL_UTF8.decode(buf);
  } catch {
    const off = findInvalidUtf8(buf)[0] ?? 0;
    const before = new TextDecoder().decode(buf.subarray(0, off));
    const line = before.split('\n').length;
    const col = before.length - before.lastIndexOf('\n');
    skipped.add(`${file}:${line}:${col}`, `invalid UTF-8 (byte 0x${buf[off]!.toString(16).padStart(2, '0')})`, 'invalid UTF-8');
    return null;
  }
}

/** Length of the longest prefix of buf that does not end inside a UTF-8 sequence. */
function completePrefix(buf: Uint8Array): number {
  const n = buf.length;
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  for (let back = 1; back <= 3 && back <= n; back++) {
    const b = buf[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // continuation: keep looking for the lead
    const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return len > back ? n - back : n;
  }
  return n;
}

export interface TextChunk {
  text: string;
  /** 1-based line number of the first character of `text`. */
  line: number;
}

export interface ReadTextOptions {
  chunkSize?: number;
  /** Called after each chunk with bytes read so far and the file size. */
  onBytes?: (done: number, total: number) => void;
  /** Refuse binary data (NUL bytes, UTF-16/32 byte-order marks) with a FormatError (default true). */
  refuseBinary?: boolean;
}

/**
 * Bytes -> text, piece by piece: carries a UTF-8 sequence split between reads to the next one,
 * drops a leading BOM, and tracks the line and column of the next character so that each invalid
 * sequence (and each NUL) is reported at its exact position.
 */
class PieceDecoder {
  private readonly fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  private readonly lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private readonly markBad: (b: BadBytes) => void;
  private carry: Uint8Array | null = null;
  private line = 1;
  private column = 1; // column of the next character
  private first = true;

  constructor(markBad: (b: BadBytes) => void) {
    this.markBad = markBad;
  }

  /** The text of `bytes` (after what the last piece carried), or null while too little has come for the BOM check. */
  decode(bytes: Uint8Array, final: boolean): TextChunk | null {
    let buf = bytes;
    if (this.carry) {
      const joined = new Uint8Array(this.carry.length + bytes.length);
      joined.set(this.carry, 0);
      joined.set(bytes, this.carry.length);
      buf = joined;
      this.carry = null;
    }
    if (this.first) {
      if (buf.length < 3 && !final) {
        this.carry = buf;
        return null;
      }
      this.first = false;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    const end = final ? buf.length : completePrefix(buf);
    if (end < buf.length) this.carry = buf.slice(end);
    const piece = buf.subarray(0, end);
    let text: string;
    try {
      text = this.fatal.decode(piece);
    } catch {
      text = this.lenient.decode(piece);
      this.markInvalid(piece);
    }
    // NUL is valid UTF-8 but never text: past the head (which refuses binary files whole), the
    // lines holding one are marked bad like invalid UTF-8, so importers skip and report them
    if (text.indexOf('\u0000') >= 0) this.markNuls(text);
    const startLine = this.line;
    this.advance(text);
    return { text, line: startLine };
  }

  /** Marks each invalid sequence of `piece` at its line and column. */
  private markInvalid(piece: Uint8Array): void {
    // positions move forward segment by segment (decoding each prefix again would be
    // quadratic in a Latin-1 file, where every accented letter is a bad byte)
    let pos = 0;
    let l = this.line;
    let c = this.column;
    for (const off of findInvalidUtf8(piece)) {
      const seg = this.lenient.decode(piece.subarray(pos, off));
      let nl = 0;
      let last = -1;
      for (let k = seg.indexOf('\n'); k >= 0; k = seg.indexOf('\n', k + 1)) {
        nl++;
        last = k;
      }
      if (nl === 0) c += seg.length;
      else {
        l += nl;
        c = seg.length - last;
      }
      this.markBad({ line: l, column: c, byte: piece[off]! });
      pos = off;
    }
  }

  /** Marks each NUL of `text` at its line and column. */
  private markNuls(text: string): void {
    let l = this.line;
    let c = this.column;
    for (let k = 0; k < text.length; k++) {
      const ch = text.charCodeAt(k);
      if (ch === 0) this.markBad({ line: l, column: c, byte: 0 });
      if (ch === 10) {
        l++;
        c = 1;
      } else c++;
    }
  }

  /** Moves the position past `text`. */
  private advance(text: string): void {
    let last = -1;
    for (let k = text.indexOf('\n'); k >= 0; k = text.indexOf('\n', k + 1)) {
      this.line++;
      last = k;
    }
    this.column = last < 0 ? this.column + text.length : text.length - last;
  }
}

/** Reads a file as decoded text chunks; `bad` collects invalid UTF-8 positions as they are found. */
export class TextFileReader {
  readonly path: string;
  readonly bad: BadBytes[] = [];
  /** Lines (1-based) that contain invalid UTF-8. */
  readonly badLines = new Set<number>();
  /** The first bad byte of each bad line (one entry per line: bounded by the line count). */
  private readonly firstBad = new Map<number, BadBytes>();

  /** The first bad byte on a line, if it has one. */
  badAt(line: number): BadBytes | undefined {
    return this.firstBad.get(line);
  }

  private markBad(b: BadBytes): void {
    const had = this.firstBad.get(b.line);
    if (had && (had.column <= b.column)) return;
    if (!had) {
      this.bad.push(b);
      this.badLines.add(b.line);
    } else Object.assign(had, b); // an earlier column on the same line
    this.firstBad.set(b.line, had ?? b);
  }
  bytesRead = 0;
  size = 0;
  private readonly opts: ReadTextOptions;

  constructor(path: string, opts: ReadTextOptions = {}) {
    this.path = path;
    this.opts = opts;
  }

  async *chunks(): AsyncGenerator<TextChunk> {
    // A regular file only, opened without blocking (a FIFO or a device is refused here).
    const { fh, size } = await openFile(this.path, { what: 'a text file', error: dataFileError });
    this.size = size;
    const refuseBinary = this.opts.refuseBinary !== false;
    const decoder = new PieceDecoder((b) => this.markBad(b));
    const stream = fh.createReadStream({ highWaterMark: this.opts.chunkSize ?? 1 << 20, start: 0 });
    try {
      for await (const chunk of stream) {
        const bytes = chunk as Buffer;
        if (refuseBinary && this.bytesRead === 0) checkNotBinary(this.path, bytes, 0);
        this.bytesRead += bytes.length;
        const out = decoder.decode(bytes, false);
        this.opts.onBytes?.(this.bytesRead, this.size);
        if (out && out.text.length) yield out;
      }
    } catch (err) {
      if (err instanceof DataError || typeof (err as NodeJS.ErrnoException)?.code !== 'string') throw err;
      throw dataFileError(this.path, fsProblem(err, 'read'));
    } finally {
      stream.destroy();
      await fh.close().catch(() => {});
    }
    const out = decoder.decode(new Uint8Array(0), true);
    if (out && out.text.length) yield out;
  }
}

export interface Line {
  text: string;
  /** 1-based line number. */
  line: number;
}

/** Splits text chunks into lines (without the \n or \r\n), yielding arrays of lines. */
export async function* linesOf(chunks: AsyncIterable<TextChunk>): AsyncGenerator<Line[]> {
  let rest = '';
  let restLine = 1;
  for await (const { text, line } of chunks) {
    const s = rest.length ? rest + text : text;
    let lineNo = rest.length ? restLine : line;
    const out: Line[] = [];
    let start = 0;
    for (let k = s.indexOf('\n'); k >= 0; k = s.indexOf('\n', start)) {
      const end = k > start && s.charCodeAt(k - 1) === 13 ? k - 1 : k;
      out.push({ text: s.slice(start, end), line: lineNo });
      lineNo++;
      start = k + 1;
    }
    rest = s.slice(start);
    restLine = lineNo;
    if (out.length) yield out;
  }
  if (rest.length) {
    const t = rest.endsWith('\r') ? rest.slice(0, -1) : rest;
    yield [{ text: t, line: restLine }];
  }
}
