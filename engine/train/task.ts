// A task is what the one training loop trains: it loads the model its way, turns the data into
// fixed-shape batches, builds the loss, evaluates, and saves. Causal LM and sequence
// classification are the two (engine/train/tasks/).

import type { InstructSummary } from '../data/instruct.ts';
import type { LoraConfig } from '../lora/config.ts';
import type { Plan, PlanTarget } from '../lora/peft-model.ts';
import type { LoadedModel, ModelFamily } from '../models/types.ts';
import type { LossBuilder, StepGraph } from './step-graph.ts';
import type { StepOutput, TaskBatch } from './step.ts';
import type { ClassificationMetrics } from './metrics.ts';
import type { EvalEvent, LoraOptions, SampleOptions, TrainOptions } from './types.ts';

export interface Sampler {
  sample(): Promise<string>;
  release(): Promise<void>;
}

export interface Task {
  kind: 'causal-lm' | 'seq-cls';
  model: LoadedModel;
  family: ModelFamily;
  target: PlanTarget;
  /** Rows per micro-batch and their length. */
  B: number;
  T: number;
  /** Training items (token blocks, labelled rows). */
  size: number;
  /** What the start event reports beyond the loop's own fields. */
  startInfo: { examples: number; tokensPerStep: number; numLabels?: number; labels?: string[]; instruct?: InstructSummary };
  loraConfig(lora: LoraOptions): LoraConfig;
  loss: LossBuilder;
  /** The training items at these indices as one micro-batch. */
  batch(indices: number[]): TaskBatch;
  /** Step metrics beyond the loss (a classifier's accuracy on its batches). */
  stepMetrics?(batches: TaskBatch[], out: StepOutput): { accuracy?: number };
  /** Scores the validation split (undefined when there is none). */
  evaluate(sg: StepGraph, step: number): Promise<{ event: EvalEvent; metrics?: ClassificationMetrics } | undefined>;
  /**
   * A generator of samples from the weights as they train (causal LM), built before the step
   * graph takes the frozen weights; release it when the run ends.
   */
  sampler?(plan: Plan, o: SampleOptions): Promise<Sampler>;
  /** LoRA -> a PEFT adapter folder; full -> a model folder. */
  save(out: string, plan: Plan, lora: LoraConfig | null): void;
}

export type TaskFactory = (o: TrainOptions) => Promise<Task>;
