// The process that trains a run: takes run.lock, owns run.json (with a heartbeat), the logs, the
// TensorBoard event file and the checkpoints while it holds the lock (see run-record.ts for the
// folder's layout).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fsyncDir } from './atomic.ts';
import { writeCheckpoint, cleanupLeftovers, type CheckpointMeta } from './checkpoints.ts';
import { FormatError } from './errors.ts';
import { parseJsonObject, requireNumber, requireString } from './json.ts';
import { type StoredData, sha256File, writeDocuments } from './run-data.ts';
import { appendLine, eventFiles, evalLine, metricLine, sampleText, scalarHistory, stepScalars, truncateJsonl, wallTime, type EvalPoint, type MetricPoint, type SampleRecord } from './run-logs.ts';
import {
  HEARTBEAT_MS, LOCK_FILE, LOG_FILE, METRICS_FILE, RUN_FORMAT, RUN_VERSION, SAMPLES_FILE, type RunRecord, type StoredRunStatus, type StoredTrainConfig,
  checkRunId, newRunId, nowIso, readRunRecord, removeTree, runDir, runName, writeRunRecord, writerAlive, pidAlive,
} from './run-record.ts';
import { EventFileWriter, TB_TAGS } from './tensorboard.ts';
import { projectPaths } from './project.ts';
import type { Checkpoint, TrainResult } from '../train/types.ts';

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
        format: RUN_FORMAT, version: RUN_VERSION, id, name: init.name?.trim() || runName(init.config, data.kind === 'file' ? data.path : `${data.count} documents`),
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

  /** A generation sample: a samples.jsonl line and a TensorBoard text summary. */
  logSample(s: Omit<SampleRecord, 'time'>): void {
    const record: SampleRecord = { ...s, time: nowIso() };
    appendLine(path.join(this.dir, SAMPLES_FILE), record);
    this.tb?.texts(s.step, [sampleText(s)], wallTime(record.time));
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
