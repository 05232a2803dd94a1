// The host side of the engine (serve's main process, Electron's main process): starts the engine
// through a transport (host/transport.ts), validates what comes back, keeps the session's runs
// (host/run-registry.ts, so a crashed engine loses no run record), restarts the engine after a
// crash, and answers the projects and runs queries itself, from the open project's store and the
// session. Every method has one typed handler; most forward to the engine.
//
// Training never runs on the host's thread: the host only relays.

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  ApiError,
  type AppInfo,
  type MethodName,
  type Params,
  type ProjectInfo,
  type ResponseMessage,
  type Result,
  type RunConfig,
  RunSummarySchema,
  type RunSummary,
  type StudioEvent,
  StudioEventSchema,
  parse,
  parseParams,
  parseRequest,
  parseResult,
  parseServerMessage,
} from '../engine/api.ts';
import { createProject, defaultProjectDir, defaultProjectsRoot, isProject, listProjects, openProject } from '../engine/store/project.ts';
import { deleteRun, listCheckpoints, listRuns, newRunId, readRun, runDir, type RunInfo } from '../engine/store/runs.ts';
import { defaultRunsRoot } from './session.ts';
import { RunRegistry, savedRunDetail } from './run-registry.ts';
import type { EngineTransport, ExitInfo, HostToEngine } from './transport.ts';

export { defaultRunsRoot };

/** One handler per method of the contract. */
export type Handlers = { [M in MethodName]: (p: Params<M>) => Promise<Result<M>> };

export interface BridgeOptions {
  /** Starts a fresh engine process. */
  spawn: () => EngineTransport;
  shell: AppInfo['shell'];
  project?: string | null;
  /** Called for every event, to broadcast to the renderer(s). */
  onEvent: (e: StudioEvent) => void;
  /** Methods this shell answers itself (e.g. Electron's native dialogs). */
  local?: Partial<Handlers>;
  /** Crash handling: at most `max` restarts within `windowMs`, each after `delayMs`. */
  restart?: { max: number; windowMs: number; delayMs: number };
  log?: (message: string) => void;
}

interface Pending {
  method: MethodName;
  resolve: (r: unknown) => void;
  reject: (e: ApiError) => void;
}

/** A project's folder and name (from its project.json; `create` makes one when the folder has none). */
function projectInfo(dir: string, create = false): ProjectInfo {
  const d = resolve(dir);
  const project = create ? createProject(d) : isProject(d) ? openProject(d) : null;
  return { dir: d, name: project?.name || basename(d) || d };
}

function requireDir(dir: string, what: string): string {
  const d = resolve(dir);
  if (!existsSync(d)) throw new ApiError('not_found', `${what} ${d} does not exist`);
  if (!statSync(d).isDirectory()) throw new ApiError('failed', `${what} ${d} is a file, not a folder`);
  return d;
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
  private project: ProjectInfo | null = null;
  private generation = 0;
  private readonly handlers: Handlers;

  constructor(private readonly opts: BridgeOptions) {
    if (opts.project) {
      // The project runs are saved in: created (project.json, runs/) when the folder has none.
      try {
        this.project = projectInfo(opts.project, true);
      } catch (e) {
        opts.log?.(`cannot open the project ${opts.project}: ${(e as Error).message}`);
        this.project = { dir: resolve(opts.project), name: basename(resolve(opts.project)) };
      }
    }
    this.handlers = { ...this.table(), ...opts.local };
  }

  /** Starts the engine process (requests sent before it is ready wait for it). */
  start(): void {
    this.closing = false;
    this.spawn();
  }

  get projectDir(): string | null {
    return this.project?.dir ?? null;
  }

  /** A typed call (validates params and result). */
  async invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    return (await this.call(method, params)) as Result<M>;
  }

  /** Handles one raw request envelope (from a WebSocket or IPC) and returns the response envelope. */
  async handle(raw: unknown): Promise<ResponseMessage> {
    const req = parseRequest(raw);
    if (!req.ok) return req.response;
    try {
      return { type: 'response', id: req.id, ok: true, result: await this.call(req.method, req.params) };
    } catch (e) {
      return { type: 'response', id: req.id, ok: false, error: ApiError.from(e).toJSON() };
    }
  }

  /** Stops the engine process. */
  async close(): Promise<void> {
    this.closing = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new ApiError('engine_crashed', 'The studio is shutting down.'));
    }
    this.transport?.kill();
    this.transport = null;
  }

  private async call(method: MethodName, rawParams: unknown): Promise<unknown> {
    const params = parseParams(method, rawParams);
    const handler = this.handlers[method] as (p: unknown) => Promise<unknown>;
    const result = await handler(params);
    // The engine's answers are checked as they arrive; the shell's own (local) ones here.
    return this.opts.local?.[method] ? parseResult(method, result) : result;
  }

  private table(): Handlers {
    const forward = <M extends MethodName>(m: M) => (p: Params<M>) => this.forward(m, p);
    const noDialogs = async (): Promise<never> => {
      throw new ApiError('unavailable', 'native dialogs exist only in the desktop app; type a path or browse instead');
    };
    return {
      'app.info': (p) => this.appInfo(p),
      'fs.list': (p) => this.forward('fs.list', { ...p, dir: p.dir ?? this.project?.dir ?? homedir() }),
      'dialog.open': noDialogs,
      'dialog.save': noDialogs,
      // A browser's page cannot open a window on the user's desktop (serve may run elsewhere): it shows the path instead.
      'app.reveal': async () => ({ opened: false }),
      'projects.current': async () => ({ project: this.project }),
      'projects.open': async (p) => this.openProject(p.dir),
      'projects.create': async (p) => this.createProject(p),
      'projects.list': async () => this.listProjects(),
      'models.inspect': forward('models.inspect'),
      'models.list': forward('models.list'),
      'models.pull': forward('models.pull'),
      'models.cancelPull': forward('models.cancelPull'),
      'datasets.preview': forward('datasets.preview'),
      'runs.start': (p) => this.startRun(p),
      'runs.stop': (p) => this.stopRun(p.runId),
      'runs.pause': forward('runs.pause'),
      'runs.estimate': forward('runs.estimate'),
      'runs.resume': (p) => this.resumeRun(p.runId),
      'runs.delete': async (p) => this.deleteRun(p.runId),
      'runs.list': async () => ({ runs: this.listRuns() }),
      'runs.get': async (p) => this.getRun(p.runId),
      'runs.export': (p) => this.exportRun(p),
      'eval.perplexity': (p) => this.forward('eval.perplexity', this.heldOutProject(p)),
      'generate.text': forward('generate.text'),
      'generate.cancel': forward('generate.cancel'),
      'eval.classify': forward('eval.classify'),
      'experiments.list': async () => (this.project ? this.forward('experiments.list', { project: this.project.dir }) : { comparisons: [], grids: [] }),
      'experiments.compare': (p) => {
        if (!this.project) throw new ApiError('failed', 'a LoRA-vs-full comparison saves two runs in a project: open or create a project first');
        return this.forward('experiments.compare', { ...p, model: resolve(p.model), data: resolve(p.data), project: this.project.dir });
      },
      'experiments.grid': (p) => {
        if (!this.project) throw new ApiError('failed', 'a grid search saves its trials as runs of a project: open or create a project first');
        return this.forward('experiments.grid', { ...p, model: resolve(p.model), data: resolve(p.data), project: this.project.dir });
      },
      'experiments.stop': forward('experiments.stop'),
    };
  }

  // ------------------------------------------------------------------------------ the engine

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
      for (const m of this.queue.splice(0)) this.transport?.post(m);
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
    if (!msg.ok) return p.reject(new ApiError(msg.error.code, msg.error.message, msg.error.details));
    try {
      p.resolve(parseResult(p.method, msg.result));
    } catch (e) {
      p.reject(new ApiError('failed', `the engine answered ${p.method} with an invalid result: ${(e as Error).message}`));
    }
  }

  private onExit(gen: number, info: ExitInfo): void {
    if (gen !== this.generation) return;
    this.transport = null;
    this.ready = false;
    if (this.closing) return;
    const message = `The engine stopped unexpectedly (${info.reason ?? `exit code ${info.code}`}).`;
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
    if (this.crashes.length > max) return this.giveUp(message, windowMs);
    this.opts.onEvent({ type: 'engine.status', status: 'crashed', message: `${message} Restarting it; the session's runs are kept.` });
    setTimeout(() => this.restartEngine(), delayMs).unref?.();
  }

  private giveUp(message: string, windowMs: number): void {
    this.gaveUp = true;
    for (const m of this.queue.splice(0)) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.reject(new ApiError('engine_crashed', `${message} It crashed ${this.crashes.length} times in a row; restart the studio.`));
    }
    this.opts.onEvent({ type: 'engine.status', status: 'failed', message: `${message} It crashed ${this.crashes.length} times within ${Math.round(windowMs / 1000)} s and is not restarted again; restart the studio.` });
  }

  private restartEngine(): void {
    if (this.closing) return;
    this.spawn();
    const gen = this.generation;
    const check = setInterval(() => {
      if (gen !== this.generation || this.closing) return clearInterval(check);
      if (this.ready) {
        clearInterval(check);
        this.opts.onEvent({ type: 'engine.status', status: 'ready', message: 'The engine restarted.' });
      }
    }, 50);
    check.unref?.();
  }

  /** Sends a request to the engine process (after validation by the caller). */
  private forward<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    if (this.gaveUp) return Promise.reject(new ApiError('engine_crashed', 'The engine crashed repeatedly and was not restarted; restart the studio.'));
    if (this.closing) return Promise.reject(new ApiError('engine_crashed', 'The studio is shutting down.'));
    const id = `e${this.nextId++}`;
    const msg: HostToEngine = { type: 'request', id, method, params };
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { method, resolve: resolvePromise as (r: unknown) => void, reject });
      if (this.ready && this.transport) this.transport.post(msg);
      else this.queue.push(msg);
    });
  }

  // ------------------------------------------------------------------------------ projects

  private async appInfo(p: Params<'app.info'>): Promise<AppInfo> {
    const info = await this.forward('app.info', p);
    return {
      ...info,
      shell: this.opts.shell,
      project: this.project?.dir ?? null,
      defaultOutDir: defaultRunsRoot(this.project?.dir ?? null),
      features: { dialogs: Boolean(this.opts.local?.['dialog.open']), reveal: Boolean(this.opts.local?.['app.reveal']) },
    };
  }

  private openProject(dir: string): ProjectInfo {
    const d = requireDir(dir, 'project folder');
    if (!isProject(d)) throw new ApiError('not_found', `${d} is not a LoRA Studio project (it has no project.json); create a project there instead`);
    return this.setProject(d);
  }

  private createProject(p: Params<'projects.create'>): ProjectInfo {
    const dir = resolve(p.dir);
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new ApiError('failed', `${dir} exists and is a file`);
    try {
      mkdirSync(dir, { recursive: true });
      createProject(dir, { name: p.name });
    } catch (e) {
      throw new ApiError('failed', `cannot create the project ${dir}: ${(e as Error).message}`);
    }
    return this.setProject(dir);
  }

  private listProjects(): Result<'projects.list'> {
    const root = defaultProjectsRoot();
    const defaultProject = defaultProjectDir();
    const found = listProjects(root);
    for (const dir of [defaultProject, this.project?.dir]) {
      if (dir && isProject(dir) && !found.some((x) => x.dir === dir)) found.push({ dir, name: projectInfo(dir).name });
    }
    return { root, defaultProject, projects: found.map((x) => ({ ...x, runs: listRuns(x.dir).runs.length })) };
  }

  private setProject(dir: string): ProjectInfo {
    try {
      this.project = projectInfo(dir);
    } catch (e) {
      throw new ApiError('failed', (e as Error).message);
    }
    this.opts.onEvent({ type: 'project.changed', project: this.project });
    return this.project;
  }

  // ------------------------------------------------------------------------------ runs

  /** A run status change, applied to the registry and sent to the renderer(s). */
  private runStatus(runId: string, status: RunSummary['status'], error: string | null = null): void {
    const e: StudioEvent = { type: 'run.status', runId, status, error };
    if (this.runs.apply(e)) this.opts.onEvent(e);
  }

  /** A held-out evaluation reads the run's saved options from its project: the run's own, else the open one. */
  private heldOutProject(p: Params<'eval.perplexity'>): Params<'eval.perplexity'> {
    const { project: _client, ...rest } = p;
    void _client;
    if (!p.heldOutOf) return rest;
    const project = this.runs.has(p.heldOutOf) ? this.runs.projectOf(p.heldOutOf) : this.project?.dir;
    return project ? { ...rest, project } : rest;
  }

  private async startRun(p: Params<'runs.start'>): Promise<Result<'runs.start'>> {
    const runId = p.runId ?? newRunId();
    const project = this.project?.dir ?? null;
    if (this.runs.has(runId) || (project && existsSync(runDir(project, runId)))) throw new ApiError('busy', `a run named ${runId} exists already`);
    const config: RunConfig = { ...p.config, model: resolve(p.config.model), dataset: { ...p.config.dataset, path: resolve(p.config.dataset.path) } };
    // In a project the run's folder holds its result (adapter/ or model/); `out` is an extra copy.
    if (config.out || !project) config.out = resolve(config.out ?? join(defaultRunsRoot(null), runId));
    this.runs.add(runId, config, project);
    this.opts.onEvent({ type: 'run.status', runId, status: 'starting', error: null });
    try {
      return await this.forward('runs.start', { config, runId, ...(project ? { project } : {}), ...(p.overwrite ? { overwrite: true } : {}) });
    } catch (e) {
      const err = ApiError.from(e);
      this.runStatus(runId, 'failed', err.message);
      throw err;
    }
  }

  private async stopRun(runId: string): Promise<Result<'runs.stop'>> {
    if (this.runs.has(runId) && this.runs.projectOf(runId) !== null && this.runs.get(runId).run.status === 'paused') {
      // A paused saved run is already stopped (with its checkpoint on disk): stopping ends the pause.
      this.runStatus(runId, 'cancelled');
      return { stopping: true };
    }
    return this.forward('runs.stop', { runId });
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

  private getRun(runId: string): Result<'runs.get'> {
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

  /** Resumes a paused run (session-only: in the engine) or a saved one (from its last checkpoint). */
  private async resumeRun(runId: string): Promise<Result<'runs.resume'>> {
    const inSession = this.runs.has(runId);
    if (inSession && this.runs.projectOf(runId) === null) return this.forward('runs.resume', { runId });
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
    this.runStatus(runId, 'starting');
    try {
      return await this.forward('runs.resume', { runId, project });
    } catch (e) {
      // Nothing started: the run is as it was.
      this.runs.restore(before, project);
      this.opts.onEvent({ type: 'run.status', runId, status: before.run.status, error: null });
      throw ApiError.from(e);
    }
  }

  /** Exports a run of the session or of the open project, in its project (a session-only run: in the engine's temporary one). */
  private exportRun(p: Params<'runs.export'>): Promise<Result<'runs.export'>> {
    const { project: _client, ...rest } = p;
    void _client;
    const inSession = this.runs.has(p.runId);
    const project = inSession ? this.runs.projectOf(p.runId) : (this.project?.dir ?? null);
    if (!inSession && !project) throw new ApiError('not_found', `no run ${p.runId} in this session`);
    if (inSession && ['starting', 'running'].includes(this.runs.get(p.runId).run.status)) {
      throw new ApiError('busy', `run ${p.runId} is training; export it once it has finished or is stopped`);
    }
    return this.forward('runs.export', { ...rest, ...(rest.out ? { out: resolve(rest.out) } : {}), ...(project ? { project } : {}) });
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
}

/** Validates an event before it leaves a process (the shells call this before sending). */
export function checkEvent(e: unknown): StudioEvent {
  return parse(StudioEventSchema, e, 'event');
}
