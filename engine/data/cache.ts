// Tokenized datasets and their disk cache.
//
// The cache key is a SHA-256 over the dataset's content (every example's text and label, as
// imported), the tokenizer's fingerprint (its files' bytes and config) and the settings
// (special tokens, max length, …). Same data + same tokenizer + same settings = same file,
// whatever the path or modification time; any change = a new file. Files are written to a
// temporary name and renamed, so a crash never leaves a half-written cache entry behind.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenBuffer, truncateIds } from './token-buffer.ts';
import type { TextTokenizer } from './tokenizer.ts';
import type { ProgressFn } from './types.ts';

export const CACHE_FORMAT_VERSION = 1;
const MAGIC = 'LSTK';

export function defaultCacheDir(): string {
  return join(tmpdir(), 'lora-studio-cache');
}

/** A tokenized dataset: all token ids in one array, example i at tokens[offsets[i], offsets[i+1]). */
export class TokenizedDataset {
  constructor(
    readonly offsets: Int32Array,
    readonly tokens: Int32Array,
    readonly key: string,
    readonly fromCache: boolean,
    readonly file?: string,
    /** threads that tokenized it (0 when read from the cache) */
    readonly threads: number = fromCache ? 0 : 1,
  ) {}

  get count(): number {
    return this.offsets.length - 1;
  }

  get totalTokens(): number {
    return this.offsets[this.offsets.length - 1]!;
  }

  get(i: number): Int32Array {
    return this.tokens.subarray(this.offsets[i]!, this.offsets[i + 1]!);
  }

  lengths(): Int32Array {
    const out = new Int32Array(this.count);
    for (let i = 0; i < out.length; i++) out[i] = this.offsets[i + 1]! - this.offsets[i]!;
    return out;
  }

  /** As number[][] (what packForCausalLM and padBatch take). */
  toArrays(): number[][] {
    const out: number[][] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = Array.from(this.get(i));
    return out;
  }
}

/** SHA-256 over the examples' text and labels, in order. */
export function contentHash(examples: { text: string; label?: number | string }[]): string {
  const h = createHash('sha256');
  for (const e of examples) {
    h.update(e.text);
    h.update(e.label === undefined ? '\u0000-\n' : `\u0000${typeof e.label}:${e.label}\n`);
  }
  return h.digest('hex');
}

/** What identifies a tokenizer: its fingerprint when it has one, else its behaviour on a probe. */
export function tokenizerIdentity(tk: TextTokenizer): string {
  const fp = (tk as { fingerprint?: string }).fingerprint;
  if (fp) return fp;
  const probe = 'The quick brown fox — 123 <|endoftext|> [CLS] naïve 日本';
  return createHash('sha256')
    .update(JSON.stringify([tk.kind, tk.vocabSize, tk.eosTokenId, tk.bosTokenId, tk.padTokenId, tk.encode(probe)]))
    .digest('hex');
}

export interface TokenizeOptions {
  /** Where cache files go; default os.tmpdir()/lora-studio-cache. null: no cache. */
  cacheDir?: string | null;
  /** Passed to encode(); part of the cache key. */
  addSpecialTokens?: boolean;
  /** Truncate each example to this many tokens (keeps a trailing EOS/SEP); part of the key. */
  maxLength?: number;
  /** Anything else that changes the result; part of the key. */
  settings?: Record<string, unknown>;
  /** Precomputed contentHash(examples). */
  contentHash?: string;
  /** Tokenize in this many worker threads (default 1: in this thread). Needs a tokenizer from
   * loadTokenizer (workers reload it from its folder); falls back to one thread if workers
   * cannot start. Small datasets (< 4 MB of text) always use one thread. */
  workers?: number;
  /** Below this much text (characters) workers are not worth starting (default 4,000,000). */
  workersMinChars?: number;
  onProgress?: ProgressFn;
}

export function cacheKey(content: string, tokenizer: string, settings: Record<string, unknown>): string {
  return createHash('sha256')
    .update(JSON.stringify({ v: CACHE_FORMAT_VERSION, content, tokenizer, settings }))
    .digest('hex');
}

async function readCache(file: string, key: string): Promise<TokenizedDataset | null> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return null;
  }
  try {
    if (buf.subarray(0, 4).toString('latin1') !== MAGIC) return null;
    const version = buf.readUInt32LE(4);
    if (version !== CACHE_FORMAT_VERSION) return null;
    const hlen = buf.readUInt32LE(8);
    const header = JSON.parse(buf.subarray(12, 12 + hlen).toString('utf8')) as { key: string; count: number; total: number };
    if (header.key !== key) return null;
    let off = 12 + hlen;
    off = (off + 3) & ~3;
    const need = off + 4 * (header.count + 1) + 4 * header.total;
    if (buf.length !== need) return null;
    // copy into aligned arrays (Buffer's pool offset may not be 4-aligned)
    const offsets = new Int32Array(header.count + 1);
    const tokens = new Int32Array(header.total);
    Buffer.from(offsets.buffer).set(buf.subarray(off, off + 4 * offsets.length));
    off += 4 * offsets.length;
    Buffer.from(tokens.buffer).set(buf.subarray(off, off + 4 * tokens.length));
    if (offsets[0] !== 0 || offsets[header.count] !== header.total) return null;
    return new TokenizedDataset(offsets, tokens, key, true, file);
  } catch {
    return null;
  }
}

async function writeCache(file: string, dir: string, ds: TokenizedDataset): Promise<void> {
  await mkdir(dir, { recursive: true });
  const header = Buffer.from(JSON.stringify({ key: ds.key, count: ds.count, total: ds.totalTokens, created: new Date().toISOString() }), 'utf8');
  const pre = Buffer.alloc(12);
  pre.write(MAGIC, 0, 'latin1');
  pre.writeUInt32LE(CACHE_FORMAT_VERSION, 4);
  pre.writeUInt32LE(header.length, 8);
  const padLen = ((12 + header.length + 3) & ~3) - (12 + header.length);
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, [
      pre,
      header,
      Buffer.alloc(padLen),
      Buffer.from(ds.offsets.buffer, ds.offsets.byteOffset, ds.offsets.byteLength),
      Buffer.from(ds.tokens.buffer, ds.tokens.byteOffset, ds.tokens.byteLength),
    ]);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Tokenize every example, reusing the disk cache when the same work was done before. */
export async function tokenizeDataset(
  examples: { text: string; label?: number | string }[],
  tokenizer: TextTokenizer,
  opts: TokenizeOptions = {},
): Promise<TokenizedDataset> {
  const settings = { addSpecialTokens: opts.addSpecialTokens ?? null, maxLength: opts.maxLength ?? null, ...(opts.settings ?? {}) };
  const content = opts.contentHash ?? contentHash(examples);
  const key = cacheKey(content, tokenizerIdentity(tokenizer), settings);
  const dir = opts.cacheDir === null ? null : (opts.cacheDir ?? defaultCacheDir());
  const file = dir ? join(dir, `${key.slice(0, 40)}.tok`) : undefined;
  if (file) {
    opts.onProgress?.({ done: 0, total: examples.length, phase: 'cache' });
    const hit = await readCache(file, key);
    if (hit) {
      opts.onProgress?.({ done: examples.length, total: examples.length, phase: 'cache' });
      return hit;
    }
  }
  const n = examples.length;
  const modelDir = (tokenizer as { modelDir?: string }).modelDir;
  if ((opts.workers ?? 1) > 1 && modelDir) {
    let chars = 0;
    for (const e of examples) chars += e.text.length;
    if (chars >= (opts.workersMinChars ?? 4_000_000)) {
      const keepW = opts.addSpecialTokens !== false && tokenizer.kind === 'wordpiece' ? lastSpecial(tokenizer) : null;
      const par = await tokenizeInWorkers(examples, modelDir, opts.workers!, opts, keepW, key, file).catch((e: unknown) => { if (process.env.LORA_STUDIO_DEBUG) console.error("tokenize workers:", e); return null; });
      if (par) {
        if (file && dir) await writeCache(file, dir, par).catch(() => undefined);
        return par;
      }
    }
  }
  const buf = new TokenBuffer(n);
  // The special token a truncation keeps at the end: [SEP] for WordPiece with special tokens.
  const keep = opts.addSpecialTokens !== false && tokenizer.kind === 'wordpiece' ? lastSpecial(tokenizer) : null;
  const encOpts = opts.addSpecialTokens === undefined ? undefined : { addSpecialTokens: opts.addSpecialTokens };
  const step = Math.max(1, Math.floor(n / 100));
  for (let i = 0; i < n; i++) {
    buf.push(truncateIds(tokenizer.encode(examples[i]!.text, encOpts), opts.maxLength, keep));
    if ((i + 1) % step === 0 || i + 1 === n) {
      opts.onProgress?.({ done: i + 1, total: n, phase: 'tokenize' });
      // let other work (progress events, IPC) through on long runs
      if ((i + 1) % (step * 10) === 0) await new Promise((r) => setImmediate(r));
    }
  }
  const ds = new TokenizedDataset(buf.offsets, buf.filled(), key, false, file);
  if (file && dir) {
    try {
      await writeCache(file, dir, ds);
    } catch {
      // A cache that cannot be written (read-only disk, full) only costs time next run.
    }
  }
  return ds;
}

function lastSpecial(tk: TextTokenizer): number | null {
  const ids = tk.encode('', { addSpecialTokens: true });
  return ids.length ? ids[ids.length - 1]! : null;
}

/** Contiguous shards of about equal text size, one per worker, tokenized in parallel. */
async function tokenizeInWorkers(
  examples: { text: string }[],
  modelDir: string,
  workers: number,
  opts: TokenizeOptions,
  keep: number | null,
  key: string,
  file: string | undefined,
): Promise<TokenizedDataset> {
  const { Worker } = await import('node:worker_threads');
  const n = examples.length;
  let total = 0;
  for (const e of examples) total += e.text.length;
  // More shards than workers so progress moves and a slow worker does not hold the rest back.
  const nShards = Math.min(n, workers * 8);
  const bounds: number[] = [0];
  let acc = 0;
  for (let i = 0; i < n && bounds.length < nShards; i++) {
    acc += examples[i]!.text.length;
    if (acc >= (total * bounds.length) / nShards) bounds.push(i + 1);
  }
  bounds.push(n);
  const shards = bounds.slice(0, -1).map((s, k) => [s, bounds[k + 1]!] as const).filter(([s, e]) => e > s);
  // From TypeScript sources (tsx, vitest) the entry registers tsx in the worker thread first.
  const url = new URL(import.meta.url.endsWith('.ts') ? './tokenize-worker.mjs' : './tokenize-worker.js', import.meta.url);
  const pool = Array.from({ length: Math.min(workers, shards.length) }, () => new Worker(url));
  const results = new Array<{ offsets: Int32Array; tokens: Int32Array }>(shards.length);
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = (): void => {
              if (next >= shards.length) return resolve();
              const id = next++;
              const [s, e] = shards[id]!;
              w.postMessage({ id, modelDir, texts: examples.slice(s, e).map((x) => x.text), addSpecialTokens: opts.addSpecialTokens, maxLength: opts.maxLength, keep });
            };
            w.on('message', (res: { id: number; offsets?: Int32Array; tokens?: Int32Array; error?: string }) => {
              if (res.error || !res.offsets || !res.tokens) return reject(new Error(res.error ?? 'worker failed'));
              results[res.id] = { offsets: res.offsets, tokens: res.tokens };
              done += shards[res.id]![1] - shards[res.id]![0];
              opts.onProgress?.({ done, total: n, phase: 'tokenize' });
              send();
            });
            w.on('error', reject);
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  let totalTokens = 0;
  for (const r of results) totalTokens += r.tokens.length;
  const offsets = new Int32Array(n + 1);
  const tokens = new Int32Array(totalTokens);
  let p = 0;
  shards.forEach(([s], k) => {
    const r = results[k]!;
    tokens.set(r.tokens, p);
    for (let i = 1; i < r.offsets.length; i++) offsets[s + i] = p + r.offsets[i]!;
    p += r.tokens.length;
  });
  return new TokenizedDataset(offsets, tokens, key, false, file, pool.length);
}
