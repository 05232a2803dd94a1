// Shared helpers for the data tests: where the third-party test data lives, and skipping.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (test/data/ -> ../../). */
export const repoRoot = resolve(here, '..', '..');
/** ../shared/data relative to the repository root. */
export const sharedData = resolve(repoRoot, '..', 'shared', 'data');
export const samplesDir = join(repoRoot, 'samples');

export function shared(...parts: string[]): string {
  return join(sharedData, ...parts);
}

/** True when a shared-data path exists; otherwise prints why the tests depending on it skip. */
export function haveShared(...parts: string[]): boolean {
  const p = shared(...parts);
  if (existsSync(p)) return true;
  console.warn(`[skip] ${p} is absent: tests that need the shared test data are skipped (see ../shared/data/README.md)`);
  return false;
}
