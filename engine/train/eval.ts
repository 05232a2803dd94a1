// Perplexity. Three ways to say what is scored:
//   - text: one document, tokenized whole, cut into consecutive non-overlapping windows of
//     maxLength tokens (the last may be shorter); with `lines`, every non-empty line is its own text;
//   - data: any dataset the importers read (the same columns/template options as training),
//     each example scored as its own text, truncated to maxLength (HF's per-example loop);
//   - data that is instruction data (`chat` set): each row rendered through the chat template as
//     training renders it (loadCausalRows), scored over its trained positions only (its labels);
//   - heldOut: a run's validation split, rebuilt from its training options exactly as training
//     held it out (the same blocks, so the number equals the run's last eval loss).
// Each window predicts its tokens 2..end; perplexity = exp(mean NLL over predicted tokens).

import { loadDataset, type LoadDatasetOptions } from '../data/index.ts';
import { type CausalRow, type ChatColumns, type InstructFormat, type TrainOn, loadCausalRows } from '../data/instruct.ts';
import { holdOutSplit } from '../data/pipeline.ts';
import { loadTokenizer } from '../data/tokenizer.ts';
import { readFileSafe } from '../util/files.ts';
import type { TrainOptions } from './types.ts';
import { mergeAdapter } from '../lora/apply.ts';
import { frozenParams } from '../models/params.ts';
import { lmLogits, loadModel } from '../models/registry.ts';
import type { LoadedModel } from '../models/types.ts';
import { Graph } from '../onnx/graph.ts';
import { type Device, Session } from '../onnx/runtime.ts';
import { batchFeeds, makeLabelledBatch } from './batch.ts';
import { tokenNll } from './loss.ts';

export interface PerplexityOptions {
  model: string;
  adapter?: string;
  /** A plain-text file (refused when it is not text). */
  text?: string;
  /** A dataset file or folder, read as training reads it. */
  data?: string;
  /** Dataset options for `data`, as for training. */
  dataOptions?: Pick<LoadDatasetOptions, 'format' | 'textColumn' | 'labelColumn' | 'split' | 'template'>;
  /** `data` is instruction data in this format: scored as training's loss is (the chat template, trained tokens only). */
  chat?: { format: InstructFormat; chatTemplate?: string; trainOn?: TrainOn; chatColumns?: ChatColumns };
  /** A run's training options: score its held-out blocks. */
  heldOut?: Pick<TrainOptions, 'data' | 'valRatio' | 'seed' | 'maxLength' | 'cacheDir'> & Partial<Pick<TrainOptions, 'format' | 'chatTemplate' | 'trainOn' | 'chatColumns'>>;
  maxLength?: number;
  lines?: boolean;
  batchSize?: number;
  device?: Device;
}

export interface PerplexityResult {
  perplexity: number;
  meanNll: number;
  /** Tokens scored (the denominator of the mean). */
  tokens: number;
  windows: number;
  /** Instruction data: the rows scored, and those skipped (as training skips them). */
  examples?: number;
  skipped?: number;
  skippedExamples?: string[];
}

/** A forward graph with every weight frozen in: per-token NLL [B, T] out. */
export async function buildNllSession(model: LoadedModel, B: number, T: number, device?: Device): Promise<Session> {
  const g = new Graph();
  const ids = g.input('ids', 'int64', [B, T]);
  const attnBias = g.input('attn_bias', 'float32', [B, 1, T, T]);
  const targets = g.input('targets', 'int64', [B, T]);
  g.input('loss_weights', 'float32', [B, T]); // fed by batchFeeds; unused here
  const { logits } = lmLogits(g, model.spec, frozenParams(g, model.weights), { ids, attnBias });
  g.output(tokenNll(g, logits, targets), 'nll');
  return Session.create(g.toModel(), { device });
}

/** Mean NLL of token windows (each predicts its tokens 2..end) under a loaded model. */
/** A window of tokens, or a row with HF-style labels (-100 = not scored; instruction data). */
export type ScoredRow = number[] | CausalRow;

export async function windowsNll(model: LoadedModel, scored: ScoredRow[], batchSize = 4, device?: Device): Promise<{ sum: number; count: number }> {
  const windows = scored.map((w) => (Array.isArray(w) ? { ids: w } : w));
  const T = windows.reduce((a, w) => Math.max(a, w.ids.length), 0);
  const B = Math.min(batchSize, windows.length);
  const session = await buildNllSession(model, B, T, device);
  let sum = 0, count = 0;
  try {
    for (let i = 0; i < windows.length; i += B) {
      const batch = makeLabelledBatch(windows.slice(i, i + B), B, T);
      const { nll } = await session.run(batchFeeds(batch), ['nll']);
      const v = nll.data as Float32Array;
      for (let j = 0; j < v.length; j++) {
        if (batch.lossWeights[j] > 0) { sum += v[j]; count++; }
      }
    }
  } finally {
    await session.release();
  }
  return { sum, count };
}

export function splitWindows(ids: number[], T: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ids.length; i += T) {
    const w = ids.slice(i, i + T);
    if (w.length >= 2) out.push(w);
  }
  return out;
}

export async function perplexity(o: PerplexityOptions): Promise<PerplexityResult> {
  const given = [o.text, o.data, o.heldOut].filter((x) => x !== undefined).length;
  if (given !== 1) throw new Error('perplexity: give exactly one of a text file, a dataset or a run\'s held-out split');
  const model = loadModel(o.model);
  if (o.adapter) mergeAdapter(model, o.adapter);
  const limit = o.heldOut?.maxLength ?? o.maxLength;
  const T = Math.min(limit ?? model.spec.maxPositions, model.spec.maxPositions);
  if (!(T >= 2)) throw new Error(`max length must be at least 2, got ${limit}`);
  const { windows, instruct } = o.data !== undefined && o.chat ? await instructionRows(o, T) : { windows: await windowsOf(o, T), instruct: undefined };
  const { sum, count } = await windowsNll(model, windows, o.batchSize, o.device);
  const meanNll = sum / count;
  return { perplexity: Math.exp(meanNll), meanNll, tokens: count, windows: windows.length, ...instruct };
}

/** Instruction data's rows as the causal-LM task trains them: the template's text, labels on the trained tokens. */
async function instructionRows(o: PerplexityOptions, T: number): Promise<{ windows: ScoredRow[]; instruct: Pick<PerplexityResult, 'examples' | 'skipped' | 'skippedExamples'> }> {
  const c = o.chat!;
  const { rows, instruct } = await loadCausalRows({ data: o.data!, model: o.model, ...c }, T);
  if (!instruct) throw new Error(`${o.data}: is not instruction data (${c.format})`);
  const windows = rows.map((r) => ({ ids: Array.from(r.ids), labels: r.labels }));
  return { windows, instruct: { examples: instruct.examples, skipped: instruct.skipped, skippedExamples: instruct.skippedExamples } };
}

async function windowsOf(o: PerplexityOptions, T: number): Promise<ScoredRow[]> {
  if (o.heldOut) {
    const h = o.heldOut;
    if (!(h.valRatio > 0)) throw new Error('this run held out no validation split (its validation ratio is 0)');
    // The rows the causal-LM task trained on (packed blocks, or instruction rows with their answer labels).
    const { rows } = await loadCausalRows({ ...h, model: o.model } as Parameters<typeof loadCausalRows>[0], T);
    return holdOutSplit(rows, h.valRatio, h.seed).val.map((r) => ({ ids: Array.from(r.ids), labels: r.labels }));
  }
  const what = (o.text ?? o.data)!;
  let windows: ScoredRow[];
  if (o.data !== undefined) {
    const ds = await loadDataset(o.data, o.dataOptions ?? {});
    const tok = await loadTokenizer(o.model);
    windows = ds.examples.map((e) => tok.encode(e.text).slice(0, T)).filter((w) => w.length >= 2);
  } else {
    const text = await readPlainText(o.text!);
    const tok = await loadTokenizer(o.model);
    windows = o.lines
      ? text.split(/\r?\n/).filter((l) => l.trim()).map((l) => tok.encode(l).slice(0, T)).filter((w) => w.length >= 2)
      : splitWindows(tok.encode(text), T);
  }
  if (windows.length === 0) {
    throw new Error(`${what}: fewer than 2 tokens${o.lines ? ' on every line' : o.data ? ' in every example' : ''}: nothing to predict, so no perplexity`);
  }
  return windows;
}

/** A UTF-8 text file; a binary file, a parquet file or another encoding is refused, naming it. */
async function readPlainText(file: string): Promise<string> {
  const buf = await readFileSafe(file);
  if (buf.subarray(0, 4).toString('latin1') === 'PAR1') throw new Error(`${file}: is a parquet file, not text: score it as a dataset (--data)`);
  if (buf.includes(0)) throw new Error(`${file}: is a binary file (it contains NUL bytes), not text`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new Error(`${file}: is not UTF-8 text (another encoding, or binary data)`);
  }
}
