// Shared flag parsing for the CLI commands (node:util parseArgs), with errors a user can act on.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolveModelRef } from '../engine/hub/resolve.ts';
import { parseTargets } from '../engine/lora/targets.ts';
import { DEFAULT_LORA, DEFAULT_TRAIN, type LoraOptions, type Schedule, type TrainOptions } from '../engine/train/types.ts';

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

export function loraFromFlags(v: Record<string, unknown>): LoraOptions {
  const bias = (v.bias as string | undefined) ?? DEFAULT_LORA.bias;
  if (!['none', 'all', 'lora_only'].includes(bias)) throw new UsageError(`--bias must be none, all or lora_only, got "${bias}"`);
  const init = (v.init as string | undefined) ?? DEFAULT_LORA.init;
  if (!['kaiming', 'gaussian'].includes(init)) throw new UsageError(`--init must be kaiming or gaussian, got "${init}"`);
  return {
    r: int(v.r as string | undefined, 'r', DEFAULT_LORA.r),
    alpha: num(v.alpha as string | undefined, 'alpha', DEFAULT_LORA.alpha, (x) => x > 0),
    dropout: num(v.dropout as string | undefined, 'dropout', DEFAULT_LORA.dropout, (x) => x >= 0 && x < 1),
    bias: bias as LoraOptions['bias'],
    targets: v.targets ? parseTargets(v.targets as string) : DEFAULT_LORA.targets,
    useRslora: Boolean(v.rslora),
    init: init as LoraOptions['init'],
  };
}

/** The training flags shared by train, compare and grid. */
export const TRAIN_FLAGS = {
  lr: { type: 'string' }, epochs: { type: 'string' }, 'max-steps': { type: 'string' }, 'batch-size': { type: 'string' },
  'grad-accum': { type: 'string' }, 'max-length': { type: 'string' }, 'warmup-steps': { type: 'string' }, 'weight-decay': { type: 'string' },
  schedule: { type: 'string' }, seed: { type: 'string' }, 'val-ratio': { type: 'string' }, threads: { type: 'string' },
} as const;

/** TRAIN_FLAGS as trainer options (validated); `valRatio` is the command's default hold-out. */
export function trainingFromFlags(v: Record<string, unknown>, defaults: { valRatio?: number } = {}): Partial<TrainOptions> {
  const d = DEFAULT_TRAIN;
  const s = (k: string) => v[k] as string | undefined;
  const schedule = (s('schedule') ?? d.schedule) as Schedule;
  if (!['constant', 'linear', 'cosine'].includes(schedule)) throw new UsageError(`--schedule must be constant, linear or cosine, got "${schedule}"`);
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
  --targets SPEC        module names (c_attn,c_proj), a regex, or all-linear (default: c_attn for GPT-2)
  --rslora              scaling = alpha/sqrt(r)
  --init kaiming|gaussian`;
