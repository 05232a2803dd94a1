// The evaluate service: perplexity of a model (with an optional LoRA adapter) on a plain-text
// file, on a dataset read as training reads it, or on a run's held-out split rebuilt from the
// training options saved in its run.json; and a run's result as what to evaluate (recording the
// evaluation in the run when asked).

import fs from 'node:fs';
import path from 'node:path';
import { ApiError, type DatasetSpec, type PerplexityResultData, type RunConfig } from '../api.ts';
import type { Device } from '../onnx/runtime.ts';
import { ADAPTER_DIR, MODEL_DIR, readDocuments, readRun, recordEval, recordSamples, sha256File } from '../store/runs.ts';
import type { PerplexityOptions } from '../train/eval.ts';
import type { TrainOptions } from '../train/types.ts';
import { importOptions, instructFormatFor, instructOptions } from './datasets.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir, requirePath } from './files.ts';

export interface PerplexityRequest {
  model: string;
  adapter?: string;
  /** A plain-text file. */
  text?: string;
  /** A dataset, mapped as for training (format, columns, split, template): each example is its own text. */
  dataset?: DatasetSpec;
  /** Instruction data's format, chat template and trained tokens, as for a run (RunConfig.chat). */
  chat?: RunConfig['chat'];
  /** A run of `project` whose held-out split (its validation blocks) is scored. */
  heldOutOf?: string;
  project?: string;
  maxLength?: number;
  /** Every non-empty line is its own text (text only). */
  lines?: boolean;
  device?: Device;
}

export async function evaluatePerplexity(p: PerplexityRequest, fns: EngineFunctions = ENGINE): Promise<PerplexityResultData> {
  const model = requireDir(p.model, 'model folder');
  const adapter = p.adapter ? requireDir(p.adapter, 'adapter folder') : undefined;
  const what = whatToScore(p);
  const chat = p.dataset ? await instructionOptions(p.dataset, p.chat) : undefined;
  const r = await fns.perplexity({ model, adapter, ...what, ...(chat ? { chat } : {}), ...(p.device ? { device: p.device } : {}) });
  return {
    perplexity: r.perplexity, meanNll: r.meanNll, tokens: r.tokens, ...(r.windows !== undefined ? { windows: r.windows } : {}),
    ...(r.examples !== undefined ? { examples: r.examples, skipped: r.skipped ?? 0 } : {}),
  };
}

/**
 * Instruction data is scored as training scores it (the chat template, the trained tokens only),
 * chosen as a run chooses it (instructFormatFor: a text column or template reads it as plain text);
 * undefined for plain data.
 */
async function instructionOptions(spec: DatasetSpec, chat: PerplexityRequest['chat']): Promise<PerplexityOptions['chat']> {
  const format = await instructFormatFor({ ...spec, path: requirePath(spec.path, 'dataset') }, chat?.format);
  if (!format) return undefined;
  return { ...instructOptions(chat, spec), format }; // the format as resolved for this file
}

/** Exactly one of text, dataset and held-out split, with the options that fit it (one-line errors otherwise). */
function whatToScore(p: PerplexityRequest): Pick<PerplexityOptions, 'text' | 'data' | 'dataOptions' | 'heldOut' | 'maxLength' | 'lines'> {
  const given = [p.text !== undefined && 'a text file', p.dataset !== undefined && 'a dataset', p.heldOutOf !== undefined && 'a run\'s held-out split'].filter(Boolean);
  if (given.length !== 1) {
    throw new ApiError('invalid_params', `give exactly one of a text file, a dataset or a run's held-out split to score${given.length ? `, not ${given.join(' and ')}` : ''}`);
  }
  if (p.lines && p.text === undefined) throw new ApiError('invalid_params', 'lines (each line its own text) applies to a text file only');
  if (p.chat && p.dataset === undefined) throw new ApiError('invalid_params', 'chat (instruction data\'s format, template, train-on) applies to a dataset only: a held-out split is read with its run\'s');
  if (p.text !== undefined) return { text: requirePath(p.text, 'text file'), maxLength: p.maxLength, lines: p.lines };
  if (p.dataset) return { data: requirePath(p.dataset.path, 'dataset'), dataOptions: importOptions(p.dataset), maxLength: p.maxLength };
  if (p.maxLength !== undefined) throw new ApiError('invalid_params', 'maxLength: a run\'s held-out split is cut at the run\'s own max length');
  if (!p.project) throw new ApiError('failed', `run ${p.heldOutOf} is not saved in a project, so its held-out split cannot be rebuilt: open the run's project`);
  return { heldOut: heldOutOptions(p.project, p.heldOutOf!) };
}

/**
 * The training options a run held its validation split out with (run.json's config; the data
 * file, refused when it changed since, or the documents saved in the run).
 */
export function heldOutOptions(project: string, runId: string): NonNullable<PerplexityOptions['heldOut']> {
  const run = readRun(project, runId);
  const c = run.config;
  if (c.task === 'seq-cls') throw new ApiError('failed', `run ${runId} is a sequence-classification run: evaluate it with eval.classify (\`lora-studio classify\`), not perplexity`);
  if (!(c.valRatio > 0)) throw new ApiError('failed', `run ${runId} held out no validation split (its validation ratio is 0)`);
  const stored = c.data;
  let data: TrainOptions['data'];
  if (stored.kind === 'file') {
    if (!fs.existsSync(stored.path)) throw new ApiError('not_found', `run ${runId}: its data file ${stored.path} is gone, so its held-out split cannot be rebuilt`);
    if (fs.statSync(stored.path).size !== stored.bytes || sha256File(stored.path) !== stored.sha256) {
      throw new ApiError('failed', `run ${runId}: ${stored.path} changed since the run trained, so its held-out split cannot be rebuilt`);
    }
    data = stored.path;
  } else {
    data = { documents: readDocuments(run.dir, stored) };
  }
  const { valRatio, seed, maxLength, cacheDir, format, chatTemplate, trainOn, chatColumns } = c;
  return { data, valRatio, seed, maxLength, cacheDir, format, chatTemplate, trainOn, chatColumns };
}

/**
 * What a run's result is to evaluate or generate with: its base model and adapter (LoRA; `model`
 * replaces the base), or its model folder (full fine-tuning).
 */
export function runTarget(project: string, runId: string, model?: string): { model: string; adapter?: string } {
  const run = readRun(project, runId);
  if (!run.output) throw new Error(`run ${runId} has no result yet (status ${run.effectiveStatus}); finish it with \`lora-studio runs resume ${runId}\``);
  const out = path.join(run.dir, run.output);
  if (run.output === MODEL_DIR) return { model: out };
  if (run.output !== ADAPTER_DIR) throw new Error(`run ${runId}: unknown result folder ${run.output}`);
  return { model: model ?? run.config.model, adapter: out };
}

/** Appends an evaluation to the run (metrics.jsonl, TensorBoard eval/loss); null, or why it could not. */
export function recordRunEvaluation(project: string, runId: string, r: PerplexityResultData): string | null {
  try {
    recordEval(project, runId, { loss: r.meanNll, perplexity: r.perplexity, tokens: r.tokens });
    return null;
  } catch (e) {
    return `the evaluation could not be recorded in run ${runId}: ${(e as Error).message}`;
  }
}

/** Appends generated texts to the run's samples.jsonl; null, or why it could not. */
export function recordRunSamples(project: string, runId: string, prompt: string, outputs: string[]): string | null {
  try {
    recordSamples(project, runId, outputs.map((text) => ({ prompt, text })));
    return null;
  } catch (e) {
    return `the samples could not be recorded in run ${runId}: ${(e as Error).message}`;
  }
}
