// Perplexity. Contract: the text is one document, tokenized whole, cut into consecutive
// non-overlapping windows of maxLength tokens (the last may be shorter); each window predicts
// its tokens 2..end; perplexity = exp(mean NLL over predicted tokens). With `lines`, every
// non-empty line is its own text (truncated to maxLength).

import { readFile } from 'node:fs/promises';
import { loadTokenizer } from '../data/tokenizer.ts';
import { mergeAdapter } from '../lora/apply.ts';
import { frozenParams } from '../models/params.ts';
import { lmLogits, loadModel } from '../models/registry.ts';
import type { LoadedModel } from '../models/types.ts';
import { Graph } from '../onnx/graph.ts';
import { type Device, Session } from '../onnx/runtime.ts';
import { batchFeeds, makeBatch } from './batch.ts';
import { tokenNll } from './loss.ts';

export interface PerplexityOptions {
  model: string;
  adapter?: string;
  /** A text file. */
  text: string;
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
export async function windowsNll(model: LoadedModel, windows: number[][], batchSize = 4, device?: Device): Promise<{ sum: number; count: number }> {
  const T = windows.reduce((a, w) => Math.max(a, w.length), 0);
  const B = Math.min(batchSize, windows.length);
  const session = await buildNllSession(model, B, T, device);
  let sum = 0, count = 0;
  try {
    for (let i = 0; i < windows.length; i += B) {
      const batch = makeBatch(windows.slice(i, i + B), B, T);
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
  const model = loadModel(o.model);
  if (o.adapter) mergeAdapter(model, o.adapter);
  const T = Math.min(o.maxLength ?? model.spec.maxPositions, model.spec.maxPositions);
  if (!(T >= 2)) throw new Error(`max length must be at least 2, got ${o.maxLength}`);
  const tok = await loadTokenizer(o.model);
  const text = await readFile(o.text, 'utf8');
  const windows = o.lines
    ? text.split(/\r?\n/).filter((l) => l.trim()).map((l) => tok.encode(l).slice(0, T)).filter((w) => w.length >= 2)
    : splitWindows(tok.encode(text), T);
  if (windows.length === 0) {
    throw new Error(`${o.text}: fewer than 2 tokens${o.lines ? ' on every line' : ''}: nothing to predict, so no perplexity`);
  }
  const { sum, count } = await windowsNll(model, windows, o.batchSize, o.device);
  const meanNll = sum / count;
  return { perplexity: Math.exp(meanNll), meanNll, tokens: count, windows: windows.length };
}
