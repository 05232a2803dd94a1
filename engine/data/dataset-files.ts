// The files of a dataset folder (aclImdb reviews, Markdown recipes, parquet shards): regular files
// only, and never outside the folder. A symbolic link that leaves the dataset folder (say
// aclImdb/train/pos/1_10.txt -> /etc/passwd), a FIFO, a socket, a device or a folder named like a
// data file is not read: it goes into the skip report with the reason.

import type { Dirent } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { describeKind } from '../util/files.ts';
import type { ImportContext } from './types.ts';

/** The folder's real path (symbolic links resolved), the boundary its files must stay inside. */
export async function realRoot(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch {
    return dir;
  }
}

export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * Whether a folder entry is a data file to read: a regular file, or a symbolic link to a regular
 * file inside `root`. Anything else is added to the skip report (and false returned).
 * `dirOutside` is set when the containing folder itself resolves outside root.
 */
export async function usableFile(path: string, entry: Dirent, root: string, ctx: ImportContext, what: string, dirOutside?: string): Promise<boolean> {
  if (dirOutside !== undefined) {
    ctx.skipped.add(path, `not read: its folder is a symbolic link to ${dirOutside}, outside the dataset folder ${root}`, 'symlink outside the dataset');
    return false;
  }
  if (entry.isFile()) return true;
  if (entry.isSymbolicLink()) {
    let target: string;
    try {
      target = await realpath(path);
    } catch {
      ctx.skipped.add(path, 'broken symbolic link', 'unreadable file');
      return false;
    }
    if (!isInside(target, root)) {
      ctx.skipped.add(path, `not read: a symbolic link to ${target}, outside the dataset folder ${root}`, 'symlink outside the dataset');
      return false;
    }
    const st = await stat(target).catch(() => null);
    if (st?.isFile()) return true;
    ctx.skipped.add(path, `a symbolic link to ${st ? describeKind(st) : 'nothing'}, not ${what}`, 'not a regular file');
    return false;
  }
  ctx.skipped.add(path, `is ${describeKind(entry)}, not ${what}`, 'not a regular file');
  return false;
}

/** The real path of a folder when it lies outside root (a symlinked class folder), else undefined. */
export async function outsideRoot(dir: string, root: string): Promise<string | undefined> {
  const real = await realRoot(dir);
  return isInside(real, root) ? undefined : real;
}
