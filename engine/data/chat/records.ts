// Records (JSON objects) of an instruction dataset, read whole: JSON Lines, a JSON array (or an
// object holding one array of records), CSV/TSV with a header, parquet files (nested columns come
// back as arrays and objects). Every record carries where it came from, for one-line reports.

import { open, readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { detectFormat } from '../detect.ts';
import { DataError } from '../errors.ts';
import type { SkipReport } from '../types.ts';
import type { SourceRecord } from './types.ts';

type Rec = Record<string, unknown>;
const isRecord = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);

export type RecordFileFormat = 'jsonl' | 'json' | 'csv' | 'parquet';

/** Reads every record of `path`; rows that are not records are added to `skipped`. */
export async function readRecords(path: string, skipped: SkipReport): Promise<{ format: RecordFileFormat; records: SourceRecord[] }> {
  const fmt = await detectFormat(path);
  if (fmt === 'parquet') return { format: 'parquet', records: await readParquet(path) };
  if (fmt === 'csv') return { format: 'csv', records: await readCsv(path, skipped) };
  if (fmt === 'jsonl') return readJson(path, skipped);
  throw new DataError(`${path}: instruction data must be JSON Lines, JSON, CSV or parquet (this looks like ${fmt})`, path);
}

async function readText(path: string): Promise<string> {
  const buf = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf).replace(/^\ufeff/, '');
  } catch {
    throw new DataError(`${path}: is not UTF-8 text`, path);
  }
}

function jsonProblem(e: unknown): string {
  return (e as Error).message.replace(/^Unexpected token '(.*?)', .* is not valid JSON$/s, "unexpected '$1'").replace(/\s+/g, ' ');
}

async function readJson(path: string, skipped: SkipReport): Promise<{ format: RecordFileFormat; records: SourceRecord[] }> {
  const text = await readText(path);
  const first = /\S/.exec(text)?.[0];
  const firstLine = text.split('\n').find((l) => l.trim() !== '') ?? '';
  let jsonl = first === '{';
  if (jsonl) {
    try {
      JSON.parse(firstLine);
    } catch {
      jsonl = false; // a pretty-printed document
    }
  }
  if (!jsonl) {
    // One JSON document: an array of records, or an object holding one array of records.
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new DataError(`${path}: invalid JSON (${jsonProblem(e)})`, path);
    }
    let arr: unknown[] = [doc];
    let label = '';
    if (Array.isArray(doc)) arr = doc;
    else if (isRecord(doc)) {
      const arrays = Object.entries(doc).filter(([, v]) => Array.isArray(v) && v.length > 0 && isRecord(v[0]));
      if (arrays.length === 1) [label, arr] = [arrays[0]![0], arrays[0]![1] as unknown[]];
    }
    const records: SourceRecord[] = [];
    arr.forEach((v, i) => {
      const where = `${path}: ${label ? `${label}[${i}]` : `element ${i + 1}`}`;
      if (isRecord(v)) records.push({ value: v, where });
      else skipped.add(where, `expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`, 'not an object');
    });
    return { format: 'json', records };
  }
  const records: SourceRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${path}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      skipped.add(where, `invalid JSON (${jsonProblem(e)})`, 'invalid JSON');
      return;
    }
    if (isRecord(v)) records.push({ value: v, where });
    else skipped.add(where, `expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`, 'not an object');
  });
  return { format: 'jsonl', records };
}

async function readCsv(path: string, skipped: SkipReport): Promise<SourceRecord[]> {
  const text = await readText(path);
  const delimiter = /\.(tsv|tab)$/i.test(path) || (!/\.csv$/i.test(path) && text.split('\n', 1)[0]!.includes('\t')) ? '\t' : ',';
  let rows: { record: Record<string, string>; info: { lines: number } }[];
  try {
    rows = parseCsv(text, { columns: true, delimiter, info: true, skip_empty_lines: true, relax_column_count: true, quote: delimiter === '\t' ? false : '"' }) as typeof rows;
  } catch (e) {
    const m = /line (\d+)/i.exec((e as Error).message);
    throw new DataError(`${path}${m ? `:${m[1]}` : ''}: cannot read the CSV (${(e as Error).message.replace(/\s+/g, ' ')})`, path);
  }
  const records: SourceRecord[] = [];
  for (const { record, info } of rows) {
    const where = `${path}:${info.lines}`;
    const value: Rec = {};
    for (const [k, v] of Object.entries(record)) value[k] = parseJsonCell(v);
    if (Object.values(record).every((v) => v === '' || v === undefined)) {
      skipped.add(where, 'empty row', 'empty row');
      continue;
    }
    records.push({ value, where });
  }
  return records;
}

/** A CSV cell holding a JSON list of messages (`[{"role": …}]`) becomes that list. */
function parseJsonCell(v: string | undefined): unknown {
  if (typeof v !== 'string' || !/^\s*\[\s*\{/.test(v)) return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

async function parquetFiles(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const all: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isFile() && extname(e.name).toLowerCase() === '.parquet') all.push(join(dir, e.name));
      else if (e.isDirectory() && depth < 2) await walk(join(dir, e.name), depth + 1);
    }
  };
  await walk(path, 0);
  all.sort();
  const train = all.filter((f) => /^train[-_.]/i.test(basename(f)) || /[\\/]train[\\/]/i.test(f));
  return train.length ? train : all;
}

async function readParquet(path: string): Promise<SourceRecord[]> {
  const records: SourceRecord[] = [];
  for (const file of await parquetFiles(path)) {
    const buf = await readFile(file);
    const ab: AsyncBuffer = { byteLength: buf.length, slice: (s: number, e?: number) => buf.buffer.slice(buf.byteOffset + s, buf.byteOffset + (e ?? buf.length)) as ArrayBuffer };
    let rows: Rec[];
    try {
      rows = (await parquetReadObjects({ file: ab })) as Rec[];
    } catch (e) {
      throw new DataError(`${file}: cannot read the parquet file (${(e as Error).message})`, file);
    }
    rows.forEach((r, i) => records.push({ value: normalizeParquet(r) as Rec, where: `${file}: row ${i + 1}` }));
  }
  return records;
}

/** BigInts to numbers, and a JSON string of messages to the list (some exports store them so). */
function normalizeParquet(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string') return parseJsonCell(v);
  if (Array.isArray(v)) return v.map(normalizeParquet);
  if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalizeParquet(x)]));
  return v;
}

/**
 * The first record of a dataset, read cheaply (the head of a JSONL or CSV file, one parquet row),
 * to tell its format; null when the file is not record data (plain text, Markdown, aclImdb).
 */
export async function firstRecord(path: string): Promise<Record<string, unknown> | null> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new DataError(`${path} does not exist`, path);
  }
  if (st.isDirectory()) {
    const files = await parquetFiles(path).catch(() => []);
    if (!files.length || !/\.parquet$/i.test(files[0]!)) return null;
    return firstParquetRow(files[0]!);
  }
  if (/\.(txt|text|md|markdown)$/i.test(path)) return null;
  const fmt = await detectFormat(path);
  if (fmt === 'parquet') return firstParquetRow(path);
  if (fmt !== 'jsonl' && fmt !== 'csv') return null;
  const fh = await open(path, 'r');
  let head: string;
  try {
    const buf = Buffer.alloc(256 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead).toString('utf8').replace(/^\ufeff/, '');
  } finally {
    await fh.close();
  }
  if (fmt === 'csv') {
    try {
      const delimiter = /\.(tsv|tab)$/i.test(path) || (!/\.csv$/i.test(path) && head.split('\n', 1)[0]!.includes('\t')) ? '\t' : ',';
      const rows = parseCsv(head, { columns: true, delimiter, to: 1, relax_column_count: true, skip_empty_lines: true, quote: delimiter === '\t' ? false : '"' }) as Record<string, string>[];
      return rows[0] ? Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, parseJsonCell(v)])) : null;
    } catch {
      return null;
    }
  }
  const line = head.split('\n').find((l) => l.trim() !== '') ?? '';
  try {
    const v = JSON.parse(line) as unknown;
    if (isRecord(v)) return v;
  } catch {
    // a JSON array or a pretty-printed document: read it whole
  }
  const { records } = await readJson(path, { add() {} } as unknown as SkipReport);
  return records[0]?.value ?? null;
}

async function firstParquetRow(file: string): Promise<Record<string, unknown> | null> {
  const buf = await readFile(file);
  const ab: AsyncBuffer = { byteLength: buf.length, slice: (s: number, e?: number) => buf.buffer.slice(buf.byteOffset + s, buf.byteOffset + (e ?? buf.length)) as ArrayBuffer };
  try {
    const rows = (await parquetReadObjects({ file: ab, rowStart: 0, rowEnd: 1 })) as Rec[];
    return rows[0] ? (normalizeParquet(rows[0]) as Rec) : null;
  } catch (e) {
    throw new DataError(`${file}: cannot read the parquet file (${(e as Error).message})`, file);
  }
}
