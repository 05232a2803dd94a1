// `--project DIR` for train, eval (and generate): the flags, their help, and the small helpers
// the commands call. Kept here so train.ts and eval.ts change by a few lines only.
import path from 'node:path';
import { defaultProjectDir } from '../../engine/store/project.ts';
import { trainInProject } from '../../engine/store/run-training.ts';
import { ADAPTER_DIR, MODEL_DIR, readRun, recordEval, recordSamples } from '../../engine/store/runs.ts';
import { train } from '../../engine/train/trainer.ts';
import type { TrainHooks, TrainOptions, TrainResult } from '../../engine/train/types.ts';
import { UsageError, int, required } from '../args.ts';

export const PROJECT_TRAIN_FLAGS = {
  project: { type: 'string' },
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
  --keep-checkpoints N  checkpoints kept (default 3; with --project)`;

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
 * train(), or trainInProject() when --project is given (then the result's `out` is the run's
 * adapter/ or model/ folder, and the run id goes to stderr).
 */
export async function trainMaybeInProject(v: Flags, opts: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>, hooks: TrainHooks = {}): Promise<TrainResult> {
  const project = projectFlag(v);
  const every = str(v, 'checkpoint-every');
  const keep = str(v, 'keep-checkpoints');
  if (!project) {
    for (const f of ['run-name', 'checkpoint-every', 'keep-checkpoints']) if (str(v, f)) throw new UsageError(`--${f} needs --project`);
    return train(opts, hooks);
  }
  const { result } = await trainInProject(project, opts, {
    onEvent: hooks.onEvent,
    signal: hooks.signal,
    name: str(v, 'run-name'),
    checkpointEvery: every === undefined ? undefined : int(every, 'checkpoint-every', 50),
    keepCheckpoints: keep === undefined ? undefined : int(keep, 'keep-checkpoints', 3),
    onRun: (run) => console.error(`run ${run.id}: ${run.dir}`),
  });
  return result;
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
  const run = readRun(projectFlag(v) ?? defaultProjectDir(), runId);
  if (!run.output) throw new Error(`run ${runId} has no result yet (status ${run.effectiveStatus}); finish it with \`lora-studio runs resume ${runId}\``);
  const out = path.join(run.dir, run.output);
  if (run.output === MODEL_DIR) return { model: out };
  if (run.output !== ADAPTER_DIR) throw new Error(`run ${runId}: unknown result folder ${run.output}`);
  return { model: str(v, 'model') ?? run.config.model, adapter: out };
}

/** With --run: appends the evaluation to the run (metrics.jsonl + TensorBoard eval/loss). */
export function recordEvalInProject(v: Flags, r: { meanNll: number; perplexity: number; tokens: number }): void {
  const runId = str(v, 'run');
  if (!runId) return;
  recordEval(projectFlag(v) ?? defaultProjectDir(), runId, { loss: r.meanNll, perplexity: r.perplexity, tokens: r.tokens });
}

/** generate takes the same flags as eval: --run ID [--project DIR]. */
export const PROJECT_GENERATE_FLAGS = PROJECT_EVAL_FLAGS;

export const PROJECT_GENERATE_HELP = `Project options:
  --run ID              generate with a run's result (its base model + adapter, or its model folder)
                        and append the outputs to the run's samples.jsonl
  --project DIR         the run's project (default: $LORA_STUDIO_PROJECT, else the default project)`;

/** With --run: appends generated texts to the run's samples.jsonl. */
export function recordSamplesInProject(v: Flags, prompt: string, outputs: string[]): void {
  const runId = str(v, 'run');
  if (!runId) return;
  recordSamples(projectFlag(v) ?? defaultProjectDir(), runId, outputs.map((text) => ({ prompt, text })));
}
