// Run folders: runs/<id>/ inside a project. Everything a run needs to be listed, inspected,
// resumed after a crash, and opened in other tools (see docs/FORMATS.md):
//
//   run.json                     config + status + progress + the writing process (pid, host, heartbeat)
//   metrics.jsonl                one line per step event (and per eval), appended
//   samples.jsonl                generated samples, appended
//   log.jsonl                    the trainer's log messages, appended
//   events.out.tfevents.*        the same scalars for TensorBoard
//   checkpoints/step-N/          trainable.safetensors, optimizer.safetensors, trainer_state.json
//   adapter/ (LoRA) | model/ (full)   the result, in PEFT / Hugging Face layout
//
// Crash safety: whole files are replaced atomically (temp + fsync + rename); a checkpoint is
// written into a hidden temp folder and renamed to step-N when complete, and old checkpoints are
// renamed away before they are deleted, so a step-N folder is always whole. JSONL lines and
// TensorBoard records are appended with one write(2) each, which SIGKILL cannot split; readers
// skip a torn last line (a power cut) and resume rewrites the logs up to the checkpoint.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { fsyncDir, writeFileAtomic, writeJsonAtomic } from './atomic.ts';
import { FormatError } from './errors.ts';
import { isJsonObject, parseJsonObject, readJsonFile, requireInteger, requireNumber, requireString, type JsonObject } from './json.ts';
import { openSafetensors, writeSafetensors } from './safetensors.ts';
import { EventFileWriter, TB_TAGS, isEventFileName, type Scalar, type ScalarPoint } from './tensorboard.ts';
import { projectPaths } from './project.ts';
import type { Checkpoint, TrainOptions, TrainResult } from '../train/types.ts';

export const RUN_FILE = 'run.json';
export const RUN_FORMAT = 'lora-studio.run';
export const RUN_VERSION = 1;
export const METRICS_FILE = 'metrics.jsonl';
export const SAMPLES_FILE = 'samples.jsonl';
export const LOG_FILE = 'log.jsonl';
export const CHECKPOINTS_DIR = 'checkpoints';
export const ADAPTER_DIR = 'adapter';
export const MODEL_DIR = 'model';
export const DOCUMENTS_FILE = 'documents.safetensors';
export const LOCK_FILE = 'run.lock';
export const CHECKPOINT_STATE_FILE = 'trainer_state.json';
export const CHECKPOINT_TRAINABLE_FILE = 'trainable.safetensors';
export const CHECKPOINT_OPTIMIZER_FILE = 'optimizer.safetensors';
export const CHECKPOINT_FORMAT = 'lora-studio.checkpoint';

/** Same pattern as the API's run ids (engine/api.ts RUN_ID). */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** How often a training process rewrites its heartbeat in run.json. */
export const HEARTBEAT_MS = 5_000;
/** A run on another host whose heartbeat is older than this is taken as interrupted. */
export const HEARTBEAT_STALE_MS = 10 * 60_000;

export type StoredRunStatus = 'running' | 'completed' | 'cancelled' | 'failed';
/** 'interrupted': run.json says running, but the process that wrote it is gone. */
export type RunStatus = StoredRunStatus | 'interrupted';

/** Where the training text came from: a file (with its hash, to refuse a changed file on resume) or documents saved in the run. */
export type StoredData =
  | { kind: 'file'; path: string; bytes: number; sha256: string }
  | { kind: 'documents'; file: string; count: number; tokens: number; sha256: string };

/** TrainOptions as stored: every default filled in, paths absolute, no `out` (the run owns its output). */
export type StoredTrainConfig = Omit<TrainOptions, 'data' | 'out'> & { data: StoredData };

export interface RunProcess {
  pid: number;
  host: string;
  startedAt: string;
  heartbeatAt: string;
}

export interface RunSegment {
  /** Step the segment started from (0, or a checkpoint's step). */
  fromStep: number;
  startedAt: string;
  endedAt: string | null;
  pid: number;
  host: string;
}

export interface RunRecord {
  format: typeof RUN_FORMAT;
  version: number;
  id: string;
  name: string;
  status: StoredRunStatus;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
  config: StoredTrainConfig;
  /** Extra copy of the result requested with --out (absolute), if any. */
  exportTo: string | null;
  process: RunProcess | null;
  step: number;
  totalSteps: number | null;
  lastLoss: number | null;
  trainableParams: number | null;
  allParams: number | null;
  /** Blocks (sequences) per epoch and tokens per step, from the trainer's start event. */
  examples: number | null;
  tokensPerStep: number | null;
  /** Training seconds before the current segment (resumed runs continue the clock). */
  elapsedS: number;
  lastCheckpoint: number | null;
  /** Checkpoint interval (optimizer steps) and how many are kept; resume uses the same. */
  checkpointEvery: number | null;
  keepCheckpoints: number | null;
  /** The result folder inside the run ('adapter' or 'model') once written. */
  output: string | null;
  result: TrainResult | null;
  error: string | null;
  segments: RunSegment[];
  /** Keys this version does not know, written back unchanged. */
  extra: JsonObject;
}

export interface RunInfo extends RunRecord {
  dir: string;
  /** The status to show: 'interrupted' when the writer died. */
  effectiveStatus: RunStatus;
}

/** One line of metrics.jsonl (snake_case on disk). */
export interface MetricPoint {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerS: number;
  elapsedS: number;
  etaS: number;
  time: string;
}

export interface EvalPoint {
  step: number;
  evalLoss: number;
  evalPerplexity: number | null;
  tokens: number | null;
  time: string;
}

export interface SampleRecord {
  step: number;
  prompt: string;
  text: string;
  time: string;
}

export interface CheckpointMeta {
  step: number;
  loss: number;
  createdAt: string;
  /** Seconds of training up to this checkpoint, over all segments. */
  elapsedS: number;
  optimizer: { type: 'AdamW'; step: number; beta1: number; beta2: number; eps: number; weightDecay: number };
  /** Where the data stream stands: micro-batches consumed, the epoch and the batch inside it. */
  data: { microBatches: number; epoch: number; batchInEpoch: number; batchesPerEpoch: number | null; examples: number | null };
  /** Data order and dropout derive from the seed; nothing else is random after the LoRA init. */
  rng: { seed: number; shuffle: string; dropout: string; loraInit: string };
  tensors: { name: string; shape: number[] }[];
}

export interface StoredCheckpoint {
  dir: string;
  meta: CheckpointMeta;
  checkpoint: Checkpoint;
}

const nowIso = () => new Date().toISOString();

// ---------------------------------------------------------------------------------------------
// ids, folders, liveness

export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `run-${stamp}-${randomBytes(2).toString('hex')}`;
}

export function checkRunId(id: string): string {
  if (!RUN_ID_PATTERN.test(id)) throw new Error(`invalid run id "${id}": use letters, digits, - and _ (at most 64)`);
  return id;
}

export function runDir(projectDir: string, id: string): string {
  return path.join(projectPaths(projectDir).runs, checkRunId(id));
}

/** Whether a process with this pid exists on this machine. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Whether the process recorded in run.json still runs: on this host, whether its pid exists; on
 * another host (a shared folder), whether its heartbeat is fresh.
 */
export function writerAlive(p: RunProcess | null, now = Date.now(), host = os.hostname()): boolean {
  if (!p) return false;
  if (p.host === host) return pidAlive(p.pid);
  const beat = Date.parse(p.heartbeatAt);
  return Number.isFinite(beat) && now - beat < HEARTBEAT_STALE_MS;
}

export function effectiveStatus(r: RunRecord, now = Date.now()): RunStatus {
  if (r.status !== 'running') return r.status;
  return writerAlive(r.process, now) ? 'running' : 'interrupted';
}

// ---------------------------------------------------------------------------------------------
// run.json

export function parseRunRecord(o: JsonObject, file: string): RunRecord {
  if (o.format !== RUN_FORMAT) throw new FormatError(file, `"format" must be "${RUN_FORMAT}", got ${JSON.stringify(o.format)}`);
  const version = requireInteger(o, 'version', file);
  if (version > RUN_VERSION) throw new FormatError(file, `run format version ${version} is newer than this studio reads (${RUN_VERSION}); update LoRA Studio`);
  const status = requireString(o, 'status', file);
  if (!['running', 'completed', 'cancelled', 'failed'].includes(status)) throw new FormatError(file, `unknown status "${status}"`);
  if (!isJsonObject(o.config)) throw new FormatError(file, '"config" must be an object');
  const config = o.config as unknown as StoredTrainConfig;
  if (!isJsonObject(config.data) || (config.data.kind !== 'file' && config.data.kind !== 'documents')) {
    throw new FormatError(file, '"config.data" must be {"kind": "file" | "documents", ...}');
  }
  requireString(config as unknown as JsonObject, 'model', file);
  const numOrNull = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : null);
  const strOrNull = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : null);
  const proc = isJsonObject(o.process) ? (o.process as unknown as RunProcess) : null;
  const known = new Set(['format', 'version', 'id', 'name', 'status', 'createdAt', 'updatedAt', 'endedAt', 'config', 'exportTo', 'process', 'step',
    'totalSteps', 'lastLoss', 'trainableParams', 'allParams', 'examples', 'tokensPerStep', 'elapsedS', 'lastCheckpoint', 'checkpointEvery', 'keepCheckpoints', 'output', 'result', 'error', 'segments']);
  return {
    format: RUN_FORMAT,
    version,
    id: requireString(o, 'id', file),
    name: typeof o.name === 'string' ? o.name : '',
    status: status as StoredRunStatus,
    createdAt: strOrNull('createdAt') ?? '',
    updatedAt: strOrNull('updatedAt') ?? '',
    endedAt: strOrNull('endedAt'),
    config,
    exportTo: strOrNull('exportTo'),
    process: proc,
    step: typeof o.step === 'number' ? o.step : 0,
    totalSteps: numOrNull('totalSteps'),
    lastLoss: numOrNull('lastLoss'),
    trainableParams: numOrNull('trainableParams'),
    allParams: numOrNull('allParams'),
    examples: numOrNull('examples'),
    tokensPerStep: numOrNull('tokensPerStep'),
    elapsedS: typeof o.elapsedS === 'number' ? o.elapsedS : 0,
    lastCheckpoint: numOrNull('lastCheckpoint'),
    checkpointEvery: numOrNull('checkpointEvery'),
    keepCheckpoints: numOrNull('keepCheckpoints'),
    output: strOrNull('output'),
    result: isJsonObject(o.result) ? (o.result as unknown as TrainResult) : null,
    error: strOrNull('error'),
    segments: Array.isArray(o.segments) ? (o.segments.filter(isJsonObject) as unknown as RunSegment[]) : [],
    extra: Object.fromEntries(Object.entries(o).filter(([k]) => !known.has(k))),
  };
}

function writeRunRecord(dir: string, r: RunRecord): void {
  const { extra, ...rest } = r;
  writeJsonAtomic(path.join(dir, RUN_FILE), { ...extra, ...rest });
}

export function readRunRecord(dir: string): RunRecord {
  return parseRunRecord(readJsonFile(path.join(dir, RUN_FILE), 'run file'), path.join(dir, RUN_FILE));
}

/** One run, with its effective status. */
export function readRun(projectDir: string, id: string): RunInfo {
  const dir = runDir(projectDir, id);
  if (!fs.existsSync(dir)) throw new FormatError(dir, `no run "${id}" in this project`);
  const r = readRunRecord(dir);
  return { ...r, dir, effectiveStatus: effectiveStatus(r) };
}

/** The project's runs, newest first. Folders without a readable run.json are reported in `broken`. */
export function listRuns(projectDir: string): { runs: RunInfo[]; broken: { dir: string; error: string }[] } {
  const root = projectPaths(projectDir).runs;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return { runs: [], broken: [] };
  }
  const runs: RunInfo[] = [];
  const broken: { dir: string; error: string }[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.') || !RUN_ID_PATTERN.test(e.name)) continue;
    const dir = path.join(root, e.name);
    try {
      const r = readRunRecord(dir);
      runs.push({ ...r, dir, effectiveStatus: effectiveStatus(r) });
    } catch (err) {
      broken.push({ dir, error: (err as Error).message });
    }
  }
  runs.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
  return { runs, broken };
}

/** Deletes a run folder (refused while its process runs). The folder is renamed away first, so a crash never leaves half a run. */
export function deleteRun(projectDir: string, id: string): void {
  const info = readRunOrBare(projectDir, id);
  if (info && info.effectiveStatus === 'running') {
    throw new Error(`run ${id} is running (pid ${info.process?.pid} on ${info.process?.host}); stop it before deleting it`);
  }
  const dir = runDir(projectDir, id);
  if (!fs.existsSync(dir)) throw new FormatError(dir, `no run "${id}" in this project`);
  removeTree(dir);
}

function readRunOrBare(projectDir: string, id: string): RunInfo | null {
  try {
    return readRun(projectDir, id);
  } catch {
    return null; // a broken run folder can still be deleted
  }
}

/** Rename to a hidden trash name in the same folder, then delete. */
function removeTree(dir: string): void {
  const trash = path.join(path.dirname(dir), `.trash-${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
  fs.renameSync(dir, trash);
  fsyncDir(path.dirname(dir));
  fs.rmSync(trash, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// JSONL logs

function appendLine(file: string, value: unknown): void {
  // One write call: a SIGKILL cannot leave half a line.
  fs.appendFileSync(file, JSON.stringify(value) + '\n');
}

/** Parsed lines; a line that is not JSON (a torn tail after a power cut) is skipped. */
export function readJsonl(file: string): JsonObject[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: JsonObject[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line);
      if (isJsonObject(v)) out.push(v);
    } catch {
      /* torn or foreign line */
    }
  }
  return out;
}

const n = (v: unknown): number => (typeof v === 'number' ? v : NaN); // NaN is stored as null

export function readMetrics(dir: string): { steps: MetricPoint[]; evals: EvalPoint[] } {
  const steps: MetricPoint[] = [];
  const evals: EvalPoint[] = [];
  for (const o of readJsonl(path.join(dir, METRICS_FILE))) {
    if (typeof o.step !== 'number') continue;
    const time = typeof o.time === 'string' ? o.time : '';
    if ('eval_loss' in o) {
      evals.push({ step: o.step, evalLoss: n(o.eval_loss), evalPerplexity: typeof o.eval_perplexity === 'number' ? o.eval_perplexity : null, tokens: typeof o.eval_tokens === 'number' ? o.eval_tokens : null, time });
    } else {
      steps.push({
        step: o.step, epoch: n(o.epoch), loss: n(o.loss), lr: n(o.lr), gradNorm: n(o.grad_norm),
        tokensPerS: n(o.tokens_per_s), elapsedS: n(o.elapsed_s), etaS: n(o.eta_s), time,
      });
    }
  }
  return { steps, evals };
}

export function readSamples(dir: string): SampleRecord[] {
  return readJsonl(path.join(dir, SAMPLES_FILE)).map((o) => ({
    step: n(o.step), prompt: String(o.prompt ?? ''), text: String(o.text ?? ''), time: String(o.time ?? ''),
  }));
}

export function metricLine(p: MetricPoint): JsonObject {
  return { step: p.step, epoch: p.epoch, loss: p.loss, lr: p.lr, grad_norm: p.gradNorm, tokens_per_s: p.tokensPerS, elapsed_s: p.elapsedS, eta_s: p.etaS, time: p.time };
}

export function evalLine(p: EvalPoint): JsonObject {
  return { step: p.step, eval_loss: p.evalLoss, eval_perplexity: p.evalPerplexity, eval_tokens: p.tokens, time: p.time };
}

/** The TensorBoard scalars of a metrics line. */
export function stepScalars(p: MetricPoint): Scalar[] {
  return [
    { tag: TB_TAGS.loss, value: p.loss },
    { tag: TB_TAGS.lr, value: p.lr },
    { tag: TB_TAGS.gradNorm, value: p.gradNorm },
    { tag: TB_TAGS.tokensPerS, value: p.tokensPerS },
  ];
}

const wallTime = (iso: string) => {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t / 1000 : Date.now() / 1000;
};

/** Keeps only the lines at or before `step` (atomically rewritten): resume continues the curve from the checkpoint. */
function truncateJsonl(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, 'utf8');
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line);
      if (isJsonObject(v) && typeof v.step === 'number' && v.step <= step) kept.push(line);
    } catch {
      /* torn line: dropped */
    }
  }
  const next = kept.length ? kept.join('\n') + '\n' : '';
  if (next !== text) writeFileAtomic(file, next);
}

export function eventFiles(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter(isEventFileName).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** TensorBoard history rebuilt from metrics.jsonl (used when a run resumes). */
export function scalarHistory(dir: string): ScalarPoint[] {
  const { steps, evals } = readMetrics(dir);
  const points: ScalarPoint[] = [
    ...steps.map((p) => ({ step: p.step, wallTime: wallTime(p.time), scalars: stepScalars(p).filter((s) => Number.isFinite(s.value)) })),
    ...evals.map((e) => ({ step: e.step, wallTime: wallTime(e.time), scalars: Number.isFinite(e.evalLoss) ? [{ tag: TB_TAGS.evalLoss, value: e.evalLoss }] : [] })),
  ];
  return points.filter((p) => p.scalars.length > 0).sort((a, b) => a.wallTime - b.wallTime);
}

/**
 * Records an evaluation of a run (e.g. `eval --project DIR --run ID`): a metrics line and an
 * `eval/loss` scalar in the run's event file. Safe while the run trains (appends only).
 */
export function recordEval(projectDir: string, id: string, e: { step?: number; loss: number; perplexity?: number; tokens?: number }): EvalPoint {
  const info = readRun(projectDir, id);
  const point: EvalPoint = { step: e.step ?? info.step, evalLoss: e.loss, evalPerplexity: e.perplexity ?? null, tokens: e.tokens ?? null, time: nowIso() };
  appendLine(path.join(info.dir, METRICS_FILE), evalLine(point));
  const files = eventFiles(info.dir);
  const tb = files.length ? EventFileWriter.append(files[files.length - 1]!) : EventFileWriter.create(info.dir);
  try {
    tb.scalars(point.step, [{ tag: TB_TAGS.evalLoss, value: e.loss }], wallTime(point.time));
  } finally {
    tb.close();
  }
  return point;
}

/** Appends generated samples to a run's samples.jsonl (e.g. `generate --run ID`). Safe while the run trains. */
export function recordSamples(projectDir: string, id: string, samples: { prompt: string; text: string }[], step?: number): SampleRecord[] {
  const info = readRun(projectDir, id);
  const time = nowIso();
  const out = samples.map((s) => ({ step: step ?? info.step, prompt: s.prompt, text: s.text, time }));
  for (const s of out) appendLine(path.join(info.dir, SAMPLES_FILE), s);
  return out;
}

// ---------------------------------------------------------------------------------------------
// checkpoints

export function listCheckpoints(dir: string): { step: number; dir: string }[] {
  const root = path.join(dir, CHECKPOINTS_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, m: /^step-(\d+)$/.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map((x) => ({ step: Number(x.m[1]), dir: path.join(root, x.name) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Writes checkpoints/step-N/ (into a hidden temp folder, renamed when complete) and keeps the
 * last `keep` checkpoints. Returns the folder.
 */
export function writeCheckpoint(dir: string, ck: Checkpoint, meta: Omit<CheckpointMeta, 'step' | 'loss' | 'tensors' | 'createdAt'>, keep = 3): string {
  const root = path.join(dir, CHECKPOINTS_DIR);
  fs.mkdirSync(root, { recursive: true });
  const final = path.join(root, `step-${ck.step}`);
  const tmp = path.join(root, `.tmp-step-${ck.step}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp);
  try {
    writeSafetensors(path.join(tmp, CHECKPOINT_TRAINABLE_FILE), ck.tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: t.data })), { format: 'pt' });
    // PyTorch's AdamW state names: exp_avg (m) and exp_avg_sq (v).
    writeSafetensors(path.join(tmp, CHECKPOINT_OPTIMIZER_FILE), ck.tensors.flatMap((t) => [
      { name: `${t.name}.exp_avg`, dtype: 'F32' as const, shape: t.shape, data: t.m },
      { name: `${t.name}.exp_avg_sq`, dtype: 'F32' as const, shape: t.shape, data: t.v },
    ]), { format: 'pt' });
    const full: CheckpointMeta = {
      step: ck.step, loss: ck.loss, createdAt: nowIso(), ...meta, tensors: ck.tensors.map((t) => ({ name: t.name, shape: t.shape })),
    };
    writeJsonAtomic(path.join(tmp, CHECKPOINT_STATE_FILE), { format: CHECKPOINT_FORMAT, version: 1, ...full });
    if (fs.existsSync(final)) removeTree(final);
    fs.renameSync(tmp, final);
    fsyncDir(root);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  pruneCheckpoints(dir, keep);
  return final;
}

/** Deletes all but the last `keep` checkpoints (each renamed away first, then removed). */
export function pruneCheckpoints(dir: string, keep: number): void {
  const all = listCheckpoints(dir);
  for (const c of all.slice(0, Math.max(0, all.length - Math.max(1, keep)))) removeTree(c.dir);
}

/** Removes temp and trash folders a killed writer left behind (call while holding the run's lock). */
export function cleanupLeftovers(dir: string): void {
  for (const d of [dir, path.join(dir, CHECKPOINTS_DIR)]) {
    let names: string[];
    try {
      names = fs.readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (/^\.(tmp-|trash-|output-)/.test(name) || /\.tmp$/.test(name)) fs.rmSync(path.join(d, name), { recursive: true, force: true });
    }
  }
}

/** Reads and checks a checkpoint folder (every tensor present, shapes as recorded). */
export function readCheckpoint(ckDir: string): StoredCheckpoint {
  const stateFile = path.join(ckDir, CHECKPOINT_STATE_FILE);
  const o = readJsonFile(stateFile, 'checkpoint state');
  if (o.format !== CHECKPOINT_FORMAT) throw new FormatError(stateFile, `"format" must be "${CHECKPOINT_FORMAT}"`);
  const step = requireInteger(o, 'step', stateFile);
  const loss = typeof o.loss === 'number' ? o.loss : NaN;
  if (!Array.isArray(o.tensors)) throw new FormatError(stateFile, '"tensors" must be a list');
  const meta = { ...(o as unknown as CheckpointMeta), step, loss };
  const params = openSafetensors(path.join(ckDir, CHECKPOINT_TRAINABLE_FILE));
  const moments = openSafetensors(path.join(ckDir, CHECKPOINT_OPTIMIZER_FILE));
  try {
    const tensors = meta.tensors.map((t) => {
      const get = (file: typeof params, name: string) => {
        const info = file.tensors.get(name);
        if (!info) throw new FormatError(file.path, `missing tensor "${name}"`);
        if (info.shape.join(',') !== t.shape.join(',')) throw new FormatError(file.path, `tensor "${name}" has shape [${info.shape.join(', ')}], the checkpoint state says [${t.shape.join(', ')}]`);
        return file.readFloat32(name);
      };
      return { name: t.name, shape: t.shape, data: get(params, t.name), m: get(moments, `${t.name}.exp_avg`), v: get(moments, `${t.name}.exp_avg_sq`) };
    });
    return { dir: ckDir, meta, checkpoint: { step, loss, tensors } };
  } finally {
    params.close();
    moments.close();
  }
}

/** The newest checkpoint that reads back whole (older ones are tried if the newest is damaged), or null. */
export function latestCheckpoint(dir: string, onSkip?: (ckDir: string, error: string) => void): StoredCheckpoint | null {
  const all = listCheckpoints(dir);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return readCheckpoint(all[i]!.dir);
    } catch (err) {
      onSkip?.(all[i]!.dir, (err as Error).message);
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// data saved with the run

export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const k = fs.readSync(fd, buf, 0, buf.length, null);
      if (k === 0) break;
      h.update(buf.subarray(0, k));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Pre-tokenized documents → documents.safetensors (tokens I32, offsets I64). */
export function writeDocuments(dir: string, documents: number[][]): StoredData {
  const total = documents.reduce((s, d) => s + d.length, 0);
  const tokens = new Int32Array(total);
  const offsets = new BigInt64Array(documents.length + 1);
  let k = 0;
  documents.forEach((d, i) => {
    tokens.set(d, k);
    k += d.length;
    offsets[i + 1] = BigInt(k);
  });
  const file = path.join(dir, DOCUMENTS_FILE);
  writeSafetensors(file, [
    { name: 'tokens', dtype: 'I32', shape: [total], data: tokens },
    { name: 'offsets', dtype: 'I64', shape: [documents.length + 1], data: offsets },
  ]);
  return { kind: 'documents', file: DOCUMENTS_FILE, count: documents.length, tokens: total, sha256: sha256File(file) };
}

export function readDocuments(dir: string, stored: Extract<StoredData, { kind: 'documents' }>): number[][] {
  const file = path.join(dir, stored.file);
  const st = openSafetensors(file);
  try {
    const tokens = new Int32Array(st.readBytes('tokens').buffer);
    const offsets = st.readInt64('offsets');
    const out: number[][] = [];
    for (let i = 0; i + 1 < offsets.length; i++) out.push(Array.from(tokens.subarray(Number(offsets[i]), Number(offsets[i + 1]))));
    return out;
  } finally {
    st.close();
  }
}

// ---------------------------------------------------------------------------------------------
// the writer of a run in progress

function lockInfo(file: string): { pid: number; host: string } | null {
  try {
    const o = parseJsonObject(fs.readFileSync(file, 'utf8'), file, 'lock');
    return { pid: requireNumber(o, 'pid', file), host: requireString(o, 'host', file) };
  } catch {
    return null;
  }
}

/** Takes run.lock (O_EXCL); a lock left by a dead process is taken over. */
function acquireLock(dir: string, id: string): string {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), at: nowIso() }));
      fs.closeSync(fd);
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockInfo(file);
    let stale = holder === null || (holder.host === os.hostname() && !pidAlive(holder.pid));
    if (!stale && holder && holder.host !== os.hostname()) {
      try {
        stale = !writerAlive(readRunRecord(dir).process);
      } catch {
        stale = true;
      }
    }
    if (!stale) throw new Error(`run ${id} is in use by process ${holder!.pid} on ${holder!.host}`);
    fs.rmSync(file, { force: true });
  }
  throw new Error(`run ${id}: cannot take ${file}`);
}

/**
 * The process that trains a run: owns run.json, the logs, the event file and the checkpoints
 * while it holds run.lock.
 */
export class RunWriter {
  record: RunRecord;
  private tb: EventFileWriter | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private released = false;

  private constructor(readonly dir: string, record: RunRecord, private readonly lock: string) {
    this.record = record;
  }

  get id(): string {
    return this.record.id;
  }

  /** Creates runs/<id>/ with run.json (status running). */
  static create(projectDir: string, init: { id?: string; name?: string; config: Omit<StoredTrainConfig, 'data'>; exportTo?: string | null; documents?: number[][]; dataFile?: string; checkpointEvery?: number; keepCheckpoints?: number }): RunWriter {
    const runs = projectPaths(projectDir).runs;
    fs.mkdirSync(runs, { recursive: true });
    let id = init.id ?? newRunId();
    checkRunId(id);
    let dir = path.join(runs, id);
    for (let i = 0; ; i++) {
      try {
        fs.mkdirSync(dir);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (init.id || i > 20) throw new Error(`a run "${id}" already exists in this project`);
        id = newRunId();
        dir = path.join(runs, id);
      }
    }
    const lock = acquireLock(dir, id);
    try {
      let data: StoredData;
      if (init.documents) data = writeDocuments(dir, init.documents);
      else {
        if (init.dataFile === undefined) throw new Error('a run needs a data file or documents');
        const file = path.resolve(init.dataFile);
        data = { kind: 'file', path: file, bytes: fs.statSync(file).size, sha256: sha256File(file) };
      }
      const t = nowIso();
      const record: RunRecord = {
        format: RUN_FORMAT, version: RUN_VERSION, id, name: init.name?.trim() || defaultRunName(init.config, data),
        status: 'running', createdAt: t, updatedAt: t, endedAt: null, config: { ...init.config, data }, exportTo: init.exportTo ?? null,
        process: { pid: process.pid, host: os.hostname(), startedAt: t, heartbeatAt: t },
        step: 0, totalSteps: null, lastLoss: null, trainableParams: null, allParams: null, examples: null, tokensPerStep: null,
        elapsedS: 0, lastCheckpoint: null, checkpointEvery: init.checkpointEvery ?? null, keepCheckpoints: init.keepCheckpoints ?? null, output: null, result: null, error: null,
        segments: [{ fromStep: 0, startedAt: t, endedAt: null, pid: process.pid, host: os.hostname() }], extra: {},
      };
      writeRunRecord(dir, record);
      fsyncDir(runs);
      return new RunWriter(dir, record, lock);
    } catch (err) {
      fs.rmSync(lock, { force: true });
      throw err;
    }
  }

  /** Takes over an existing run to continue it (refused while another live process has it). */
  static reopen(projectDir: string, id: string): RunWriter {
    const dir = runDir(projectDir, id);
    if (!fs.existsSync(dir)) throw new FormatError(dir, `no run "${id}" in this project`);
    const before = readRunRecord(dir);
    if (before.status === 'running' && writerAlive(before.process) && !(before.process?.pid === process.pid && before.process.host === os.hostname())) {
      throw new Error(`run ${id} is still running (pid ${before.process?.pid} on ${before.process?.host})`);
    }
    const lock = acquireLock(dir, id);
    try {
      cleanupLeftovers(dir);
      return new RunWriter(dir, readRunRecord(dir), lock);
    } catch (err) {
      fs.rmSync(lock, { force: true });
      throw err;
    }
  }

  /** Marks the run running in this process from `fromStep`, dropping log lines after that step. */
  beginSegment(fromStep: number, elapsedS: number): void {
    for (const f of [METRICS_FILE, SAMPLES_FILE, LOG_FILE]) truncateJsonl(path.join(this.dir, f), fromStep);
    const t = nowIso();
    const r = this.record;
    r.status = 'running';
    r.endedAt = null;
    r.error = null;
    r.result = null;
    r.step = fromStep;
    r.elapsedS = elapsedS;
    r.process = { pid: process.pid, host: os.hostname(), startedAt: t, heartbeatAt: t };
    const last = r.segments[r.segments.length - 1];
    if (last && last.endedAt === null) last.endedAt = r.updatedAt || t; // the segment that died
    r.segments.push({ fromStep, startedAt: t, endedAt: null, pid: process.pid, host: os.hostname() });
    this.save();
  }

  /** Starts the heartbeat and a TensorBoard file holding the history kept in metrics.jsonl. */
  start(): void {
    const old = eventFiles(this.dir);
    this.tb = EventFileWriter.create(this.dir, scalarHistory(this.dir));
    for (const f of old) if (f !== this.tb.file) fs.rmSync(f, { force: true });
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  heartbeat(): void {
    if (this.released || !this.record.process) return;
    this.record.process.heartbeatAt = nowIso();
    this.save();
  }

  /** run.json, atomically (with a fresh heartbeat). */
  save(): void {
    this.record.updatedAt = nowIso();
    if (this.record.process && this.record.status === 'running') this.record.process.heartbeatAt = this.record.updatedAt;
    writeRunRecord(this.dir, this.record);
    this.lastWrite = Date.now();
  }

  /** Saves run.json if it was not written in the last second. */
  saveSoon(): void {
    if (Date.now() - this.lastWrite >= 1000) this.save();
  }

  logStep(p: Omit<MetricPoint, 'time'>): void {
    const point: MetricPoint = { ...p, time: nowIso() };
    appendLine(path.join(this.dir, METRICS_FILE), metricLine(point));
    this.tb?.scalars(point.step, stepScalars(point), wallTime(point.time));
    this.record.step = p.step;
    this.record.lastLoss = Number.isFinite(p.loss) ? p.loss : null;
    this.saveSoon();
  }

  logEval(p: Omit<EvalPoint, 'time'>): void {
    const point: EvalPoint = { ...p, time: nowIso() };
    appendLine(path.join(this.dir, METRICS_FILE), evalLine(point));
    this.tb?.scalars(point.step, [{ tag: TB_TAGS.evalLoss, value: p.evalLoss }], wallTime(point.time));
  }

  logSample(s: Omit<SampleRecord, 'time'>): void {
    appendLine(path.join(this.dir, SAMPLES_FILE), { ...s, time: nowIso() });
  }

  logMessage(level: string, message: string): void {
    appendLine(path.join(this.dir, LOG_FILE), { step: this.record.step, level, message, time: nowIso() });
  }

  checkpoint(ck: Checkpoint, meta: Omit<CheckpointMeta, 'step' | 'loss' | 'tensors' | 'createdAt'>, keep: number): string {
    this.tb?.flush();
    const dir = writeCheckpoint(this.dir, ck, meta, keep);
    this.record.lastCheckpoint = ck.step;
    this.record.step = Math.max(this.record.step, ck.step);
    this.save();
    return dir;
  }

  /**
   * Publishes a finished output folder (written to `partial`) as `name` inside the run: the old
   * one is renamed away first, so a crash leaves either one whole folder or none (plus a hidden
   * copy that cleanupLeftovers removes).
   */
  publishOutput(partial: string, name: string): string {
    const final = path.join(this.dir, name);
    if (fs.existsSync(final)) removeTree(final);
    fs.renameSync(partial, final);
    fsyncDir(this.dir);
    this.record.output = name;
    return final;
  }

  finish(status: Exclude<StoredRunStatus, 'running'>, fields: { result?: TrainResult | null; error?: string | null } = {}): void {
    const t = nowIso();
    const r = this.record;
    r.status = status;
    r.endedAt = t;
    r.result = fields.result ?? null;
    r.error = fields.error ?? null;
    r.process = null;
    const seg = r.segments[r.segments.length - 1];
    if (seg && seg.endedAt === null) seg.endedAt = t;
    this.save();
  }

  /** Stops the heartbeat, closes the event file and drops the lock. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    this.tb?.close();
    fs.rmSync(this.lock, { force: true });
  }
}

function defaultRunName(c: Omit<StoredTrainConfig, 'data'>, data: StoredData): string {
  const what = c.method === 'lora' ? `LoRA r=${c.lora.r}` : 'full FT';
  const on = data.kind === 'file' ? path.basename(data.path) : `${data.count} documents`;
  return `${what} · ${path.basename(c.model)} · ${on}`;
}
