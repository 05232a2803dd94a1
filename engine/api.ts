// THE contract of LoRA Studio: every request, response and event that crosses a process
// boundary (renderer ⇄ Electron main ⇄ engine utility process; browser ⇄ `lora-studio serve` ⇄
// engine child process), each with a runtime schema (engine/schema.ts); the shapes they carry are
// in engine/api-shapes.ts (re-exported here). Nothing here imports Node or Electron: the renderer
// bundles these files too (they import only the schema library).
//
// Wire format (JSON over WebSocket, structured clone over Electron IPC):
//   client → host   { type: 'request', id, method, params }
//   host → client   { type: 'response', id, ok: true, result } | { type: 'response', id, ok: false, error }
//   host → client   { type: 'event', event }
// An invalid message is answered with a clear error (code 'invalid_request' or 'invalid_params'),
// never a crash.

import { type Infer, type Schema, ValidationError, parse, s } from './schema.ts';

export { type Infer, type InferShape, type Schema, ValidationError, parse, s } from './schema.ts';

// ---------------------------------------------------------------------------------------------
// Errors

export const ERROR_CODES = [
  'invalid_request', // the envelope is malformed
  'invalid_params', // the params don't match the method's schema
  'unknown_method',
  'unavailable', // not in this shell (native dialogs in a browser)
  'not_found', // a file, folder or run that does not exist
  'failed', // the engine reported an error (message says what)
  'engine_crashed', // the engine process stopped while handling the request; it restarts by itself
  'busy',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const ApiErrorSchema = s.object({ code: s.enum(ERROR_CODES), message: s.string(), details: s.optional(s.array(s.string())) });
export type ApiErrorData = Infer<typeof ApiErrorSchema>;

export class ApiError extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly details?: string[]) {
    super(message);
    this.name = 'ApiError';
  }
  toJSON(): ApiErrorData {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
  static from(e: unknown): ApiError {
    if (e instanceof ApiError) return e;
    if (e instanceof ValidationError) return new ApiError('invalid_params', e.message, e.issues);
    const err = e as { code?: unknown; message?: unknown };
    if (err && typeof err === 'object' && err.code === 'ENOENT') return new ApiError('not_found', String(err.message ?? e));
    return new ApiError('failed', err && typeof err === 'object' && typeof err.message === 'string' ? err.message : String(e));
  }
}

// ---------------------------------------------------------------------------------------------
// The shapes the operations carry (engine/api-shapes.ts)

export * from './api-shapes.ts';
import {
  AppInfoSchema, CHAT_FORMATS, ClassifyResultSchema, CompareReportSchema, DatasetPreviewSchema, DatasetSpecSchema, ENDED_STATUSES, FsListingSchema,
  GenerateResultSchema, GridReportSchema, GridSettingsSchema, ListedModelSchema, METHODS_OF_TRAINING, ModelInfoSchema, PartialLoraOptionsSchema, PerplexityResultSchema,
  ProjectEntrySchema, ProjectInfoSchema, PullResultSchema, RUN_BASE_DTYPES, RUN_STATUSES, RUN_TASKS, RunConfigSchema, RunEstimateSchema, RunDetailSchema, RunSummarySchema, STREAM_ID,
  TrainEventSchema, pathSchema as path, runIdSchema as runId, EXPORT_GGUF_TYPES, EXPORT_KINDS, RunExportResultSchema,
  type EvalPoint, type RunDetail, type RunPoint, type RunSample, type RunSummary,
} from './api-shapes.ts';

const empty = s.object({});

// ---------------------------------------------------------------------------------------------
// The operations

function op<P extends Schema<unknown>, R extends Schema<unknown>>(summary: string, params: P, result: R) {
  return { summary, params, result };
}

/** An object schema whose `keys` are alternatives: exactly one of them must be given. */
function exactlyOne<S extends Schema<object>>(sc: S, keys: readonly (keyof Infer<S> & string)[]): S {
  return {
    ...sc,
    check(v, p, issues) {
      const out = sc.check(v, p, issues);
      const given = v && typeof v === 'object' ? keys.filter((k) => (v as Record<string, unknown>)[k] !== undefined) : keys;
      if (given.length !== 1) issues.push(`${p ? `${p}: ` : ''}give exactly one of ${keys.map((k) => `"${k}"`).join(', ')}${given.length ? `, not ${given.map((k) => `"${k}"`).join(' and ')}` : ''}`);
      return out;
    },
  };
}

export const API = {
  'app.info': op('versions, the shell (and whether it has native dialogs), the open project', empty, AppInfoSchema),
  'app.reveal': op(
    'show a file or folder in the system file manager (the desktop app; app.info features.reveal); elsewhere it answers opened: false',
    s.object({ path: path() }),
    s.object({ opened: s.boolean() }),
  ),

  'fs.list': op(
    'list a folder (for the path pickers when there is no native dialog)',
    s.object({ dir: s.optional(path()), showHidden: s.optional(s.boolean()) }),
    FsListingSchema,
  ),

  'dialog.open': op(
    'native open dialog (Electron only)',
    s.object({
      kind: s.enum(['file', 'folder']),
      title: s.optional(s.string({ max: 200 })),
      defaultPath: s.optional(path()),
      filters: s.optional(s.array(s.object({ name: s.string({ max: 100 }), extensions: s.array(s.string({ min: 1, max: 20 }), { max: 50 }) }), { max: 20 })),
    }),
    s.object({ path: s.nullable(s.string()) }),
  ),
  'dialog.save': op(
    'native save dialog (Electron only)',
    s.object({ title: s.optional(s.string({ max: 200 })), defaultPath: s.optional(path()) }),
    s.object({ path: s.nullable(s.string()) }),
  ),

  'projects.current': op('the open project, if any', empty, s.object({ project: s.nullable(ProjectInfoSchema) })),
  'projects.open': op('open an existing project folder (one with a project.json)', s.object({ dir: path() }), ProjectInfoSchema),
  'projects.create': op('create a project (folder, parents, project.json, runs/) and open it; an existing project is opened', s.object({ dir: path(), name: s.optional(s.string({ max: 200 })) }), ProjectInfoSchema),
  'projects.list': op('the projects in the projects root (default location) and the default project', empty, s.object({ root: s.string(), defaultProject: s.string(), projects: s.array(ProjectEntrySchema) })),

  'models.inspect': op(
    'architecture, parameter counts and LoRA-targetable modules of a local Hugging Face model folder',
    s.object({ dir: path(), method: s.optional(s.enum(METHODS_OF_TRAINING)), lora: s.optional(PartialLoraOptionsSchema) }),
    ModelInfoSchema,
  ),

  'models.list': op(
    'the built-in demo model and every model in the shared Hugging Face cache: family, parameters, dtype, size on disk, trainable or why not',
    empty,
    s.object({ cacheDir: s.string(), models: s.array(ListedModelSchema) }),
  ),
  'models.pull': op(
    'download a model repository from the Hugging Face Hub into the shared HF cache (resumable, verified); progress comes as model.pull events; answers when done',
    s.object({
      repo: s.string({ min: 1, max: 200 }),
      revision: s.optional(s.string({ min: 1, max: 256 })),
      /** fnmatch globs of more files than the defaults (config, tokenizer, safetensors). */
      include: s.optional(s.array(s.string({ min: 1, max: 256 }), { max: 64 })),
      /** Names this pull's model.pull events (and models.cancelPull). */
      pullId: s.string({ pattern: STREAM_ID }),
    }),
    PullResultSchema,
  ),
  'models.cancelPull': op('stop a download (what is downloaded stays, so pulling again resumes)', s.object({ pullId: s.string({ pattern: STREAM_ID }) }), s.object({ cancelled: s.boolean() })),

  'datasets.preview': op(
    'import a dataset: format, counts, label balance, a sample, and (with a model) token statistics',
    s.object({
      dataset: DatasetSpecSchema,
      model: s.optional(path()),
      maxLength: s.optional(s.int({ min: 2, max: 131_072 })),
      sample: s.optional(s.int({ min: 0, max: 200 })),
      /** Instruction data: its format (the run's chat.format; default auto), the chat template to render it with (auto, a built-in or a file) and which tokens train. */
      chatFormat: s.optional(s.enum(CHAT_FORMATS)),
      chatTemplate: s.optional(s.string({ min: 1, max: 4096 })),
      trainOn: s.optional(s.enum(['completions', 'all'])),
    }),
    DatasetPreviewSchema,
  ),

  'runs.start': op(
    'start a training run in the background; progress comes as run.* events',
    // `project` is set by the host (the open project: the run is saved in its runs/ folder); a
    // client's value is replaced.
    s.object({
      config: RunConfigSchema,
      runId: s.optional(runId()),
      project: s.optional(path()),
      /** Write into `config.out` even when it is a folder with files in it (they are replaced). */
      overwrite: s.optional(s.boolean()),
    }),
    s.object({ runId: runId() }),
  ),
  'runs.stop': op('stop a run (it stops after the current step)', s.object({ runId: runId() }), s.object({ stopping: s.boolean() })),
  'runs.pause': op(
    'pause a run after the current step: it stops with a checkpoint (weights and AdamW moments; on disk in a project)',
    s.object({ runId: runId() }),
    s.object({ pausing: s.boolean() }),
  ),
  'runs.resume': op(
    'resume a paused, stopped, failed or interrupted run from its last checkpoint, with the options it started with',
    s.object({ runId: runId(), project: s.optional(path()) }),
    s.object({ resumed: s.boolean() }),
  ),
  'runs.delete': op('delete a run (its folder in the project); refused while it trains', s.object({ runId: runId() }), s.object({ deleted: s.boolean() })),
  'runs.list': op('the runs of the open project (saved ones included) and of this session, newest first', empty, s.object({ runs: s.array(RunSummarySchema) })),
  'runs.get': op('one run with its metrics (a saved run: from its metrics.jsonl)', s.object({ runId: runId() }), RunDetailSchema),
  'runs.export': op(
    'export a finished run (completed, or stopped with its adapter or model): a merged Hugging Face folder, its PEFT adapter folder, or a GGUF file (merged; loraOnly: the adapter alone); default out: <run>/export/…',
    // `project` is set by the host (the run's project); a client's value is replaced.
    s.object({
      runId: runId(),
      kind: s.enum(EXPORT_KINDS),
      out: s.optional(path()),
      ggufType: s.optional(s.enum(EXPORT_GGUF_TYPES)),
      /** GGUF: the LoRA adapter alone (llama.cpp --lora), not merged. */
      loraOnly: s.optional(s.boolean()),
      /** Replace an existing output. */
      overwrite: s.optional(s.boolean()),
      project: s.optional(path()),
    }),
    RunExportResultSchema,
  ),
  'runs.estimate': op(
    'the peak memory and seconds per step a run will need (the calibrated estimate of engine/train/estimate.ts), and whether it fits in this machine\'s available memory',
    s.object({
      model: path(),
      method: s.enum(METHODS_OF_TRAINING),
      /** seq-cls: a classifier (its small head, no vocabulary logits). */
      task: s.optional(s.enum(RUN_TASKS)),
      baseDtype: s.optional(s.enum(RUN_BASE_DTYPES)),
      batchSize: s.int({ min: 1, max: 4096 }),
      maxLength: s.int({ min: 2, max: 131_072 }),
      lora: s.optional(s.object({ r: s.optional(s.int({ min: 1, max: 4096 })), targets: s.optional(s.union([s.array(s.string({ min: 1, max: 512 }), { max: 10_000 }), s.string({ min: 1, max: 512 })])) })),
      gradientCheckpointing: s.optional(s.boolean()),
    }),
    RunEstimateSchema,
  ),

  'eval.perplexity': op(
    'perplexity of a model (with an optional LoRA adapter) on a text file, a dataset read as training reads it (each example its own text; instruction data through the chat template, its trained tokens scored), or a run\'s held-out split',
    // Exactly one of text, dataset, heldOutOf. `project` is set by the host (the run's project); a client's value is replaced.
    exactlyOne(s.object({
      model: path(),
      adapter: s.optional(path()),
      text: s.optional(path()),
      dataset: s.optional(DatasetSpecSchema),
      /** Instruction data (a dataset): its format, chat template and scored tokens, as a run's (RunConfig.chat). */
      chat: RunConfigSchema.shape.chat,
      heldOutOf: s.optional(runId()),
      project: s.optional(path()),
      maxLength: s.optional(s.int({ min: 2, max: 131_072 })),
      lines: s.optional(s.boolean()),
    }), ['text', 'dataset', 'heldOutOf']),
    PerplexityResultSchema,
  ),

  'generate.text': op(
    'generate a continuation of a prompt (a base model, or with a LoRA adapter merged in); each new piece of text comes as a generate.token event',
    s.object({
      model: path(),
      adapter: s.optional(path()),
      /** The text to continue (needed unless `chat` is given; ignored with it). */
      prompt: s.optional(s.string({ min: 1, max: 100_000 })),
      /**
       * A chat: the conversation so far (ending with a user turn) rendered with the chat template and
       * its generation prompt, as `generate --chat` does; it stops at the template's end of turn and EOS.
       */
      chat: s.optional(s.object({
        messages: s.array(s.object({ role: s.enum(['system', 'user', 'assistant']), content: s.string({ max: 100_000 }) }), { max: 256 }),
        /** auto (default: the model's own template, else chatml), chatml, llama3, alpaca, zephyr, or a template file. */
        template: s.optional(s.string({ min: 1, max: 4096 })),
      })),
      maxNewTokens: s.int({ min: 1, max: 4096 }),
      /** 0 = greedy (argmax); > 0 samples. */
      temperature: s.number({ min: 0, max: 10 }),
      /** 0 = off. */
      topK: s.int({ min: 0, max: 100_000 }),
      /** 1 = off. */
      topP: s.number({ min: 0, max: 1, exclusiveMin: true }),
      /** 1 = off; > 1 discourages repeats. */
      repetitionPenalty: s.optional(s.number({ min: 0, exclusiveMin: true, max: 10 })),
      /** Sequences to return (> 1 needs temperature > 0). */
      numReturnSequences: s.optional(s.int({ min: 1, max: 16 })),
      seed: s.optional(s.int({ min: 0, max: 2 ** 32 - 1 })),
      /** Stop a sequence once its text contains one of these (the text ends with it). */
      stop: s.optional(s.array(s.string({ min: 1, max: 200 }), { max: 16 })),
      /** Names this generation's generate.token events (and generate.cancel). */
      streamId: s.optional(s.string({ pattern: STREAM_ID })),
    }),
    GenerateResultSchema,
  ),
  'generate.cancel': op('stop a generation (its outputs so far are returned, finish "cancelled")', s.object({ streamId: s.string({ pattern: STREAM_ID }) }), s.object({ cancelled: s.boolean() })),

  'eval.classify': op(
    'accuracy, precision/recall/F1 and the confusion matrix of a sequence classifier (with an optional SEQ_CLS adapter) on labelled data',
    s.object({
      model: path(),
      adapter: s.optional(path()),
      data: path(),
      textColumn: s.optional(s.string({ min: 1, max: 256 })),
      labelColumn: s.optional(s.string({ min: 1, max: 256 })),
      split: s.optional(s.string({ min: 1, max: 64 })),
      maxLength: s.optional(s.int({ min: 2, max: 131_072 })),
      batchSize: s.optional(s.int({ min: 1, max: 4096 })),
    }),
    ClassifyResultSchema,
  ),

  'experiments.list': op(
    'the saved experiments of the open project: LoRA-vs-full comparisons and grid searches (experiments/*.json), newest first',
    s.object({ project: s.optional(path()) }),
    s.object({ comparisons: s.array(CompareReportSchema), grids: s.array(GridReportSchema) }),
  ),
  'experiments.compare': op(
    'LoRA vs full fine-tuning on the same model, data, token budget and seed: two runs of the open project; progress comes as experiment.event events',
    // `project` is set by the host (the open project); a client's value is replaced.
    s.object({
      model: path(),
      data: path(),
      maxSteps: s.int({ min: 1, max: 1_000_000 }),
      batchSize: s.int({ min: 1, max: 4096 }),
      maxLength: s.int({ min: 2, max: 131_072 }),
      lr: s.number({ min: 0, exclusiveMin: true, max: 10 }),
      fullLr: s.optional(s.number({ min: 0, exclusiveMin: true, max: 10 })),
      seed: s.int({ min: 0, max: 2 ** 32 - 1 }),
      valRatio: s.number({ min: 0, max: 0.9 }),
      lora: s.optional(PartialLoraOptionsSchema),
      project: s.optional(path()),
    }),
    CompareReportSchema,
  ),
  'experiments.grid': op(
    'grid search over LoRA r, alpha, dropout and learning rate: one run of the open project per setting, scored by validation perplexity; the same settings again resume it; progress comes as grid.update and experiment.event events',
    // `project` is set by the host (the open project); a client's value is replaced.
    s.object({ ...GridSettingsSchema.shape, model: path(), data: path(), project: s.optional(path()) }),
    GridReportSchema,
  ),
  'experiments.stop': op('stop the running comparison or grid search after its current step (finished runs stay; starting it again resumes a grid)', empty, s.object({ stopping: s.boolean() })),
} as const;

export type Api = typeof API;
export type MethodName = keyof Api;
export type Params<M extends MethodName> = Infer<Api[M]['params']>;
export type Result<M extends MethodName> = Infer<Api[M]['result']>;
export const METHOD_NAMES = Object.keys(API) as MethodName[];

export function isMethod(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(API, name);
}

// ---------------------------------------------------------------------------------------------
// Events

export const StudioEventSchema = s.tagged('type', {
  /** A trainer event of one run. */
  'run.event': s.object({ type: s.literal('run.event'), runId: runId(), event: TrainEventSchema }),
  /** A run changed status (started, finished, failed, interrupted by an engine crash). */
  'run.status': s.object({
    type: s.literal('run.status'), runId: runId(), status: s.enum(RUN_STATUSES), error: s.nullable(s.string()),
    /** The run's result folder, when this status comes with one (a pause keeps the adapter saved at that step). */
    out: s.optional(s.string()),
  }),
  /** The engine process: ready, crashed (and restarting), or gave up restarting. */
  'engine.status': s.object({ type: s.literal('engine.status'), status: s.enum(['ready', 'crashed', 'failed']), message: s.string() }),
  /** A piece of generated text (generate.text with a streamId): sequence, token id, the text it added (may be empty). */
  'generate.token': s.object({
    type: s.literal('generate.token'),
    streamId: s.string({ pattern: STREAM_ID }),
    sequence: s.int({ min: 0 }),
    token: s.int({ min: 0 }),
    text: s.string(),
  }),
  /** A trainer event of one run of a running experiment (experiments.compare; experiments.grid: method lora, runId the trial's run). */
  'experiment.event': s.object({
    type: s.literal('experiment.event'),
    method: s.enum(METHODS_OF_TRAINING),
    runId: s.nullable(s.string()),
    event: TrainEventSchema,
  }),
  /** A grid search's trials as they stand (sent when it starts, when a trial starts and when one ends); `running`: the trial training now. */
  'grid.update': s.object({ type: s.literal('grid.update'), grid: GridReportSchema, running: s.nullable(s.int({ min: 0 })) }),
  /** Progress of a models.pull: bytes on disk of the total, speed, ETA; 'failed' carries the one-line error. */
  'model.pull': s.object({
    type: s.literal('model.pull'),
    pullId: s.string({ pattern: STREAM_ID }),
    phase: s.enum(['resolved', 'progress', 'file-done', 'retry', 'done', 'failed']),
    repo: s.string(),
    file: s.nullable(s.string()),
    bytes: s.int({ min: 0 }),
    totalBytes: s.int({ min: 0 }),
    bytesPerSecond: s.number({ min: 0, finite: true }),
    etaSeconds: s.nullable(s.number({ min: 0, finite: true })),
    message: s.nullable(s.string()),
  }),
  /** The project changed (opened or created elsewhere, e.g. through the app menu). */
  'project.changed': s.object({ type: s.literal('project.changed'), project: s.nullable(ProjectInfoSchema) }),
  /** The app menu asked the renderer to do something (Electron). */
  'menu.command': s.object({
    type: s.literal('menu.command'),
    command: s.enum(['open-model', 'open-dataset', 'navigate']),
    view: s.optional(s.string({ max: 40 })),
    path: s.optional(path()),
  }),
});
export type StudioEvent = Infer<typeof StudioEventSchema>;

// ---------------------------------------------------------------------------------------------
// A run as its events build it: the one reducer of the host's run registry and the renderer's store

export type RunLog = RunDetail['logs'][number];

export interface RunState {
  summary: RunSummary;
  points: RunPoint[];
  evalPoints: EvalPoint[];
  logs: RunLog[];
  /** Generation samples during training (RunConfig.sample), oldest first. */
  samples?: RunSample[];
}

export type RunEvent = Extract<StudioEvent, { type: 'run.status' | 'run.event' }>;

/** Drops the points at or after `step` (a resumed run continues from its checkpoint). */
function dropFrom(points: { step: number }[], step: number): void {
  while (points.length && points[points.length - 1].step >= step) points.pop();
}

/**
 * Applies a run's status change or trainer event to its state. 'starting' starts it again (a
 * resume): no result, no error, no end; other statuses after an end are ignored.
 */
export function applyRunEvent(r: RunState, e: RunEvent, now = new Date().toISOString()): void {
  const s = r.summary;
  const log = (level: RunLog['level'], message: string) => r.logs.push({ level, message, at: now });
  if (e.type === 'run.status') {
    if (e.status === 'starting') {
      Object.assign(s, { status: 'starting', result: null, error: null, endedAt: null });
      return;
    }
    if (ENDED_STATUSES.includes(s.status)) return;
    s.status = e.status;
    if (e.out) s.out = e.out;
    if (e.error) {
      s.error = e.error;
      log('error', e.error);
    }
    if (ENDED_STATUSES.includes(e.status)) s.endedAt = now;
    return;
  }
  const ev = e.event;
  if (ev.type === 'start') {
    Object.assign(s, { status: 'running', totalSteps: ev.totalSteps, trainableParams: ev.trainableParams, allParams: ev.allParams });
    if (ev.instruct) s.instruct = ev.instruct;
    log('info', `training ${ev.trainableParams.toLocaleString('en-US')} of ${ev.allParams.toLocaleString('en-US')} parameters on ${ev.examples} blocks, ${ev.totalSteps} steps`);
  } else if (ev.type === 'step') {
    const { type: _t, totalSteps, accuracy: _a, examplesPerS: _x, ...point } = ev;
    void [_t, _a, _x];
    Object.assign(s, { status: 'running', step: ev.step, totalSteps, lastLoss: ev.loss });
    dropFrom(r.points, ev.step);
    dropFrom(r.evalPoints, ev.step);
    if (r.samples) dropFrom(r.samples, ev.step); // a resumed run samples its steps again
    r.points.push(point);
  } else if (ev.type === 'eval') {
    s.lastEvalLoss = ev.evalLoss;
    dropFrom(r.evalPoints, ev.step);
    r.evalPoints.push({ step: ev.step, evalLoss: ev.evalLoss, perplexity: ev.perplexity, tokens: ev.tokens });
  } else if (ev.type === 'sample') {
    const samples = (r.samples ??= []);
    dropFrom(samples, ev.step);
    samples.push({ step: ev.step, prompt: ev.prompt, text: ev.text });
  } else if (ev.type === 'log') {
    log(ev.level, ev.message);
  } else if (ev.type === 'done') {
    Object.assign(s, { result: ev.result, step: ev.result.steps, status: ev.result.stopped === 'cancelled' ? 'cancelled' : 'completed', endedAt: now });
    if (Number.isFinite(ev.result.finalLoss)) s.lastLoss = ev.result.finalLoss;
    if (ev.result.out) s.out = ev.result.out;
  }
}

// ---------------------------------------------------------------------------------------------
// Envelopes

export const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export const RequestMessageSchema = s.object({
  type: s.literal('request'),
  id: s.string({ pattern: REQUEST_ID }),
  method: s.string({ min: 1, max: 64 }),
  params: s.optional(s.json()),
});
export type RequestMessage = { type: 'request'; id: string; method: string; params?: unknown };

export const ResponseMessageSchema = s.union([
  s.object({ type: s.literal('response'), id: s.string(), ok: s.literal(true), result: s.optional(s.json()) }),
  s.object({ type: s.literal('response'), id: s.string(), ok: s.literal(false), error: ApiErrorSchema }),
]);
export type ResponseMessage =
  | { type: 'response'; id: string; ok: true; result?: unknown }
  | { type: 'response'; id: string; ok: false; error: ApiErrorData };

export const EventMessageSchema = s.object({ type: s.literal('event'), event: StudioEventSchema });
export type EventMessage = { type: 'event'; event: StudioEvent };
export type ServerMessage = ResponseMessage | EventMessage;

/**
 * Checks a request envelope and its params. Returns the typed request, or the error response to
 * send back (with the request's id when it had a usable one).
 */
export function parseRequest(raw: unknown): { ok: true; id: string; method: MethodName; params: unknown } | { ok: false; response: ResponseMessage } {
  const id = raw && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string' && REQUEST_ID.test((raw as { id: string }).id) ? (raw as { id: string }).id : '';
  const fail = (e: ApiError) => ({ ok: false as const, response: { type: 'response' as const, id, ok: false as const, error: e.toJSON() } });
  let req: Infer<typeof RequestMessageSchema>;
  try {
    req = parse(RequestMessageSchema, raw, 'request');
  } catch (e) {
    return fail(new ApiError('invalid_request', (e as Error).message, (e as ValidationError).issues));
  }
  if (!isMethod(req.method)) {
    return fail(new ApiError('unknown_method', `unknown method "${req.method}" (known: ${METHOD_NAMES.join(', ')})`));
  }
  try {
    const params = parse(API[req.method].params as Schema<unknown>, req.params ?? {}, `params of ${req.method}`);
    return { ok: true, id: req.id, method: req.method, params };
  } catch (e) {
    return fail(ApiError.from(e));
  }
}

export function parseParams<M extends MethodName>(method: M, params: unknown): Params<M> {
  return parse(API[method].params as unknown as Schema<Params<M>>, params ?? {}, `params of ${method}`);
}

export function parseResult<M extends MethodName>(method: M, result: unknown): Result<M> {
  return parse(API[method].result as unknown as Schema<Result<M>>, result, `result of ${method}`);
}

export function parseServerMessage(raw: unknown): ServerMessage {
  if (raw && typeof raw === 'object' && (raw as { type?: unknown }).type === 'event') return parse(EventMessageSchema, raw, 'event message');
  return parse(ResponseMessageSchema, raw, 'response message') as ResponseMessage;
}

// JSON cannot carry NaN or ±Infinity (a loss before the first step is NaN): encode them losslessly.
const NONFINITE = '$nonfinite';

export function encodeMessage(msg: unknown): string {
  return JSON.stringify(msg, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? { [NONFINITE]: String(v) } : v));
}

export function decodeMessage(text: string): unknown {
  return JSON.parse(text, (_k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === NONFINITE) {
        const x = (v as Record<string, unknown>)[NONFINITE];
        if (x === 'NaN') return NaN;
        if (x === 'Infinity') return Infinity;
        if (x === '-Infinity') return -Infinity;
      }
    }
    return v;
  });
}

// ---------------------------------------------------------------------------------------------
// What the renderer sees as `window.studio` (Electron preload, or the WebSocket client in a browser)

export interface StudioApi {
  invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>>;
  /** Subscribes to events; returns the unsubscribe function. */
  on(listener: (event: StudioEvent) => void): () => void;
  /** 'electron' in the desktop app, 'browser' over `lora-studio serve`. */
  readonly shell: 'electron' | 'browser';
}

/** Electron IPC channel names. */
export const IPC = { invoke: 'studio:invoke', event: 'studio:event' } as const;

/** Max serialized size of one message (both directions). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
