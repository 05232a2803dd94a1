// Checkpoints of a run: checkpoints/step-N/ with trainable.safetensors, optimizer.safetensors
// (PyTorch's AdamW state names) and trainer_state.json. A checkpoint is written into a hidden temp
// folder and renamed to step-N when complete; old ones are renamed away before they are deleted,
// so a step-N folder is always whole.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fsyncDir, writeJsonAtomic } from './atomic.ts';
import { FormatError } from './errors.ts';
import { readJsonFile, requireInteger } from './json.ts';
import { CHECKPOINTS_DIR, CHECKPOINT_FORMAT, CHECKPOINT_OPTIMIZER_FILE, CHECKPOINT_STATE_FILE, CHECKPOINT_TRAINABLE_FILE, nowIso, removeTree } from './run-record.ts';
import { openSafetensors, writeSafetensors } from './safetensors.ts';
import type { Checkpoint } from '../train/types.ts';

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
