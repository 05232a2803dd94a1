// The Stanford Large Movie Review Dataset layout:
//   aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt   (and train/unsup/<id>_0.txt)
// Label from the folder (neg = 0, pos = 1, as in Hugging Face's `imdb`), rating from the file
// name, `<br />` turned into newlines. PATH may be the aclImdb folder, its parent, or one split
// folder (aclImdb/train).

import { closeSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { openFileSync, readExactlySync } from '../../util/files.ts';
import { outsideRoot, realRoot, usableFile } from '../dataset-files.ts';
import { DataError } from '../errors.ts';
import { decodeWholeFile } from '../text-stream.ts';
import type { ImportContext, ImportOptions, RawExample } from '../types.ts';

/** A review larger than this is not a review (IMDB's longest is ~14 KB): skipped, never read. */
export const MAX_REVIEW_BYTES = 16 * 1024 * 1024;

class ReadFailure {
  constructor(readonly reason: string, readonly kind: string) {}
}

/** One review file: a regular file (opened without blocking), bounded in size. */
function readReview(path: string): Buffer | ReadFailure {
  let opened: { fd: number; size: number };
  try {
    opened = openFileSync(path, { what: 'a review file', maxBytes: MAX_REVIEW_BYTES });
  } catch (e) {
    const msg = (e as Error).message;
    const reason = msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg;
    return new ReadFailure(reason, /bytes, more than/.test(reason) ? 'too large' : /^is /.test(reason) ? 'not a regular file' : 'unreadable file');
  }
  try {
    const buf = Buffer.allocUnsafe(opened.size);
    readExactlySync(opened.fd, buf, 0, path);
    return buf;
  } catch (e) {
    const msg = (e as Error).message;
    return new ReadFailure(msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg, 'unreadable file');
  } finally {
    closeSync(opened.fd);
  }
}

const SPLITS = ['train', 'test', 'unsup'] as const;
const FILE_RE = /^(\d+)_(\d+)\.txt$/;
const BR_RE = /<br\s*\/?>/gi;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The aclImdb root (the folder holding train/ and test/), or a split folder; null if neither. */
export async function findAclImdbRoot(path: string): Promise<{ root: string; splitDir?: string } | null> {
  if ((await isDir(join(path, 'pos'))) && (await isDir(join(path, 'neg')))) return { root: join(path, '..'), splitDir: path };
  for (const base of [path, join(path, 'aclImdb')]) {
    for (const s of ['train', 'test']) {
      if ((await isDir(join(base, s, 'pos'))) || (await isDir(join(base, s, 'neg')))) return { root: base };
    }
  }
  return null;
}

export async function isAclImdb(path: string): Promise<boolean> {
  return (await findAclImdbRoot(path)) !== null;
}

/** Review text as stored -> plain text: `<br />` -> newline. */
export function cleanReview(text: string): string {
  return text.replace(BR_RE, '\n').trim();
}

interface FileJob {
  path: string;
  label?: 'neg' | 'pos';
  rating: number;
  id: number;
}

/** The error for a folder that is not aclImdb, naming the first entries found there. */
async function notAclImdb(path: string): Promise<DataError> {
  let entries: string[] = [];
  try {
    entries = (await readdir(path)).slice(0, 12);
  } catch {
    /* reported below */
  }
  return new DataError(
    `${path} is not an aclImdb folder: expected train/pos, train/neg, test/pos, test/neg with <id>_<rating>.txt files` +
      ` (found: ${entries.length ? entries.join(', ') : 'nothing'})`,
    path,
  );
}

/** The split asked for (train by default; `unsupervised` is `unsup`), checked against SPLITS. */
function aclImdbSplit(path: string, opts: ImportOptions): string {
  let split = opts.split ?? 'train';
  if (split === 'unsupervised') split = 'unsup';
  if (!(SPLITS as readonly string[]).includes(split)) {
    throw new DataError(`${path}: aclImdb split must be one of ${SPLITS.join(', ')}; got ${JSON.stringify(split)}`, path);
  }
  return split;
}

interface ClassDir { dir: string; label?: 'neg' | 'pos' }

/** The class folders to read (neg and pos, or train/unsup unlabelled); each must exist. */
async function classDirs(found: { root: string; splitDir?: string }, split: string, ctx: ImportContext): Promise<ClassDir[]> {
  let dirs: ClassDir[];
  if (found.splitDir) {
    dirs = [
      { dir: join(found.splitDir, 'neg'), label: 'neg' },
      { dir: join(found.splitDir, 'pos'), label: 'pos' },
    ];
    ctx.notes.push(`aclImdb split folder ${found.splitDir}`);
  } else if (split === 'unsup') {
    dirs = [{ dir: join(found.root, 'train', 'unsup') }];
  } else {
    dirs = [
      { dir: join(found.root, split, 'neg'), label: 'neg' },
      { dir: join(found.root, split, 'pos'), label: 'pos' },
    ];
  }
  for (const d of dirs) {
    if (!(await isDir(d.dir))) {
      throw new DataError(
        `${found.root} is not a complete aclImdb folder: ${relative(found.root, d.dir) || d.dir} is missing (split ${JSON.stringify(split)})`,
        d.dir,
      );
    }
  }
  return dirs;
}

/** The review files of each class folder, by id; badly named and unusable entries go to the skip report. */
async function reviewFiles(dirs: ClassDir[], datasetRoot: string, ctx: ImportContext): Promise<FileJob[]> {
  // Files stay inside the dataset folder: a symlink out of it (a review -> /etc/passwd, or a
  // whole class folder linked elsewhere) is reported and never read; so are FIFOs and folders.
  const root = await realRoot(datasetRoot);
  const jobs: FileJob[] = [];
  for (const d of dirs) {
    const entries = await readdir(d.dir, { withFileTypes: true });
    const dirOutside = await outsideRoot(d.dir, root);
    const good: FileJob[] = [];
    for (const entry of entries) {
      const name = entry.name;
      const m = FILE_RE.exec(name);
      if (!m) {
        ctx.skipped.add(join(d.dir, name), 'not an aclImdb review file (expected <id>_<rating>.txt)', 'bad file name');
        continue;
      }
      if (!(await usableFile(join(d.dir, name), entry, root, ctx, 'a review file', dirOutside))) continue;
      good.push({ path: join(d.dir, name), label: d.label, id: Number(m[1]), rating: Number(m[2]) });
    }
    good.sort((a, b) => a.id - b.id);
    for (const g of good) jobs.push(g);
  }
  return jobs;
}

/** One review read as an example, or null (and a skip-report line) when it cannot be one. */
function reviewExample(job: FileJob, buf: Buffer | ReadFailure, ctx: ImportContext): RawExample | null {
  if (buf instanceof ReadFailure) {
    ctx.skipped.add(job.path, buf.reason, buf.kind);
    return null;
  }
  let raw = decodeWholeFile(job.path, buf, ctx.skipped);
  if (raw === null) return null;
  if (raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
  const text = cleanReview(raw);
  if (!text) {
    ctx.skipped.add(job.path, 'empty review', 'empty');
    return null;
  }
  return { text, label: job.label, rating: job.rating, where: job.path };
}

/** A batch of reviews as examples. */
function readBatch(batch: FileJob[], ctx: ImportContext): RawExample[] {
  // Small regular files: synchronous reads in a batch are ~4x faster than fs.promises (no
  // thread-pool round trips); each open is O_NONBLOCK and size-bounded, so a batch is bounded
  // work, and the event loop gets a turn between batches.
  const bufs: (Buffer | ReadFailure)[] = new Array(batch.length);
  for (let k = 0; k < batch.length; k++) bufs[k] = readReview(batch[k]!.path);
  const out: RawExample[] = [];
  for (let k = 0; k < batch.length; k++) {
    const ex = reviewExample(batch[k]!, bufs[k]!, ctx);
    if (ex) out.push(ex);
  }
  return out;
}

export async function* importAclImdb(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const found = await findAclImdbRoot(path);
  if (!found) throw await notAclImdb(path);
  const split = aclImdbSplit(path, opts);
  const dirs = await classDirs(found, split, ctx);
  const jobs = await reviewFiles(dirs, found.root, ctx);
  if (dirs.some((d) => d.label)) {
    ctx.hasLabels = true;
    ctx.labelNames = ['neg', 'pos'];
  }
  ctx.notes.push(`aclImdb ${found.splitDir ? basename(found.splitDir) : split}: ${jobs.length} review files`);
  const total = jobs.length;
  const batchSize = 256;
  let done = 0;
  for (let start = 0; start < jobs.length; start += batchSize) {
    const batch = jobs.slice(start, start + batchSize);
    const out = readBatch(batch, ctx);
    done += batch.length;
    ctx.onProgress?.({ done, total, phase: 'read' });
    if (out.length) yield out;
    await new Promise((r) => setImmediate(r));
  }
}
