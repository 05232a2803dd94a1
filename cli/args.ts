// Shared flag parsing for the CLI commands (node:util parseArgs), with errors a user can act on.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEVICES, LORA_BIASES, METHODS_OF_TRAINING, SCHEDULES } from '../engine/api.ts';
import { resolveModelRef } from '../engine/hub/resolve.ts';
import { parseTargets } from '../engine/lora/targets.ts';
import { BASE_DTYPES } from '../engine/quant/formats.ts';
import { DEFAULT_CLASSIFY, DEFAULT_LORA, DEFAULT_TRAIN, type LoraOptions, type TaskKind, type TrainOptions } from '../engine/train/types.ts';

export class UsageError extends Error {}

export const LORA_FLAGS = {
  r: { type: 'string' },
  alpha: { type: 'string' },
  dropout: { type: 'string' },
  bias: { type: 'string' },
  targets: { type: 'string' },
  rslora: { type: 'boolean' },
  init: { type: 'string' },
} as const;

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, positionals = false) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } }, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // --model: a local folder, or ORG/NAME[@REV] from the Hugging Face cache (engine/hub/resolve.ts).
  const values = parsed.values as Record<string, unknown>;
  if (typeof values.model === 'string' && !values.help) values.model = resolveModelRef(values.model);
  return parsed;
}

export function num(v: string | undefined, flag: string, fallback: number, check: (x: number) => boolean = Number.isFinite): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === '' || !check(x)) throw new UsageError(`--${flag}: "${v}" is not a valid value`);
  return x;
}

export const int = (v: string | undefined, flag: string, fallback: number, min = 1) => num(v, flag, fallback, (x) => Number.isInteger(x) && x >= min);

/** One of `values` (the contract's enums), or a usage error naming the flag. */
export function oneOf<const V extends readonly string[]>(v: unknown, flag: string, values: V, fallback: V[number]): V[number] {
  const x = (v as string | undefined) ?? fallback;
  if (!values.includes(x)) throw new UsageError(`--${flag} must be ${values.slice(0, -1).join(', ')} or ${values.at(-1)}, got "${x}"`);
  return x;
}

export function loraFromFlags(v: Record<string, unknown>, d: LoraOptions = DEFAULT_LORA): LoraOptions {
  return {
    r: int(v.r as string | undefined, 'r', d.r),
    alpha: num(v.alpha as string | undefined, 'alpha', d.alpha, (x) => x > 0),
    dropout: num(v.dropout as string | undefined, 'dropout', d.dropout, (x) => x >= 0 && x < 1),
    bias: oneOf(v.bias, 'bias', LORA_BIASES, d.bias),
    targets: v.targets ? parseTargets(v.targets as string) : d.targets,
    useRslora: Boolean(v.rslora),
    init: oneOf(v.init, 'init', ['kaiming', 'gaussian'] as const, d.init),
  };
}

/** The training flags shared by train, compare and grid. */
export const TRAIN_FLAGS = {
  lr: { type: 'string' }, epochs: { type: 'string' }, 'max-steps': { type: 'string' }, 'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' }, 'max-length': { type: 'string' }, 'warmup-steps': { type: 'string' }, 'weight-decay': { type: 'string' },
  schedule: { type: 'string' }, seed: { type: 'string' }, 'val-ratio': { type: 'string' }, threads: { type: 'string' },
} as const;

/** The help lines of TRAIN_FLAGS; `valRatio` is the command's default hold-out. */
export function trainHelp(valRatio = 0, d: Omit<TrainOptions, 'model' | 'data'> = DEFAULT_TRAIN): string {
  return `  --lr X                learning rate (default ${d.lr})
  --epochs N            passes over the data (default ${d.epochs})
  --max-steps N         optimizer steps; overrides --epochs
  --batch-size N        sequences per micro-batch (default ${d.batchSize})
  --grad-accum N        micro-batches per optimizer step (default ${d.gradAccum})
  --max-length N        tokens per sequence (default ${d.maxLength})
  --warmup-steps N      linear warmup steps (default 0)
  --weight-decay X      AdamW weight decay, not on biases and LayerNorm weights (default ${d.weightDecay})
  --schedule constant|linear|cosine (default ${d.schedule})
  --seed N              shuffling, LoRA init and dropout (default ${d.seed})
  --val-ratio X         hold out this fraction of the data for validation (default ${valRatio})
  --threads N           CPU threads (default: all cores)`;
}

/** TRAIN_FLAGS as trainer options (validated); `valRatio` is the command's default hold-out, `base` the task's defaults. */
export function trainingFromFlags(v: Record<string, unknown>, defaults: { valRatio?: number; base?: Omit<TrainOptions, 'model' | 'data'> } = {}): Partial<TrainOptions> {
  const d = defaults.base ?? DEFAULT_TRAIN;
  const s = (k: string) => v[k] as string | undefined;
  const schedule = oneOf(s('schedule'), 'schedule', SCHEDULES, d.schedule);
  return {
    lr: num(s('lr'), 'lr', d.lr, (x) => x > 0),
    epochs: num(s('epochs'), 'epochs', d.epochs, (x) => x > 0),
    maxSteps: int(s('max-steps'), 'max-steps', 0, 0),
    batchSize: int(s('batch-size'), 'batch-size', d.batchSize),
    gradAccum: int(s('grad-accum'), 'grad-accum', d.gradAccum),
    maxLength: int(s('max-length'), 'max-length', d.maxLength, 2),
    warmupSteps: int(s('warmup-steps'), 'warmup-steps', 0, 0),
    weightDecay: num(s('weight-decay'), 'weight-decay', d.weightDecay, (x) => x >= 0),
    schedule,
    seed: int(s('seed'), 'seed', d.seed, 0),
    valRatio: num(s('val-ratio'), 'val-ratio', defaults.valRatio ?? 0, (x) => x >= 0 && x < 1),
    threads: s('threads') ? int(s('threads'), 'threads', 1) : undefined,
  };
}

/** The flags `train` adds to TRAIN_FLAGS (both tasks). */
export const TRAIN_ONLY_FLAGS = {
  method: { type: 'string' }, task: { type: 'string' }, 'warmup-ratio': { type: 'string' }, 'max-grad-norm': { type: 'string' }, 'log-every': { type: 'string' },
  'eval-every': { type: 'string' }, 'model-dropout': { type: 'boolean' }, device: { type: 'string' },
  validation: { type: 'string' }, 'text-column': { type: 'string' }, 'label-column': { type: 'string' },
  'base-dtype': { type: 'string' }, 'gradient-checkpointing': { type: 'boolean' }, 'no-gradient-checkpointing': { type: 'boolean' },
} as const;

/**
 * Every training flag of `train` as trainer options: the task (causal-lm or seq-cls) picks the
 * defaults (engine/train/types.ts DEFAULT_TRAIN or DEFAULT_CLASSIFY).
 */
export function trainOptionsFromFlags(v: Record<string, unknown>): Partial<TrainOptions> & { task: TaskKind } {
  const task = oneOf(v.task, 'task', ['causal-lm', 'seq-cls'] as const, 'causal-lm');
  const method = oneOf(v.method, 'method', METHODS_OF_TRAINING, 'lora');
  if (task === 'seq-cls' && method !== 'lora') throw new UsageError('--task seq-cls trains with --method lora (the heads train whole as modules_to_save)');
  const d = task === 'seq-cls' ? DEFAULT_CLASSIFY : DEFAULT_TRAIN;
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const baseDtype = oneOf(v['base-dtype'], 'base-dtype', BASE_DTYPES, 'f32');
  if (baseDtype !== 'f32' && method !== 'lora') throw new UsageError(`--base-dtype ${baseDtype} needs --method lora (full fine-tuning trains every weight in float32)`);
  if (v['gradient-checkpointing'] && v['no-gradient-checkpointing']) throw new UsageError('--gradient-checkpointing and --no-gradient-checkpointing contradict each other');
  const ckpt = v['gradient-checkpointing'] ? true : v['no-gradient-checkpointing'] ? false : undefined;
  return {
    task, method, lora: loraFromFlags(v, d.lora), ...trainingFromFlags(v, { base: d }),
    warmupRatio: num(s('warmup-ratio'), 'warmup-ratio', 0, (x) => x >= 0 && x < 1),
    maxGradNorm: num(s('max-grad-norm'), 'max-grad-norm', d.maxGradNorm, (x) => x >= 0),
    logEvery: int(s('log-every'), 'log-every', d.logEvery),
    evalEvery: int(s('eval-every'), 'eval-every', 0, 0),
    modelDropout: Boolean(v['model-dropout']),
    device: oneOf(v.device, 'device', DEVICES, 'cpu'),
    ...(s('validation') ? { validation: s('validation') } : {}),
    ...(s('text-column') ? { textColumn: s('text-column') } : {}),
    ...(s('label-column') ? { labelColumn: s('label-column') } : {}),
    ...(baseDtype !== 'f32' ? { baseDtype } : {}),
    ...(ckpt !== undefined ? { gradientCheckpointing: ckpt } : {}),
  };
}

export function required(v: Record<string, unknown>, flag: string): string {
  const x = v[flag];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${flag} is required`);
  return x;
}

/** Runs a command body; usage errors and engine errors become one line on stderr. */
export async function runCommand(name: string, help: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`lora-studio ${name}: ${e.message}\n\n${help}`);
      return 2;
    }
    console.error(`lora-studio ${name}: ${(e as Error).message}`);
    if (process.env.LORA_STUDIO_DEBUG) console.error((e as Error).stack);
    return 1;
  }
}

export const LORA_HELP = `LoRA options:
  --r N                 rank (default ${DEFAULT_LORA.r})
  --alpha X             lora_alpha; scaling = alpha/r (default ${DEFAULT_LORA.alpha})
  --dropout P           lora_dropout (default ${DEFAULT_LORA.dropout})
  --bias none|all|lora_only
  --targets SPEC        module names (comma-separated suffixes), a regex, or all-linear (default: PEFT's default for the family; info lists the modules)
  --rslora              scaling = alpha/sqrt(r)
  --init kaiming|gaussian`;
