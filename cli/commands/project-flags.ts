// `--project DIR` for train, eval (and generate): the flags, their help, and the flags as the
// services' requests (engine/services/train.ts, evaluate.ts).
import path from 'node:path';
import type { PerplexityResultData } from '../../engine/api.ts';
import { recordRunEvaluation, recordRunSamples, runTarget } from '../../engine/services/evaluate.ts';
import { type TrainHooks, type TrainInput, trainRun } from '../../engine/services/train.ts';
import { defaultProjectDir } from '../../engine/store/project.ts';
import type { TrainResult } from '../../engine/train/types.ts';
import { UsageError, int, required } from '../args.ts';

export const PROJECT_TRAIN_FLAGS = {
  project: { type: 'string' },
  force: { type: 'boolean' },
  'run-name': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'keep-checkpoints': { type: 'string' },
} as const;

export const PROJECT_TRAIN_HELP = `Project options:
  --project DIR         train as a run of this project (created if needed): runs/<id>/ gets run.json,
                        metrics.jsonl, a TensorBoard event file, checkpoints and the adapter/model;
                        --out then is optional (an extra copy). Resume with \`lora-studio runs resume\`.
  --run-name TEXT       a label for the runs list
  --checkpoint-every N  checkpoint every N steps (default 50; with --project)
  --keep-checkpoints N  checkpoints kept (default 3; with --project)
  --force               write into --out even when it already has files in it (files of the same name are replaced)`;

export const PROJECT_EVAL_FLAGS = {
  project: { type: 'string' },
  run: { type: 'string' },
} as const;

export const PROJECT_EVAL_HELP = `Project options:
  --run ID              evaluate a run's result (its base model + adapter, or its model folder) and
                        record the result in the run (metrics.jsonl, TensorBoard eval/loss)
  --project DIR         the run's project (default: $LORA_STUDIO_PROJECT, else the default project)`;

type Flags = Record<string, unknown>;
const str = (v: Flags, k: string): string | undefined => (typeof v[k] === 'string' && v[k] !== '' ? (v[k] as string) : undefined);

/** The --project folder (absolute), or undefined. */
export function projectFlag(v: Flags): string | undefined {
  const p = str(v, 'project');
  return p === undefined ? undefined : path.resolve(p);
}

/** --out: required without --project, optional (an extra copy) with it. */
export function outFlag(v: Flags): string | undefined {
  return projectFlag(v) ? str(v, 'out') : required(v, 'out');
}

/**
 * The train service with the project flags: a run of --project (the result's `out` is the run's
 * adapter/ or model/ folder; the run id goes to stderr), else of a temporary project with the
 * result in --out. --force lets --out be a folder with files in it.
 */
export async function trainMaybeInProject(v: Flags, opts: TrainInput, hooks: TrainHooks = {}): Promise<TrainResult> {
  const project = projectFlag(v);
  const every = str(v, 'checkpoint-every');
  const keep = str(v, 'keep-checkpoints');
  if (!project) for (const f of ['run-name', 'checkpoint-every', 'keep-checkpoints']) if (str(v, f)) throw new UsageError(`--${f} needs --project`);
  const r = await trainRun({
    options: opts, project, overwrite: Boolean(v.force),
    name: str(v, 'run-name'),
    checkpointEvery: every === undefined ? undefined : int(every, 'checkpoint-every', 50),
    keepCheckpoints: keep === undefined ? undefined : int(keep, 'keep-checkpoints', 3),
  }, { ...hooks, onRun: project ? (run) => console.error(`run ${run.id}: ${run.dir}`) : undefined });
  if (r.temporary && r.result.stopped === 'cancelled') console.error(`the stopped run is kept: \`lora-studio runs resume ${r.runId} --project ${r.project}\` continues it`);
  return r.result;
}

/**
 * What eval (or generate) works on: --model/--adapter as given, or with --run the run's base
 * model and adapter (LoRA) or its model folder (full fine-tuning).
 */
export function evalTarget(v: Flags): { model: string; adapter?: string } {
  const runId = str(v, 'run');
  if (!runId) {
    if (str(v, 'project')) throw new UsageError('--project needs --run ID here (see `lora-studio runs list`)');
    return { model: required(v, 'model'), adapter: str(v, 'adapter') };
  }
  if (str(v, 'adapter')) throw new UsageError('give --run or --adapter, not both');
  return runTarget(projectFlag(v) ?? defaultProjectDir(), runId, str(v, 'model'));
}

/** With --run: appends the evaluation to the run (metrics.jsonl + TensorBoard eval/loss); null, or why it could not. */
export function recordEvalInProject(v: Flags, r: PerplexityResultData): string | null {
  const runId = str(v, 'run');
  return runId ? recordRunEvaluation(projectFlag(v) ?? defaultProjectDir(), runId, r) : null;
}

/** generate takes the same flags as eval: --run ID [--project DIR]. */
export const PROJECT_GENERATE_FLAGS = PROJECT_EVAL_FLAGS;

export const PROJECT_GENERATE_HELP = `Project options:
  --run ID              generate with a run's result (its base model + adapter, or its model folder)
                        and append the outputs to the run's samples.jsonl
  --project DIR         the run's project (default: $LORA_STUDIO_PROJECT, else the default project)`;

/** With --run: appends generated texts to the run's samples.jsonl; null, or why it could not. */
export function recordSamplesInProject(v: Flags, prompt: string, outputs: string[]): string | null {
  const runId = str(v, 'run');
  return runId ? recordRunSamples(projectFlag(v) ?? defaultProjectDir(), runId, prompt, outputs) : null;
}
