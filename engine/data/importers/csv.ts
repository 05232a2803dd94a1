// CSV / TSV with a text column and an optional label column, through csv-parse (streaming).
// Handles quoted multi-line fields, a BOM, CRLF, ragged rows (reported and skipped), files
// without a header (UCI sentiment, SMS Spam Collection) and files with one (Kaggle's
// "IMDB Dataset.csv": review,sentiment).

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse, type Info, type Parser } from 'csv-parse';
import { DataError, FormatError } from '../errors.ts';
import { KNOWN_LABEL_SETS } from '../labels.ts';
import { readHead } from '../../util/files.ts';
import { badByteReason, dataFileError, TextFileReader, type TextChunk } from '../text-stream.ts';
import type { ImportContext, ImportOptions, RawExample } from '../types.ts';
import { LABEL_COLUMN_NAMES, preferredColumn, resolveColumn, TEXT_COLUMN_NAMES } from './columns.ts';

const KNOWN_LABEL_VALUES = new Set(KNOWN_LABEL_SETS.flat());
const SNIFF_ROWS = 64;

/** Pick the delimiter from the extension, else from the first lines. */
export function sniffDelimiter(path: string, head: string): string {
  const lower = path.toLowerCase();
  if (lower.endsWith('.tsv') || lower.endsWith('.tab')) return '\t';
  const lines = head.split('\n').slice(0, 20).filter((l) => l.trim().length > 0);
  if (lines.length === 0) return ',';
  let best = ',';
  let bestScore = -1;
  for (const d of ['\t', ',', ';', '|']) {
    const counts = lines.map((l) => countOutsideQuotes(l, d));
    const withIt = counts.filter((c) => c > 0).length;
    // Prefer a delimiter present on (nearly) every line with a steady count.
    const mode = modeOf(counts);
    const steady = counts.filter((c) => c === mode).length;
    const score = mode > 0 ? steady * 2 + withIt : 0;
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return bestScore > 0 ? best : lower.endsWith('.csv') ? ',' : '\t';
}

function countOutsideQuotes(line: string, d: string): number {
  let n = 0;
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') q = !q;
    else if (c === d && !q) n++;
  }
  // unbalanced quotes (free text with a stray "): count naively instead
  if (q) return line.split(d).length - 1;
  return n;
}

function modeOf(xs: number[]): number {
  const m = new Map<number, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  let best = 0;
  let bestN = -1;
  for (const [x, n] of m) if (n > bestN || (n === bestN && x > best)) [best, bestN] = [x, n];
  return best;
}

/** Does the first row look like a header rather than data? */
export function looksLikeHeader(first: string[], rest: string[][]): boolean {
  const cells = first.map((c) => c.trim());
  const lower = cells.map((c) => c.toLowerCase());
  if (lower.some((c) => TEXT_COLUMN_NAMES.includes(c) || LABEL_COLUMN_NAMES.includes(c))) return true;
  if (cells.some((c) => c === '' || c.length > 64 || /^-?\d+(\.\d+)?$/.test(c) || KNOWN_LABEL_VALUES.has(c.toLowerCase()))) return false;
  if (new Set(lower).size !== lower.length) return false;
  // A column that is numeric / label-like below a non-numeric first cell: a header.
  for (let j = 0; j < cells.length; j++) {
    const below = rest.map((r) => (r[j] ?? '').trim()).filter((x) => x !== '');
    if (below.length && below.every((x) => /^-?\d+(\.\d+)?$/.test(x) || KNOWN_LABEL_VALUES.has(x.toLowerCase()))) return true;
    // much longer text below a short first cell
    const mean = below.reduce((a, x) => a + x.length, 0) / Math.max(1, below.length);
    if (below.length && mean > 4 * Math.max(8, cells[j]!.length)) return true;
  }
  return false;
}

/** Without names, the text column is the one with the longest cells; the label column the one
 * with the fewest distinct short values. */
function inferColumns(rows: string[][], width: number): { text: number; label: number } {
  let text = 0;
  let bestLen = -1;
  for (let j = 0; j < width; j++) {
    const mean = rows.reduce((a, r) => a + (r[j]?.length ?? 0), 0) / Math.max(1, rows.length);
    if (mean > bestLen) {
      bestLen = mean;
      text = j;
    }
  }
  let label = -1;
  let bestDistinct = Infinity;
  for (let j = 0; j < width; j++) {
    if (j === text) continue;
    const vals = rows.map((r) => (r[j] ?? '').trim());
    if (vals.some((v) => v.length > 32)) continue;
    const distinct = new Set(vals.map((v) => v.toLowerCase())).size;
    const known = vals.every((v) => KNOWN_LABEL_VALUES.has(v.toLowerCase()));
    const score = known ? distinct - 1000 : distinct;
    if (distinct <= Math.max(2, rows.length / 2) && score < bestDistinct) {
      bestDistinct = score;
      label = j;
    }
  }
  return { text, label };
}

async function* normalizedChunks(reader: TextFileReader): AsyncGenerator<string> {
  // csv-parse counts lines reliably on LF only: turn CRLF into LF (also inside quoted fields).
  let pendingCR = false;
  for await (const { text } of reader.chunks() as AsyncIterable<TextChunk>) {
    let s: string = pendingCR ? '\r' + text : text;
    pendingCR = s.endsWith('\r');
    if (pendingCR) s = s.slice(0, -1);
    yield s.indexOf('\r\n') >= 0 ? s.replace(/\r\n/g, '\n') : s;
  }
  if (pendingCR) yield '\r';
}

interface CsvRecord { record: string[]; first: number; last: number }

/** One record as an example, or null (and a skip-report line) when it cannot be one. */
function toExample(path: string, p: CsvRecord, c: { width: number; textCol: number; labelCol: number }, reader: TextFileReader, ctx: ImportContext): RawExample | null {
  const { width, textCol, labelCol } = c;
  const where = `${path}:${p.first}`;
  if (p.record.length !== width) {
    ctx.skipped.add(where, `expected ${width} fields, got ${p.record.length}`, 'ragged row');
    return null;
  }
  for (let l = p.first; l <= p.last; l++) {
    if (reader.badLines.has(l)) {
      const b = reader.badAt(l)!;
      ctx.skipped.add(`${path}:${b.line}:${b.column}`, badByteReason(b), 'invalid UTF-8');
      return null;
    }
  }
  const text = p.record[textCol]!.trim();
  if (!text) {
    ctx.skipped.add(where, 'empty text', 'empty text');
    return null;
  }
  if (labelCol < 0) return { text, where };
  const label = p.record[labelCol]!.trim();
  if (!label) {
    ctx.skipped.add(where, 'empty label', 'empty label');
    return null;
  }
  return { text, label, where };
}

/** The delimiter (sniffed from the head of the file unless given) and the quote character. */
async function csvDialect(path: string, opts: ImportOptions): Promise<{ delimiter: string; quote: string | false }> {
  let delimiter = opts.delimiter;
  if (delimiter === undefined) {
    const buf = await readHead(path, 64 * 1024, { what: 'a CSV/TSV file', error: dataFileError });
    delimiter = sniffDelimiter(path, buf.toString('utf8').replace(/^\ufeff/, '').replace(/\r\n/g, '\n'));
  }
  const quote = opts.quote === undefined ? (delimiter === '\t' ? false : '"') : opts.quote;
  return { delimiter, quote };
}

/** Header, width and the text/label columns, decided from the first rows (the header row included). */
function chooseColumns(path: string, opts: ImportOptions, rows: string[][]): { header: string[] | null; width: number; textCol: number; labelCol: number; note: string } {
  const first = rows[0]!;
  const hasHeader =
    opts.header ??
    ([opts.textColumn, opts.labelColumn].some((name) => name !== undefined && !/^\d+$/.test(name) && first.some((c) => c.trim().toLowerCase() === name.toLowerCase())) ||
      looksLikeHeader(first, rows.slice(1)));
  const header = hasHeader ? first.map((c) => c.trim()) : null;
  const data = hasHeader ? rows.slice(1) : rows;
  const width = header ? header.length : modeOf(rows.map((r) => r.length));
  const body = data.filter((r) => r.length === width);
  const inferred = inferColumns(body.length ? body : rows, width);
  let textCol: number, labelCol: number;
  if (opts.textColumn !== undefined) textCol = resolveColumn(path, header, width, opts.textColumn, 'text');
  else if (header) {
    textCol = preferredColumn(header, TEXT_COLUMN_NAMES);
    if (textCol < 0) textCol = width === 1 ? 0 : inferred.text;
  } else textCol = inferred.text;
  if (opts.labelColumn !== undefined) labelCol = resolveColumn(path, header, width, opts.labelColumn, 'label');
  else if (header) {
    labelCol = preferredColumn(header, LABEL_COLUMN_NAMES, textCol);
    if (labelCol < 0 && width === 2) labelCol = 1 - textCol;
  } else labelCol = inferred.label === textCol ? -1 : inferred.label;
  const name = (j: number): string => (header ? JSON.stringify(header[j]) : `#${j}`);
  const note = `${header ? 'header row' : 'no header'}; ${width} columns; text column ${name(textCol)}` +
    (labelCol >= 0 ? `, label column ${name(labelCol)}` : ', no label column');
  return { header, width, textCol, labelCol, note };
}

/** The last line of the previous record: a record's first line is the one after (blank lines aside). */
interface LineCursor { lastLine: number }

/** csv-parse set up for the dialect; records it cannot parse go to the skip report at their line. */
function csvParser(path: string, dialect: { delimiter: string; quote: string | false }, cursor: LineCursor, ctx: ImportContext): Parser {
  const parser = parse({
    ...dialect, info: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, skip_records_with_error: true,
  });
  parser.on('skip', (err: Error & { lines?: number; code?: string }) => {
    const line = err.lines ?? cursor.lastLine + 1;
    const what =
      err.code === 'CSV_QUOTE_NOT_CLOSED'
        ? `unclosed quote (the quoted field opened after line ${cursor.lastLine} runs to the end of the file)`
        : err.message.replace(/ at line \d+/, '');
    ctx.skipped.add(`${path}:${line}`, what, err.code ?? 'CSV error');
  });
  return parser;
}

/** A parsed record with its line span (advancing the cursor), or null for a blank line. */
function nextRecord(item: { record: string[]; info: Info }, cursor: LineCursor): CsvRecord | null {
  const last = item.info.lines;
  const rec = { record: item.record, first: cursor.lastLine + 1, last };
  cursor.lastLine = last;
  return item.record.length === 1 && item.record[0] === '' ? null : rec;
}

/** A reader's error passes through; a parser's becomes a FormatError (optionally without csv-parse's " at line N"). */
function parseFailure(path: string, e: unknown, stripLine: boolean): Error {
  const err = e as Error & { lines?: number };
  if (err instanceof DataError) return err;
  return new FormatError(path, stripLine ? err.message.replace(/ at line \d+/, '') : err.message, err.lines);
}

type CsvColumns = { width: number; textCol: number; labelCol: number };

/** Records are held until the first SNIFF_ROWS decide the header and the columns, then converted as they come. */
function csvRecords(path: string, opts: ImportOptions, reader: TextFileReader, ctx: ImportContext) {
  let columns: CsvColumns | null = null;
  const pending: CsvRecord[] = [];
  const convert = (p: CsvRecord, c: CsvColumns): RawExample[] => {
    const ex = toExample(path, p, c, reader, ctx);
    return ex ? [ex] : [];
  };
  /** Decide the columns from the held records and convert them (a header row dropped). */
  const decide = (): RawExample[] => {
    columns = { width: -1, textCol: -1, labelCol: -1 };
    if (pending.length === 0) return [];
    const c = chooseColumns(path, opts, pending.map((p) => p.record));
    if (c.header) pending.shift();
    const chosen = { width: c.width, textCol: c.textCol, labelCol: c.labelCol };
    columns = chosen;
    ctx.hasLabels = c.labelCol >= 0;
    ctx.notes.push(c.note);
    return pending.splice(0).flatMap((p) => convert(p, chosen));
  };
  return {
    /** The examples this record completes: none while sniffing, all the held ones once the columns are decided. */
    add(rec: CsvRecord): RawExample[] {
      if (columns) return convert(rec, columns);
      pending.push(rec);
      return pending.length >= SNIFF_ROWS ? decide() : [];
    },
    /** At the end of the file: the held records, when fewer than SNIFF_ROWS came. */
    finish: (): RawExample[] => (columns ? [] : decide()),
  };
}

export async function* importCsv(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const reader = new TextFileReader(path, {
    onBytes: (done, total) => ctx.onProgress?.({ done, total, phase: 'read' }),
  });
  const { delimiter, quote } = await csvDialect(path, opts);
  ctx.notes.push(`delimiter ${JSON.stringify(delimiter)}, quote ${quote === false ? 'none' : JSON.stringify(quote)}`);
  const cursor: LineCursor = { lastLine: 0 };
  const parser = csvParser(path, { delimiter, quote }, cursor, ctx);
  const feeding = pipeline(Readable.from(normalizedChunks(reader)), parser).catch((e: unknown) => e as Error);
  const records = csvRecords(path, opts, reader, ctx);
  let batch: RawExample[] = [];
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      const rec = nextRecord(item, cursor);
      if (!rec) continue;
      batch.push(...records.add(rec));
      if (batch.length >= 1024) {
        yield batch;
        batch = [];
      }
    }
  } catch (e) {
    throw parseFailure(path, e, true);
  }
  const failed = await feeding;
  if (failed instanceof Error) throw parseFailure(path, failed, false);
  batch.push(...records.finish());
  if (batch.length) yield batch;
  for (const b of reader.bad.slice(0, 1)) {
    ctx.notes.push(`invalid UTF-8 first at ${path}:${b.line}:${b.column}`);
  }
}
