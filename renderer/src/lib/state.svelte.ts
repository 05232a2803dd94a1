// The renderer's state (Svelte 5 runes): what is open, the training form, the session's runs, and
// the events that stream in from the engine.

import {
  ApiError,
  DEFAULT_TRAINING,
  RESUMABLE_STATUSES,
  type AppInfo,
  type DatasetPreview,
  type DatasetSpec,
  type ModelInfo,
  type PerplexityResultData,
  type ProjectInfo,
  type RunConfig,
  type RunEvent,
  type RunState,
  type RunSummary,
  type StudioApi,
  type StudioEvent,
  applyRunEvent,
} from '../../../engine/api.ts';

import { taskOptions } from './config-check.ts';

export const VIEWS = [
  { id: 'projects', label: 'Projects' },
  { id: 'models', label: 'Models' },
  { id: 'datasets', label: 'Datasets' },
  { id: 'configure', label: 'Configure' },
  { id: 'train', label: 'Train' },
  { id: 'evaluate', label: 'Evaluate' },
  { id: 'playground', label: 'Playground' },
  { id: 'compare', label: 'Compare' },
] as const;
export type ViewId = (typeof VIEWS)[number]['id'];
export const isView = (v: string): v is ViewId => VIEWS.some((x) => x.id === v);

/** The Configure form: a RunConfig without the model and the dataset (chosen in their views). */
export type FormConfig = Omit<RunConfig, 'model' | 'dataset' | 'out' | 'threads' | 'name'> & {
  stopBy: 'epochs' | 'steps';
  name: string;
  out: string;
  task: NonNullable<RunConfig['task']>;
  baseDtype: NonNullable<RunConfig['baseDtype']>;
  gradientCheckpointing: boolean;
  chat: { format: NonNullable<NonNullable<RunConfig['chat']>['format']>; template: string; trainOn: NonNullable<NonNullable<RunConfig['chat']>['trainOn']> };
};

/**
 * The contract's default training settings (engine/api.ts DEFAULT_TRAINING), with the form's own
 * fields. The app's LoRA learning rate is 2e-3, not PEFT's 2e-4 (the CLI's): on the demo model, 40
 * LoRA steps on recipes reach loss 8.09 at 2e-4, 7.70 at 1e-3, 7.40 at 3e-3.
 */
export const DEFAULT_FORM: FormConfig = {
  ...DEFAULT_TRAINING, lora: { ...DEFAULT_TRAINING.lora }, lr: 2e-3, task: 'causal-lm', baseDtype: 'f32', gradientCheckpointing: false,
  chat: { format: 'auto', template: 'auto', trainOn: 'completions' }, stopBy: 'epochs', name: '', out: '',
};

/** A saved form over the defaults (nested settings merged, so a form saved before a field existed gets its default). */
export function formFrom(saved: Partial<FormConfig>): FormConfig {
  return { ...DEFAULT_FORM, ...saved, lora: { ...DEFAULT_FORM.lora, ...saved.lora }, chat: { ...DEFAULT_FORM.chat, ...saved.chat } };
}

/** A run as its events build it (the contract's RunState, reduced by applyRunEvent). */
export type RunView = RunState;

export interface EvalRecord {
  id: number;
  label: string;
  model: string;
  adapter: string | null;
  text: string;
  result: PerplexityResultData;
  at: string;
}

const storage = (): Storage | null => {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
};

function loadJson<T>(key: string, fallback: T): T {
  try {
    const v = storage()?.getItem(key);
    return v ? (JSON.parse(v) as T) : fallback;
  } catch {
    return fallback;
  }
}

function saveJson(key: string, v: unknown): void {
  try {
    storage()?.setItem(key, JSON.stringify(v));
  } catch {
    // storage full or disabled: the app works without it
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const more = e.details && e.details.length > 1 ? ` (${e.details.slice(0, 3).join('; ')})` : '';
    return `${e.message}${more}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export class Studio {
  view = $state<ViewId>('projects');
  info = $state<AppInfo | null>(null);
  connection = $state<'connecting' | 'open' | 'closed'>('connecting');
  connectionDetail = $state('');
  engine = $state<{ status: 'ready' | 'crashed' | 'failed'; message: string } | null>(null);
  project = $state<ProjectInfo | null>(null);
  recentProjects = $state<string[]>(loadJson('studio.recentProjects', []));
  recentModels = $state<string[]>(loadJson('studio.recentModels', []));
  model = $state<ModelInfo | null>(null);
  /** The base model's own parameter count (method 'full' counts every weight once). */
  baseParams = $state<number | null>(null);
  dataset = $state<DatasetPreview | null>(null);
  datasetSpec = $state<DatasetSpec | null>(null);
  form = $state<FormConfig>(formFrom(loadJson<Partial<FormConfig>>('studio.form', {})));
  runs = $state<Record<string, RunView>>({});
  selectedRun = $state<string | null>(null);
  evals = $state<EvalRecord[]>([]);
  /** A dataset path chosen from the app menu, for the Datasets view to pick up. */
  pendingDatasetPath = $state<string | null>(null);
  /** A message for the whole app (e.g. a menu action that failed). */
  notice = $state<string | null>(null);
  private evalSeq = 0;

  constructor(readonly api: StudioApi) {
    api.on((e) => this.onEvent(e));
  }

  /** Loads what the server knows (app info, project, runs); safe to call again after a reconnect. */
  async refresh(): Promise<void> {
    this.info = await this.api.invoke('app.info', {});
    this.project = (await this.api.invoke('projects.current', {})).project;
    this.restoreForm();
    await this.loadRuns();
  }

  /** The runs of the open project (saved ones, with their metrics) and of this session. */
  async loadRuns(): Promise<void> {
    const { runs } = await this.api.invoke('runs.list', {});
    const next: Record<string, RunView> = {};
    for (const r of runs) {
      const d = await this.api.invoke('runs.get', { runId: r.runId });
      next[r.runId] = { summary: d.run, points: d.points, evalPoints: d.evalPoints, logs: d.logs, samples: d.samples ?? [] };
    }
    this.runs = next;
    if (!this.selectedRun || !next[this.selectedRun]) this.selectedRun = runs.length ? runs[0].runId : null;
  }

  /** Whether a run can be resumed from here: paused, or a saved run that stopped, failed or was interrupted. */
  canResume(s: RunSummary): boolean {
    return s.status === 'paused' || (Boolean(s.dir) && RESUMABLE_STATUSES.includes(s.status));
  }

  /** Whether a run can be deleted (not while the engine trains it). */
  canDelete(s: RunSummary): boolean {
    return s.status !== 'starting' && s.status !== 'running' && !(s.status === 'paused' && !s.dir);
  }

  async resumeRun(runId: string): Promise<boolean> {
    const { resumed } = await this.api.invoke('runs.resume', { runId });
    if (resumed) {
      const d = await this.api.invoke('runs.get', { runId });
      const r = this.runs[runId];
      if (r) r.summary = d.run;
      else this.runs[runId] = { summary: d.run, points: d.points, evalPoints: d.evalPoints, logs: d.logs, samples: d.samples ?? [] };
      this.selectedRun = runId;
    }
    return resumed;
  }

  async deleteRun(runId: string): Promise<void> {
    await this.api.invoke('runs.delete', { runId });
    delete this.runs[runId];
    if (this.selectedRun === runId) this.selectedRun = this.runList[0]?.summary.runId ?? null;
  }

  get runList(): RunView[] {
    return Object.values(this.runs).sort((a, b) => b.summary.startedAt.localeCompare(a.summary.startedAt));
  }

  onEvent(e: StudioEvent): void {
    switch (e.type) {
      case 'engine.status':
        this.engine = { status: e.status, message: e.message };
        break;
      case 'project.changed':
        this.project = e.project;
        this.restoreForm();
        void this.api.invoke('app.info', {}).then((i) => (this.info = i), () => {}); // its defaultOutDir follows the project
        if (e.project) this.remember('recentProjects', e.project.dir);
        void this.loadRuns().catch((err) => (this.notice = errorText(err)));
        break;
      case 'menu.command':
        if (e.command === 'navigate') {
          if (e.view && isView(e.view)) this.view = e.view;
        } else if (e.command === 'open-model') {
          this.view = 'models';
          if (e.path) void this.openModel(e.path).catch((err) => (this.notice = errorText(err)));
        } else if (e.command === 'open-dataset') {
          this.pendingDatasetPath = e.path ?? null;
          this.view = 'datasets';
        }
        break;
      case 'run.status':
      case 'run.event':
        this.onRunEvent(e);
        break;
    }
  }

  private onRunEvent(e: RunEvent): void {
    const r = this.runs[e.runId];
    if (!r) {
      // A run started elsewhere (another window): fetch it.
      void this.api.invoke('runs.get', { runId: e.runId }).then((d) => {
        this.runs[e.runId] = { summary: d.run, points: d.points, evalPoints: d.evalPoints, logs: d.logs, samples: d.samples ?? [] };
      }, () => {});
      return;
    }
    applyRunEvent(r, e);
  }

  remember(key: 'recentProjects' | 'recentModels', value: string): void {
    const list = [value, ...this[key].filter((x) => x !== value)].slice(0, 8);
    this[key] = list;
    saveJson(`studio.${key}`, list);
  }

  /** The form is saved per project (and as the last one used, for a new project). */
  private formKey(): string {
    return this.project ? `studio.form:${this.project.dir}` : 'studio.form';
  }

  saveForm(): void {
    const form = $state.snapshot(this.form);
    saveJson(this.formKey(), form);
    if (this.project) saveJson('studio.form', form);
  }

  /** The configuration saved for the open project, in place (views hold the form object). */
  private restoreForm(): void {
    const saved = loadJson<Partial<FormConfig> | null>(this.formKey(), null);
    // Optional fields the saved form left out are cleared, not kept from the project before.
    if (saved) Object.assign(this.form, { sample: undefined, checkpointEvery: undefined }, formFrom(saved));
  }

  async openModel(dir: string): Promise<ModelInfo> {
    const f = this.form;
    const base = await this.api.invoke('models.inspect', { dir, method: 'full' });
    let info: ModelInfo;
    try {
      info = await this.api.invoke('models.inspect', { dir, method: f.method, lora: { ...$state.snapshot(f.lora) } });
    } catch {
      // The saved LoRA settings don't fit this model (e.g. targets it lacks): its defaults do.
      info = await this.api.invoke('models.inspect', { dir, method: f.method, lora: { ...$state.snapshot(f.lora), targets: [] } });
      this.form.lora.targets = [];
    }
    this.baseParams = base.allParams;
    this.model = info;
    this.remember('recentModels', info.dir);
    return info;
  }

  /** The RunConfig the form, the model and the dataset stand for (or what is missing; `standIn` fills in a missing model or dataset, to check the form alone). */
  runConfig(standIn?: Pick<RunConfig, 'model' | 'dataset'>): { config: RunConfig } | { missing: string } {
    if (!this.model && !standIn) return { missing: 'Open a model first (Models).' };
    if (!this.datasetSpec && !standIn) return { missing: 'Import a dataset first (Datasets).' };
    const f = $state.snapshot(this.form);
    const { stopBy, name, out, task: _task, baseDtype: _dtype, gradientCheckpointing: _ck, sample: _sample, chat: _chat, ...rest } = f;
    void [_task, _dtype, _ck, _sample, _chat]; // taskOptions: only what applies to the task and method
    const config: RunConfig = {
      ...rest,
      ...taskOptions(f),
      epochs: stopBy === 'epochs' ? f.epochs : 0,
      maxSteps: stopBy === 'steps' ? f.maxSteps : 0,
      model: this.model?.dir ?? standIn!.model,
      dataset: this.datasetSpec ? $state.snapshot(this.datasetSpec) : standIn!.dataset,
    };
    // An emptied number field binds to null (or undefined): then the engine's default applies.
    if (config.checkpointEvery === null || config.checkpointEvery === undefined || (config.checkpointEvery as unknown) === '') delete config.checkpointEvery;
    if (name.trim()) config.name = name.trim();
    if (out.trim()) config.out = out.trim();
    return { config };
  }

  async startRun(): Promise<string> {
    const rc = this.runConfig();
    if ('missing' in rc) throw new Error(rc.missing);
    const { runId } = await this.api.invoke('runs.start', { config: rc.config });
    const d = await this.api.invoke('runs.get', { runId });
    this.runs[runId] = this.runs[runId] ?? { summary: d.run, points: d.points, evalPoints: d.evalPoints, logs: d.logs, samples: d.samples ?? [] };
    this.selectedRun = runId;
    return runId;
  }

  /** Perplexity on one of: a text file, a dataset (its mapping), a run's held-out split (heldOutOf: the run id). */
  async evaluate(p: { label: string; model: string; adapter: string | null; text?: string; dataset?: DatasetSpec; chat?: RunConfig['chat']; heldOutOf?: string; maxLength?: number; lines?: boolean }): Promise<EvalRecord> {
    const result = await this.api.invoke('eval.perplexity', {
      model: p.model,
      ...(p.text !== undefined ? { text: p.text } : {}),
      ...(p.dataset ? { dataset: p.dataset } : {}),
      ...(p.dataset && p.chat ? { chat: p.chat } : {}),
      ...(p.heldOutOf ? { heldOutOf: p.heldOutOf } : {}),
      ...(p.adapter ? { adapter: p.adapter } : {}),
      ...(p.maxLength ? { maxLength: p.maxLength } : {}),
      ...(p.lines ? { lines: true } : {}),
    });
    // `text`: what was scored, as the results table names it.
    const text = p.text ?? p.dataset?.path ?? `held-out split of ${p.heldOutOf}`;
    const rec: EvalRecord = { id: ++this.evalSeq, label: p.label, model: p.model, adapter: p.adapter, text, result, at: new Date().toISOString() };
    this.evals = [rec, ...this.evals];
    return rec;
  }
}
