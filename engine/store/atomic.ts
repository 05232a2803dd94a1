// Atomic file replacement: readers (and a crash at any moment) see either the old content or the
// new one, never a torn file. Write a temp file in the same folder (same filesystem, so rename is
// atomic), fsync it, rename it over the target, then fsync the folder so the rename is durable.
// A failure (full disk, read-only or missing folder, permissions) is one line naming the target and
// what failed: `PATH: cannot write (no space left on the device)`, never Node's bare "ENOSPC ... write".
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileError, fsProblem } from '../util/files.ts';

export { FileError } from '../util/files.ts';

/** The one-line error of a failed write step on `target`. */
function writeError(target: string, err: unknown, action: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (err instanceof FileError || typeof code !== 'string') return err; // not an fs failure: as is
  if (action === 'create' && code === 'ENOENT') return new FileError(target, `cannot write (the folder ${path.dirname(target)} does not exist)`, code);
  return new FileError(target, fsProblem(err, action === 'replace' ? 'write (moving the new file into place)' : 'write'), code);
}

/** mkdir -p with a one-line error naming the folder (a file in the way, read-only disk, …). */
export function mkdirp(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new FileError(dir, 'cannot create the folder (a file is in the way)', code);
    throw new FileError(dir, fsProblem(err, 'create the folder'), code);
  }
}

export type FileData = Uint8Array | string | Uint8Array[];

export function writeFileAtomic(target: string, data: FileData): void {
  const dir = path.dirname(target);
  // Same folder, unique name (the basename is cut so the temp name stays under NAME_MAX).
  const tmp = path.join(dir, `.${path.basename(target).slice(0, 200)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : Array.isArray(data) ? data : [data];
  let fd: number | undefined;
  let step = 'create';
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    step = 'write';
    // Chunks go out one after another: a 500 MB checkpoint is never concatenated in memory.
    for (const chunk of chunks) writeAll(fd, chunk);
    step = 'write (fsync)';
    fs.fsyncSync(fd);
    step = 'write (close)';
    fs.closeSync(fd);
    fd = undefined;
    step = 'replace';
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EISDIR' || (err as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
        throw new FileError(target, 'cannot write (a folder is in the way)', (err as NodeJS.ErrnoException).code);
      }
      throw err;
    }
  } catch (err) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing: keep the first error */ }
    }
    try { fs.rmSync(tmp, { force: true }); } catch { /* best effort */ }
    throw writeError(target, err, step);
  }
  fsyncDir(dir);
}

/** Pretty JSON (2 spaces) with a trailing newline, written atomically. */
export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.byteLength) {
    // writeSync may write less than asked (and caps one call near 2 GB).
    const n = fs.writeSync(fd, chunk, offset, Math.min(chunk.byteLength - offset, 1 << 30));
    offset += n;
  }
}

/** fsync a folder so that a rename or a new entry in it survives a crash (a no-op on Windows). */
export function fsyncDir(dir: string): void {
  // Windows cannot open or fsync a directory; the rename is still atomic there.
  if (process.platform === 'win32') return;
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories (EINVAL); the data itself is synced.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
