// A loopback stand-in for the Hugging Face Hub's public HTTP API, written for these tests:
//   GET  /api/models/{repo}/revision/{rev}     -> { id, sha, siblings: [{ rfilename }] }
//   HEAD|GET /{repo}/resolve/{rev}/{file}      -> regular files: 200, ETag = git blob sha1;
//                                                 LFS files: 302 to storage, X-Linked-Etag = sha256,
//                                                 X-Linked-Size; X-Repo-Commit on both
//   GET  /storage/{sha256}                      -> the bytes, with Range support (206 / 416)
// plus the failures the client must survive: gated repos, 404s, a transfer cut in the middle, a
// stalled transfer, corrupted bytes, a storage host that ignores Range. It listens on 127.0.0.1
// only, and closes itself after `lifetimeMs` whatever happens.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCommit {
  sha: string;
  files: Map<string, Buffer>;
}

export interface FakeRepo {
  id: string;
  commits: FakeCommit[];
  /** Branch and tag names -> commit sha. */
  refs: Map<string, string>;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  gatedToken?: string;
}

export interface LoggedRequest {
  server: 'hub' | 'storage';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export const gitBlobSha1 = (data: Buffer): string => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
export const fakeCommitSha = (seed: string): string => createHash('sha1').update(seed).digest('hex');

/** LFS on the real Hub: weights and anything large (here: over 1 MB). */
export const isLfs = (file: string, data: Buffer): boolean => /\.(safetensors|bin|onnx|gguf|pt|h5|msgpack)$/.test(file) || data.length > 1_000_000;

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly log: LoggedRequest[] = [];
  /** `file` -> bytes sent before the connection is destroyed, on the next GET of that file only. */
  readonly cutOnce = new Map<string, number>();
  /** `file` -> bytes sent before the transfer stalls (never finishes), on the next GET only. */
  readonly stallOnce = new Map<string, number>();
  /** Files whose next GET serves bytes that do not match their hash. */
  readonly corruptOnce = new Set<string>();
  /** Storage answers 200 with the whole file even when asked for a range. */
  ignoreRange = false;
  /** Where LFS files redirect: a path on the Hub itself (relative Location) or another origin. */
  lfsRedirect: 'relative' | 'other-origin' = 'relative';

  private hub?: http.Server;
  private storage?: http.Server;
  private blobs = new Map<string, { file: string; data: Buffer }>();
  private timer?: NodeJS.Timeout;
  endpoint = '';
  storageOrigin = '';

  constructor(private lifetimeMs = 60_000) {}

  addRepo(id: string, commits: { files: Record<string, Buffer | string>; refs?: string[] }[], o: { gatedToken?: string } = {}): FakeRepo {
    const repo: FakeRepo = { id, commits: [], refs: new Map(), gatedToken: o.gatedToken };
    commits.forEach((c, i) => {
      const files = new Map(Object.entries(c.files).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
      const sha = fakeCommitSha(`${id}#${i}`);
      repo.commits.push({ sha, files });
      for (const r of c.refs ?? []) repo.refs.set(r, sha);
      for (const [file, data] of files) if (isLfs(file, data)) this.blobs.set(sha256(data), { file, data });
    });
    this.repos.set(id, repo);
    return repo;
  }

  commit(repo: string, rev: string): FakeCommit | undefined {
    const r = this.repos.get(repo);
    if (!r) return undefined;
    const sha = r.refs.get(rev) ?? rev;
    return r.commits.find((c) => c.sha === sha);
  }

  async start(): Promise<this> {
    this.hub = http.createServer((req, res) => this.onHub(req, res));
    this.storage = http.createServer((req, res) => this.onStorage(req, res, 'storage'));
    const listen = (s: http.Server): Promise<number> => new Promise((ok) => s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port)));
    this.endpoint = `http://127.0.0.1:${await listen(this.hub)}`;
    this.storageOrigin = `http://127.0.0.1:${await listen(this.storage)}`;
    this.timer = setTimeout(() => void this.close(), this.lifetimeMs);
    this.timer.unref();
    return this;
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await Promise.all([this.hub, this.storage].map((s) => new Promise<void>((ok) => {
      if (!s?.listening) return ok();
      s.close(() => ok());
      s.closeAllConnections();
    })));
  }

  requests(server: 'hub' | 'storage', method?: string): LoggedRequest[] {
    return this.log.filter((r) => r.server === server && (!method || r.method === method));
  }

  private record(server: 'hub' | 'storage', req: http.IncomingMessage): void {
    this.log.push({ server, method: req.method ?? '', path: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });
  }

  private fail(res: http.ServerResponse, status: number, code?: string, message = ''): void {
    res.writeHead(status, { 'content-type': 'application/json', ...(code ? { 'x-error-code': code } : {}), ...(message ? { 'x-error-message': message } : {}) });
    res.end(JSON.stringify({ error: message || code || String(status) }));
  }

  /** Finds the repo in `parts` (ORG/NAME or NAME) and checks its gate; returns the rest of the path. */
  private repoOf(parts: string[], req: http.IncomingMessage, res: http.ServerResponse, marker: string): { repo: FakeRepo; rest: string[] } | null {
    const at = parts.indexOf(marker);
    const id = parts.slice(0, at).join('/');
    const repo = at > 0 ? this.repos.get(id) : undefined;
    if (!repo) {
      this.fail(res, 404, 'RepoNotFound', 'Repository not found');
      return null;
    }
    if (repo.gatedToken) {
      const auth = req.headers.authorization;
      if (!auth) { this.fail(res, 401, 'GatedRepo', 'Access to model is restricted. You must have access to it and be authenticated to access it. Please log in.'); return null; }
      if (auth !== `Bearer ${repo.gatedToken}`) { this.fail(res, 403, 'GatedRepo', 'Access to model is restricted and you are not in the authorized list.'); return null; }
    }
    return { repo, rest: parts.slice(at + 1) };
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.endpoint);
    if (url.pathname.startsWith('/storage/')) return this.onStorage(req, res, 'hub');
    this.record('hub', req);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'api' && parts[1] === 'models') {
      const found = this.repoOf(parts.slice(2), req, res, 'revision');
      if (!found) return;
      const rev = found.rest.join('/');
      const c = this.commit(found.repo.id, rev);
      if (!c) return this.fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: found.repo.id, modelId: found.repo.id, sha: c.sha, siblings: [...c.files.keys()].map((rfilename) => ({ rfilename })) }));
      return;
    }
    const found = this.repoOf(parts, req, res, 'resolve');
    if (!found) return;
    const [rev, ...fileParts] = found.rest;
    const file = fileParts.join('/');
    const c = this.commit(found.repo.id, rev ?? '');
    if (!c) return this.fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const data = c.files.get(file);
    if (!data) return this.fail(res, 404, 'EntryNotFound', `${file} does not exist`);
    if (isLfs(file, data)) {
      const sha = sha256(data);
      const location = this.lfsRedirect === 'relative' ? `/storage/${sha}?file=${encodeURIComponent(file)}` : `${this.storageOrigin}/storage/${sha}?file=${encodeURIComponent(file)}`;
      res.writeHead(302, { location, 'x-repo-commit': c.sha, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(data.length), etag: `"${gitBlobSha1(Buffer.from(`pointer ${sha}`))}"`, 'content-length': '0' });
      res.end();
      return;
    }
    this.sendBytes(req, res, file, data, { 'x-repo-commit': c.sha, etag: `W/"${gitBlobSha1(data)}"` }, false);
  }

  private onStorage(req: http.IncomingMessage, res: http.ServerResponse, server: 'hub' | 'storage'): void {
    this.record(server === 'hub' ? 'hub' : 'storage', req);
    const sha = new URL(req.url ?? '/', 'http://x').pathname.split('/')[2] ?? '';
    const blob = this.blobs.get(sha);
    if (!blob) return this.fail(res, 404);
    this.sendBytes(req, res, blob.file, blob.data, { etag: `"${sha}"` }, true);
  }

  private sendBytes(req: http.IncomingMessage, res: http.ServerResponse, file: string, data: Buffer, headers: Record<string, string>, ranges: boolean): void {
    let body = data;
    let status = 200;
    const h: Record<string, string> = { 'content-type': 'application/octet-stream', ...headers };
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && ranges && !this.ignoreRange) {
      const start = Number(m[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      status = 206;
      body = data.subarray(start);
      h['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    }
    h['content-length'] = String(body.length);
    if (ranges) h['accept-ranges'] = 'bytes';
    res.writeHead(status, h);
    if (req.method === 'HEAD') { res.end(); return; }
    if (this.corruptOnce.delete(file)) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    const cut = this.cutOnce.get(file);
    if (cut !== undefined) {
      this.cutOnce.delete(file);
      res.write(body.subarray(0, cut), () => res.socket?.destroy());
      return;
    }
    const stall = this.stallOnce.get(file);
    if (stall !== undefined) {
      this.stallOnce.delete(file);
      res.write(body.subarray(0, stall)); // and nothing more: the client's idle timer must fire
      return;
    }
    res.end(body);
  }
}
