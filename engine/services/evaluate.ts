// The evaluate service: perplexity of a model (with an optional LoRA adapter) on a text, and a
// run's result as what to evaluate (recording the evaluation in the run when asked).

import path from 'node:path';
import type { PerplexityResultData } from '../api.ts';
import type { Device } from '../onnx/runtime.ts';
import { ADAPTER_DIR, MODEL_DIR, readRun, recordEval, recordSamples } from '../store/runs.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir, requirePath } from './files.ts';

export interface PerplexityRequest {
  model: string;
  adapter?: string;
  /** A plain-text file. */
  text: string;
  maxLength?: number;
  /** Every non-empty line is its own text. */
  lines?: boolean;
  device?: Device;
}

export async function evaluatePerplexity(p: PerplexityRequest, fns: EngineFunctions = ENGINE): Promise<PerplexityResultData> {
  const model = requireDir(p.model, 'model folder');
  const adapter = p.adapter ? requireDir(p.adapter, 'adapter folder') : undefined;
  const text = requirePath(p.text, 'text file');
  const r = await fns.perplexity({ model, adapter, text, maxLength: p.maxLength, lines: p.lines, ...(p.device ? { device: p.device } : {}) });
  return { perplexity: r.perplexity, meanNll: r.meanNll, tokens: r.tokens, ...(r.windows !== undefined ? { windows: r.windows } : {}) };
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
