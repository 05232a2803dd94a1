// From what a user types after --model to a folder on disk, the way transformers'
// from_pretrained decides: an existing local folder of that name wins; otherwise ORG/NAME[@REV]
// is a Hub repo id, looked up in the shared HF cache without any network (refs/<rev> gives the
// commit, snapshots/<commit> the folder; a commit sha names its snapshot directly).
import fs from 'node:fs';
import path from 'node:path';
import { listRefs, listSnapshots, readRef, repoCache, snapshotDir } from './cache.ts';
import { HubError } from './errors.ts';
import { isCommitSha, parseModelRef } from './repo-id.ts';
import { hubCacheDir, type Env } from './settings.ts';

export interface ResolveOptions {
  env?: Env;
  /** Overrides the cache folder the environment gives. */
  cacheDir?: string;
  /** Folder a relative local path is taken from (default process.cwd()). */
  cwd?: string;
}

const isDir = (p: string): boolean => {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * A local folder for `ref`: `ref` itself when it is an existing folder (returned as given), else
 * the cached snapshot of `ORG/NAME[@REV]` (REV: a branch, a tag or a commit sha; default main).
 * A reference that is neither a folder nor shaped like a repo id comes back unchanged (the
 * loader's own "not found" then names it). A repo id missing from the cache is a HubError that
 * says to run `lora-studio models pull`.
 */
export function resolveModelRef(ref: string, opts: ResolveOptions = {}): string {
  if (isDir(path.resolve(opts.cwd ?? process.cwd(), ref))) return ref;
  const parsed = parseModelRef(ref);
  if (!parsed) return ref;
  const cacheDir = opts.cacheDir ?? hubCacheDir(opts.env ?? process.env);
  const rc = repoCache(cacheDir, parsed.repo);
  const bare = !parsed.repo.includes('/');
  const pull = `lora-studio models pull ${parsed.repo}${parsed.revision ? ` --revision ${parsed.revision}` : ''}`;
  if (!isDir(rc.dir)) {
    if (bare && parsed.revision === undefined) return ref; // "mymodel": a missing local folder, most likely
    throw new HubError(ref, undefined, `no such folder, and no model ${parsed.repo} in the Hugging Face cache (${cacheDir}); to download it run \`${pull}\``, 'not-cached');
  }
  const revision = parsed.revision ?? 'main';
  const commit = isCommitSha(revision) ? revision : readRef(rc, revision);
  if (!commit || !isDir(snapshotDir(rc, commit))) {
    const refs = [...listRefs(rc).keys()];
    const snaps = listSnapshots(rc);
    const have = refs.length ? `cached revisions: ${refs.join(', ')}` : snaps.length ? `cached commits: ${snaps.map((s) => s.slice(0, 12)).join(', ')}` : 'nothing cached yet';
    const what = commit ? `revision "${revision}" points to commit ${commit}, which has no snapshot folder` : `revision "${revision}" is not in the Hugging Face cache`;
    throw new HubError(ref, undefined, `${what} (${rc.dir}; ${have}); run \`${pull}\``, 'not-cached');
  }
  return snapshotDir(rc, commit);
}
