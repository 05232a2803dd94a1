// Where the Hub and the cache are, from the same environment variables huggingface_hub reads, so
// Python and the studio agree: HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_TOKEN / HF_TOKEN_PATH,
// HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), HF_HUB_DOWNLOAD_TIMEOUT, HF_HUB_ETAG_TIMEOUT.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type Env = Record<string, string | undefined>;

export interface HubSettings {
  /** The Hub's base URL, without a trailing slash. */
  endpoint: string;
  /** The hub cache folder (`models--ORG--NAME` folders live here). */
  cacheDir: string;
  token?: string;
  /** Where the token came from, for messages (`HF_TOKEN` or the token file's path). */
  tokenSource?: string;
  offline: boolean;
  /** Seconds without a byte before a transfer is given up. */
  downloadTimeout: number;
  /** Seconds to wait for the metadata requests (file list, HEAD). */
  metadataTimeout: number;
}

const truthy = (v: string | undefined): boolean => v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());

const expandHome = (p: string): string => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface` (as huggingface_hub). */
export function hfHome(env: Env = process.env): string {
  if (env.HF_HOME) return path.resolve(expandHome(env.HF_HOME));
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache');
  return path.resolve(xdg, 'huggingface');
}

/** `$HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`. */
export function hubCacheDir(env: Env = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  return explicit ? path.resolve(expandHome(explicit)) : path.join(hfHome(env), 'hub');
}

/** The user's token: HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), else the token file. */
export function readToken(env: Env = process.env): { token?: string; source?: string } {
  for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) {
    const t = env[k]?.trim();
    if (t) return { token: t, source: k };
  }
  const file = env.HF_TOKEN_PATH ? path.resolve(expandHome(env.HF_TOKEN_PATH)) : path.join(hfHome(env), 'token');
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > 4096) return {};
    const t = fs.readFileSync(file, 'utf8').trim();
    return t ? { token: t, source: file } : {};
  } catch {
    return {};
  }
}

function seconds(v: string | undefined, fallback: number): number {
  const x = v === undefined ? NaN : Number(v);
  return Number.isFinite(x) && x > 0 ? x : fallback;
}

export function hubSettings(env: Env = process.env): HubSettings {
  const endpoint = (env.HF_ENDPOINT?.trim() || 'https://huggingface.co').replace(/\/+$/, '');
  const { token, source } = readToken(env);
  return {
    endpoint,
    cacheDir: hubCacheDir(env),
    token,
    tokenSource: source,
    offline: truthy(env.HF_HUB_OFFLINE) || truthy(env.TRANSFORMERS_OFFLINE),
    downloadTimeout: seconds(env.HF_HUB_DOWNLOAD_TIMEOUT, 30),
    metadataTimeout: seconds(env.HF_HUB_ETAG_TIMEOUT, 30),
  };
}
