// The trainer's options, events and result: what the CLI, the web bridge and the app exchange.

import { DEFAULT_TRAINING } from '../api-shapes.ts';
import type { ChatColumns, DataFormatChoice, InstructSummary, TrainOn } from '../data/instruct.ts';
import type { LabelledData, TokenizedData } from '../data/pipeline.ts';
import type { Device } from '../onnx/runtime.ts';
import type { BaseDtype } from '../quant/formats.ts';
import type { ClassificationMetrics } from './metrics.ts';

export { checkpointingFor } from '../api-shapes.ts';

export type Method = 'lora' | 'full';
export type TaskKind = 'causal-lm' | 'seq-cls';
export type Schedule = 'constant' | 'linear' | 'cosine';

export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  bias: 'none' | 'all' | 'lora_only';
  /** Module names (suffix match), a regex string, or 'all-linear'. Empty = the model's default. */
  targets: string[] | string;
  useRslora: boolean;
  init: 'kaiming' | 'gaussian';
}

export interface TrainOptions {
  model: string;
  /** Causal language modelling (default) or sequence classification. */
  task: TaskKind;
  /** A data file, pre-tokenized documents (causal LM) or labelled texts (classification). */
  data: string | TokenizedData | LabelledData;
  /** Classification: held-out data instead of a valRatio split. */
  validation?: string | LabelledData;
  /** Dataset columns and split, as `data inspect` reads them. */
  textColumn?: string;
  labelColumn?: string;
  split?: string;
  method: Method;
  out?: string;
  lora: LoraOptions;
  lr: number;
  epochs: number;
  /** Overrides epochs when > 0. */
  maxSteps: number;
  batchSize: number;
  gradAccum: number;
  maxLength: number;
  warmupSteps: number;
  warmupRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
  schedule: Schedule;
  seed: number;
  logEvery: number;
  device: Device;
  threads?: number;
  /** LoRA: how the frozen base is stored (engine/quant): f32 (default), bf16, f16, int8 or int4. */
  baseDtype?: BaseDtype;
  /** Recompute each block's forward in the backward pass (less memory, more time); unset: checkpointingFor. */
  gradientCheckpointing?: boolean;
  /** Evaluate on the validation split every N optimizer steps (0: only at the end). */
  evalEvery: number;
  /** Fraction of the blocks held out for validation (0: none). */
  valRatio: number;
  /** Where tokenized datasets are cached (default: the OS temp folder; null: no cache). */
  cacheDir?: string | null;
  /** Apply the model's own dropouts (config.json's *_pdrop) as HF's Trainer does; off by default. */
  modelDropout: boolean;
  /** Causal LM: greedy samples of a fixed prompt every `every` steps (and at the end), as events. */
  sample?: SampleOptions;
  /**
   * Causal LM: what the data file holds. auto (default) detects instruction data (prompt/completion,
   * Alpaca, ShareGPT, messages) from its first record and trains it one example per row through the
   * chat template; anything else (and 'text') is plain text, packed into blocks.
   */
  format?: DataFormatChoice;
  /** Instruction data: auto (the model's own template, else chatml), chatml, llama3, alpaca, zephyr, or a template file. */
  chatTemplate?: string;
  /** Instruction data: completions (default; only the assistant's tokens count in the loss) or all. */
  trainOn?: TrainOn;
  /** Instruction data: the columns' names when they differ from the format's. */
  chatColumns?: ChatColumns;
}

export interface SampleOptions {
  prompt: string;
  every: number;
  /** New tokens per sample (default 40). */
  maxNewTokens?: number;
}

export const DEFAULT_LORA: LoraOptions = { ...DEFAULT_TRAINING.lora };

/** The contract's default training settings (engine/api-shapes.ts DEFAULT_TRAINING) and the trainer's own. */
export const DEFAULT_TRAIN: Omit<TrainOptions, 'model' | 'data'> = {
  task: 'causal-lm', ...DEFAULT_TRAINING, lora: DEFAULT_LORA, beta1: 0.9, beta2: 0.999, eps: 1e-8, modelDropout: false,
};

/** Classification defaults (HF's sequence-classification recipe): where they differ from the LM's. */
export const DEFAULT_CLASSIFY: Omit<TrainOptions, 'model' | 'data'> = {
  ...DEFAULT_TRAIN, task: 'seq-cls', lora: { ...DEFAULT_LORA, dropout: 0.1 }, lr: 1e-3, batchSize: 8, maxLength: 128,
};

/** A classifier's validation metrics with its loss. */
export interface ClassifierEval extends ClassificationMetrics { loss: number }

/** Validation: loss and perplexity (exp of the mean loss); a classifier adds its metrics. */
export type EvalEvent = {
  type: 'eval'; step: number; evalLoss: number; perplexity: number; tokens: number;
  accuracy?: number; f1?: number; confusion?: number[][];
};

export type TrainEvent =
  | { type: 'start'; totalSteps: number; trainableParams: number; allParams: number; examples: number; tokensPerStep: number; numLabels?: number; labels?: string[]; instruct?: InstructSummary }
  | { type: 'step'; step: number; totalSteps: number; epoch: number; loss: number; lr: number; gradNorm: number; tokensPerS: number; elapsedS: number; etaS: number; accuracy?: number; examplesPerS?: number }
  | EvalEvent
  | { type: 'sample'; step: number; prompt: string; text: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'done'; result: TrainResult };

export interface TrainResult {
  steps: number;
  finalLoss: number;
  trainableParams: number;
  allParams: number;
  tokensPerS: number;
  peakRssMb: number;
  wallS: number;
  stopped: 'completed' | 'cancelled';
  /** Validation loss at the end (when there is a validation split). */
  evalLoss?: number;
  out?: string;
  /** Classification: examples per second, class names and the last validation metrics. */
  examplesPerS?: number;
  labels?: string[];
  eval?: ClassifierEval;
}

/**
 * Everything a run needs to continue exactly where it stopped: the trainable tensors with their
 * AdamW moments, and the step. Data order and dropout derive from (seed, epoch) and (seed, step),
 * so no random state needs saving.
 */
export interface Checkpoint {
  /** Optimizer steps completed. */
  step: number;
  /** Loss of the last completed step. */
  loss: number;
  tensors: { name: string; shape: number[]; data: Float32Array; m: Float32Array; v: Float32Array }[];
}

export interface TrainHooks {
  onEvent?: (e: TrainEvent) => void;
  signal?: AbortSignal;
  /** Called every `checkpointEvery` steps (and when a run is cancelled); awaited before going on. */
  onCheckpoint?: (ck: Checkpoint) => void | Promise<void>;
  checkpointEvery?: number;
  /** Continue from this checkpoint (same options as the run that wrote it). */
  resume?: Checkpoint;
}
