// Paths the services are given: checked up front with errors that name them, and folder listings
// for the path pickers of a shell without native dialogs.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ApiError, type FsListing } from '../api.ts';

/** The folder, absolute; not_found when it does not exist, failed when it is a file. */
export function requireDir(dir: string, what: string): string {
  const d = resolve(dir);
  let st;
  try {
    st = statSync(d);
  } catch {
    throw new ApiError('not_found', `${what} ${d} does not exist`);
  }
  if (!st.isDirectory()) throw new ApiError('failed', `${what} ${d} is a file, not a folder`);
  return d;
}

/** The file or folder, absolute; not_found when it does not exist. */
export function requirePath(p: string, what: string): string {
  const d = resolve(p);
  if (!existsSync(d)) throw new ApiError('not_found', `${what} ${d} does not exist`);
  return d;
}

/** An output folder that may be written: absent or empty, unless overwriting is allowed. */
export function checkOutputFolder(out: string | undefined, overwrite = false): void {
  if (!out) return;
  const d = resolve(out);
  let st;
  try {
    st = statSync(d);
  } catch {
    return; // created when the result is written
  }
  if (!st.isDirectory()) throw new ApiError('failed', `out: ${d} is a file, not a folder`);
  if (!overwrite && readdirSync(d).length > 0) {
    throw new ApiError('busy', `out: ${d} already has files in it; choose an empty or new folder, or overwrite it (lora-studio train --force)`);
  }
}

/** A folder's entries, folders first (for the path pickers when there is no native dialog). */
export function listDir(dir: string, showHidden = false, limit = 2000): FsListing {
  const d = requireDir(dir, 'folder');
  const entries: FsListing['entries'] = [];
  let truncated = false;
  let names: string[];
  try {
    names = readdirSync(d);
  } catch (e) {
    throw new ApiError('failed', `cannot read the folder ${d}: ${(e as Error).message}`);
  }
  for (const name of names.sort((a, b) => a.localeCompare(b))) {
    if (!showHidden && name.startsWith('.')) continue;
    if (entries.length >= limit) {
      truncated = true;
      break;
    }
    const p = join(d, name);
    try {
      const st = statSync(p);
      entries.push({ name, path: p, kind: st.isDirectory() ? 'dir' : 'file', size: st.isDirectory() ? null : st.size });
    } catch {
      // a dangling link or a file that vanished: leave it out of the listing
    }
  }
  entries.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'dir' ? -1 : 1));
  const parent = dirname(d);
  return { dir: d, parent: parent === d ? null : parent, entries, truncated };
}
