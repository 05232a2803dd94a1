// Run folders: runs/<id>/ inside a project (this file: run.json, ids, liveness, listing). Everything a run needs to be listed, inspected,
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
//
// The other parts of a run folder: run-logs.ts (metrics, samples, log, TensorBoard history),
// checkpoints.ts, run-data.ts (the training data saved with a run), run-writer.ts (the process
// that trains a run). runs.ts re-exports them all.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir, writeJsonAtomic } from './atomic.ts';
import { FormatError } from './errors.ts';
import { isJsonObject, readJsonFile, requireInteger, requireString, type JsonObject } from './json.ts';
import { projectPaths } from './project.ts';
import type { StoredData } from './run-data.ts';
import type { TrainOptions, TrainResult } from '../train/types.ts';
import type { InstructSummary } from '../data/instruct.ts';

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
  /** Instruction data: its format, chat template and trainOn (the start event's), when the run trains on it. */
  instruct?: InstructSummary;
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

export const nowIso = (): string => new Date().toISOString();

// ---------------------------------------------------------------------------------------------
// ids, folders, liveness

export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `run-${stamp}-${randomBytes(2).toString('hex')}`;
}

/**
 * The label of a run in the runs table and its run.json: its own `name`, else
 * "LoRA r=8 · gpt2 · recipes.txt" (`data`: the data file's path, or a description).
 */
export function runName(c: { name?: string; method: 'lora' | 'full'; lora: { r: number }; model: string }, data: string): string {
  if (c.name?.trim()) return c.name.trim();
  const what = c.method === 'lora' ? `LoRA r=${c.lora.r}` : 'full FT';
  return `${what} · ${path.basename(c.model)} · ${path.basename(data)}`;
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
    'totalSteps', 'lastLoss', 'trainableParams', 'allParams', 'examples', 'tokensPerStep', 'instruct', 'elapsedS', 'lastCheckpoint', 'checkpointEvery', 'keepCheckpoints', 'output', 'result', 'error', 'segments']);
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
    ...(isJsonObject(o.instruct) ? { instruct: o.instruct as unknown as InstructSummary } : {}),
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

export function writeRunRecord(dir: string, r: RunRecord): void {
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
export function removeTree(dir: string): void {
  const trash = path.join(path.dirname(dir), `.trash-${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
  fs.renameSync(dir, trash);
  fsyncDir(path.dirname(dir));
  fs.rmSync(trash, { recursive: true, force: true });
}
