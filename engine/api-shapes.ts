// The shapes the contract's operations and events carry (engine/api.ts): run configurations,
// trainer events and results, runs, models, datasets, evaluations, experiments, the Hub's models.
// Like the contract, it imports only the schema library (the renderer bundles it).

import { type Infer, s } from './schema.ts';

/** A file or folder path as the contract carries it. */
export const pathSchema = () => s.string({ min: 1, max: 4096 });
const path = pathSchema;
export const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const runIdSchema = () => s.string({ pattern: RUN_ID });
const runId = runIdSchema;

export const METHODS_OF_TRAINING = ['lora', 'full'] as const;
export const SCHEDULES = ['constant', 'linear', 'cosine'] as const;
export const DEVICES = ['cpu', 'webgpu', 'cuda'] as const;
export const LORA_BIASES = ['none', 'all', 'lora_only'] as const;
export const DATASET_FORMATS = ['auto', 'aclimdb', 'csv', 'jsonl', 'txt', 'parquet', 'md'] as const;
/** What a run trains: a causal language model, or a sequence classifier (engine/train/types.ts TaskKind). */
export const RUN_TASKS = ['causal-lm', 'seq-cls'] as const;
/** How a LoRA run stores its frozen base (engine/quant/formats.ts BaseDtype). */
export const RUN_BASE_DTYPES = ['f32', 'bf16', 'f16', 'int8', 'int4'] as const;

/**
 * Whether a run recomputes each block in the backward pass. Unset, it is on for a LoRA run on an
 * int8 or int4 base, as PEFT's prepare_model_for_kbit_training does: such a base is chosen to fit
 * memory, and checkpointing is what brings a 1.1B LoRA step under a third of PyTorch's peak
 * (docs/BENCHMARKS.md, "Gradient checkpointing").
 */
export function checkpointingFor(o: { method?: 'lora' | 'full'; baseDtype?: (typeof RUN_BASE_DTYPES)[number]; gradientCheckpointing?: boolean }): boolean {
  return o.gradientCheckpointing ?? (o.method !== 'full' && (o.baseDtype === 'int8' || o.baseDtype === 'int4'));
}

/** What a causal-LM data file holds (engine/data/instruct.ts DataFormatChoice): auto-detected, plain text, or an instruction format. */
export const CHAT_FORMATS = ['auto', 'text', 'prompt-completion', 'alpaca', 'sharegpt', 'messages'] as const;
/** The built-in chat templates (engine/data/chat/templates.ts); `auto`: the model's own, else chatml. A file path works too. */
export const CHAT_TEMPLATE_NAMES = ['auto', 'chatml', 'llama3', 'alpaca', 'zephyr'] as const;
export const TRAIN_ON_CHOICES = ['completions', 'all'] as const;

export const LoraOptionsSchema = s.object({
  r: s.int({ min: 1, max: 4096 }),
  alpha: s.number({ min: 0, exclusiveMin: true }),
  dropout: s.number({ min: 0, max: 0.99 }),
  bias: s.enum(LORA_BIASES),
  /** Module names (suffix match), a regex string, or 'all-linear'. Empty = the model's default. */
  targets: s.union([s.array(s.string({ min: 1, max: 512 }), { max: 10_000 }), s.string({ min: 1, max: 512 })]),
  useRslora: s.boolean(),
  init: s.enum(['kaiming', 'gaussian']),
});
export const PartialLoraOptionsSchema = s.object({
  r: s.optional(LoraOptionsSchema.shape.r),
  alpha: s.optional(LoraOptionsSchema.shape.alpha),
  dropout: s.optional(LoraOptionsSchema.shape.dropout),
  bias: s.optional(LoraOptionsSchema.shape.bias),
  targets: s.optional(LoraOptionsSchema.shape.targets),
  useRslora: s.optional(LoraOptionsSchema.shape.useRslora),
  init: s.optional(LoraOptionsSchema.shape.init),
});

const columnName = () => s.optional(s.string({ min: 1, max: 256 }));

/** Instruction data: the file's column each field of its format reads (engine/data/chat/types.ts ChatColumns; `train --columns`). */
export const ChatColumnsSchema = s.object({
  prompt: columnName(), completion: columnName(),
  instruction: columnName(), input: columnName(), output: columnName(), system: columnName(),
  messages: columnName(), conversations: columnName(),
});
export type ChatColumnsData = Infer<typeof ChatColumnsSchema>;
/** The fields each instruction format reads (Alpaca's input and system are optional): the Datasets view's mapping selects. */
export const INSTRUCT_FORMAT_FIELDS: Record<Exclude<(typeof CHAT_FORMATS)[number], 'auto' | 'text'>, readonly (keyof ChatColumnsData)[]> = {
  'prompt-completion': ['prompt', 'completion'],
  alpaca: ['instruction', 'input', 'output', 'system'],
  sharegpt: ['conversations'],
  messages: ['messages'],
};

/** Where the training text comes from, and how to read it (the Datasets view's mapping). */
export const DatasetSpecSchema = s.object({
  path: path(),
  format: s.optional(s.enum(DATASET_FORMATS)),
  textColumn: columnName(),
  labelColumn: columnName(),
  split: s.optional(s.string({ min: 1, max: 64 })),
  template: s.optional(s.string({ max: 10_000 })),
  /** Instruction data's column mapping (the data's format is the run's: RunConfig.chat.format). */
  chatColumns: s.optional(ChatColumnsSchema),
});
export type DatasetSpec = Infer<typeof DatasetSpecSchema>;

/** A training run as the Configure view describes it (engine/train/types.ts TrainOptions). */
export const RunConfigSchema = s.object({
  model: path(),
  dataset: DatasetSpecSchema,
  method: s.enum(METHODS_OF_TRAINING),
  /** Output folder (adapter for LoRA, HF model folder for full). Default: the project's runs folder. */
  out: s.optional(path()),
  lora: LoraOptionsSchema,
  lr: s.number({ min: 0, exclusiveMin: true, max: 10 }),
  epochs: s.number({ min: 0, max: 10_000 }),
  maxSteps: s.int({ min: 0, max: 10_000_000 }),
  batchSize: s.int({ min: 1, max: 4096 }),
  gradAccum: s.int({ min: 1, max: 4096 }),
  maxLength: s.int({ min: 2, max: 131_072 }),
  warmupSteps: s.int({ min: 0 }),
  warmupRatio: s.number({ min: 0, max: 0.99 }),
  weightDecay: s.number({ min: 0, max: 10 }),
  maxGradNorm: s.number({ min: 0 }),
  schedule: s.enum(SCHEDULES),
  seed: s.int({ min: 0, max: 2 ** 32 - 1 }),
  logEvery: s.int({ min: 1, max: 1_000_000 }),
  /** Fraction of the data held out for validation (0: none). */
  valRatio: s.optional(s.number({ min: 0, max: 0.9 })),
  /** Evaluate on the validation split every N steps (0: only at the end). */
  evalEvery: s.optional(s.int({ min: 0, max: 1_000_000 })),
  device: s.enum(DEVICES),
  threads: s.optional(s.int({ min: 1, max: 1024 })),
  /** A label for the runs table. */
  name: s.optional(s.string({ max: 200 })),
  /** Checkpoint every N optimizer steps (a run saved in a project; default 50). Stop and pause checkpoint too. */
  checkpointEvery: s.optional(s.int({ min: 1, max: 10_000_000 })),
  /** causal-lm (default) or seq-cls: a classifier of the dataset's label column (LoRA, heads as modules_to_save). */
  task: s.optional(s.enum(RUN_TASKS)),
  /** LoRA: how the frozen base is stored (default f32; bf16, f16, int8, int4 take less memory). */
  baseDtype: s.optional(s.enum(RUN_BASE_DTYPES)),
  /** Recompute each block's forward in the backward pass: less memory for long contexts, more time. */
  gradientCheckpointing: s.optional(s.boolean()),
  /** Causal LM: a greedy sample of `prompt` every `every` steps (and at the end), as sample events. */
  sample: s.optional(s.object({
    prompt: s.string({ min: 1, max: 2000 }),
    every: s.int({ min: 1, max: 10_000_000 }),
    maxNewTokens: s.optional(s.int({ min: 1, max: 512 })),
  })),
  /** Instruction data (causal LM): the data's format, the chat template and which tokens count in the loss. */
  chat: s.optional(s.object({
    format: s.optional(s.enum(CHAT_FORMATS)),
    /** A built-in template name (CHAT_TEMPLATE_NAMES) or a template file. */
    template: s.optional(s.string({ min: 1, max: 4096 })),
    trainOn: s.optional(s.enum(TRAIN_ON_CHOICES)),
  })),
});
export type RunConfig = Infer<typeof RunConfigSchema>;

/** The settings of a run that have defaults: a RunConfig without its model, dataset and labels. */
export type TrainingSettings = Omit<RunConfig, 'model' | 'dataset' | 'out' | 'name' | 'threads' | 'checkpointEvery' | 'valRatio' | 'evalEvery'> & {
  valRatio: number;
  evalEvery: number;
};

/** The default training settings (PEFT's LoRA defaults, HF Trainer-like optimizer settings): the trainer's (engine/train/types.ts DEFAULT_TRAIN), the CLI's and the Configure form's. */
export const DEFAULT_TRAINING: TrainingSettings = {
  method: 'lora',
  lora: { r: 8, alpha: 16, dropout: 0.05, bias: 'none', targets: [], useRslora: false, init: 'kaiming' },
  lr: 2e-4,
  epochs: 1,
  maxSteps: 0,
  batchSize: 4,
  gradAccum: 1,
  maxLength: 128,
  warmupSteps: 0,
  warmupRatio: 0,
  weightDecay: 0.01,
  maxGradNorm: 1,
  schedule: 'linear',
  seed: 42,
  logEvery: 10,
  device: 'cpu',
  evalEvery: 0,
  valRatio: 0,
};

const finite = () => s.number({ finite: true });
const num = () => s.number(); // may be NaN (e.g. a loss before the first step)

export const TrainResultSchema = s.object({
  steps: s.int({ min: 0 }),
  finalLoss: num(),
  trainableParams: s.int({ min: 0 }),
  allParams: s.int({ min: 0 }),
  tokensPerS: num(),
  peakRssMb: num(),
  wallS: num(),
  stopped: s.enum(['completed', 'cancelled']),
  /** Validation loss at the end (when there is a validation split). */
  evalLoss: s.optional(num()),
  out: s.optional(s.string()),
  // Classification runs
  examplesPerS: s.optional(num()),
  labels: s.optional(s.array(s.string())),
  eval: s.optional(s.object({
    accuracy: num(), f1: num(), precision: num(), recall: num(), macroF1: num(),
    perClass: s.array(s.object({ precision: num(), recall: num(), f1: num(), support: s.int({ min: 0 }) })),
    confusion: s.array(s.array(s.int({ min: 0 }))), examples: s.int({ min: 0 }), loss: num(),
  })),
});

/** The instruction data a run trains on (engine/data/instruct.ts InstructSummary): in its start event and its summary. */
export const InstructSummarySchema = s.object({
  format: s.enum(['prompt-completion', 'alpaca', 'sharegpt', 'messages']), template: s.nullable(s.string()), trainOn: s.enum(['completions', 'all']),
  examples: s.int({ min: 0 }), skipped: s.int({ min: 0 }), skippedExamples: s.array(s.string()), truncated: s.int({ min: 0 }), trainedShare: num(),
});
export type InstructSummaryData = Infer<typeof InstructSummarySchema>;

export const TrainEventSchema = s.tagged('type', {
  start: s.object({
    type: s.literal('start'),
    totalSteps: s.int({ min: 0 }),
    trainableParams: s.int({ min: 0 }),
    allParams: s.int({ min: 0 }),
    examples: s.int({ min: 0 }),
    tokensPerStep: s.int({ min: 0 }),
    numLabels: s.optional(s.int({ min: 1 })),
    labels: s.optional(s.array(s.string())),
    instruct: s.optional(InstructSummarySchema),
  }),
  step: s.object({
    type: s.literal('step'),
    step: s.int({ min: 0 }),
    totalSteps: s.int({ min: 0 }),
    epoch: num(),
    loss: num(),
    lr: num(),
    gradNorm: num(),
    tokensPerS: num(),
    elapsedS: num(),
    etaS: num(),
    accuracy: s.optional(num()),
    examplesPerS: s.optional(num()),
  }),
  eval: s.object({
    type: s.literal('eval'), step: s.int({ min: 0 }), evalLoss: num(), perplexity: num(), tokens: s.int({ min: 0 }),
    accuracy: s.optional(num()), f1: s.optional(num()), confusion: s.optional(s.array(s.array(s.int({ min: 0 })))),
  }),
  sample: s.object({ type: s.literal('sample'), step: s.int({ min: 0 }), prompt: s.string(), text: s.string() }),
  log: s.object({ type: s.literal('log'), level: s.enum(['info', 'warn']), message: s.string() }),
  done: s.object({ type: s.literal('done'), result: TrainResultSchema }),
});

// (engine/services/train.ts checks at compile time that these two schemas describe exactly the
// trainer's own TrainEvent and TrainResult types.)

/**
 * 'paused': stopped with a checkpoint, to be resumed; 'interrupted': its process died (an engine
 * crash, the app was closed) — a saved run resumes from its last checkpoint.
 */
export const RUN_STATUSES = ['starting', 'running', 'paused', 'completed', 'cancelled', 'failed', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses after which nothing more happens unless the run is resumed. */
export const ENDED_STATUSES: readonly RunStatus[] = ['completed', 'cancelled', 'failed', 'interrupted'];
/** Statuses from which a saved run can be resumed (from its last checkpoint). */
export const RESUMABLE_STATUSES: readonly RunStatus[] = ['paused', 'cancelled', 'failed', 'interrupted'];

export const RunPointSchema = s.object({
  step: s.int({ min: 0 }),
  epoch: num(),
  loss: num(),
  lr: num(),
  gradNorm: num(),
  tokensPerS: num(),
  elapsedS: num(),
  etaS: num(),
});
export type RunPoint = Infer<typeof RunPointSchema>;

export const EvalPointSchema = s.object({ step: s.int({ min: 0 }), evalLoss: num(), perplexity: num(), tokens: s.int({ min: 0 }) });
export type EvalPoint = Infer<typeof EvalPointSchema>;

export const RunSampleSchema = s.object({ step: s.int({ min: 0 }), prompt: s.string(), text: s.string() });
export type RunSample = Infer<typeof RunSampleSchema>;

export const RunSummarySchema = s.object({
  runId: runId(),
  name: s.string(),
  status: s.enum(RUN_STATUSES),
  config: RunConfigSchema,
  out: s.nullable(s.string()),
  startedAt: s.string(),
  endedAt: s.nullable(s.string()),
  step: s.int({ min: 0 }),
  totalSteps: s.nullable(s.int({ min: 0 })),
  lastLoss: s.nullable(num()),
  lastEvalLoss: s.nullable(num()),
  trainableParams: s.nullable(s.int({ min: 0 })),
  allParams: s.nullable(s.int({ min: 0 })),
  result: s.nullable(TrainResultSchema),
  error: s.nullable(s.string()),
  /** The run's folder in the project (runs/<id>), when it is saved there; absent for a session-only run. */
  dir: s.optional(s.nullable(s.string())),
  /** Step of the newest checkpoint on disk (resume continues from it). */
  lastCheckpoint: s.optional(s.nullable(s.int({ min: 0 }))),
  /** Instruction data: its format, the chat template (saved with the output) and which tokens trained. */
  instruct: s.optional(s.nullable(InstructSummarySchema)),
});
export type RunSummary = Infer<typeof RunSummarySchema>;

export const RunDetailSchema = s.object({
  run: RunSummarySchema,
  points: s.array(RunPointSchema),
  evalPoints: s.array(EvalPointSchema),
  logs: s.array(s.object({ level: s.enum(['info', 'warn', 'error']), message: s.string(), at: s.string() })),
  /** Generation samples (RunConfig.sample; a saved run: its samples.jsonl), oldest first. */
  samples: s.optional(s.array(RunSampleSchema)),
});
export type RunDetail = Infer<typeof RunDetailSchema>;

/** What `runs.export` writes: a merged Hugging Face folder, the PEFT adapter folder, or a GGUF file. */
export const EXPORT_KINDS = ['merged', 'adapter', 'gguf'] as const;
export const EXPORT_GGUF_TYPES = ['f32', 'f16', 'q8_0'] as const;
export const RunExportResultSchema = s.object({
  runId: runId(),
  kind: s.enum(EXPORT_KINDS),
  /** The folder (merged, adapter) or .gguf file written. */
  out: s.string(),
  /** Its size on disk (a folder: all its files). */
  bytes: s.int({ min: 0 }),
  /** The files written (relative to `out` for a folder; a GGUF: the file and its Ollama Modelfile). */
  files: s.array(s.string()),
});
export type RunExportResult = Infer<typeof RunExportResultSchema>;

export const ModelInfoSchema = s.object({
  dir: s.string(),
  architecture: s.string(),
  config: s.record(s.union([s.number(), s.string(), s.boolean(), s.null()])),
  linearModules: s.array(s.object({ name: s.string(), inFeatures: s.int({ min: 0 }), outFeatures: s.int({ min: 0 }) })),
  defaultTargets: s.array(s.string()),
  method: s.enum(METHODS_OF_TRAINING),
  trainableParams: s.int({ min: 0 }),
  allParams: s.int({ min: 0 }),
  line: s.string(),
  /** Which tokenizer files the folder has (null: none, so the model can't read text). */
  tokenizer: s.nullable(s.string()),
});
export type ModelInfo = Infer<typeof ModelInfoSchema>;

export const HistogramSchema = s.object({ edges: s.array(finite()), counts: s.array(s.int({ min: 0 })) });
export type Histogram = Infer<typeof HistogramSchema>;

/** Instruction data in a preview: the format detected and, with a model, examples rendered as training renders them. */
export const InstructPreviewSchema = s.object({
  format: s.enum(['prompt-completion', 'alpaca', 'sharegpt', 'messages']),
  /** The fields each format reads, after a mapping. */
  fields: s.array(s.string()),
  /** Null without a model (nothing rendered), or for plain prompt/completion strings (prompt + completion + EOS). */
  template: s.nullable(s.string()),
  trainOn: s.enum(['completions', 'all']),
  endOfTurn: s.nullable(s.string()),
  /** Real tokens of the usable rows and those whose labels count (null without a model). */
  tokens: s.nullable(s.int({ min: 0 })),
  trainedTokens: s.nullable(s.int({ min: 0 })),
  trainedShare: s.nullable(finite()),
  /** Answers cut at maxLength (kept with what fit). */
  truncated: s.int({ min: 0 }),
  /** The first examples, as decoded token runs, trained or not, with their token index ranges. */
  examples: s.array(s.object({
    where: s.string(),
    tokens: s.int({ min: 0 }),
    trainedTokens: s.int({ min: 0 }),
    segments: s.array(s.object({ text: s.string(), trained: s.boolean() })),
    trainedRanges: s.array(s.array(s.int({ min: 0 }))),
  })),
});
export type InstructPreview = Infer<typeof InstructPreviewSchema>;

export const DatasetPreviewSchema = s.object({
  path: s.string(),
  format: s.string(),
  examples: s.int({ min: 0 }),
  skipped: s.object({ count: s.int({ min: 0 }), examples: s.array(s.string()) }),
  labelNames: s.nullable(s.array(s.string())),
  labels: s.array(s.object({ name: s.string(), count: s.int({ min: 0 }) })),
  sample: s.array(s.object({ text: s.string(), label: s.nullable(s.string()) })),
  /** Column or field names, for the column mapping (null: the format has none). */
  columns: s.nullable(s.array(s.string())),
  chars: s.object({ mean: finite(), min: s.int({ min: 0 }), max: s.int({ min: 0 }), total: s.int({ min: 0 }) }),
  tokens: s.nullable(
    s.object({
      sampled: s.int({ min: 0 }),
      total: s.int({ min: 0 }),
      mean: finite(),
      max: s.int({ min: 0 }),
      p95: s.int({ min: 0 }),
      histogram: HistogramSchema,
    }),
  ),
  /** Instruction data (prompt/completion, Alpaca, ShareGPT, messages): trained one example per row. */
  instruct: s.optional(InstructPreviewSchema),
  notes: s.array(s.string()),
});
export type DatasetPreview = Infer<typeof DatasetPreviewSchema>;

/** What a run will need (engine/train/estimate.ts estimateRun) against what this machine has. */
export const RunEstimateSchema = s.object({
  /** Peak resident memory of the training process. */
  peakRssMb: finite(),
  /** Seconds per optimizer step (after the first), on the calibrated reference machine. */
  stepS: finite(),
  /** Frozen base as stored, plus trainable values, their gradients and both AdamW moments. */
  weightsMb: finite(),
  /** Activations kept for the backward pass and the logits at the peak. */
  activationsMb: finite(),
  /** This machine's memory (a container's limit when it has one) and what is available now. */
  totalMemoryMb: finite(),
  availableMemoryMb: finite(),
  /** peakRssMb fits in the available memory. */
  fits: s.boolean(),
});
export type RunEstimateData = Infer<typeof RunEstimateSchema>;

export const AppInfoSchema = s.object({
  version: s.string(),
  node: s.string(),
  platform: s.string(),
  shell: s.enum(['electron', 'serve', 'test']),
  /** What this shell adds: native dialogs (the desktop app). */
  features: s.object({
    dialogs: s.boolean(),
    /** app.reveal shows a path in the system file manager (the desktop app); absent or false: it answers opened false. */
    reveal: s.optional(s.boolean()),
  }),
  project: s.nullable(s.string()),
  defaultOutDir: s.string(),
  /** The training devices this machine's ONNX Runtime has (cpu always; webgpu, cuda when installed). */
  devices: s.optional(s.array(s.enum(DEVICES))),
});
export type AppInfo = Infer<typeof AppInfoSchema>;

export const ProjectInfoSchema = s.object({ dir: s.string(), name: s.string() });
export const ProjectEntrySchema = s.object({ dir: s.string(), name: s.string(), runs: s.int({ min: 0 }) });
export type ProjectInfo = Infer<typeof ProjectInfoSchema>;

export const FsEntrySchema = s.object({ name: s.string(), path: s.string(), kind: s.enum(['dir', 'file']), size: s.nullable(s.int({ min: 0 })) });
export const FsListingSchema = s.object({ dir: s.string(), parent: s.nullable(s.string()), entries: s.array(FsEntrySchema), truncated: s.boolean() });
export type FsListing = Infer<typeof FsListingSchema>;

export const PerplexityResultSchema = s.object({
  perplexity: num(), meanNll: num(), tokens: s.int({ min: 0 }), windows: s.optional(s.int({ min: 0 })),
  /** Instruction data: the rows scored (tokens = their trained tokens) and the rows skipped, as training skips them. */
  examples: s.optional(s.int({ min: 0 })), skipped: s.optional(s.int({ min: 0 })),
});
export type PerplexityResultData = Infer<typeof PerplexityResultSchema>;

export const STREAM_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export const GenerateResultSchema = s.object({
  /** The first sequence's text (without the prompt). */
  text: s.string(),
  /** New tokens (all sequences). */
  tokens: s.int({ min: 0 }),
  /** Every sequence's text (without the prompt). */
  outputs: s.array(s.string()),
  promptTokens: s.int({ min: 0 }),
  tokensPerS: num(),
  wallS: num(),
  finish: s.array(s.enum(['eos', 'stop_string', 'length', 'cancelled'])),
});
export type GenerateResultData = Infer<typeof GenerateResultSchema>;

export const ClassifyResultSchema = s.object({
  accuracy: num(),
  /** Binary F1 of class 1 for two classes, macro F1 otherwise (precision, recall alike). */
  f1: num(),
  precision: num(),
  recall: num(),
  macroF1: num(),
  perClass: s.array(s.object({ precision: num(), recall: num(), f1: num(), support: s.int({ min: 0 }) })),
  /** Rows = true class, columns = predicted class. */
  confusion: s.array(s.array(s.int({ min: 0 }))),
  labels: s.array(s.string()),
  examples: s.int({ min: 0 }),
});
export type ClassifyResultData = Infer<typeof ClassifyResultSchema>;

const nnum = () => s.nullable(num());
export const MethodReportSchema = s.object({
  method: s.enum(METHODS_OF_TRAINING),
  runId: s.string(),
  trainableParams: s.int({ min: 0 }),
  totalParams: s.int({ min: 0 }),
  trainablePct: num(),
  peakRssMb: num(),
  steps: s.int({ min: 0 }),
  tokens: num(),
  msPerStep: num(),
  tokensPerS: num(),
  wallS: num(),
  finalTrainLoss: num(),
  evalLoss: nnum(),
  perplexity: nnum(),
  lr: num(),
  outputDir: s.nullable(s.string()),
  outputBytes: num(),
  /** Trained in its own process, so its peak RSS is its own (reports saved before this field: unknown). */
  isolated: s.optional(s.boolean()),
});
export type MethodReportData = Infer<typeof MethodReportSchema>;

/** engine/experiments/compare.ts CompareReport (its free-form options left out). */
export const CompareReportSchema = s.object({
  id: s.string(),
  createdAt: s.string(),
  model: s.string(),
  data: s.string(),
  lora: MethodReportSchema,
  full: MethodReportSchema,
  file: s.string(),
});
export type CompareReportData = Infer<typeof CompareReportSchema>;

export const GridTrialSchema = s.object({
  index: s.int({ min: 0 }),
  params: s.object({ r: num(), alpha: num(), dropout: num(), lr: num() }),
  runId: s.string(),
  status: s.enum(['pending', 'completed', 'pruned', 'failed']),
  perplexity: nnum(),
  evalLoss: nnum(),
  steps: s.int({ min: 0 }),
  wallS: num(),
  error: s.optional(s.string()),
});
/** What a grid search from the app was started with: starting it again with the same resumes it. */
export const GridSettingsSchema = s.object({
  r: s.array(s.int({ min: 1, max: 4096 }), { max: 32 }),
  alpha: s.array(s.number({ min: 0, exclusiveMin: true, max: 1e6 }), { max: 32 }),
  dropout: s.array(s.number({ min: 0, max: 0.99 }), { max: 32 }),
  lr: s.array(s.number({ min: 0, exclusiveMin: true, max: 10 }), { max: 32 }),
  maxSteps: s.int({ min: 1, max: 1_000_000 }),
  batchSize: s.int({ min: 1, max: 4096 }),
  maxLength: s.int({ min: 2, max: 131_072 }),
  seed: s.int({ min: 0, max: 2 ** 32 - 1 }),
  valRatio: s.number({ min: 0, exclusiveMin: true, max: 0.9 }),
  /** Evaluate each trial every this many steps (absent: only at its end). */
  evalEvery: s.optional(s.int({ min: 1, max: 1_000_000 })),
  /** Median rule: stop a trial whose eval loss is worse than the median of `minTrials`+ finished ones there (needs evalEvery). */
  earlyStop: s.optional(s.object({ minTrials: s.int({ min: 1, max: 256 }) })),
});
export type GridSettings = Infer<typeof GridSettingsSchema>;

/** engine/experiments/grid.ts GridReport (the summary the Compare view shows). */
export const GridReportSchema = s.object({
  id: s.string(),
  createdAt: s.string(),
  updatedAt: s.string(),
  model: s.string(),
  data: s.string(),
  trials: s.array(GridTrialSchema),
  bestRunId: s.nullable(s.string()),
  bestAdapter: s.nullable(s.string()),
  file: s.string(),
  /** Present when the app can resume it (settings that give this grid's id again). */
  settings: s.optional(GridSettingsSchema),
});
export type GridReportData = Infer<typeof GridReportSchema>;

/** A model the Models view lists: the built-in demo model or one in the Hugging Face cache (engine/hub/list.ts). */
export const ListedModelSchema = s.object({
  /** What to open or pass as --model: a folder (built-in) or ORG/NAME[@REV] (cached). */
  ref: s.string(),
  name: s.string(),
  source: s.enum(['built-in', 'hf-cache']),
  dir: s.string(),
  repo: s.optional(s.string()),
  commit: s.optional(s.string()),
  revisions: s.optional(s.array(s.string())),
  family: s.nullable(s.string()),
  architecture: s.nullable(s.string()),
  params: s.nullable(s.int({ min: 0 })),
  dtype: s.nullable(s.string()),
  sizeBytes: s.int({ min: 0 }),
  trainable: s.boolean(),
  /** Why this build cannot train it (unsupported architecture, no safetensors weights, no tokenizer). */
  whyNot: s.optional(s.string()),
});
export type ListedModelData = Infer<typeof ListedModelSchema>;

export const PullResultSchema = s.object({
  repo: s.string(),
  revision: s.string(),
  commit: s.string(),
  /** The snapshot folder: open it, or use ORG/NAME as --model. */
  dir: s.string(),
  files: s.array(s.object({ file: s.string(), size: s.int({ min: 0 }), etag: s.string(), lfs: s.boolean(), cached: s.boolean(), downloadedBytes: s.int({ min: 0 }) })),
  downloadedBytes: s.int({ min: 0 }),
  offline: s.boolean(),
  notes: s.array(s.string()),
});
export type PullResultData = Infer<typeof PullResultSchema>;
