// The export service: a LoRA adapter folded into its base model as a Hugging Face folder (PEFT's
// merge_and_unload, optionally with an ONNX decoder), or a model / adapter as GGUF for llama.cpp,
// Ollama and LM Studio; and exportRun, a finished run of a project exported one of those ways
// (the studio's runs.export).

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError, type EXPORT_GGUF_TYPES, type Params, type RunExportResult } from '../api.ts';
import { mergeToFolder } from '../export/hf-folder.ts';
import { type GgufType, exportGguf } from '../export/gguf.ts';
import { fsyncDir } from '../store/atomic.ts';
import { ADAPTER_DIR, MODEL_DIR, type RunInfo, readRun, removeTree } from '../store/runs.ts';
import { requireDir } from './files.ts';

export { type MergeResult, mergeToFolder as mergeAdapter } from '../export/hf-folder.ts';
export { GGUF_TYPES, type GgufType, exportGguf } from '../export/gguf.ts';

// The contract's GGUF types are the exporter's: a compile-time check.
const sameGgufTypes: [(typeof EXPORT_GGUF_TYPES)[number]] extends [GgufType] ? ([GgufType] extends [(typeof EXPORT_GGUF_TYPES)[number]] ? true : false) : false = true;
void sameGgufTypes;

export interface RunExportRequest extends Omit<Params<'runs.export'>, 'project'> {
  /** The project the run is saved in. */
  project: string;
  /** The run lives in the engine's temporary project (none was open): default outputs go next to its `out` copy, not into the temp folder. */
  temporary?: boolean;
}

/** Outputs being written now (two exports to one path would race). */
const writing = new Set<string>();

/** Where an export goes unless told: <run>/export/merged, …/adapter, …/model-f16.gguf (adapter-f16.gguf with loraOnly). */
export function defaultExportPath(info: Pick<RunInfo, 'dir' | 'exportTo'>, kind: RunExportRequest['kind'], o: { ggufType?: GgufType; loraOnly?: boolean; temporary?: boolean } = {}): string {
  const root = o.temporary && info.exportTo ? `${info.exportTo}-export` : path.join(info.dir, 'export');
  if (kind !== 'gguf') return path.join(root, kind);
  return path.join(root, `${o.loraOnly ? 'adapter' : 'model'}-${o.ggufType ?? 'f16'}.gguf`);
}

/** The run's result folder and what it is; refused while it trains or when it has none. */
function runResult(project: string, runId: string): { info: RunInfo; src: string; lora: boolean } {
  let info: RunInfo;
  try {
    info = readRun(project, runId);
  } catch (e) {
    throw new ApiError('not_found', `no run ${runId} in ${project}: ${(e as Error).message}`);
  }
  if (info.effectiveStatus === 'running') throw new ApiError('busy', `run ${runId} is training; export it once it has finished or is stopped`);
  if (info.output !== ADAPTER_DIR && info.output !== MODEL_DIR) {
    throw new ApiError('failed', `run ${runId} has no adapter or model yet (status ${info.effectiveStatus}): ${info.dir}`);
  }
  const src = path.join(info.dir, info.output);
  if (!fs.existsSync(src)) throw new ApiError('not_found', `run ${runId}: its result folder ${src} is gone`);
  return { info, src, lora: info.output === ADAPTER_DIR };
}

/**
 * Exports a finished run (completed, or stopped with its adapter or model): `merged` a Hugging
 * Face folder (a LoRA run's adapter merged into its base; a full run's model folder), `adapter`
 * a copy of the PEFT adapter folder (LoRA runs), `gguf` one GGUF file (merged; `loraOnly` the
 * adapter alone) with its Ollama Modelfile. Folders are written under a temporary name and
 * renamed into place; an existing output is replaced only with `overwrite`.
 */
export async function exportRun(p: RunExportRequest): Promise<RunExportResult> {
  const { info, src, lora } = runResult(p.project, p.runId);
  const type: GgufType = p.ggufType ?? 'f16';
  const out = path.resolve(p.out ?? defaultExportPath(info, p.kind, { ggufType: type, loraOnly: p.loraOnly, temporary: p.temporary }));
  if (out === src || out.startsWith(src + path.sep) || src.startsWith(out + path.sep)) {
    throw new ApiError('invalid_params', `out: ${out} would overwrite the run's own ${info.output} folder`);
  }
  if (p.kind === 'adapter' && !lora) throw new ApiError('invalid_params', `run ${p.runId} is a full fine-tuning run: it has no adapter; export it merged (its model folder) or as GGUF`);
  if (p.loraOnly && (p.kind !== 'gguf' || !lora)) throw new ApiError('invalid_params', 'loraOnly writes a LoRA run\'s adapter as GGUF (kind gguf)');
  if (p.kind === 'gguf' && info.config.task === 'seq-cls') throw new ApiError('invalid_params', `run ${p.runId} trained a classifier; GGUF holds language models (export it merged instead)`);
  if (writing.has(out)) throw new ApiError('busy', `${out} is being exported already`);
  writing.add(out);
  try {
    await new Promise((ok) => setImmediate(ok)); // let the engine answer what is queued before the heavy work
    if (p.kind === 'gguf') return await ggufExport(p, info, src, lora, out, type);
    const base = info.config.model;
    if (p.kind === 'merged' && lora) requireDir(base, `run ${p.runId}'s base model folder`);
    writeFolderAtomic(out, p.overwrite ?? false, (tmp) => {
      if (p.kind === 'merged' && lora) mergeToFolder(base, src, tmp);
      else copyFiles(src, tmp); // the adapter, or a full run's model folder
    });
    const files = listFiles(out);
    return { runId: p.runId, kind: p.kind, out, bytes: files.reduce((a, f) => a + fs.statSync(path.join(out, f)).size, 0), files };
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError('failed', `cannot export run ${p.runId} to ${out}: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    writing.delete(out);
  }
}

async function ggufExport(p: RunExportRequest, info: RunInfo, src: string, lora: boolean, out: string, type: GgufType): Promise<RunExportResult> {
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new ApiError('failed', `${out} is a folder; a GGUF export writes one .gguf file`);
  if (fs.existsSync(out) && !p.overwrite) throw new ApiError('failed', `${out} exists already; replace it (overwrite) or choose another path`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const base = lora ? requireDir(info.config.model, `run ${p.runId}'s base model folder`) : src;
  const r = await exportGguf({ model: base, adapter: lora ? src : undefined, out, type, force: p.overwrite ?? false, loraOnly: p.loraOnly ?? false, name: info.name || info.id });
  return { runId: p.runId, kind: 'gguf', out: r.out, bytes: fs.statSync(r.out).size, files: [r.out, r.modelfile] };
}

/** Fills a temporary sibling of `out`, then renames it into place (an old `out` is renamed away first, then deleted). */
function writeFolderAtomic(out: string, overwrite: boolean, fill: (tmp: string) => void): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new ApiError('failed', `${out} is a file; this export writes a folder`);
    if (!overwrite && fs.readdirSync(out).length > 0) throw new ApiError('failed', `${out} exists already; replace it (overwrite) or choose another path`);
  }
  const parent = path.dirname(out);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.tmp-${path.basename(out)}-${randomBytes(4).toString('hex')}`);
  try {
    fill(tmp);
    if (fs.existsSync(out)) removeTree(out);
    fs.renameSync(tmp, out);
    fsyncDir(parent);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Copies a result folder's files (adapter and model folders are flat). */
function copyFiles(src: string, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) if (e.isFile()) fs.copyFileSync(path.join(src, e.name), path.join(dest, e.name));
}

/** The files under a folder, relative to it, sorted. */
function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const name = rel ? path.join(rel, e.name) : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, name));
    else if (e.isFile()) out.push(name);
  }
  return out.sort();
}
