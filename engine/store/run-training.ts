// Training inside a project: a run folder per training, the trainer's hooks wired to
// metrics.jsonl, TensorBoard, checkpoints and run.json; the adapter (LoRA) or model folder
// (full) published into the run when training ends; and resume from the last checkpoint with
// the same options, so the result equals an uninterrupted run.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { resolveOptions, train } from '../train/trainer.ts';
import type { Checkpoint, TrainEvent, TrainHooks, TrainOptions, TrainResult } from '../train/types.ts';
import { fsyncDir } from './atomic.ts';
import { addDataset, addModel, openOrCreateProject } from './project.ts';
import {
  ADAPTER_DIR, MODEL_DIR, RunWriter, type CheckpointMeta, type StoredCheckpoint, type StoredTrainConfig,
  latestCheckpoint, readDocuments, sha256File,
} from './runs.ts';

/** Checkpoint every this many optimizer steps unless told otherwise. */
export const DEFAULT_CHECKPOINT_EVERY = 50;
/** Checkpoints kept per run (older ones are deleted). */
export const DEFAULT_KEEP_CHECKPOINTS = 3;

export interface ProjectTrainHooks {
  onEvent?: (e: TrainEvent) => void;
  signal?: AbortSignal;
  /** Optimizer steps between checkpoints (default 50). A cancelled run checkpoints too. */
  checkpointEvery?: number;
  /** How many checkpoints to keep (default 3). */
  keepCheckpoints?: number;
  /** The new run's id (default run-YYYYMMDD-HHMMSS-xxxx); trainInProject only. */
  runId?: string;
  /** A label for the runs table; trainInProject only. */
  name?: string;
  /** Called once the run folder exists (before the model loads). */
  onRun?: (run: { id: string; dir: string }) => void;
  /** Called after a checkpoint is on disk. */
  onCheckpoint?: (c: { step: number; dir: string }) => void | Promise<void>;
  /** The training loop to run (default engine/train/trainer.ts train; tests pass a fake). */
  trainer?: (opts: TrainInput, hooks: TrainHooks) => Promise<TrainResult>;
}

export interface RunOutcome {
  runId: string;
  runDir: string;
  /** `out` is the run's adapter/ or model/ folder. */
  result: TrainResult;
}

export type TrainInput = Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>;

/**
 * Trains in a new run folder of the project (created if needed). `opts.out`, when given, gets a
 * copy of the result as well. Resolves when the run completes or is cancelled; a failure marks
 * the run failed and rethrows.
 */
export async function trainInProject(projectDir: string, opts: TrainInput, hooks: ProjectTrainHooks = {}): Promise<RunOutcome> {
  const o: TrainOptions = resolveOptions(opts); // the task's defaults (causal LM or classification)
  const model = path.resolve(o.model);
  if (!fs.existsSync(model) || !fs.statSync(model).isDirectory()) throw new Error(`${model}: model folder not found`);
  const dataFile = typeof o.data === 'string' ? path.resolve(o.data) : undefined;
  if (dataFile !== undefined && !fs.existsSync(dataFile)) throw new Error(`${dataFile}: data file not found`);
  checkCheckpointOptions(hooks);

  openOrCreateProject(projectDir);
  addModel(projectDir, model);
  if (dataFile) addDataset(projectDir, { path: dataFile, format: path.extname(dataFile).slice(1).toLowerCase() || 'txt' });

  const { data: _data, out, ...rest } = o;
  void _data;
  const config: Omit<StoredTrainConfig, 'data'> = { ...rest, model, lora: { ...o.lora } };
  const writer = RunWriter.create(projectDir, {
    id: hooks.runId, name: hooks.name, config, exportTo: out ? path.resolve(out) : null,
    checkpointEvery: hooks.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY, keepCheckpoints: hooks.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS,
    ...(typeof o.data === 'string' ? { dataFile } : { documents: (o.data as { documents: number[][] }).documents }),
  });
  return runSegment(writer, { ...o, model, data: dataFile ?? o.data }, null, hooks);
}

/**
 * Continues a run that was cancelled, failed or interrupted (its process died) from its last
 * checkpoint, with the options it was started with; from step 0 when it has no checkpoint.
 * The metrics and event file are cut back to the checkpoint, so the curve continues the original.
 */
export async function resumeRun(projectDir: string, runId: string, hooks: ProjectTrainHooks = {}): Promise<RunOutcome> {
  checkCheckpointOptions(hooks);
  const writer = RunWriter.reopen(projectDir, runId);
  let handedOver = false;
  try {
    const r = writer.record;
    if (r.status === 'completed') throw new Error(`run ${runId} already completed (${r.step} steps); nothing to resume`);
    const stored = r.config.data;
    let data: TrainOptions['data'];
    if (stored.kind === 'file') {
      if (!fs.existsSync(stored.path)) throw new Error(`run ${runId}: its data file ${stored.path} is gone; cannot continue with the same data`);
      if (fs.statSync(stored.path).size !== stored.bytes || sha256File(stored.path) !== stored.sha256) {
        throw new Error(`run ${runId}: ${stored.path} changed since the run started; resuming would not continue the same data order`);
      }
      data = stored.path;
    } else {
      data = { documents: readDocuments(writer.dir, stored) };
    }
    if (!fs.existsSync(r.config.model)) throw new Error(`run ${runId}: its model folder ${r.config.model} is gone`);
    const ck = latestCheckpoint(writer.dir, (dir, error) => {
      const message = `skipping damaged checkpoint ${path.basename(dir)}: ${error}`;
      writer.logMessage('warn', message);
      hooks.onEvent?.({ type: 'log', level: 'warn', message });
    });
    writer.beginSegment(ck?.checkpoint.step ?? 0, ck?.meta.elapsedS ?? 0);
    const { data: _stored, ...rest } = r.config;
    void _stored;
    handedOver = true;
    return await runSegment(writer, { ...rest, data }, ck, hooks);
  } finally {
    if (!handedOver) writer.release();
  }
}

function checkCheckpointOptions(h: ProjectTrainHooks): void {
  if (h.checkpointEvery !== undefined && !(Number.isInteger(h.checkpointEvery) && h.checkpointEvery >= 1)) {
    throw new Error(`checkpointEvery must be a positive integer, got ${h.checkpointEvery}`);
  }
  if (h.keepCheckpoints !== undefined && !(Number.isInteger(h.keepCheckpoints) && h.keepCheckpoints >= 1)) {
    throw new Error(`keepCheckpoints must be a positive integer, got ${h.keepCheckpoints}`);
  }
}

/** One stretch of training in this process: from scratch, or from a checkpoint. */
async function runSegment(writer: RunWriter, o: TrainOptions, resume: StoredCheckpoint | null, hooks: ProjectTrainHooks): Promise<RunOutcome> {
  const partial = path.join(writer.dir, `.output-${randomBytes(4).toString('hex')}`);
  const outName = o.method === 'lora' ? ADAPTER_DIR : MODEL_DIR;
  // Resume keeps the run's own settings unless told otherwise.
  const every = hooks.checkpointEvery ?? writer.record.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  const keep = hooks.keepCheckpoints ?? writer.record.keepCheckpoints ?? DEFAULT_KEEP_CHECKPOINTS;
  Object.assign(writer.record, { checkpointEvery: every, keepCheckpoints: keep });
  const elapsedBase = writer.record.elapsedS;
  const t0 = performance.now();
  const elapsed = () => elapsedBase + (performance.now() - t0) / 1000;
  try {
    writer.start();
    hooks.onRun?.({ id: writer.id, dir: writer.dir });
    const result = await (hooks.trainer ?? train)({ ...o, out: partial }, {
      signal: hooks.signal,
      checkpointEvery: every,
      resume: resume?.checkpoint,
      onEvent: (e) => {
        let ev: TrainEvent = e;
        if (e.type === 'start') {
          Object.assign(writer.record, {
            totalSteps: e.totalSteps, trainableParams: e.trainableParams, allParams: e.allParams, examples: e.examples, tokensPerStep: e.tokensPerStep,
            ...(e.instruct ? { instruct: e.instruct } : {}),
          });
          writer.save();
        } else if (e.type === 'step') {
          ev = { ...e, elapsedS: e.elapsedS + elapsedBase };
          writer.logStep({ step: e.step, epoch: e.epoch, loss: e.loss, lr: e.lr, gradNorm: e.gradNorm, tokensPerS: e.tokensPerS, elapsedS: ev.elapsedS, etaS: e.etaS });
        } else if (e.type === 'eval') {
          writer.logEval({ step: e.step, evalLoss: e.evalLoss, evalPerplexity: e.perplexity, tokens: e.tokens });
        } else if (e.type === 'log') {
          writer.logMessage(e.level, e.message);
        } else if (e.type === 'sample') {
          writer.logSample({ step: e.step, prompt: e.prompt, text: e.text });
        } else {
          return; // 'done' goes out once the output is published
        }
        hooks.onEvent?.(ev);
      },
      onCheckpoint: async (ck: Checkpoint) => {
        const dir = writer.checkpoint(ck, checkpointMeta(o, writer, ck, elapsed()), keep);
        await hooks.onCheckpoint?.({ step: ck.step, dir });
      },
    });
    const outDir = fs.existsSync(partial) ? writer.publishOutput(partial, outName) : null;
    if (outDir && writer.record.exportTo) copyFolder(outDir, writer.record.exportTo);
    const final: TrainResult = { ...result, wallS: elapsed(), out: outDir ?? undefined };
    Object.assign(writer.record, { step: result.steps, lastLoss: Number.isFinite(result.finalLoss) ? result.finalLoss : null, elapsedS: elapsed() });
    writer.finish(result.stopped === 'cancelled' ? 'cancelled' : 'completed', { result: final });
    hooks.onEvent?.({ type: 'done', result: final });
    return { runId: writer.id, runDir: writer.dir, result: final };
  } catch (err) {
    fs.rmSync(partial, { recursive: true, force: true });
    writer.record.elapsedS = elapsed();
    try {
      writer.finish('failed', { error: (err as Error).message });
    } catch {
      /* the original error matters more */
    }
    throw err;
  } finally {
    writer.release();
  }
}

function checkpointMeta(o: TrainOptions, writer: RunWriter, ck: Checkpoint, elapsedS: number): Omit<CheckpointMeta, 'step' | 'loss' | 'tensors' | 'createdAt'> {
  const examples = writer.record.examples;
  const batchesPerEpoch = examples ? Math.ceil(examples / o.batchSize) : null;
  const microBatches = ck.step * o.gradAccum;
  return {
    elapsedS,
    optimizer: { type: 'AdamW', step: ck.step, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay },
    data: {
      microBatches,
      epoch: batchesPerEpoch ? Math.floor(microBatches / batchesPerEpoch) : 0,
      batchInEpoch: batchesPerEpoch ? microBatches % batchesPerEpoch : microBatches,
      batchesPerEpoch,
      examples,
    },
    rng: {
      seed: o.seed,
      shuffle: 'Rng.derive(seed, 1, epoch).shuffle(block indices)',
      dropout: 'Rng.derive(seed, 2, step)',
      loraInit: 'Rng.derive(seed, 3)',
    },
  };
}

/** Copies a result folder's files to `dest` (each file via temp + fsync + rename). */
export function copyFolder(src: string, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    const target = path.join(dest, e.name);
    const tmp = path.join(dest, `.${e.name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      fs.copyFileSync(path.join(src, e.name), tmp);
      const fd = fs.openSync(tmp, 'r+');
      try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
  }
  fsyncDir(dest);
}
