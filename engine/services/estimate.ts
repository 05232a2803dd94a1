// runs.estimate: what a run will need before it starts (engine/train/estimate.ts, calibrated), and
// whether that fits in this machine's memory now. Cheap: reads config.json, no weights.

import { existsSync, readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import type { Params, Result } from '../api.ts';
import { loadModelSpec } from '../models/registry.ts';
import { type Machine, estimateRun } from '../train/estimate.ts';
import { requireDir } from './files.ts';

const MB = 2 ** 20;

export interface MachineMemory {
  totalMb: number;
  availableMb: number;
}

/** The number in a one-line file (a cgroup's memory.max, "max" = none), or null. */
function readNumber(file: string): number | null {
  if (!existsSync(file)) return null;
  const v = Number(readFileSync(file, 'utf8').trim());
  return Number.isFinite(v) ? v : null;
}

/** /proc/meminfo's MemAvailable (what a new process can use without swapping), in bytes. */
function memAvailable(): number | null {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** This machine's memory and what is available now; a cgroup (v2) limit, when lower, wins. */
export function machineMemory(): MachineMemory {
  let total = totalmem();
  let available = memAvailable() ?? freemem();
  const limit = readNumber('/sys/fs/cgroup/memory.max');
  if (limit !== null && limit < total) {
    total = limit;
    available = Math.min(available, Math.max(0, limit - (readNumber('/sys/fs/cgroup/memory.current') ?? 0)));
  }
  return { totalMb: total / MB, availableMb: available / MB };
}

/**
 * The estimate of a run's peak memory and step time, with the machine's memory beside it. `machine`:
 * this machine's calibrated constants (engine/train/estimate-calibrate.ts; default: the reference's).
 */
export function estimateForRun(p: Params<'runs.estimate'>, memory: () => MachineMemory = machineMemory, machine: Partial<Machine> = {}): Result<'runs.estimate'> {
  const lm = loadModelSpec(requireDir(p.model, 'model folder'));
  // A classifier has no LM head: no vocabulary-wide logits (its own head is a few values).
  const spec = p.task === 'seq-cls' ? { ...lm, lmHead: null, lmHeadShapes: [] } : lm;
  const targets = p.lora?.targets;
  const e = estimateRun({
    spec,
    method: p.method,
    baseDtype: p.baseDtype,
    batchSize: p.batchSize,
    // The trainer cuts sequences at the model's context.
    maxLength: Math.min(p.maxLength, spec.maxPositions),
    loraR: p.lora?.r,
    loraTargets: Array.isArray(targets) && targets.length === 0 ? undefined : targets,
    gradientCheckpointing: p.gradientCheckpointing,
    machine,
  });
  const m = memory();
  return { ...e, totalMemoryMb: m.totalMb, availableMemoryMb: m.availableMb, fits: e.peakRssMb <= m.availableMb };
}
