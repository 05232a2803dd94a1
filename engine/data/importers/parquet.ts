// Parquet (Hugging Face datasets' exports, e.g. IMDB's plain_text/train-00000-of-00001.parquet
// with `text` and `label`) through hyparquet, one row group at a time. PATH is a .parquet file or
// a folder of them; with a folder, `split` picks the files whose name starts with it
// (train-*, test-*, unsupervised-*). ClassLabel names come from the file's `huggingface` metadata.

import type { FileHandle } from 'node:fs/promises';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { fsProblem, openFile } from '../../util/files.ts';
import { realRoot, usableFile } from '../dataset-files.ts';
import { DataError, FormatError } from '../errors.ts';
import { dataFileError } from '../text-stream.ts';
import { newContext, type ImportContext, type ImportOptions, type RawExample } from '../types.ts';
import { findColumn, LABEL_COLUMN_NAMES, preferredColumn, TEXT_COLUMN_NAMES } from './columns.ts';

async function listParquet(dir: string, root: string, ctx: ImportContext, depth = 0): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth < 2) for (const f of await listParquet(p, root, ctx, depth + 1)) out.push(f);
    else if (e.name.toLowerCase().endsWith('.parquet') && (await usableFile(p, e, root, ctx, 'a parquet file'))) out.push(p);
  }
  return out.sort();
}

/**
 * A parquet file as hyparquet's AsyncBuffer: a regular file opened without blocking, every slice
 * checked against the file's size (a corrupt footer asking for bytes past the end, or gigabytes,
 * is a one-line error, not an allocation).
 */
async function parquetBuffer(file: string): Promise<AsyncBuffer & { close(): Promise<void> }> {
  const { fh, size } = await openFile(file, { what: 'a parquet file', error: dataFileError });
  const handle: FileHandle = fh;
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = end ?? size;
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(stop) || start < 0 || stop > size || start > stop) {
        throw new FormatError(file, `corrupt parquet metadata: it points at bytes ${start}..${stop} of a ${size}-byte file`);
      }
      const buf = new ArrayBuffer(stop - start);
      const view = new Uint8Array(buf);
      let done = 0;
      while (done < view.length) {
        let n: number;
        try {
          ({ bytesRead: n } = await handle.read(view, done, view.length - done, start + done));
        } catch (err) {
          throw dataFileError(file, fsProblem(err, 'read'));
        }
        if (n === 0) throw new FormatError(file, 'unexpected end of file');
        done += n;
      }
      return buf;
    },
    close: () => handle.close().catch(() => {}),
  };
}

/** The parquet files a path stands for, filtered by split for folders. */
export async function parquetFiles(path: string, split?: string, ctx: ImportContext = newContext()): Promise<string[]> {
  const st = await stat(path);
  if (!st.isDirectory()) return [path];
  const all = await listParquet(path, await realRoot(path), ctx);
  if (all.length === 0) throw new DataError(`${path}: no .parquet files in this folder`, path);
  const want = split === 'unsup' ? 'unsupervised' : (split ?? 'train');
  const matches = all.filter((f) => {
    const name = basename(f).toLowerCase();
    const rel = relative(path, f).toLowerCase().split(/[\\/]/);
    return name.startsWith(want + '-') || name.startsWith(want + '.') || name.startsWith(want + '_') || rel.slice(0, -1).includes(want);
  });
  if (matches.length) return matches;
  if (split === undefined && all.length === 1) return all;
  throw new DataError(
    `${path}: no parquet files for split ${JSON.stringify(want)} (files: ${all.map((f) => relative(path, f)).slice(0, 8).join(', ')})`,
    path,
  );
}

/** ClassLabel names per column from Hugging Face's `huggingface` key-value metadata. */
function hfClassLabels(meta: FileMetaData): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const kv = meta.key_value_metadata?.find((k) => k.key === 'huggingface');
  if (!kv?.value) return out;
  try {
    const j = JSON.parse(kv.value) as { info?: { features?: Record<string, { names?: string[]; _type?: string }> } };
    for (const [col, f] of Object.entries(j.info?.features ?? {})) {
      if (f && f._type === 'ClassLabel' && Array.isArray(f.names)) out.set(col, f.names.map(String));
    }
  } catch {
    /* metadata we cannot read is not an error */
  }
  return out;
}

function wrap(file: string, e: unknown): Error {
  if (e instanceof DataError) return e;
  // hyparquet walking a corrupt footer fails with TypeErrors ("Cannot read properties of
  // undefined (reading 'map')"): that says nothing to a user, the file is what is wrong.
  if (e instanceof TypeError || e instanceof RangeError) return new FormatError(file, 'not a valid parquet file (corrupt or truncated metadata)');
  const msg = (e as Error)?.message ?? String(e);
  if (/PAR1|footer|magic/i.test(msg)) return new FormatError(file, `not a parquet file (${msg})`);
  if (/compress|codec/i.test(msg)) return new FormatError(file, `cannot decompress (${msg}); re-save it with snappy, gzip or no compression`);
  return new FormatError(file, `cannot read parquet (${msg})`);
}

export async function* importParquet(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const files = await parquetFiles(path, opts.split, ctx);
  if (files.length === 0) throw new DataError(`${path}: no readable parquet files (${ctx.skipped.examples.slice(0, 3).join('; ')})`, path);
  let totalRows = 0;
  const metas: { file: string; meta: FileMetaData; buf: Awaited<ReturnType<typeof parquetBuffer>> }[] = [];
  try {
    for (const file of files) {
      const buf = await parquetBuffer(file);
      let meta;
      try {
        meta = await parquetMetadataAsync(buf);
        parquetSchema(meta); // a footer hyparquet cannot walk fails here, with a clear error below
      } catch (e) {
        await buf.close();
        throw wrap(file, e);
      }
      metas.push({ file, meta, buf });
      totalRows += Number(meta.num_rows);
    }
    yield* readRows(metas, totalRows, opts, ctx);
  } finally {
    for (const m of metas) await m.buf.close();
  }
}

async function* readRows(
  metas: { file: string; meta: FileMetaData; buf: AsyncBuffer }[],
  totalRows: number,
  opts: ImportOptions,
  ctx: ImportContext,
): AsyncGenerator<RawExample[]> {
  let textName: string | null = null;
  let labelName: string | null = null;
  let done = 0;
  for (const { file, meta, buf } of metas) {
    let names: string[];
    try {
      names = parquetSchema(meta).children.map((c) => c.element.name);
    } catch (e) {
      throw wrap(file, e);
    }
    const classLabels = hfClassLabels(meta);
    const pick = (wanted: string | undefined, preferred: string[], role: string, exclude?: string | null): string | null => {
      if (wanted !== undefined) {
        const i = findColumn(names, wanted);
        if (i < 0) throw new DataError(`${file}: no ${role} column ${JSON.stringify(wanted)}; the columns are ${names.map((n) => JSON.stringify(n)).join(', ')}`, file);
        return names[i]!;
      }
      const i = preferredColumn(names, preferred, exclude ? names.indexOf(exclude) : -1);
      return i >= 0 ? names[i]! : null;
    };
    const t = pick(opts.textColumn, TEXT_COLUMN_NAMES, 'text');
    if (!t) {
      throw new DataError(
        `${file}: no text column (columns: ${names.map((n) => JSON.stringify(n)).join(', ')}); choose one with --text-column`,
        file,
      );
    }
    const l = pick(opts.labelColumn, LABEL_COLUMN_NAMES, 'label', t);
    if (textName !== null && (t !== textName || l !== labelName)) {
      throw new DataError(`${file}: its columns differ from ${metas[0]!.file} (text ${t}, label ${l ?? 'none'})`, file);
    }
    textName = t;
    labelName = l;
    if (l && classLabels.has(l)) ctx.labelNames = classLabels.get(l);
    ctx.hasLabels = l !== null;
    if (file === metas[0]!.file) ctx.notes.push(`text column ${JSON.stringify(t)}` + (l ? `, label column ${JSON.stringify(l)}` : ', no label column'));
    const columns = l ? [t, l] : [t];
    let rowStart = 0;
    for (const rg of meta.row_groups) {
      const n = Number(rg.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: buf, metadata: meta, columns, rowStart, rowEnd: rowStart + n });
      } catch (e) {
        throw wrap(file, e);
      }
      const out: RawExample[] = [];
      for (let k = 0; k < rows.length; k++) {
        const r = rows[k]!;
        const where = `${file}: row ${rowStart + k}`;
        let text = r[t];
        if (text instanceof Uint8Array) text = new TextDecoder().decode(text);
        if (typeof text !== 'string') {
          if (text === null || text === undefined) ctx.skipped.add(where, `missing ${t}`, 'missing field');
          else ctx.skipped.add(where, `${t} is ${typeof text}, not text`, 'bad field');
          continue;
        }
        text = text.trim();
        if (!text) {
          ctx.skipped.add(where, 'empty text', 'empty text');
          continue;
        }
        if (!l) {
          out.push({ text: text as string, where });
          continue;
        }
        let label = r[l];
        if (typeof label === 'bigint') label = Number(label);
        if (label === null || label === undefined || label === '') {
          ctx.skipped.add(where, `missing ${l}`, 'empty label');
          continue;
        }
        if (typeof label === 'boolean') label = String(label);
        if (typeof label !== 'string' && typeof label !== 'number') {
          ctx.skipped.add(where, `${l} is ${typeof label}, not a label`, 'bad label');
          continue;
        }
        // Hugging Face stores unlabelled rows (IMDB unsupervised) as -1.
        if (label === -1 && ctx.labelNames) {
          out.push({ text: text as string, where });
          continue;
        }
        out.push({ text: text as string, label, where });
      }
      rowStart += n;
      done += n;
      ctx.onProgress?.({ done, total: totalRows, phase: 'read' });
      if (out.length) yield out;
    }
  }
}
