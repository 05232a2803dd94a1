// HTTP to the Hub: redirects followed by hand (the token goes to the Hub's own origin only, never
// to the storage host an LFS file redirects to), time limits on every request, and the Hub's
// answers turned into one-line errors naming the repo and the file.
import { HubError, isAbort } from './errors.ts';

export type FetchFn = typeof fetch;

export interface HubClient {
  repo: string;
  endpoint: string;
  token?: string;
  tokenSource?: string;
  signal?: AbortSignal;
  fetch: FetchFn;
  /** Seconds for a metadata request to answer. */
  metadataTimeout: number;
}

const MAX_REDIRECTS = 10;

export interface SendOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  file?: string;
  /** Aborts this request (a timeout, an idle timer); the client's own signal always applies. */
  signal?: AbortSignal;
  /** Stop at a redirect instead of following it (the response is returned as is). */
  stopAtRedirect?: (res: Response, location: URL) => boolean;
  /** Called with every response before a redirect is followed (to collect the Hub's headers). */
  onResponse?: (res: Response) => void;
}

const isRedirect = (s: number): boolean => s === 301 || s === 302 || s === 303 || s === 307 || s === 308;

/** One request, following redirects; returns the final response (its URL alongside). */
export async function send(c: HubClient, url: string, o: SendOptions = {}): Promise<{ res: Response; url: URL }> {
  let current = new URL(url);
  const hubOrigin = new URL(c.endpoint).origin;
  const signals = [c.signal, o.signal].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'user-agent': 'lora-studio', 'accept-encoding': 'identity', ...o.headers };
    if (c.token && current.origin === hubOrigin) headers.authorization = `Bearer ${c.token}`;
    let res: Response;
    try {
      res = await c.fetch(current, { method: o.method ?? 'GET', headers, redirect: 'manual', signal });
    } catch (err) {
      throw networkError(c, o.file, err, current);
    }
    const loc = res.headers.get('location');
    if (!isRedirect(res.status) || !loc) return { res, url: current };
    o.onResponse?.(res);
    const next = new URL(loc, current);
    if (o.stopAtRedirect?.(res, next)) return { res, url: current };
    await res.body?.cancel().catch(() => undefined);
    if (hop >= MAX_REDIRECTS) throw new HubError(c.repo, o.file, `more than ${MAX_REDIRECTS} redirects (last to ${next.origin}${next.pathname})`, 'protocol');
    current = next;
  }
}

/** A request that failed without an answer: cancelled, timed out, refused, cut. */
export function networkError(c: HubClient, file: string | undefined, err: unknown, url?: URL): HubError {
  if (c.signal?.aborted) return new HubError(c.repo, file, 'download cancelled', 'cancelled');
  if (err instanceof HubError) return err;
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || (isAbort(err) && !c.signal?.aborted)) {
    return new HubError(c.repo, file, `no answer from ${url?.origin ?? c.endpoint} in time (timed out)`, 'network');
  }
  const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new HubError(c.repo, file, `cannot reach ${url?.origin ?? c.endpoint} (${why})`, 'network');
}

/** The page where a user requests access to a gated model. */
export const modelPage = (c: HubClient): string => `${c.endpoint}/${c.repo}`;

/**
 * The one-line error for a refused request. `what` says what was asked for: the repo's file list
 * (at a revision) or one file. The Hub's X-Error-Code (GatedRepo, RepoNotFound, RevisionNotFound,
 * EntryNotFound) decides when present.
 */
export function httpError(c: HubClient, res: Response, what: { file?: string; revision: string }): HubError {
  const code = res.headers.get('x-error-code') ?? '';
  const hint = (res.headers.get('x-error-message') ?? '').toLowerCase();
  const file = what.file;
  const gated = code === 'GatedRepo' || hint.includes('gated');
  const tokenHelp = 'set HF_TOKEN or save a token in $HF_HOME/token (huggingface-cli login writes it)';
  if (res.status === 401 || res.status === 403) {
    if (!c.token) {
      return gated
        ? new HubError(c.repo, file, `this model is gated: it needs a token (${tokenHelp}) and access requested on ${modelPage(c)}`, 'gated')
        : new HubError(c.repo, file, `the Hub wants a token (HTTP ${res.status}): the model is private or gated, or does not exist; ${tokenHelp}, and for a gated model request access on ${modelPage(c)}`, 'auth');
    }
    if (gated || res.status === 403) {
      return new HubError(c.repo, file, `access must be requested on ${modelPage(c)} (the token from ${c.tokenSource} has none${gated ? ' yet: the model is gated' : ''}, HTTP ${res.status})`, gated ? 'gated' : 'forbidden');
    }
    return new HubError(c.repo, file, `the Hub refused the token from ${c.tokenSource} (HTTP 401): check it, and for a gated or private model that it has access (${modelPage(c)})`, 'auth');
  }
  if (res.status === 404) {
    if (code === 'RevisionNotFound') return new HubError(c.repo, file, `no revision "${what.revision}" (a branch, tag or commit) on ${c.endpoint}`, 'revision-not-found');
    if (code === 'EntryNotFound' || (file && code !== 'RepoNotFound')) return new HubError(c.repo, file, `not found at revision "${what.revision}" on ${c.endpoint}`, 'file-not-found');
    return new HubError(c.repo, file, `no such model on ${c.endpoint} (check the name; a private model needs a token)`, 'repo-not-found');
  }
  if (res.status === 429) return new HubError(c.repo, file, 'the Hub is rate-limiting requests (HTTP 429): wait a minute and pull again', 'http');
  return new HubError(c.repo, file, `the Hub answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, 'http');
}
