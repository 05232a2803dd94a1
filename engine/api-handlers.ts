// Dispatch of contract requests (engine/api.ts) onto the engine's functions, in three parts:
//
//   createEngineHandlers()  runs where the engine runs (a child process under `serve`, an
//                           Electron utility process in the app): models, datasets, training,
//                           evaluation. Engine modules are imported lazily, so a build where
//                           one is missing still starts and reports the feature as unavailable.
//   runEngineHost(port)     the message loop of that process: validates every incoming message,
//                           answers requests, streams events.
//   EngineBridge            the host side (serve's main process, Electron's main process): spawns
//                           the engine through a transport, validates what comes back, keeps the
//                           session's runs (so a crashed engine loses no run records), restarts
//                           the engine after a crash, and answers projects/runs queries itself,
//                           from the open project's store (engine/store: run folders) and the
//                           session. With a project open, runs train in it (trainInProject) and
//                           resume from their checkpoints on disk (resumeRun).
//
// Training never runs on the host's thread: the host only relays.

import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { maxOf } from './util/math.ts';
import {
  API,
  ApiError,
  type AppInfo,
  type ClassifyResultData,
  type CompareReportData,
  CompareReportSchema,
  type GenerateResultData,
  type GridReportData,
  GridReportSchema,
  type DatasetPreview,
  type DatasetSpec,
  ENDED_STATUSES,
  type Feature,
  FEATURES,
  type FsListing,
  type MethodName,
  type ModelInfo,
  type Params,
  type ProjectInfo,
  type ResponseMessage,
  type Result,
  type RunConfig,
  type RunDetail,
  type RunSummary,
  RunSummarySchema,
  type StudioEvent,
  StudioEventSchema,
  type TrainEventSchema,
  type TrainResultSchema,
  type Infer,
  parse,
  parseParams,
  parseRequest,
  parseResult,
  parseServerMessage,
} from './api.ts';
import type { Checkpoint, TrainEvent, TrainHooks, TrainOptions, TrainResult } from './train/types.ts';
import type { ProjectTrainHooks, RunOutcome } from './store/run-training.ts';
import { createProject, defaultProjectDir, defaultProjectsRoot, isProject, listProjects, openProject } from './store/project.ts';
import { LOG_FILE, deleteRun, listCheckpoints, listRuns, readJsonl, readMetrics, readRun, runDir, type RunInfo } from './store/runs.ts';

export const STUDIO_VERSION = '0.1.0';

// The contract's schemas must describe exactly the trainer's own types: a compile-time check.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameTrainEvent: Equals<Infer<typeof TrainEventSchema>, TrainEvent> = true;
const sameTrainResult: Equals<Infer<typeof TrainResultSchema>, TrainResult> = true;
void sameTrainEvent;
void sameTrainResult;

// ---------------------------------------------------------------------------------------------
// The engine functions the handlers call, loaded lazily (and replaceable in tests).

export interface EngineFunctions {
  inspectModel(dir: string, opts: { method?: 'lora' | 'full'; lora?: Partial<TrainOptions['lora']> }): Omit<ModelInfo, 'tokenizer'> | Promise<Omit<ModelInfo, 'tokenizer'>>;
  train(opts: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>, hooks: TrainHooks): Promise<TrainResult>;
  perplexity(opts: { model: string; adapter?: string; text: string; maxLength?: number; lines?: boolean }): Promise<{ perplexity: number; meanNll: number; tokens: number; windows?: number }>;
  loadDataset(path: string, opts: Record<string, unknown>): Promise<LoadedDataset>;
  loadTokenizer(dir: string): Promise<{ encode(text: string): number[] }>;
  /** A run saved in a project (engine/store/run-training.ts). */
  trainInProject(projectDir: string, opts: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>, hooks: ProjectTrainHooks): Promise<RunOutcome>;
  resumeRun(projectDir: string, runId: string, hooks: ProjectTrainHooks): Promise<RunOutcome>;
  /** Text generation (engine/generate/generator.ts, with the model's tokenizer). */
  generate(p: GenerateRequest): Promise<GenerateResultData>;
  /** A sequence classifier's metrics on labelled data (engine/train/classify.ts evaluateClassifier). */
  evaluateClassifier(o: {
    model: string; adapter?: string; data: string; textColumn?: string; labelColumn?: string; split?: string; maxLength?: number; batchSize?: number;
  }): Promise<ClassifyResultData & { predictions?: number[] }>;
  /** LoRA vs full fine-tuning (engine/experiments/compare.ts compareMethods). */
  compareMethods(o: {
    project: string; model: string; data: string; train: Partial<TrainOptions>; lora?: Partial<TrainOptions['lora']>; fullLr?: number; isolate?: boolean;
    onEvent?: (method: 'lora' | 'full', e: TrainEvent) => void; onRun?: (method: 'lora' | 'full', run: { id: string; dir: string }) => void; signal?: AbortSignal;
  }): Promise<CompareReportData & Record<string, unknown>>;
  /** The saved comparisons of a project (engine/experiments/compare.ts listComparisons). */
  listComparisons(project: string): (CompareReportData & Record<string, unknown>)[] | Promise<(CompareReportData & Record<string, unknown>)[]>;
}

export interface GenerateRequest {
  model: string;
  adapter?: string;
  prompt: string;
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  numReturnSequences: number;
  seed: number;
  stop: string[];
  onToken?: (e: { sequence: number; token: number; text: string }) => void;
  signal?: AbortSignal;
}

/** What the data layer returns (engine/data/index.ts), read defensively. */
export interface LoadedDataset {
  format: string;
  examples: { text: string; label?: number | string }[];
  labelNames?: string[];
  skipped?: number | { count: number; examples?: string[] } | { toJSON(): { count: number; examples: string[] } };
  notes?: string[];
}

type Loaders = { [K in keyof EngineFunctions]: () => Promise<EngineFunctions[K]> };

const NOT_YET: Record<keyof EngineFunctions, string> = {
  inspectModel: 'model inspection',
  train: 'training',
  perplexity: 'perplexity evaluation',
  loadDataset: 'dataset import',
  loadTokenizer: 'tokenizers',
  trainInProject: 'training in a project',
  resumeRun: 'resuming saved runs',
  generate: 'text generation',
  evaluateClassifier: 'classification metrics',
  compareMethods: 'LoRA-vs-full experiments',
  listComparisons: 'saved experiments',
};

export const DEFAULT_LOADERS: Loaders = {
  inspectModel: async () => (await import('./models/inspect.ts')).inspectModel,
  train: async () => (await import('./train/trainer.ts')).train,
  perplexity: async () => (await import('./train/eval.ts')).perplexity,
  loadDataset: async () => (await import('./data/index.ts')).loadDataset,
  loadTokenizer: async () => (await import('./data/tokenizer.ts')).loadTokenizer,
  trainInProject: async () => (await import('./store/run-training.ts')).trainInProject,
  resumeRun: async () => (await import('./store/run-training.ts')).resumeRun,
  generate: async () => {
    const [{ Generator }, { loadTokenizer }] = await Promise.all([import('./generate/generator.ts'), import('./data/tokenizer.ts')]);
    return async (p: GenerateRequest): Promise<GenerateResultData> => {
      const tok = await loadTokenizer(p.model);
      const ids = tok.encode(p.prompt);
      if (ids.length === 0) throw new ApiError('failed', 'the prompt encodes to no tokens');
      const gen = await Generator.load(p.model, p.adapter, { releaseWeights: true });
      try {
        const r = await gen.generate(
          ids,
          {
            maxNewTokens: p.maxNewTokens,
            temperature: p.temperature,
            doSample: p.temperature > 0,
            topK: p.topK,
            topP: p.topP,
            repetitionPenalty: p.repetitionPenalty,
            numReturnSequences: p.numReturnSequences,
            seed: p.seed,
            stopStrings: p.stop,
            onToken: p.onToken,
            signal: p.signal,
          },
          tok,
        );
        return { text: r.outputs[0] ?? '', tokens: r.newTokens, outputs: r.outputs, promptTokens: r.promptTokens, tokensPerS: r.tokensPerS, wallS: r.wallS, finish: r.finish };
      } finally {
        await gen.release();
      }
    };
  },
  evaluateClassifier: async () => (await import('./train/classify.ts')).evaluateClassifier,
  compareMethods: async () => (await import('./experiments/compare.ts')).compareMethods as unknown as EngineFunctions['compareMethods'],
  listComparisons: async () => (await import('./experiments/compare.ts')).listComparisons as unknown as EngineFunctions['listComparisons'],
};

async function load<K extends keyof EngineFunctions>(loaders: Loaders, k: K): Promise<EngineFunctions[K]> {
  let fn: EngineFunctions[K] | undefined;
  try {
    fn = await loaders[k]();
  } catch (e) {
    throw new ApiError('unavailable', `${NOT_YET[k]} is not available in this build yet (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof fn !== 'function') throw new ApiError('unavailable', `${NOT_YET[k]} is not available in this build yet`);
  return fn;
}

// ---------------------------------------------------------------------------------------------
// Handlers (engine side)

export interface EngineHandlerOptions {
  emit: (e: StudioEvent) => void;
  loaders?: Partial<Loaders>;
}

export type EngineMethod = Exclude<
  MethodName,
  'projects.current' | 'projects.open' | 'projects.create' | 'projects.list' | 'runs.list' | 'runs.get' | 'runs.delete' | 'dialog.open' | 'dialog.save'
>;

export interface EngineHandlers {
  handle(method: MethodName, params: unknown): Promise<unknown>;
  /** Asks every running training run to stop (after its current step). */
  stopAll(): void;
  readonly active: ReadonlySet<string>;
}

const TOKENIZER_FILES: [string, string[]][] = [
  ['tokenizer.json', ['tokenizer.json']],
  ['vocab.json + merges.txt', ['vocab.json', 'merges.txt']],
  ['vocab.txt', ['vocab.txt']],
];

export function tokenizerFiles(dir: string): string | null {
  for (const [label, files] of TOKENIZER_FILES) if (files.every((f) => existsSync(join(dir, f)))) return label;
  return null;
}

function requireDir(dir: string, what: string): string {
  const d = resolve(dir);
  let st;
  try {
    st = statSync(d);
  } catch {
    throw new ApiError('not_found', `${what} ${d} does not exist`);
  }
  if (!st.isDirectory()) throw new ApiError('failed', `${what} ${d} is a file, not a folder`);
  return d;
}

function requirePath(p: string, what: string): string {
  const d = resolve(p);
  if (!existsSync(d)) throw new ApiError('not_found', `${what} ${d} does not exist`);
  return d;
}

export function listDir(dir: string, showHidden = false, limit = 2000): FsListing {
  const d = requireDir(dir, 'folder');
  const entries: FsListing['entries'] = [];
  let truncated = false;
  let names: string[];
  try {
    names = readdirSync(d);
  } catch (e) {
    throw new ApiError('failed', `cannot read the folder ${d}: ${(e as Error).message}`);
  }
  for (const name of names.sort((a, b) => a.localeCompare(b))) {
    if (!showHidden && name.startsWith('.')) continue;
    if (entries.length >= limit) {
      truncated = true;
      break;
    }
    const p = join(d, name);
    try {
      const st = statSync(p);
      entries.push({ name, path: p, kind: st.isDirectory() ? 'dir' : 'file', size: st.isDirectory() ? null : st.size });
    } catch {
      // a dangling link or a file that vanished: leave it out of the listing
    }
  }
  entries.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'dir' ? -1 : 1));
  const parent = dirname(d);
  return { dir: d, parent: parent === d ? null : parent, entries, truncated };
}

/** Column or field names of a CSV/TSV header or the first JSONL record (for the mapping UI). */
export async function sniffColumns(path: string): Promise<string[] | null> {
  const ext = extname(path).toLowerCase();
  if (!['.csv', '.tsv', '.jsonl', '.ndjson', '.json'].includes(ext)) return null;
  let st;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (!st.isFile()) return null;
  const fh = await openFile(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(64 * 1024, st.size));
    await fh.read(buf, 0, buf.length, 0);
    const text = buf.toString('utf8').replace(/^\uFEFF/, '');
    if (ext === '.csv' || ext === '.tsv') {
      const line = text.split(/\r?\n/, 1)[0] ?? '';
      const delim = ext === '.tsv' || (line.includes('\t') && !line.includes(',')) ? '\t' : ',';
      return line.split(delim).map((c) => c.trim().replace(/^"(.*)"$/, '$1')).filter(Boolean);
    }
    const first = ext === '.json' ? text.replace(/^\s*\[/, '').split(/\n/)[0] : text.split(/\r?\n/, 1)[0];
    try {
      const obj = JSON.parse((first ?? '').replace(/,\s*$/, '')) as unknown;
      return obj && typeof obj === 'object' && !Array.isArray(obj) ? Object.keys(obj) : null;
    } catch {
      return null;
    }
  } finally {
    await fh.close();
  }
}

export function histogram(values: number[], bins = 20): { edges: number[]; counts: number[] } {
  if (values.length === 0) return { edges: [], counts: [] };
  const max = maxOf(values);
  const width = Math.max(1, Math.ceil((max + 1) / bins));
  const n = Math.ceil((max + 1) / width);
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor(v / width))]++;
  return { edges: Array.from({ length: n + 1 }, (_, i) => i * width), counts };
}

function skippedOf(ds: LoadedDataset): { count: number; examples: string[] } {
  const s = ds.skipped;
  if (s === undefined) return { count: 0, examples: [] };
  if (typeof s === 'number') return { count: s, examples: [] };
  const j = 'toJSON' in s && typeof s.toJSON === 'function' ? s.toJSON() : (s as { count: number; examples?: string[] });
  return { count: j.count, examples: j.examples?.slice(0, 10) ?? [] };
}

function importOptions(spec: DatasetSpec): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (spec.format && spec.format !== 'auto') o.format = spec.format;
  if (spec.textColumn) o.textColumn = spec.textColumn;
  if (spec.labelColumn) o.labelColumn = spec.labelColumn;
  if (spec.split) o.split = spec.split;
  if (spec.template) o.template = spec.template;
  return o;
}

/** True when the trainer can read the dataset by itself (a path with default settings). */
function plainDataset(spec: DatasetSpec): boolean {
  return Object.keys(importOptions(spec)).length === 0;
}

async function readDataset(loaders: Loaders, spec: DatasetSpec): Promise<LoadedDataset> {
  const path = requirePath(spec.path, 'dataset');
  const loadDataset = await load(loaders, 'loadDataset');
  return loadDataset(path, importOptions(spec));
}

export async function previewDataset(loaders: Loaders, p: Params<'datasets.preview'>): Promise<DatasetPreview> {
  const ds = await readDataset(loaders, p.dataset);
  const labelName = (l: number | string | undefined): string | null =>
    l === undefined ? null : typeof l === 'number' && ds.labelNames?.[l] !== undefined ? ds.labelNames[l] : String(l);
  const balance = new Map<string, number>();
  let total = 0, min = Infinity, max = 0;
  for (const e of ds.examples) {
    const n = e.text.length;
    total += n;
    if (n < min) min = n;
    if (n > max) max = n;
    const l = labelName(e.label);
    if (l !== null) balance.set(l, (balance.get(l) ?? 0) + 1);
  }
  const count = ds.examples.length;
  const sampleN = p.sample ?? 20;
  const preview: DatasetPreview = {
    path: resolve(p.dataset.path),
    format: ds.format,
    examples: count,
    skipped: skippedOf(ds),
    labelNames: ds.labelNames ?? null,
    labels: [...balance].map(([name, c]) => ({ name, count: c })),
    sample: ds.examples.slice(0, sampleN).map((e) => ({ text: e.text.length > 600 ? `${e.text.slice(0, 600)}…` : e.text, label: labelName(e.label) })),
    columns: await sniffColumns(resolve(p.dataset.path)),
    chars: { mean: count ? total / count : 0, min: count ? min : 0, max, total },
    tokens: null,
    notes: [...(ds.notes ?? [])],
  };
  if (p.model) {
    const tok = await (await load(loaders, 'loadTokenizer'))(requireDir(p.model, 'model folder'));
    const limit = 2000;
    const step = Math.max(1, count / limit);
    const lengths: number[] = [];
    for (let i = 0; i < count && lengths.length < limit; i = Math.floor(lengths.length * step)) {
      lengths.push(tok.encode(ds.examples[i].text).length);
      if (lengths.length % 200 === 0) await new Promise((r) => setImmediate(r)); // stay responsive
    }
    if (lengths.length) {
      const sorted = [...lengths].sort((a, b) => a - b);
      const sum = lengths.reduce((a, b) => a + b, 0);
      preview.tokens = {
        sampled: lengths.length,
        total: Math.round((sum / lengths.length) * count),
        mean: sum / lengths.length,
        max: sorted[sorted.length - 1],
        p95: sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))],
        histogram: histogram(lengths),
      };
      if (p.maxLength) {
        const over = lengths.filter((n) => n > p.maxLength!).length;
        if (over) preview.notes.push(`${((100 * over) / lengths.length).toFixed(1)}% of the examples are longer than max length ${p.maxLength} tokens`);
      }
      if (lengths.length < count) preview.notes.push(`token statistics from ${lengths.length} of ${count} examples, evenly spaced`);
    }
  }
  return preview;
}

function sanitizeConfig(config: Record<string, unknown>): ModelInfo['config'] {
  const out: ModelInfo['config'] = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
  }
  return out;
}

export function toTrainOptions(config: RunConfig, data: TrainOptions['data']): Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'> {
  const { dataset: _dataset, name: _name, checkpointEvery: _every, ...rest } = config;
  void _dataset;
  void _name;
  void _every;
  return { ...rest, lora: { ...config.lora }, data };
}

/** The label of a run in the runs table (and its run.json name). */
export function runName(config: RunConfig): string {
  return config.name?.trim() || `${config.method === 'lora' ? `LoRA r=${config.lora.r}` : 'full FT'} · ${basename(config.dataset.path)}`;
}

interface LiveRun {
  controller: AbortController;
  /** Stopping to pause (keep the checkpoint) rather than to cancel. */
  pausing: boolean;
  checkpoint?: Checkpoint;
  /** Step of the last checkpoint written to disk (a saved run). */
  savedStep?: number;
}

interface PausedRun {
  config: RunConfig;
  data: TrainOptions['data'];
  /** Where to continue from (undefined: paused before the first step, so from the start). */
  checkpoint?: Checkpoint;
}

export function createEngineHandlers(opts: EngineHandlerOptions): EngineHandlers {
  const loaders: Loaders = { ...DEFAULT_LOADERS, ...opts.loaders };
  const active = new Map<string, LiveRun>();
  // Session-only runs (no project open) keep their pause checkpoint here, in the engine's memory;
  // a saved run's pause checkpoint is on disk in its run folder.
  const paused = new Map<string, PausedRun>();

  async function features(): Promise<Record<Feature, boolean>> {
    const has = async (k: keyof EngineFunctions) => {
      try {
        await load(loaders, k);
        return true;
      } catch {
        return false;
      }
    };
    const [models, datasets, train, evalOk, generate, experiments] = await Promise.all([
      has('inspectModel'), has('loadDataset'), has('train'), has('perplexity'), has('generate'), has('compareMethods'),
    ]);
    return { models, datasets, train, eval: evalOk, generate, projects: true, experiments, dialogs: false };
  }

  const status = (runId: string, s: 'running' | 'paused' | 'completed' | 'cancelled' | 'failed', error: string | null = null) =>
    opts.emit({ type: 'run.status', runId, status: s, error });

  /** Runs the trainer in the background (from the start, or from a pause's checkpoint). */
  function launch(runId: string, config: RunConfig, prepare: (run: LiveRun) => Promise<TrainOptions['data']>, resume?: Checkpoint): void {
    const run: LiveRun = { controller: new AbortController(), pausing: false };
    active.set(runId, run);
    void (async () => {
      let data: TrainOptions['data'] | undefined;
      try {
        const trainFn = await load(loaders, 'train');
        data = await prepare(run);
        if (config.out) mkdirSync(config.out, { recursive: true });
        const onEvent = (event: TrainEvent) => {
          // A pause ends the trainer's call like a cancel; the run itself goes on later.
          if (event.type === 'done' && run.pausing && event.result.stopped === 'cancelled') return;
          opts.emit({ type: 'run.event', runId, event });
        };
        const result = await trainFn(toTrainOptions(config, data), {
          onEvent,
          signal: run.controller.signal,
          onCheckpoint: (ck) => {
            run.checkpoint = ck;
          },
          ...(resume ? { resume } : {}),
        });
        if (run.pausing && result.stopped === 'cancelled') {
          const checkpoint = run.checkpoint ?? resume;
          paused.set(runId, { config, data, checkpoint });
          opts.emit({ type: 'run.event', runId, event: { type: 'log', level: 'info', message: `paused after step ${checkpoint?.step ?? 0}` } });
          status(runId, 'paused');
        } else {
          status(runId, result.stopped === 'cancelled' ? 'cancelled' : 'completed');
        }
      } catch (e) {
        status(runId, 'failed', ApiError.from(e).message);
      } finally {
        active.delete(runId);
      }
    })();
  }

  /**
   * Runs a saved run (a run folder in a project, engine/store) in the background: a new one
   * (trainInProject) or a resumed one (resumeRun). Pause = stop with a checkpoint on disk; the run
   * folder says cancelled and resume continues from that checkpoint. The promise resolves once
   * the run folder is taken (training starts), and rejects when the run fails before that.
   */
  function launchSaved(runId: string, go: (run: LiveRun, hooks: ProjectTrainHooks) => Promise<RunOutcome>, early: 'fail' | 'reject'): Promise<void> {
    const run: LiveRun = { controller: new AbortController(), pausing: false };
    active.set(runId, run);
    let begun = false;
    let started!: () => void;
    let failedEarly!: (e: ApiError) => void;
    const ready = new Promise<void>((ok, fail) => {
      started = ok;
      failedEarly = fail;
    });
    void (async () => {
      try {
        const outcome = await go(run, {
          runId,
          signal: run.controller.signal,
          onRun: () => {
            begun = true;
            status(runId, 'running');
            started();
          },
          onCheckpoint: ({ step }) => {
            run.savedStep = step;
          },
          onEvent: (event) => {
            // A pause ends the trainer's call like a cancel; the run itself goes on later.
            if (event.type === 'done' && run.pausing && event.result.stopped === 'cancelled') return;
            opts.emit({ type: 'run.event', runId, event });
          },
        });
        if (run.pausing && outcome.result.stopped === 'cancelled') {
          opts.emit({ type: 'run.event', runId, event: { type: 'log', level: 'info', message: `paused after step ${run.savedStep ?? outcome.result.steps}` } });
          status(runId, 'paused');
        } else {
          status(runId, outcome.result.stopped === 'cancelled' ? 'cancelled' : 'completed');
        }
      } catch (e) {
        const err = ApiError.from(e);
        if (!begun && early === 'reject') failedEarly(err);
        else status(runId, 'failed', err.message);
      } finally {
        active.delete(runId);
        started(); // no-op once settled
      }
    })();
    return ready;
  }

  /** The trainer's data: the file itself, or (a mapped dataset) its examples tokenized here. */
  async function prepareData(run: LiveRun, config: RunConfig): Promise<TrainOptions['data']> {
    if (plainDataset(config.dataset)) return resolve(config.dataset.path);
    const ds = await readDataset(loaders, config.dataset);
    const tok = await (await load(loaders, 'loadTokenizer'))(resolve(config.model));
    const documents: number[][] = [];
    for (let i = 0; i < ds.examples.length; i++) {
      if (run.controller.signal.aborted) break;
      documents.push(tok.encode(ds.examples[i].text));
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    return { documents };
  }

  async function startRun(p: Params<'runs.start'>): Promise<Result<'runs.start'>> {
    const runId = p.runId ?? newRunId();
    if (active.has(runId) || paused.has(runId)) throw new ApiError('busy', `run ${runId} exists already`);
    const config = p.config;
    requireDir(config.model, 'model folder');
    requirePath(config.dataset.path, 'dataset');
    if (p.project) {
      const project = p.project;
      const trainInProject = await load(loaders, 'trainInProject');
      const every = config.checkpointEvery ? { checkpointEvery: config.checkpointEvery } : {};
      void launchSaved(
        runId,
        async (run, hooks) => trainInProject(project, toTrainOptions(config, await prepareData(run, config)), { ...hooks, ...every, name: runName(config) }),
        'fail',
      );
      return { runId };
    }
    await load(loaders, 'train');
    // A mapped dataset (columns, split, template) is imported and tokenized here; the trainer gets the documents.
    launch(runId, config, (run) => prepareData(run, config));
    return { runId };
  }

  // Generations in progress, by stream id (generate.cancel).
  const generations = new Map<string, AbortController>();

  async function generateText(p: Params<'generate.text'>): Promise<Result<'generate.text'>> {
    const model = requireDir(p.model, 'model folder');
    const adapter = p.adapter ? requireDir(p.adapter, 'adapter folder') : undefined;
    const n = p.numReturnSequences ?? 1;
    if (n > 1 && p.temperature === 0) throw new ApiError('invalid_params', 'more than one sequence needs a temperature > 0 (greedy decoding returns one text)');
    const fn = await load(loaders, 'generate');
    const streamId = p.streamId;
    if (streamId && generations.has(streamId)) throw new ApiError('busy', `a generation named ${streamId} is running already`);
    const controller = new AbortController();
    if (streamId) generations.set(streamId, controller);
    try {
      return await fn({
        model, adapter, prompt: p.prompt, maxNewTokens: p.maxNewTokens, temperature: p.temperature, topK: p.topK, topP: p.topP,
        repetitionPenalty: p.repetitionPenalty ?? 1, numReturnSequences: n, seed: p.seed ?? 0, stop: p.stop ?? [], signal: controller.signal,
        onToken: streamId ? (e) => opts.emit({ type: 'generate.token', streamId, sequence: e.sequence, token: e.token, text: e.text }) : undefined,
      });
    } finally {
      if (streamId) generations.delete(streamId);
    }
  }

  let comparing: AbortController | null = null;

  async function compare(p: Params<'experiments.compare'>): Promise<Result<'experiments.compare'>> {
    if (!p.project) throw new ApiError('failed', 'a LoRA-vs-full comparison saves two runs in a project: open or create a project first');
    if (comparing) throw new ApiError('busy', 'a comparison is running already');
    const model = requireDir(p.model, 'model folder');
    const data = requirePath(p.data, 'dataset');
    const fn = await load(loaders, 'compareMethods');
    const controller = new AbortController();
    comparing = controller;
    const runIds: Record<'lora' | 'full', string | null> = { lora: null, full: null };
    try {
      const report = await fn({
        project: p.project, model, data,
        train: { maxSteps: p.maxSteps, epochs: 0, batchSize: p.batchSize, maxLength: p.maxLength, lr: p.lr, seed: p.seed, valRatio: p.valRatio, logEvery: 1 },
        ...(p.lora ? { lora: p.lora } : {}),
        ...(p.fullLr ? { fullLr: p.fullLr } : {}),
        // Each method in its own process (its own peak memory) — except inside Electron, whose
        // utility process can't fork the TypeScript trial worker: there both train here.
        isolate: !process.versions.electron,
        signal: controller.signal,
        onRun: (method, run) => {
          runIds[method] = run.id;
        },
        onEvent: (method, event) => opts.emit({ type: 'experiment.event', method, runId: runIds[method], event }),
      });
      const summary = compareSummary(report);
      if (!summary) throw new ApiError('failed', 'the comparison finished but its report is incomplete');
      return summary;
    } finally {
      comparing = null;
    }
  }

  async function handle(method: MethodName, raw: unknown): Promise<unknown> {
    switch (method) {
      case 'app.info': {
        const info: AppInfo = {
          version: STUDIO_VERSION,
          node: process.versions.node,
          platform: `${process.platform}-${process.arch}`,
          shell: 'test',
          features: await features(),
          project: null,
          defaultOutDir: defaultRunsRoot(null),
        };
        return info;
      }
      case 'fs.list': {
        const p = parseParams('fs.list', raw);
        return listDir(p.dir ?? homedir(), p.showHidden ?? false);
      }
      case 'models.inspect': {
        const p = parseParams('models.inspect', raw);
        const dir = requireDir(p.dir, 'model folder');
        const inspect = await load(loaders, 'inspectModel');
        const info = await inspect(dir, { method: p.method, lora: p.lora });
        return { ...info, config: sanitizeConfig(info.config), tokenizer: tokenizerFiles(dir) } satisfies ModelInfo;
      }
      case 'datasets.preview':
        return previewDataset(loaders, parseParams('datasets.preview', raw));
      case 'runs.start':
        return startRun(parseParams('runs.start', raw));
      case 'runs.stop': {
        const p = parseParams('runs.stop', raw);
        const run = active.get(p.runId);
        if (run) {
          run.pausing = false;
          run.controller.abort();
          return { stopping: true };
        }
        if (paused.delete(p.runId)) {
          status(p.runId, 'cancelled');
          return { stopping: true };
        }
        return { stopping: false };
      }
      case 'runs.pause': {
        const p = parseParams('runs.pause', raw);
        const run = active.get(p.runId);
        if (!run || run.controller.signal.aborted) return { pausing: false };
        run.pausing = true;
        run.controller.abort();
        return { pausing: true };
      }
      case 'runs.resume': {
        const p = parseParams('runs.resume', raw);
        if (p.project) {
          const project = p.project;
          if (active.has(p.runId)) return { resumed: false };
          const resumeRun = await load(loaders, 'resumeRun');
          await launchSaved(p.runId, (_run, hooks) => resumeRun(project, p.runId, hooks), 'reject');
          return { resumed: true };
        }
        const pr = paused.get(p.runId);
        if (!pr) return { resumed: false };
        paused.delete(p.runId);
        launch(p.runId, pr.config, async () => pr.data, pr.checkpoint);
        status(p.runId, 'running');
        return { resumed: true };
      }
      case 'eval.perplexity': {
        const p = parseParams('eval.perplexity', raw);
        requireDir(p.model, 'model folder');
        if (p.adapter) requireDir(p.adapter, 'adapter folder');
        requirePath(p.text, 'text file');
        const fn = await load(loaders, 'perplexity');
        const r = await fn({ model: resolve(p.model), adapter: p.adapter && resolve(p.adapter), text: resolve(p.text), maxLength: p.maxLength, lines: p.lines });
        return { perplexity: r.perplexity, meanNll: r.meanNll, tokens: r.tokens, ...(r.windows !== undefined ? { windows: r.windows } : {}) };
      }
      case 'generate.text':
        return generateText(parseParams('generate.text', raw));
      case 'generate.cancel': {
        const p = parseParams('generate.cancel', raw);
        const c = generations.get(p.streamId);
        c?.abort();
        return { cancelled: Boolean(c) };
      }
      case 'eval.classify': {
        const p = parseParams('eval.classify', raw);
        requireDir(p.model, 'model folder');
        if (p.adapter) requireDir(p.adapter, 'adapter folder');
        requirePath(p.data, 'labelled data');
        const fn = await load(loaders, 'evaluateClassifier');
        const r = await fn({
          model: resolve(p.model), data: resolve(p.data),
          ...(p.adapter ? { adapter: resolve(p.adapter) } : {}),
          ...(p.textColumn ? { textColumn: p.textColumn } : {}),
          ...(p.labelColumn ? { labelColumn: p.labelColumn } : {}),
          ...(p.split ? { split: p.split } : {}),
          ...(p.maxLength ? { maxLength: p.maxLength } : {}),
          ...(p.batchSize ? { batchSize: p.batchSize } : {}),
        });
        return {
          accuracy: r.accuracy, f1: r.f1, precision: r.precision, recall: r.recall, macroF1: r.macroF1,
          perClass: r.perClass.map((c) => ({ precision: c.precision, recall: c.recall, f1: c.f1, support: c.support })),
          confusion: r.confusion, labels: r.labels, examples: r.examples,
        } satisfies Result<'eval.classify'>;
      }
      case 'experiments.list': {
        const p = parseParams('experiments.list', raw);
        if (!p.project) return { comparisons: [], grids: [] };
        const list = await load(loaders, 'listComparisons');
        return { comparisons: (await list(p.project)).map(compareSummary).filter((x) => x !== null), grids: listGrids(p.project) };
      }
      case 'experiments.compare':
        return compare(parseParams('experiments.compare', raw));
      default:
        throw new ApiError('unknown_method', `${method} is not handled by the engine`);
    }
  }

  return {
    handle,
    stopAll: () => active.forEach((r) => r.controller.abort()),
    get active() {
      return new Set(active.keys());
    },
  };
}

/** A saved comparison as the contract describes it (null when the file doesn't fit). */
export function compareSummary(r: Record<string, unknown>): CompareReportData | null {
  const pick = (m: unknown) => {
    const o = (m ?? {}) as Record<string, unknown>;
    const keys = ['method', 'runId', 'trainableParams', 'totalParams', 'trainablePct', 'peakRssMb', 'steps', 'tokens', 'msPerStep', 'tokensPerS', 'wallS', 'finalTrainLoss', 'evalLoss', 'perplexity', 'lr', 'outputDir', 'outputBytes'];
    return Object.fromEntries(keys.map((k) => [k, o[k] === undefined ? null : o[k]]));
  };
  try {
    return parse(CompareReportSchema, { id: r.id, createdAt: r.createdAt, model: r.model, data: r.data, lora: pick(r.lora), full: pick(r.full), file: r.file }, 'comparison');
  } catch {
    return null;
  }
}

/** The saved grid searches of a project (experiments/grid-*.json), newest first, as summaries. */
export function listGrids(project: string): GridReportData[] {
  const dir = join(resolve(project), 'experiments');
  if (!existsSync(dir)) return [];
  const out: GridReportData[] = [];
  for (const f of readdirSync(dir).filter((x) => /^grid-.*\.json$/.test(x))) {
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown> & { trials?: Record<string, unknown>[]; best?: { runId?: string } | null };
      const trials = (r.trials ?? []).map((t) => ({
        index: t.index, params: t.params, runId: t.runId, status: t.status, perplexity: t.perplexity ?? null, evalLoss: t.evalLoss ?? null,
        steps: t.steps ?? 0, wallS: t.wallS ?? 0, ...(typeof t.error === 'string' ? { error: t.error } : {}),
      }));
      out.push(parse(GridReportSchema, {
        id: r.id, createdAt: r.createdAt, updatedAt: r.updatedAt ?? r.createdAt, model: r.model, data: r.data, trials,
        bestRunId: r.best?.runId ?? null, bestAdapter: r.bestAdapter ?? null, file: join(dir, f),
      }, `grid ${f}`));
    } catch {
      // an unreadable or foreign file: left out
    }
  }
  return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
}

export function newRunId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `run-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export function defaultRunsRoot(project: string | null): string {
  return project ? join(project, 'runs') : join(tmpdir(), 'lora-studio', 'runs');
}

// ---------------------------------------------------------------------------------------------
// The engine process's message loop

/** Messages between the host and the engine process. */
export type HostToEngine = { type: 'request'; id: string; method: string; params?: unknown };
export type EngineToHost = ResponseMessage | { type: 'event'; event: StudioEvent } | { type: 'ready'; pid: number };

export interface EnginePort {
  post(msg: EngineToHost): void;
  onMessage(cb: (msg: unknown) => void): void;
}

/** Serves contract requests arriving on `port` (the engine side of a process boundary). */
export function runEngineHost(port: EnginePort, opts: { loaders?: Partial<Loaders> } = {}): EngineHandlers {
  const handlers = createEngineHandlers({ emit: (event) => port.post({ type: 'event', event }), loaders: opts.loaders });
  port.onMessage((raw) => {
    const req = parseRequest(raw);
    if (!req.ok) {
      port.post(req.response);
      return;
    }
    handlers.handle(req.method, req.params).then(
      (result) => port.post({ type: 'response', id: req.id, ok: true, result }),
      (e) => port.post({ type: 'response', id: req.id, ok: false, error: ApiError.from(e).toJSON() }),
    );
  });
  port.post({ type: 'ready', pid: process.pid });
  return handlers;
}

/**
 * The engine in this process, behind the same message boundary (every message is structured-
 * cloned, as across a real one). For tests, and for shells that can't start a process.
 */
export function inProcessEngine(opts: { loaders?: Partial<Loaders> } = {}): EngineTransport & { handlers: EngineHandlers; crash(code?: number): void } {
  const toEngine: ((m: unknown) => void)[] = [];
  const toHost: ((m: unknown) => void)[] = [];
  const exits: ((info: { code: number | null; reason?: string }) => void)[] = [];
  let alive = true;
  const deliver = (cbs: ((m: unknown) => void)[], m: unknown) => {
    const copy = structuredClone(m);
    queueMicrotask(() => alive && cbs.forEach((cb) => cb(copy)));
  };
  const handlers = runEngineHost({ post: (m) => deliver(toHost, m), onMessage: (cb) => toEngine.push(cb) }, opts);
  const stop = (code: number | null) => {
    if (!alive) return;
    alive = false;
    handlers.stopAll();
    queueMicrotask(() => exits.forEach((cb) => cb({ code })));
  };
  return {
    handlers,
    post: (m) => deliver(toEngine, m),
    onMessage: (cb) => toHost.push(cb),
    onExit: (cb) => exits.push(cb),
    kill: () => stop(null),
    crash: (code = 1) => stop(code),
  };
}

// ---------------------------------------------------------------------------------------------
// The host side

export interface EngineTransport {
  post(msg: HostToEngine): void;
  onMessage(cb: (msg: unknown) => void): void;
  onExit(cb: (info: { code: number | null; reason?: string }) => void): void;
  kill(): void;
}

export interface BridgeOptions {
  /** Starts a fresh engine process. */
  spawn: () => EngineTransport;
  shell: AppInfo['shell'];
  project?: string | null;
  /** Called for every event, to broadcast to the renderer(s). */
  onEvent: (e: StudioEvent) => void;
  /** Methods this shell answers itself (e.g. Electron's native dialogs). */
  local?: Partial<{ [M in MethodName]: (params: Params<M>) => Promise<Result<M>> }>;
  /** Crash handling: at most `max` restarts within `windowMs`, each after `delayMs`. */
  restart?: { max: number; windowMs: number; delayMs: number };
  log?: (message: string) => void;
}

interface RunRecord {
  summary: RunSummary;
  detail: RunDetail;
  /** The project the run is saved in (null: a session-only run, no project open). */
  project: string | null;
}

/** The session's runs, kept on the host so that an engine crash loses no record. */
export class RunRegistry {
  private readonly runs = new Map<string, RunRecord>();

  add(runId: string, config: RunConfig, project: string | null = null): RunSummary {
    const summary: RunSummary = {
      runId,
      name: runName(config),
      status: 'starting',
      config,
      out: config.out ?? null,
      startedAt: new Date().toISOString(),
      endedAt: null,
      step: 0,
      totalSteps: null,
      lastLoss: null,
      lastEvalLoss: null,
      trainableParams: null,
      allParams: null,
      result: null,
      error: null,
      ...(project ? { dir: runDir(project, runId), lastCheckpoint: null } : {}),
    };
    this.runs.set(runId, { summary, detail: { run: summary, points: [], evalPoints: [], logs: [] }, project });
    return summary;
  }

  /** Takes a saved run (read from its folder) into the session, e.g. to resume it. */
  restore(detail: RunDetail, project: string): void {
    const summary = { ...detail.run };
    this.runs.set(summary.runId, { summary, detail: { run: summary, points: [...detail.points], evalPoints: [...detail.evalPoints], logs: [...detail.logs] }, project });
  }

  /** Marks a run as starting again (resume): no result, no error, no end. */
  restart(runId: string): void {
    const r = this.runs.get(runId);
    if (!r) return;
    Object.assign(r.summary, { status: 'starting', result: null, error: null, endedAt: null });
  }

  remove(runId: string): boolean {
    return this.runs.delete(runId);
  }

  has(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** The project a session run is saved in (undefined: not in this session). */
  projectOf(runId: string): string | null | undefined {
    return this.runs.get(runId)?.project;
  }

  get(runId: string): RunDetail {
    const r = this.runs.get(runId);
    if (!r) throw new ApiError('not_found', `no run ${runId} in this session`);
    return { run: { ...r.summary }, points: [...r.detail.points], evalPoints: [...r.detail.evalPoints], logs: [...r.detail.logs] };
  }

  /** The session's runs (of one project, when given: null = the runs made with no project open). */
  list(project?: string | null): RunSummary[] {
    return [...this.runs.values()].filter((r) => project === undefined || r.project === project).map((r) => ({ ...r.summary })).reverse();
  }

  /**
   * Runs that live in the engine process: starting, running, or paused with the checkpoint in
   * the engine's memory (a session-only run; a saved run's pause checkpoint is on disk).
   */
  active(): string[] {
    return [...this.runs.values()]
      .filter((r) => r.summary.status === 'starting' || r.summary.status === 'running' || (r.summary.status === 'paused' && r.project === null))
      .map((r) => r.summary.runId);
  }

  /** Applies an event; returns false when it names an unknown run. */
  apply(e: StudioEvent): boolean {
    if (e.type !== 'run.event' && e.type !== 'run.status') return true;
    const r = this.runs.get(e.runId);
    if (!r) return false;
    const s = r.summary;
    const log = (level: 'info' | 'warn' | 'error', message: string) => r.detail.logs.push({ level, message, at: new Date().toISOString() });
    if (e.type === 'run.status') {
      if (ENDED_STATUSES.includes(s.status)) return true; // final already (a resume restarts it first)
      s.status = e.status;
      if (e.error) {
        s.error = e.error;
        log('error', e.error);
      }
      if (ENDED_STATUSES.includes(e.status)) s.endedAt = new Date().toISOString();
      return true;
    }
    const ev = e.event;
    switch (ev.type) {
      case 'start':
        s.status = 'running';
        s.totalSteps = ev.totalSteps;
        s.trainableParams = ev.trainableParams;
        s.allParams = ev.allParams;
        log('info', `training ${ev.trainableParams.toLocaleString('en-US')} of ${ev.allParams.toLocaleString('en-US')} parameters on ${ev.examples} blocks, ${ev.totalSteps} steps`);
        break;
      case 'step': {
        const { type: _t, totalSteps, ...point } = ev;
        void _t;
        s.status = 'running';
        s.step = ev.step;
        s.totalSteps = totalSteps;
        s.lastLoss = ev.loss;
        // A resumed run continues from its checkpoint: drop what the last segment did after it.
        dropFrom(r.detail.points, ev.step);
        dropFrom(r.detail.evalPoints, ev.step);
        r.detail.points.push(point);
        break;
      }
      case 'eval': {
        const { type: _t, ...point } = ev;
        void _t;
        s.lastEvalLoss = ev.evalLoss;
        dropFrom(r.detail.evalPoints, ev.step);
        r.detail.evalPoints.push(point);
        break;
      }
      case 'log':
        log(ev.level, ev.message);
        break;
      case 'done':
        s.result = ev.result;
        s.step = ev.result.steps;
        if (Number.isFinite(ev.result.finalLoss)) s.lastLoss = ev.result.finalLoss;
        s.status = ev.result.stopped === 'cancelled' ? 'cancelled' : 'completed';
        s.endedAt = new Date().toISOString();
        if (ev.result.out) s.out = ev.result.out;
        break;
    }
    return true;
  }

  /**
   * The engine process died under the unfinished runs: a saved run is marked interrupted (it
   * resumes from its last checkpoint on disk), a session-only run failed.
   */
  interruptAll(reason: (saved: boolean) => string): { runId: string; status: 'interrupted' | 'failed'; error: string }[] {
    return this.active().map((runId) => {
      const saved = this.runs.get(runId)!.project !== null;
      const status = saved ? ('interrupted' as const) : ('failed' as const);
      const error = reason(saved);
      this.apply({ type: 'run.status', runId, status, error });
      return { runId, status, error };
    });
  }
}

function dropFrom(points: { step: number }[], step: number): void {
  while (points.length && points[points.length - 1].step >= step) points.pop();
}

// ---------------------------------------------------------------------------------------------
// Saved runs (engine/store) as the contract describes them

function storedConfig(info: RunInfo): RunConfig {
  const c = info.config;
  const config: RunConfig = {
    model: c.model,
    dataset: { path: c.data.kind === 'file' ? c.data.path : join(info.dir, c.data.file) },
    method: c.method,
    lora: { r: c.lora.r, alpha: c.lora.alpha, dropout: c.lora.dropout, bias: c.lora.bias, targets: c.lora.targets, useRslora: c.lora.useRslora, init: c.lora.init },
    lr: c.lr,
    epochs: c.epochs,
    maxSteps: c.maxSteps,
    batchSize: c.batchSize,
    gradAccum: c.gradAccum,
    maxLength: c.maxLength,
    warmupSteps: c.warmupSteps,
    warmupRatio: c.warmupRatio,
    weightDecay: c.weightDecay,
    maxGradNorm: c.maxGradNorm,
    schedule: c.schedule,
    seed: c.seed,
    logEvery: c.logEvery,
    ...(info.checkpointEvery ? { checkpointEvery: info.checkpointEvery } : {}),
    valRatio: c.valRatio,
    evalEvery: c.evalEvery,
    device: c.device,
    name: info.name.slice(0, 200),
  };
  if (c.threads !== undefined) config.threads = c.threads;
  if (info.exportTo) config.out = info.exportTo;
  return config;
}

/** A saved run as the runs table and the charts see it (its metrics from metrics.jsonl). */
export function savedRunDetail(info: RunInfo): RunDetail {
  const { steps, evals } = readMetrics(info.dir);
  const lastEval = evals.length ? evals[evals.length - 1].evalLoss : null;
  const result = info.result ? { ...info.result } : null;
  if (result && info.output) result.out = join(info.dir, info.output);
  const run: RunSummary = {
    runId: info.id,
    name: info.name || info.id,
    status: info.effectiveStatus,
    config: storedConfig(info),
    out: info.output ? join(info.dir, info.output) : null,
    startedAt: info.createdAt,
    endedAt: info.endedAt,
    step: info.step,
    totalSteps: info.totalSteps,
    lastLoss: info.lastLoss,
    lastEvalLoss: lastEval ?? result?.evalLoss ?? null,
    trainableParams: info.trainableParams,
    allParams: info.allParams,
    result,
    error: info.error ?? (info.effectiveStatus === 'interrupted' ? 'The process training this run stopped (crash, or the app was closed); resume continues from its last checkpoint.' : null),
    dir: info.dir,
    lastCheckpoint: listCheckpoints(info.dir).at(-1)?.step ?? null,
  };
  const level = (l: unknown): 'info' | 'warn' | 'error' => (l === 'warn' || l === 'error' ? l : 'info');
  return {
    run,
    points: steps.map(({ time: _time, ...p }) => p),
    evalPoints: evals.map((e) => ({ step: e.step, evalLoss: e.evalLoss, perplexity: e.evalPerplexity ?? Math.exp(e.evalLoss), tokens: e.tokens ?? 0 })),
    logs: readJsonl(join(info.dir, LOG_FILE)).map((o) => ({ level: level(o.level), message: String(o.message ?? ''), at: String(o.time ?? '') })),
  };
}

interface Pending {
  method: MethodName;
  resolve: (r: unknown) => void;
  reject: (e: ApiError) => void;
}

export class EngineBridge {
  readonly runs = new RunRegistry();
  private transport: EngineTransport | null = null;
  private ready = false;
  private queue: HostToEngine[] = [];
  private pending = new Map<string, Pending>();
  private nextId = 1;
  private closing = false;
  private crashes: number[] = [];
  private gaveUp = false;
  private project: ProjectInfo | null;
  private generation = 0;

  constructor(private readonly opts: BridgeOptions) {
    this.project = null;
    if (opts.project) {
      // The project runs are saved in: created (project.json, runs/) when the folder has none.
      try {
        this.project = projectInfo(opts.project, true);
      } catch (e) {
        opts.log?.(`cannot open the project ${opts.project}: ${(e as Error).message}`);
        this.project = { dir: resolve(opts.project), name: basename(resolve(opts.project)) };
      }
    }
  }

  /** Starts the engine process (requests sent before it is ready wait for it). */
  start(): void {
    this.closing = false;
    this.spawn();
  }

  get projectDir(): string | null {
    return this.project?.dir ?? null;
  }

  private spawn(): void {
    const gen = ++this.generation;
    this.ready = false;
    let t: EngineTransport;
    try {
      t = this.opts.spawn();
    } catch (e) {
      this.onExit(gen, { code: null, reason: `cannot start the engine: ${(e as Error).message}` });
      return;
    }
    this.transport = t;
    t.onMessage((m) => {
      if (gen === this.generation) this.onMessage(m);
    });
    t.onExit((info) => this.onExit(gen, info));
  }

  private onMessage(raw: unknown): void {
    if (raw && typeof raw === 'object' && (raw as { type?: unknown }).type === 'ready') {
      this.ready = true;
      const q = this.queue;
      this.queue = [];
      for (const m of q) this.transport?.post(m);
      return;
    }
    let msg;
    try {
      msg = parseServerMessage(raw);
    } catch (e) {
      this.opts.log?.(`engine sent an invalid message, ignored: ${(e as Error).message}`);
      return;
    }
    if (msg.type === 'event') {
      if (!this.runs.apply(msg.event)) {
        this.opts.log?.(`event for an unknown run ignored: ${JSON.stringify(msg.event).slice(0, 200)}`);
        return;
      }
      this.opts.onEvent(msg.event);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (!msg.ok) {
      p.reject(new ApiError(msg.error.code, msg.error.message, msg.error.details));
      return;
    }
    try {
      p.resolve(parseResult(p.method, msg.result));
    } catch (e) {
      p.reject(new ApiError('failed', `the engine answered ${p.method} with an invalid result: ${(e as Error).message}`));
    }
  }

  private onExit(gen: number, info: { code: number | null; reason?: string }): void {
    if (gen !== this.generation) return;
    this.transport = null;
    this.ready = false;
    if (this.closing) return;
    const why = info.reason ?? `exit code ${info.code}`;
    const message = `The engine stopped unexpectedly (${why}).`;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new ApiError('engine_crashed', `${message} It restarts by itself; try again.`));
    }
    const interrupted = this.runs.interruptAll((saved) =>
      saved ? `${message} The run was interrupted; resume it from its last checkpoint.` : `${message} The run was interrupted; its record is kept.`,
    );
    for (const r of interrupted) this.opts.onEvent({ type: 'run.status', runId: r.runId, status: r.status, error: r.error });
    const { max, windowMs, delayMs } = this.opts.restart ?? { max: 5, windowMs: 60_000, delayMs: 500 };
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < windowMs), now];
    this.opts.log?.(message);
    if (this.crashes.length > max) {
      this.gaveUp = true;
      for (const m of this.queue) this.rejectQueued(m, `${message} It crashed ${this.crashes.length} times in a row; restart the studio.`);
      this.queue = [];
      this.opts.onEvent({ type: 'engine.status', status: 'failed', message: `${message} It crashed ${this.crashes.length} times within ${Math.round(windowMs / 1000)} s and is not restarted again; restart the studio.` });
      return;
    }
    this.opts.onEvent({ type: 'engine.status', status: 'crashed', message: `${message} Restarting it; the session's runs are kept.` });
    setTimeout(() => {
      if (this.closing) return;
      this.spawn();
      const gen2 = this.generation;
      const check = setInterval(() => {
        if (gen2 !== this.generation || this.closing) return clearInterval(check);
        if (this.ready) {
          clearInterval(check);
          this.opts.onEvent({ type: 'engine.status', status: 'ready', message: 'The engine restarted.' });
        }
      }, 50);
      check.unref?.();
    }, delayMs).unref?.();
  }

  private rejectQueued(m: HostToEngine, message: string): void {
    const p = this.pending.get(m.id);
    if (p) {
      this.pending.delete(m.id);
      p.reject(new ApiError('engine_crashed', message));
    }
  }

  /** Sends a request to the engine process (after validation by the caller). */
  private forward(method: MethodName, params: unknown): Promise<unknown> {
    if (this.gaveUp) return Promise.reject(new ApiError('engine_crashed', 'The engine crashed repeatedly and was not restarted; restart the studio.'));
    if (this.closing) return Promise.reject(new ApiError('engine_crashed', 'The studio is shutting down.'));
    const id = `e${this.nextId++}`;
    const msg: HostToEngine = { type: 'request', id, method, params };
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { method, resolve: resolvePromise, reject });
      if (this.ready && this.transport) this.transport.post(msg);
      else this.queue.push(msg);
    });
  }

  /** A typed call (validates params and result). */
  async invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    return (await this.call(method, params)) as Result<M>;
  }

  private async call(method: MethodName, rawParams: unknown): Promise<unknown> {
    const params = parseParams(method, rawParams);
    const local = this.opts.local?.[method] as ((p: unknown) => Promise<unknown>) | undefined;
    if (local) return parseResult(method, await local(params));
    switch (method) {
      case 'app.info': {
        const info = (await this.forward(method, params)) as AppInfo;
        return {
          ...info,
          shell: this.opts.shell,
          project: this.project?.dir ?? null,
          defaultOutDir: defaultRunsRoot(this.project?.dir ?? null),
          features: { ...info.features, dialogs: Boolean(this.opts.local?.['dialog.open']) },
        } satisfies AppInfo;
      }
      case 'fs.list': {
        const p = params as Params<'fs.list'>;
        return this.forward(method, { ...p, dir: p.dir ?? this.project?.dir ?? homedir() });
      }
      case 'dialog.open':
      case 'dialog.save':
        throw new ApiError('unavailable', 'native dialogs exist only in the desktop app; type a path or browse instead');
      case 'projects.current':
        return { project: this.project };
      case 'projects.open': {
        const dir = requireDir((params as Params<'projects.open'>).dir, 'project folder');
        if (!isProject(dir)) throw new ApiError('not_found', `${dir} is not a LoRA Studio project (it has no project.json); create a project there instead`);
        return this.setProject(dir, false);
      }
      case 'projects.create': {
        const p = params as Params<'projects.create'>;
        const dir = resolve(p.dir);
        if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ApiError('failed', `${dir} exists and is a file`);
        try {
          mkdirSync(dir, { recursive: true });
          createProject(dir, { name: p.name });
        } catch (e) {
          throw new ApiError('failed', `cannot create the project ${dir}: ${(e as Error).message}`);
        }
        return this.setProject(dir, false);
      }
      case 'projects.list': {
        const root = defaultProjectsRoot();
        const defaultProject = defaultProjectDir();
        const found = listProjects(root);
        for (const dir of [defaultProject, this.project?.dir]) {
          if (dir && isProject(dir) && !found.some((x) => x.dir === dir)) found.push({ dir, name: projectInfo(dir).name });
        }
        return { root, defaultProject, projects: found.map((x) => ({ ...x, runs: listRuns(x.dir).runs.length })) };
      }
      case 'runs.list':
        return { runs: this.listRuns() };
      case 'runs.get': {
        const { runId } = params as Params<'runs.get'>;
        if (this.runs.has(runId)) {
          const d = this.runs.get(runId);
          const project = this.runs.projectOf(runId);
          if (project && existsSync(runDir(project, runId))) d.run.lastCheckpoint = listCheckpoints(runDir(project, runId)).at(-1)?.step ?? null;
          return d;
        }
        const saved = this.savedRun(runId);
        if (!saved) throw new ApiError('not_found', `no run ${runId} in this session${this.project ? ` or in the project ${this.project.dir}` : ''}`);
        return savedRunDetail(saved);
      }
      case 'runs.delete':
        return this.deleteRun((params as Params<'runs.delete'>).runId);
      case 'runs.stop': {
        const { runId } = params as Params<'runs.stop'>;
        if (this.runs.has(runId) && this.runs.projectOf(runId) !== null && this.runs.get(runId).run.status === 'paused') {
          // A paused saved run is already stopped (with its checkpoint on disk): stopping ends the pause.
          this.runs.apply({ type: 'run.status', runId, status: 'cancelled', error: null });
          this.opts.onEvent({ type: 'run.status', runId, status: 'cancelled', error: null });
          return { stopping: true };
        }
        return this.forward(method, params);
      }
      case 'runs.resume':
        return this.resumeRun((params as Params<'runs.resume'>).runId);
      case 'experiments.list':
        return this.project ? this.forward(method, { project: this.project.dir }) : { comparisons: [], grids: [] };
      case 'experiments.compare': {
        const p = params as Params<'experiments.compare'>;
        if (!this.project) throw new ApiError('failed', 'a LoRA-vs-full comparison saves two runs in a project: open or create a project first');
        return this.forward(method, { ...p, model: resolve(p.model), data: resolve(p.data), project: this.project.dir });
      }
      case 'runs.start': {
        const p = params as Params<'runs.start'>;
        const runId = p.runId ?? newRunId();
        const project = this.project?.dir ?? null;
        if (this.runs.has(runId) || (project && existsSync(runDir(project, runId)))) throw new ApiError('busy', `a run named ${runId} exists already`);
        const config: RunConfig = { ...p.config, model: resolve(p.config.model), dataset: { ...p.config.dataset, path: resolve(p.config.dataset.path) } };
        // In a project the run's folder holds its result (adapter/ or model/); `out` is an extra copy.
        if (config.out || !project) config.out = resolve(config.out ?? join(defaultRunsRoot(null), runId));
        this.runs.add(runId, config, project);
        this.opts.onEvent({ type: 'run.status', runId, status: 'starting', error: null });
        try {
          return await this.forward(method, project ? { config, runId, project } : { config, runId });
        } catch (e) {
          const err = ApiError.from(e);
          if (this.runs.apply({ type: 'run.status', runId, status: 'failed', error: err.message })) {
            this.opts.onEvent({ type: 'run.status', runId, status: 'failed', error: err.message });
          }
          throw err;
        }
      }
      default:
        return this.forward(method, params);
    }
  }

  private setProject(dir: string, create: boolean): ProjectInfo {
    try {
      this.project = projectInfo(dir, create);
    } catch (e) {
      throw new ApiError('failed', (e as Error).message);
    }
    this.opts.onEvent({ type: 'project.changed', project: this.project });
    return this.project;
  }

  /** A run saved in the open project, or null. */
  private savedRun(runId: string): RunInfo | null {
    if (!this.project) return null;
    try {
      return readRun(this.project.dir, runId);
    } catch {
      return null;
    }
  }

  /** The open project's saved runs with this session's own runs over them (live state wins), newest first. */
  private listRuns(): RunSummary[] {
    const project = this.project?.dir ?? null;
    const byId = new Map<string, RunSummary>();
    if (project) {
      const { runs, broken } = listRuns(project);
      for (const b of broken) this.opts.log?.(`a run folder cannot be read, left out: ${b.dir}: ${b.error}`);
      for (const info of runs) {
        try {
          byId.set(info.id, parse(RunSummarySchema, savedRunDetail(info).run, `run ${info.id}`));
        } catch (e) {
          this.opts.log?.(`run ${info.id} is left out of the list: ${(e as Error).message}`);
        }
      }
    }
    for (const r of this.runs.list(project)) {
      const saved = byId.get(r.runId);
      byId.set(r.runId, saved ? { ...saved, ...r, dir: saved.dir, lastCheckpoint: saved.lastCheckpoint } : r);
    }
    return [...byId.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  /** Resumes a paused run (session-only: from the engine's memory) or a saved one (from its last checkpoint). */
  private async resumeRun(runId: string): Promise<Result<'runs.resume'>> {
    const inSession = this.runs.has(runId);
    if (inSession && this.runs.projectOf(runId) === null) return (await this.forward('runs.resume', { runId })) as Result<'runs.resume'>;
    const project = this.runs.projectOf(runId) ?? this.project?.dir ?? null;
    if (!project) throw new ApiError('not_found', `no run ${runId} in this session`);
    if (inSession && ['starting', 'running'].includes(this.runs.get(runId).run.status)) return { resumed: false };
    let info: RunInfo;
    try {
      info = readRun(project, runId);
    } catch {
      throw new ApiError('not_found', `no run ${runId} in the project ${project}`);
    }
    if (info.effectiveStatus === 'completed') return { resumed: false };
    if (info.effectiveStatus === 'running') throw new ApiError('busy', `run ${runId} is being trained by another process (pid ${info.process?.pid} on ${info.process?.host})`);
    const before = inSession ? this.runs.get(runId) : savedRunDetail(info);
    if (!inSession) this.runs.restore(before, project);
    this.runs.restart(runId);
    this.opts.onEvent({ type: 'run.status', runId, status: 'starting', error: null });
    try {
      return (await this.forward('runs.resume', { runId, project })) as Result<'runs.resume'>;
    } catch (e) {
      // Nothing started: the run is as it was.
      this.runs.restore(before, project);
      this.opts.onEvent({ type: 'run.status', runId, status: before.run.status, error: null });
      throw ApiError.from(e);
    }
  }

  private deleteRun(runId: string): Result<'runs.delete'> {
    const inSession = this.runs.has(runId);
    if (inSession && this.runs.active().includes(runId)) throw new ApiError('busy', `run ${runId} is ${this.runs.get(runId).run.status}; stop it before deleting it`);
    const project = inSession ? this.runs.projectOf(runId) : (this.project?.dir ?? null);
    let deleted = false;
    if (project && existsSync(runDir(project, runId))) {
      try {
        deleteRun(project, runId);
      } catch (e) {
        throw new ApiError(/is running/.test((e as Error).message) ? 'busy' : 'failed', (e as Error).message);
      }
      deleted = true;
    }
    if (this.runs.remove(runId)) deleted = true;
    if (!deleted) throw new ApiError('not_found', `no run ${runId} in this session${this.project ? ` or in the project ${this.project.dir}` : ''}`);
    return { deleted: true };
  }

  /** Handles one raw request envelope (from a WebSocket or IPC) and returns the response envelope. */
  async handle(raw: unknown): Promise<ResponseMessage> {
    const req = parseRequest(raw);
    if (!req.ok) return req.response;
    try {
      const result = await this.call(req.method, req.params);
      return { type: 'response', id: req.id, ok: true, result };
    } catch (e) {
      return { type: 'response', id: req.id, ok: false, error: ApiError.from(e).toJSON() };
    }
  }

  /** Stops the engine process (running runs are asked to stop first, briefly). */
  async close(): Promise<void> {
    this.closing = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new ApiError('engine_crashed', 'The studio is shutting down.'));
    }
    this.transport?.kill();
    this.transport = null;
  }
}

/** A project's folder and name (from its project.json; `create` makes one when the folder has none). */
function projectInfo(dir: string, create = false): ProjectInfo {
  const d = resolve(dir);
  const project = create ? createProject(d) : isProject(d) ? openProject(d) : null;
  return { dir: d, name: project?.name || basename(d) || d };
}

/** Validates an event before it leaves a process (the shells call this before sending). */
export function checkEvent(e: unknown): StudioEvent {
  return parse(StudioEventSchema, e, 'event');
}

export { API };
