// The one data pipeline of training, evaluation and the app's previews: a dataset file (or
// in-memory examples) -> tokenized documents -> causal-LM blocks or classifier rows, and the one
// seeded hold-out split every task uses.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Rng } from '../util/rng.ts';
import { loadDataset, packForCausalLM, tokenizeDataset } from './index.ts';
import { type TextTokenizer, loadTokenizer } from './tokenizer.ts';

/** Already tokenized documents (tests, benchmarks) instead of a file. */
export interface TokenizedData { documents: ArrayLike<number>[] }

export interface CausalDataOptions {
  cacheDir?: string;
}

/**
 * Token blocks of T tokens, like HF's group_texts: documents joined with EOS and cut into full
 * blocks, the remainder dropped — unless everything is shorter than one block, which then trains
 * as one short block. A .txt file is one document (its newlines kept); the other formats go
 * through the dataset importers and the tokenized cache.
 */
export async function loadBlocks(data: string | TokenizedData, T: number, modelDir: string, o: CausalDataOptions = {}): Promise<ArrayLike<number>[]> {
  const label = typeof data === 'string' ? data : 'data';
  let docs: ArrayLike<number>[];
  let eos: number | null = null;
  if (typeof data !== 'string') {
    docs = data.documents;
  } else {
    const tok = await loadTokenizer(modelDir);
    eos = tok.eosTokenId;
    const file = data;
    if (!existsSync(file)) throw new Error(`${file}: data file not found`);
    if (/\.(txt|text)$/i.test(file) || !/\.[a-z0-9]+$/i.test(path.basename(file))) {
      docs = [tok.encode(await readFile(file, 'utf8'))];
    } else {
      const ds = await loadDataset(file, {});
      docs = (await tokenizeDataset(ds.examples, tok, { cacheDir: o.cacheDir, addSpecialTokens: false, settings: { purpose: 'causal-lm' } })).toArrays();
    }
  }
  let blocks = packForCausalLM(docs.map((d) => Array.from(d)), T, eos, { dropLast: true });
  if (blocks.length === 0) blocks = packForCausalLM(docs.map((d) => Array.from(d)), T, eos, { dropLast: false });
  blocks = blocks.filter((b) => b.length >= 2);
  if (blocks.length === 0) throw new Error(`${label}: fewer than 2 tokens, nothing to train on`);
  return blocks;
}

/**
 * The seeded hold-out of every task: round(n·ratio) items (at least one, and one left to train
 * on) drawn by the seed's split stream. ratio 0 (or fewer than 2 items) holds out nothing.
 */
export function holdOutSplit<T>(items: readonly T[], ratio: number, seed: number): { train: T[]; val: T[] } {
  if (!(ratio > 0) || items.length < 2) return { train: [...items], val: [] };
  const order = Rng.derive(seed, 4).shuffle([...items.keys()]);
  const nVal = Math.min(items.length - 1, Math.max(1, Math.round(items.length * ratio)));
  const valSet = new Set(order.slice(0, nVal));
  return { train: items.filter((_, i) => !valSet.has(i)), val: items.filter((_, i) => valSet.has(i)) };
}

export interface LabelledData {
  texts: string[];
  labels: number[];
  labelNames?: string[];
}

export interface LabelledDataOptions {
  textColumn?: string;
  labelColumn?: string;
  split?: string;
}

/** A labelled dataset file (CSV, JSONL, aclImdb, parquet, ...) or in-memory texts and labels. */
export async function loadLabelled(data: string | LabelledData, o: LabelledDataOptions = {}): Promise<LabelledData> {
  if (typeof data !== 'string') return data;
  const ds = await loadDataset(data, { textColumn: o.textColumn, labelColumn: o.labelColumn, split: o.split });
  const texts: string[] = [], labels: number[] = [];
  ds.examples.forEach((e, i) => {
    if (typeof e.label !== 'number') throw new Error(`${data}: example ${i + 1} has no class label; classification needs labelled data (--label-column)`);
    texts.push(e.text);
    labels.push(e.label);
  });
  if (texts.length === 0) throw new Error(`${data}: no labelled examples`);
  return { texts, labels, labelNames: ds.labelNames };
}

/** A seeded hold-out of labelled data (the same split rule as every task). */
export function holdOutLabelled(d: LabelledData, ratio: number, seed: number): { train: LabelledData; valid: LabelledData } {
  if (!(ratio > 0 && ratio < 1)) throw new Error(`validation ratio must be in (0, 1), got ${ratio}`);
  if (d.texts.length < 2) throw new Error('too few examples to hold out a validation set');
  const { train, val } = holdOutSplit([...d.texts.keys()], ratio, seed);
  const pick = (idx: number[]): LabelledData => ({ texts: idx.map((i) => d.texts[i]), labels: idx.map((i) => d.labels[i]), labelNames: d.labelNames });
  return { train: pick(train), valid: pick(val) };
}

/** Token ids for a classifier: [CLS] … [SEP] (truncated inside) for WordPiece, plain ids for BPE. */
export function encodeForClassification(tok: TextTokenizer, text: string, T: number): number[] {
  const ids = tok.encode(text);
  if (ids.length <= T) return ids;
  if (tok.kind === 'wordpiece') return [...ids.slice(0, T - 1), ids[ids.length - 1]];
  return ids.slice(0, T);
}
