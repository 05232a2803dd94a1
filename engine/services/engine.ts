// The engine functions the services call, in one replaceable table (tests pass fakes for some).
// Each module loads on first use, so that a command that inspects a model does not load the
// trainer or ONNX Runtime.

import type { ClassifyResultData, GenerateResultData, ModelInfo } from '../api.ts';
import type { LoadDatasetOptions, LoadedDataset } from '../data/index.ts';
import type { CompareOptions, CompareReport } from '../experiments/compare.ts';
import type { PerplexityOptions, PerplexityResult } from '../train/eval.ts';
import type { EvaluateOptions } from '../train/classify.ts';
import type { Method, LoraOptions, TrainHooks, TrainOptions, TrainResult } from '../train/types.ts';
import type { GenerateRequest } from './generate.ts';

export type TrainInput = Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>;

export interface EngineFunctions {
  /** Architecture and parameter counts of a model folder (engine/models/inspect.ts). */
  inspectModel(dir: string, opts: { method?: Method; lora?: Partial<LoraOptions> }): Omit<ModelInfo, 'tokenizer'> | Promise<Omit<ModelInfo, 'tokenizer'>>;
  /** The training loop (engine/train/trainer.ts). */
  train(opts: TrainInput, hooks: TrainHooks): Promise<TrainResult>;
  /** Perplexity of a model (and adapter) on a text (engine/train/eval.ts). */
  perplexity(opts: PerplexityOptions): Promise<Pick<PerplexityResult, 'perplexity' | 'meanNll' | 'tokens'> & Partial<Pick<PerplexityResult, 'windows' | 'examples' | 'skipped'>>>;
  /** A dataset, imported (engine/data/index.ts). */
  loadDataset(path: string, opts: LoadDatasetOptions): Promise<Pick<LoadedDataset, 'format' | 'examples' | 'labelNames' | 'notes'> & { skipped?: LoadedDataset['skipped'] }>;
  loadTokenizer(dir: string): Promise<{ encode(text: string): number[] }>;
  /** One generation with a model folder (and adapter): engine/services/generate.ts generateWithModel. */
  generate(p: GenerateRequest): Promise<GenerateResultData>;
  /** A sequence classifier's metrics on labelled data (engine/train/classify.ts). */
  evaluateClassifier(o: EvaluateOptions): Promise<ClassifyResultData & { predictions?: number[] }>;
  /** LoRA vs full fine-tuning (engine/experiments/compare.ts). */
  compareMethods(o: CompareOptions): Promise<CompareReport>;
  /** The saved comparisons of a project, newest first. */
  listComparisons(project: string): CompareReport[] | Promise<CompareReport[]>;
}

export const ENGINE: EngineFunctions = {
  inspectModel: async (dir, opts) => (await import('../models/inspect.ts')).inspectModel(dir, opts),
  train: async (opts, hooks) => (await import('../train/trainer.ts')).train(opts, hooks),
  perplexity: async (opts) => (await import('../train/eval.ts')).perplexity(opts),
  loadDataset: async (path, opts) => (await import('../data/index.ts')).loadDataset(path, opts),
  loadTokenizer: async (dir) => (await import('../data/tokenizer.ts')).loadTokenizer(dir),
  generate: async (p) => (await import('./generate.ts')).generateWithModel(p),
  evaluateClassifier: async (o) => (await import('../train/classify.ts')).evaluateClassifier(o),
  compareMethods: async (o) => (await import('../experiments/compare.ts')).compareMethods(o),
  listComparisons: async (project) => (await import('../experiments/compare.ts')).listComparisons(project),
};

/** The default functions with some replaced. */
export function engineWith(over: Partial<EngineFunctions> = {}): EngineFunctions {
  return { ...ENGINE, ...over };
}
