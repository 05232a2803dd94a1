// Hugging Face repository ids (`ORG/NAME`, or a bare `NAME` for the Hub's legacy canonical
// models) and model references `ORG/NAME@REVISION`, validated the way huggingface_hub's
// validate_repo_id does: letters, digits, `-`, `_`, `.`; no `--` or `..`; not ending in `.git`;
// at most 96 characters.

const PART = /^\w(?:[\w.-]*\w)?$/;

/** Why `id` is not a valid repo id, or null when it is. */
export function repoIdProblem(id: string): string | null {
  if (id.length === 0) return 'the repo id is empty';
  if (id.length > 96) return 'a repo id has at most 96 characters';
  const parts = id.split('/');
  if (parts.length > 2) return 'a repo id is ORG/NAME (one slash)';
  if (!parts.every((p) => PART.test(p))) return 'a repo id is ORG/NAME with letters, digits, "-", "_" and "." only';
  if (id.includes('--') || id.includes('..')) return 'a repo id cannot contain "--" or ".."';
  if (id.endsWith('.git')) return 'a repo id cannot end in ".git"';
  return null;
}

export const isRepoId = (id: string): boolean => repoIdProblem(id) === null;

export interface ModelRef {
  repo: string;
  /** A branch, a tag or a commit sha; undefined when the reference names none (main). */
  revision?: string;
}

/** `ORG/NAME` or `ORG/NAME@REV` as a reference, or null when `ref` does not have that shape. */
export function parseModelRef(ref: string): ModelRef | null {
  const at = ref.indexOf('@');
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? undefined : ref.slice(at + 1);
  if (!isRepoId(repo)) return null;
  if (revision !== undefined && !isRevision(revision)) return null;
  return { repo, revision };
}

/** Branch and tag names as git allows them (roughly), or a commit sha. */
export function isRevision(rev: string): boolean {
  return rev.length > 0 && rev.length <= 256 && !/[\s~^:?*[\\]|\.\.|^\/|\/$|^-|@\{/.test(rev) && !rev.split('/').some((p) => p === '' || p === '.' || p.startsWith('.'));
}

export const isCommitSha = (rev: string): boolean => /^[0-9a-f]{40}$/.test(rev);

/** The cache folder name of a model repository: `models--ORG--NAME`. */
export const repoFolderName = (repo: string): string => `models--${repo.split('/').join('--')}`;

/** The repo id of a cache folder name, or null when it is not a model repository's folder. */
export function repoFromFolderName(name: string): string | null {
  if (!name.startsWith('models--')) return null;
  const parts = name.slice('models--'.length).split('--');
  if (parts.length > 2) return null;
  const repo = parts.join('/');
  return isRepoId(repo) ? repo : null;
}
