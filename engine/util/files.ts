// Opening the files users point us at, safely: only regular files are read (a FIFO, a socket, a
// device or a folder where a file is expected is refused with one line), opens never block (a FIFO
// is opened O_NONBLOCK, so no thread waits for a writer that never comes), sizes are bounded before
// anything is allocated, and every failing fs call becomes one line naming the path and what failed.

import fs from 'node:fs';
import { open as openAsync, stat as statAsync, type FileHandle } from 'node:fs/promises';

/** A file-system problem, as one line: `PATH: what failed (why)`. */
export class FileError extends Error {
  override readonly name: string = 'FileError';
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly code?: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** Builds the error a layer wants (DataError, FormatError, …) from a path and a problem. */
export type ErrorFactory = (file: string, problem: string, code?: string) => Error;

const fileError: ErrorFactory = (file, problem, code) => new FileError(file, problem, code);

const NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const READ_FLAGS = fs.constants.O_RDONLY | NONBLOCK;

const REASONS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EISDIR: 'is a folder',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  ENXIO: 'no such device (a socket or a device, not a file)',
  EXDEV: 'crosses file systems',
  EBUSY: 'the file is busy',
  ETXTBSY: 'the file is busy',
  EFBIG: 'the file is too large',
  EINVAL: 'invalid argument',
  ENOTEMPTY: 'the folder is not empty',
  EAGAIN: 'the resource is temporarily unavailable',
};

/** `cannot ACTION (why)` for a failed fs call, without Node's "ECODE: ..., syscall 'path'" text. */
export function fsProblem(err: unknown, action: string): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const why = (code && REASONS[code]) ?? (code ? code.toLowerCase() : String(e?.message ?? err).split('\n')[0]!.replace(/^E[A-Z]+: /, ''));
  return `cannot ${action} (${why})`;
}

/** What a non-regular file is, in words ("a FIFO (named pipe)"). */
export function describeKind(st: Pick<fs.Stats, 'isFile' | 'isDirectory' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice' | 'isSymbolicLink'>): string {
  if (st.isFile()) return 'a file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'a special file';
}

export interface OpenOptions {
  /** What the file is, for messages ("tokenizer.json", "dataset file"). Default "a file". */
  what?: string;
  /** Refuse files larger than this many bytes (before reading anything). */
  maxBytes?: number;
  /** The error to throw (default FileError). */
  error?: ErrorFactory;
}

function notRegular(file: string, st: fs.Stats, o: OpenOptions): Error {
  const mk = o.error ?? fileError;
  return mk(file, `is ${describeKind(st)}; expected ${o.what ?? 'a regular file'}`);
}

function tooBig(file: string, size: number, o: OpenOptions): Error {
  const mk = o.error ?? fileError;
  return mk(file, `is ${size} bytes, more than the ${o.maxBytes}-byte limit${o.what ? ` for ${o.what}` : ''}`);
}

/** A regular file opened for reading (never blocks); `size` is its size at open time. */
export function openFileSync(file: string, o: OpenOptions = {}): { fd: number; size: number } {
  const mk = o.error ?? fileError;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw mk(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : fsProblem(err, 'read'), (err as NodeJS.ErrnoException).code);
  }
  if (!st.isFile()) throw notRegular(file, st, o);
  let fd: number;
  try {
    fd = fs.openSync(file, READ_FLAGS);
  } catch (err) {
    throw mk(file, fsProblem(err, 'open'), (err as NodeJS.ErrnoException).code);
  }
  let now: fs.Stats;
  try {
    now = fs.fstatSync(fd); // the file opened, not the one stat saw (no swap in between)
  } catch (err) {
    fs.closeSync(fd);
    throw mk(file, fsProblem(err, 'read'), (err as NodeJS.ErrnoException).code);
  }
  const refused = !now.isFile() ? notRegular(file, now, o) : o.maxBytes !== undefined && now.size > o.maxBytes ? tooBig(file, now.size, o) : null;
  if (refused) {
    fs.closeSync(fd);
    throw refused;
  }
  return { fd, size: now.size };
}

/** Reads `length` bytes at `position` into `out` (short files fail with a one-line error). */
export function readExactlySync(fd: number, out: Uint8Array, position: number, file: string, error: ErrorFactory = fileError): void {
  let done = 0;
  while (done < out.length) {
    let n: number;
    try {
      n = fs.readSync(fd, out, done, Math.min(out.length - done, 1 << 30), position + done);
    } catch (err) {
      throw error(file, fsProblem(err, 'read'), (err as NodeJS.ErrnoException).code);
    }
    if (n === 0) throw error(file, 'unexpected end of file (was it truncated while being read?)');
    done += n;
  }
}

/** The whole of a regular file (bounded by maxBytes when given). */
export function readFileSafeSync(file: string, o: OpenOptions = {}): Buffer {
  const { fd, size } = openFileSync(file, o);
  try {
    const buf = Buffer.allocUnsafe(size);
    readExactlySync(fd, buf, 0, file, o.error);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** The async twin of openFileSync: the open runs on the thread pool but never waits on a FIFO. */
export async function openFile(file: string, o: OpenOptions = {}): Promise<{ fh: FileHandle; size: number }> {
  const mk = o.error ?? fileError;
  let st: fs.Stats;
  try {
    st = await statAsync(file);
  } catch (err) {
    throw mk(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : fsProblem(err, 'read'), (err as NodeJS.ErrnoException).code);
  }
  if (!st.isFile()) throw notRegular(file, st, o);
  let fh: FileHandle;
  try {
    fh = await openAsync(file, READ_FLAGS);
  } catch (err) {
    throw mk(file, fsProblem(err, 'open'), (err as NodeJS.ErrnoException).code);
  }
  let now: fs.Stats;
  try {
    now = await fh.stat();
  } catch (err) {
    await fh.close();
    throw mk(file, fsProblem(err, 'read'), (err as NodeJS.ErrnoException).code);
  }
  const refused = !now.isFile() ? notRegular(file, now, o) : o.maxBytes !== undefined && now.size > o.maxBytes ? tooBig(file, now.size, o) : null;
  if (refused) {
    await fh.close();
    throw refused;
  }
  return { fh, size: now.size };
}

/** An fs error from inside a read loop as the layer's one-line error (other errors pass through). */
function rethrowRead(err: unknown, file: string, o: OpenOptions): never {
  if (typeof (err as NodeJS.ErrnoException)?.code === 'string' && (err as NodeJS.ErrnoException).syscall) {
    throw (o.error ?? fileError)(file, fsProblem(err, 'read'), (err as NodeJS.ErrnoException).code);
  }
  throw err;
}

/** Reads up to `length` bytes from the start (fewer when the file is shorter). */
export async function readHead(file: string, length: number, o: OpenOptions = {}): Promise<Buffer> {
  const { fh, size } = await openFile(file, o);
  try {
    const buf = Buffer.alloc(Math.min(length, size));
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } catch (err) {
    rethrowRead(err, file, o);
  } finally {
    await fh.close();
  }
}

/** The whole of a regular file, read asynchronously (bounded by maxBytes when given). */
export async function readFileSafe(file: string, o: OpenOptions = {}): Promise<Buffer> {
  const { fh, size } = await openFile(file, o);
  try {
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await fh.read(buf, done, Math.min(size - done, 1 << 30), done);
      if (bytesRead === 0) throw (o.error ?? fileError)(file, 'unexpected end of file (was it truncated while being read?)');
      done += bytesRead;
    }
    return buf;
  } catch (err) {
    rethrowRead(err, file, o);
  } finally {
    await fh.close();
  }
}

/** Keeps a message on one line: control characters (newlines included) become visible escapes. */
export function oneLine(text: string, max = 2000): string {
  // eslint-disable-next-line no-control-regex
  const s = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  return s.length > max ? s.slice(0, max) + '…' : s;
}
