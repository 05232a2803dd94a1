// The Hugging Face cache layout, shared with Python's huggingface_hub / transformers:
//
//   <cache>/models--ORG--NAME/
//     blobs/<etag>                      file contents (sha256 for LFS files, git blob sha1 otherwise)
//     snapshots/<commit>/<file>         relative symlink to ../../blobs/<etag> (a copy where the
//                                       file system refuses symlinks)
//     refs/<revision>                   the commit the revision pointed to when last pulled
//
// Blobs only appear by rename once complete and verified (downloads write blobs/<etag>.incomplete),
// so a loader reading snapshots/ never sees a partial file.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsProblem } from '../util/files.ts';
import { HubError } from './errors.ts';
import { isCommitSha, repoFolderName, repoFromFolderName } from './repo-id.ts';

export interface RepoCache {
  repo: string;
  dir: string;
  blobs: string;
  snapshots: string;
  refs: string;
}

export function repoCache(cacheDir: string, repo: string): RepoCache {
  const dir = path.join(cacheDir, repoFolderName(repo));
  return { repo, dir, blobs: path.join(dir, 'blobs'), snapshots: path.join(dir, 'snapshots'), refs: path.join(dir, 'refs') };
}

/** Why a file name from the Hub cannot be a path under a snapshot, or null when it can. */
export function repoPathProblem(file: string): string | null {
  if (file.length === 0 || file.length > 1024) return 'an empty or overlong file name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\\]/.test(file)) return 'a file name with a control character or a backslash';
  if (file.startsWith('/') || /^[A-Za-z]:/.test(file)) return 'an absolute file name';
  if (file.split('/').some((p) => p === '' || p === '.' || p === '..')) return 'a file name with an empty, "." or ".." part';
  return null;
}

/** Blob names are ETags: hex digests from the Hub; anything else could escape blobs/. */
export const isSafeEtag = (etag: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(etag) && !etag.endsWith('.incomplete');

export const blobPath = (rc: RepoCache, etag: string): string => path.join(rc.blobs, etag);
export const snapshotDir = (rc: RepoCache, commit: string): string => path.join(rc.snapshots, commit);
export const snapshotPath = (rc: RepoCache, commit: string, file: string): string => path.join(rc.snapshots, commit, ...file.split('/'));
const refPath = (rc: RepoCache, revision: string): string => path.join(rc.refs, ...revision.split('/'));

const cacheError = (rc: RepoCache, file: string | undefined, err: unknown, action: string): HubError =>
  err instanceof HubError ? err : new HubError(rc.repo, file, `${fsProblem(err, action)} in the cache ${rc.dir}`, 'cache');

export function mkdirs(rc: RepoCache, dir: string, file?: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw cacheError(rc, file, err, `create the folder ${dir}`);
  }
}

/** The commit a cached revision points to (refs/<revision>), or null. */
export function readRef(rc: RepoCache, revision: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(refPath(rc, revision), 'utf8');
  } catch {
    return null;
  }
  const commit = text.trim();
  return isCommitSha(commit) ? commit : null;
}

/** Writes refs/<revision> (no newline, as huggingface_hub does), atomically. */
export function writeRef(rc: RepoCache, revision: string, commit: string): void {
  if (revision === commit) return;
  const target = refPath(rc, revision);
  mkdirs(rc, path.dirname(target));
  const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.writeFileSync(tmp, commit);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw cacheError(rc, undefined, err, `write refs/${revision}`);
  }
}

/** Every cached revision and its commit (refs/main, refs/v1.0, refs/refs/pr/1 ...). */
export function listRefs(rc: RepoCache): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, prefix: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const name = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), name);
      else if (e.isFile() && !e.name.endsWith('.tmp')) {
        const commit = readRef(rc, name);
        if (commit) out.set(name, commit);
      }
    }
  };
  walk(rc.refs, '');
  return out;
}

/** The commits with a snapshot folder. */
export function listSnapshots(rc: RepoCache): string[] {
  try {
    return fs.readdirSync(rc.snapshots, { withFileTypes: true }).filter((e) => e.isDirectory() && isCommitSha(e.name)).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** The repo ids with a `models--*` folder in the cache (datasets and spaces are not models). */
export function listCachedRepos(cacheDir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(cacheDir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory()).map((e) => repoFromFolderName(e.name)).filter((r): r is string => r !== null).sort();
}

/** True when snapshots/<commit>/<file> exists and reads as a file (a symlink to a present blob, or a copy). */
export function snapshotFileExists(rc: RepoCache, commit: string, file: string): boolean {
  try {
    return fs.statSync(snapshotPath(rc, commit, file)).isFile();
  } catch {
    return false;
  }
}

/** Symlink errors that mean "this file system (or OS account) does not do symlinks": copy instead. */
const NO_SYMLINKS = new Set(['EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL', 'ENOSYS']);

/**
 * Points snapshots/<commit>/<file> at blobs/<etag>: a relative symlink (as huggingface_hub
 * makes), or a copy when `symlinks` is false or the file system refuses them. Replaces whatever
 * was there, atomically (a temp entry renamed over it). Returns how the file was placed.
 */
export function linkSnapshotFile(rc: RepoCache, commit: string, file: string, etag: string, o: { symlinks?: boolean } = {}): 'symlink' | 'copy' {
  const pointer = snapshotPath(rc, commit, file);
  const blob = blobPath(rc, etag);
  mkdirs(rc, path.dirname(pointer), file);
  const tmp = path.join(path.dirname(pointer), `.${path.basename(pointer).slice(0, 200)}.${randomBytes(6).toString('hex')}.tmp`);
  const place = (how: 'symlink' | 'copy'): void => {
    if (how === 'symlink') fs.symlinkSync(path.relative(path.dirname(pointer), blob), tmp);
    else fs.copyFileSync(blob, tmp);
    fs.renameSync(tmp, pointer);
  };
  try {
    if (o.symlinks !== false) {
      try {
        place('symlink');
        return 'symlink';
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        if (!NO_SYMLINKS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
    place('copy');
    return 'copy';
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw cacheError(rc, file, err, `place snapshots/${commit}/${file}`);
  }
}

/** Removes snapshots/<commit>/<file> if it is there (after a failed download of that file). */
export function unlinkSnapshotFile(rc: RepoCache, commit: string, file: string): void {
  try {
    fs.rmSync(snapshotPath(rc, commit, file), { force: true });
  } catch {
    /* nothing there to remove */
  }
}

/** Bytes on disk of a snapshot: each distinct blob (or copied file) counted once. */
export function snapshotSize(rc: RepoCache, commit: string): { bytes: number; files: string[] } {
  const seen = new Set<string>();
  const files: string[] = [];
  let bytes = 0;
  const walk = (dir: string, prefix: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.endsWith('.tmp')) continue;
      const p = path.join(dir, e.name);
      const name = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) { walk(p, name); continue; }
      let real: string;
      let st: fs.Stats;
      try {
        real = fs.realpathSync(p);
        st = fs.statSync(real);
      } catch {
        continue; // a dangling link: its blob is gone
      }
      if (st.isDirectory()) continue;
      files.push(name);
      if (!seen.has(real)) { seen.add(real); bytes += st.size; }
    }
  };
  walk(snapshotDir(rc, commit), '');
  return { bytes, files: files.sort() };
}
