// The engine process's side of the contract: one typed handler per method the engine answers,
// each a call of an engine service. Runs where the engine runs (serve's child process, the desktop
// app's utility process, or in-process for tests); the host (host/bridge.ts) answers the rest.

import { homedir } from 'node:os';
import { ApiError, type AppInfo, type MethodName, type Params, type Result, type StudioEvent, parseParams } from '../engine/api.ts';
import type { IsolatedTrialRunner } from '../engine/experiments/trials.ts';
import { compareForStudio, listExperiments } from '../engine/services/compare.ts';
import { gridForStudio } from '../engine/services/grid.ts';
import { previewDataset } from '../engine/services/datasets.ts';
import { estimateForRun, machineMemory } from '../engine/services/estimate.ts';
import { calibratedMachine } from '../engine/train/estimate-calibrate.ts';
import { availableDevices } from '../engine/onnx/devices.ts';
import { type EngineFunctions, engineWith } from '../engine/services/engine.ts';
import { evaluatePerplexity } from '../engine/services/evaluate.ts';
import { classify } from '../engine/services/classify.ts';
import { listDir } from '../engine/services/files.ts';
import { generateText } from '../engine/services/generate.ts';
import { modelInfo } from '../engine/services/models.ts';
import { ModelPulls, listModelsForStudio } from '../engine/services/hub.ts';
import { LiveRuns } from '../engine/services/train.ts';
import { STUDIO_VERSION, defaultRunsRoot } from './session.ts';
import { isolatedTrials } from './trials.ts';

export { STUDIO_VERSION };

/** The methods the host answers itself (projects, the run registry, dialogs). */
export type HostMethod = 'projects.current' | 'projects.open' | 'projects.create' | 'projects.list' | 'runs.list' | 'runs.get' | 'runs.delete' | 'dialog.open' | 'dialog.save' | 'app.reveal';
export type EngineMethod = Exclude<MethodName, HostMethod>;
export type EngineTable = { [M in EngineMethod]: (p: Params<M>) => Promise<Result<M>> };

export interface EngineHandlerOptions {
  emit: (e: StudioEvent) => void;
  /** Engine functions to replace (tests). */
  engine?: Partial<EngineFunctions>;
  /** How comparisons train each method in its own process (default: host/trials.ts's TypeScript worker). */
  trials?: IsolatedTrialRunner;
}

export interface EngineHandlers {
  /** Validates the params of `method` and answers it. */
  handle(method: MethodName, params: unknown): Promise<unknown>;
  /** Asks every running training run to stop (after its current step). */
  stopAll(): void;
  readonly active: ReadonlySet<string>;
}

/** Generations in progress, by stream id, so generate.cancel can stop one. */
class Generations {
  private readonly live = new Map<string, AbortController>();

  constructor(private readonly emit: (e: StudioEvent) => void, private readonly fns: EngineFunctions) {}

  async run(p: Params<'generate.text'>): Promise<Result<'generate.text'>> {
    const { streamId } = p;
    if (streamId && this.live.has(streamId)) throw new ApiError('busy', `a generation named ${streamId} is running already`);
    const controller = new AbortController();
    if (streamId) this.live.set(streamId, controller);
    try {
      return await generateText({
        model: p.model, adapter: p.adapter, prompt: p.prompt ?? '', ...(p.chat ? { chat: p.chat } : {}), maxNewTokens: p.maxNewTokens, temperature: p.temperature, topK: p.topK, topP: p.topP,
        repetitionPenalty: p.repetitionPenalty ?? 1, numReturnSequences: p.numReturnSequences ?? 1, seed: p.seed ?? 0, stop: p.stop ?? [], signal: controller.signal,
        onToken: streamId ? (e) => this.emit({ type: 'generate.token', streamId, sequence: e.sequence, token: e.token, text: e.text }) : undefined,
      }, this.fns);
    } finally {
      if (streamId) this.live.delete(streamId);
    }
  }

  cancel(streamId: string): { cancelled: boolean } {
    const c = this.live.get(streamId);
    c?.abort();
    return { cancelled: Boolean(c) };
  }
}

/** The experiment running now (one at a time: a comparison or a grid search), so it can be stopped. */
class Experiments {
  private current: AbortController | null = null;

  /** Runs `fn` as the one experiment, refusing a second while it runs. */
  async run<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.current) throw new ApiError('busy', `${what} cannot start: an experiment is running already (stop it first)`);
    const ac = (this.current = new AbortController());
    try {
      return await fn(ac.signal);
    } finally {
      this.current = null;
    }
  }

  stop(): { stopping: boolean } {
    const running = this.current !== null && !this.current.signal.aborted;
    this.current?.abort();
    return { stopping: running };
  }
}

/** runs.export: a saved run in its project (the host says which), else a run of this engine's temporary project. */
async function exportForRun(p: Params<'runs.export'>, runs: LiveRuns): Promise<Result<'runs.export'>> {
  const project = p.project ?? runs.sessionDir;
  if (!project) throw new ApiError('not_found', `no run ${p.runId} in this session`);
  if (runs.running.has(p.runId)) throw new ApiError('busy', `run ${p.runId} is training; export it once it has finished or is stopped`);
  const { exportRun } = await import('../engine/services/export.ts'); // merge and GGUF load on first use
  return exportRun({ ...p, project, temporary: !p.project });
}

export function createEngineHandlers(opts: EngineHandlerOptions): EngineHandlers {
  const fns = engineWith(opts.engine);
  const trials = opts.trials ?? isolatedTrials();
  const runs = new LiveRuns(opts.emit, fns);
  const generations = new Generations(opts.emit, fns);
  const pulls = new ModelPulls(opts.emit);
  const experiments = new Experiments();

  const table: EngineTable = {
    'app.info': async () => ({
      version: STUDIO_VERSION, node: process.versions.node, platform: `${process.platform}-${process.arch}`, shell: 'test',
      features: { dialogs: false }, project: null, defaultOutDir: defaultRunsRoot(null), devices: await availableDevices(),
    }) satisfies AppInfo,
    'fs.list': async (p) => listDir(p.dir ?? homedir(), p.showHidden ?? false),
    'models.inspect': (p) => modelInfo(p, fns),
    'models.list': async () => listModelsForStudio(),
    'models.pull': (p) => pulls.pull(p),
    'models.cancelPull': async (p) => pulls.cancel(p.pullId),
    'datasets.preview': (p) => previewDataset(p, fns),
    'runs.start': (p) => runs.start(p),
    'runs.stop': async (p) => runs.stop(p.runId),
    'runs.pause': async (p) => runs.pause(p.runId),
    'runs.resume': (p) => runs.resume(p),
    'runs.export': (p) => exportForRun(p, runs),
    'runs.estimate': async (p) => estimateForRun(p, machineMemory, await calibratedMachine()),
    'eval.perplexity': (p) => evaluatePerplexity(p, fns),
    'generate.text': (p) => generations.run(p),
    'generate.cancel': async (p) => generations.cancel(p.streamId),
    'eval.classify': (p) => classify(p, fns),
    'experiments.list': (p) => listExperiments(p.project, fns),
    'experiments.compare': (p) => experiments.run('the comparison', (signal) => {
      const runIds: Record<'lora' | 'full', string | null> = { lora: null, full: null };
      return compareForStudio(p, trials, {
        onRun: (method, run) => void (runIds[method] = run.id),
        onEvent: (method, event) => opts.emit({ type: 'experiment.event', method, runId: runIds[method], event }),
        signal,
      }, fns);
    }),
    'experiments.grid': (p) => experiments.run('the grid search', (signal) => gridForStudio(p, trials, {
      onUpdate: (grid, running) => opts.emit({ type: 'grid.update', grid, running }),
      onEvent: (runId, event) => opts.emit({ type: 'experiment.event', method: 'lora', runId, event }),
      signal,
    })),
    'experiments.stop': async () => experiments.stop(),
  };

  return {
    async handle(method, raw) {
      if (!Object.hasOwn(table, method)) throw new ApiError('unknown_method', `${method} is not handled by the engine`);
      const handler = table[method as EngineMethod] as (p: unknown) => Promise<unknown>;
      return handler(parseParams(method, raw));
    },
    stopAll: () => runs.stopAll(),
    get active() {
      return runs.running;
    },
  };
}
