// Which importer a path needs, from the layout, the extension and the first bytes.

import { readdir, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { describeKind, readHead } from '../util/files.ts';
import { DataError } from './errors.ts';
import { isAclImdb } from './importers/aclimdb.ts';
import { jsonSyntaxErrorOffset } from './json-position.ts';
import { dataFileError } from './text-stream.ts';
import type { DatasetFormat } from './types.ts';

/** The first bytes of a regular file (never blocks on a FIFO; special files are refused). */
export function head(path: string, n = 64 * 1024): Promise<Buffer> {
  return readHead(path, n, { what: 'a dataset file or folder', error: dataFileError });
}

async function hasFiles(dir: string, exts: string[], depth = 0): Promise<boolean> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile() && exts.includes(extname(e.name).toLowerCase())) return true;
    if (e.isDirectory() && depth < 2 && (await hasFiles(`${dir}/${e.name}`, exts, depth + 1))) return true;
  }
  return false;
}

/** Guess the format of a text file from its first lines: jsonl, csv (TSV included) or txt. */
export function sniffText(text: string): 'jsonl' | 'csv' | 'txt' {
  const s = text.replace(/^\ufeff/, '');
  const trimmed = s.trimStart();
  // a JSON array: the head must read as the start of JSON (text that merely opens with brackets,
  // like "[{[{…" or "[1] Introduction", is plain text)
  if (trimmed.startsWith('[')) {
    const off = jsonSyntaxErrorOffset(trimmed);
    if (off < 0 || off >= trimmed.length) return 'jsonl';
  }
  const lines = s.split(/\r?\n/).filter((l) => l.trim() !== '');
  // drop a possibly cut last line
  if (lines.length > 1) lines.pop();
  if (lines.length === 0) return 'txt';
  const jsonish = lines.filter((l) => l.trimStart().startsWith('{'));
  if (jsonish.length >= Math.max(1, lines.length * 0.8)) {
    // JSON Lines: most of the first object lines parse
    const probe = jsonish.slice(0, 20);
    const parsed = probe.filter((l) => {
      try {
        JSON.parse(l);
        return true;
      } catch {
        return false;
      }
    }).length;
    if (parsed * 2 >= probe.length) return 'jsonl';
  }
  // tab-separated with the same number of tabs on (nearly) every line
  const tabs = lines.map((l) => l.split('\t').length - 1);
  const withTabs = tabs.filter((t) => t > 0);
  if (withTabs.length >= lines.length * 0.9) {
    const mode = withTabs.sort((a, b) => a - b)[Math.floor(withTabs.length / 2)]!;
    if (tabs.filter((t) => t === mode).length >= lines.length * 0.9) return 'csv';
  }
  return 'txt';
}

export async function detectFormat(path: string): Promise<DatasetFormat> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new DataError(`${path} does not exist`, path);
  }
  if (!st.isDirectory() && !st.isFile()) throw new DataError(`${path}: is ${describeKind(st)}; expected a dataset file or folder`, path);
  if (st.isDirectory()) {
    if (await isAclImdb(path)) return 'aclimdb';
    if (await hasFiles(path, ['.parquet'])) return 'parquet';
    const entries = await readdir(path);
    if (entries.some((e) => /\.(md|markdown)$/i.test(e))) return 'md';
    throw new DataError(
      `${path}: cannot tell the dataset format of this folder: expected an aclImdb folder (train|test/pos|neg/*.txt), ` +
        `parquet files or Markdown recipes (found: ${entries.slice(0, 10).join(', ') || 'nothing'})`,
      path,
    );
  }
  if (st.size === 0) throw new DataError(`${path} is empty`, path);
  const ext = extname(path).toLowerCase();
  const buf = await head(path);
  if (buf.length >= 4 && buf.subarray(0, 4).toString('latin1') === 'PAR1') return 'parquet';
  switch (ext) {
    case '.parquet':
      return 'parquet';
    case '.jsonl':
    case '.ndjson':
    case '.json':
      return 'jsonl';
    case '.csv':
    case '.tsv':
    case '.tab':
      return 'csv';
    case '.md':
    case '.markdown':
      return 'md';
    default:
      return sniffText(buf.toString('utf8'));
  }
}
