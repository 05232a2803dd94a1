// The one error of the hub module: one line naming the repository (and the file, when there is
// one) and what went wrong, so a user can act on it without a stack trace.
import { oneLine } from '../util/files.ts';

export type HubErrorCode =
  | 'offline' | 'auth' | 'gated' | 'forbidden' | 'repo-not-found' | 'revision-not-found' | 'file-not-found'
  | 'network' | 'http' | 'integrity' | 'cancelled' | 'not-cached' | 'bad-ref' | 'cache' | 'protocol';

export class HubError extends Error {
  override readonly name = 'HubError';
  constructor(
    readonly repo: string,
    readonly file: string | undefined,
    readonly problem: string,
    readonly code: HubErrorCode,
  ) {
    super(oneLine(file ? `${repo}: ${file}: ${problem}` : `${repo}: ${problem}`));
  }
}

/** True for the error an AbortSignal raises (fetch's AbortError, or our own reason). */
export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const e = err as { name?: string } | undefined;
  return e?.name === 'AbortError';
}
