// `lora-studio models list` and the Models view: the built-in demo model and every model in the
// shared HF cache, with what a user needs to pick one: family, parameter count, stored dtype,
// size on disk, and whether this build can train it (and why not).
import fs from 'node:fs';
import path from 'node:path';
import { inspectModel } from '../models/inspect.ts';
import { openSafetensors } from '../store/safetensors.ts';
import { listCachedRepos, listRefs, listSnapshots, repoCache, snapshotDir, snapshotSize } from './cache.ts';
import { hubCacheDir, type Env } from './settings.ts';
import { SAFETENSORS_INDEX } from './select.ts';

export interface ListedModel {
  /** What to pass to --model: a folder for built-in models, ORG/NAME[@REV] for cached ones. */
  ref: string;
  name: string;
  source: 'built-in' | 'hf-cache';
  dir: string;
  repo?: string;
  commit?: string;
  /** The cached revisions (refs/) that point at this snapshot. */
  revisions?: string[];
  family: string | null;
  architecture: string | null;
  /** Parameters of the base model (from config.json, or counted from the weights' headers). */
  params: number | null;
  /** The stored dtype of the weights (F32, F16, BF16; `F16+F32` when mixed, the largest first). */
  dtype: string | null;
  sizeBytes: number;
  trainable: boolean;
  whyNot?: string;
}

export interface ListOptions {
  env?: Env;
  cacheDir?: string;
  /** Built-in model folders (default: the repository's models/demo-llama). */
  builtIn?: readonly string[];
}

export const DEMO_MODEL_DIR = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-llama');

export function listModels(o: ListOptions = {}): ListedModel[] {
  const out: ListedModel[] = [];
  for (const dir of o.builtIn ?? [DEMO_MODEL_DIR]) {
    if (!fs.existsSync(path.join(dir, 'config.json'))) continue;
    out.push({ ref: dir, name: path.basename(dir), source: 'built-in', dir, sizeBytes: folderSize(dir), ...describeModel(dir) });
  }
  const cacheDir = o.cacheDir ?? hubCacheDir(o.env ?? process.env);
  for (const repo of listCachedRepos(cacheDir)) {
    const rc = repoCache(cacheDir, repo);
    const refs = listRefs(rc);
    for (const commit of listSnapshots(rc)) {
      const revisions = [...refs].filter(([, c]) => c === commit).map(([r]) => r);
      const rev = revisions.includes('main') ? undefined : (revisions[0] ?? commit);
      const ref = rev === undefined ? repo : `${repo}@${rev}`;
      const dir = snapshotDir(rc, commit);
      out.push({ ref, name: ref, source: 'hf-cache', dir, repo, commit, revisions, sizeBytes: snapshotSize(rc, commit).bytes, ...describeModel(dir) });
    }
  }
  return out;
}

type Description = Pick<ListedModel, 'family' | 'architecture' | 'params' | 'dtype' | 'trainable' | 'whyNot'>;

/** Family, size, dtype and trainability of one model folder (config.json and safetensors headers only). */
export function describeModel(dir: string): Description {
  const short = (msg: string): string => msg.split(dir + path.sep).join('');
  let family: string | null = null;
  let architecture: string | null = null;
  let params: number | null = null;
  let whyNot: string | undefined;
  try {
    const info = inspectModel(dir, { method: 'full' });
    family = info.family;
    architecture = info.architecture;
    params = info.allParams;
  } catch (e) {
    whyNot = short((e as Error).message);
    const cfg = readConfig(dir);
    family = typeof cfg?.model_type === 'string' ? cfg.model_type : null;
    architecture = Array.isArray(cfg?.architectures) && typeof cfg.architectures[0] === 'string' ? cfg.architectures[0] : null;
  }
  const weights = weightFiles(dir);
  let dtype: string | null = null;
  if (weights.length) {
    try {
      const h = headerStats(weights.map((f) => path.join(dir, f)));
      dtype = h.dtype;
      params ??= h.elements;
    } catch (e) {
      whyNot ??= short((e as Error).message);
    }
  } else {
    whyNot ??= `no safetensors weights (${SAFETENSORS_INDEX} or model.safetensors): pull them, or convert the checkpoint`;
  }
  if (!hasTokenizer(dir)) whyNot ??= 'no tokenizer this build reads (tokenizer.json, vocab.json + merges.txt, or vocab.txt)';
  return { family, architecture, params, dtype, trainable: whyNot === undefined, ...(whyNot !== undefined ? { whyNot } : {}) };
}

function readConfig(dir: string): Record<string, unknown> | null {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as unknown;
    return j && typeof j === 'object' && !Array.isArray(j) ? (j as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The safetensors files of a model folder: the index's shards, or model.safetensors, or any top-level ones. */
function weightFiles(dir: string): string[] {
  const index = path.join(dir, SAFETENSORS_INDEX);
  if (fs.existsSync(index)) {
    try {
      const map = (JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      const shards = [...new Set(Object.values(map).map(String))].sort();
      if (shards.length) return shards;
    } catch {
      /* a broken index: fall through to what is there */
    }
  }
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return ['model.safetensors'];
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort();
  } catch {
    return [];
  }
}

function headerStats(files: string[]): { dtype: string; elements: number } {
  const bytes = new Map<string, number>();
  let elements = 0;
  for (const f of files) {
    const st = openSafetensors(f);
    try {
      for (const t of st.tensors.values()) {
        bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + (t.end - t.begin));
        elements += t.shape.reduce((a, b) => a * b, 1);
      }
    } finally {
      st.close();
    }
  }
  const order = [...bytes].sort((a, b) => b[1] - a[1]).map(([d]) => d);
  return { dtype: order.join('+') || 'empty', elements };
}

function hasTokenizer(dir: string): boolean {
  const has = (f: string): boolean => fs.existsSync(path.join(dir, f));
  return has('tokenizer.json') || (has('vocab.json') && has('merges.txt')) || has('vocab.txt');
}

function folderSize(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += folderSize(p);
    else {
      try {
        n += fs.statSync(p).size;
      } catch {
        /* dangling link */
      }
    }
  }
  return n;
}
