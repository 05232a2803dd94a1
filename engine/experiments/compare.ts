// LoRA vs full fine-tuning, side by side: the same model, data, token budget (steps x batch x
// length) and seed; each method trains as a normal run of the project in its own child process
// (an isolated TrialRunner, so its peak RSS is its own; the report says so per method). The report
// is saved as experiments/compare-<id>.json in the project.
import fs from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../store/atomic.ts';
import { openOrCreateProject } from '../store/project.ts';
import { DEFAULT_TRAIN, type LoraOptions, type Method, type TrainEvent, type TrainOptions } from '../train/types.ts';
import type { IsolatedTrialRunner, TrialHooks } from './trials.ts';
import { maxOf } from '../util/math.ts';

export const EXPERIMENTS_DIR = 'experiments';

export interface CompareOptions {
  project: string;
  model: string;
  data: string | { documents: number[][] };
  /** Shared training options (steps or epochs, batch, length, seed, schedule, lr, validation split). */
  train?: Partial<Omit<TrainOptions, 'model' | 'data' | 'method' | 'lora' | 'out'>>;
  lora?: Partial<LoraOptions>;
  /** Learning rate for full fine-tuning (default: the shared lr). */
  fullLr?: number;
  /** Trains each method in its own process (host/trials.ts isolatedTrials). */
  runner: IsolatedTrialRunner;
  /** Which methods, in order (default lora then full). */
  methods?: Method[];
  onEvent?: (method: Method, e: TrainEvent) => void;
  onRun?: (method: Method, run: { id: string; dir: string }) => void;
  signal?: AbortSignal;
}

export interface MethodReport {
  method: Method;
  runId: string;
  trainableParams: number;
  totalParams: number;
  trainablePct: number;
  peakRssMb: number;
  steps: number;
  tokens: number;
  msPerStep: number;
  tokensPerS: number;
  wallS: number;
  finalTrainLoss: number;
  evalLoss: number | null;
  perplexity: number | null;
  lr: number;
  /** The adapter (LoRA) or model folder (full) on disk. */
  outputDir: string | null;
  outputBytes: number;
  /** Trained in its own process (its peak RSS is its own). */
  isolated: boolean;
}

export interface CompareReport {
  format: 'lora-studio.compare';
  id: string;
  createdAt: string;
  model: string;
  data: string;
  options: Record<string, unknown>;
  lora: MethodReport;
  full: MethodReport;
  /** Where the report is saved in the project. */
  file: string;
}

export function folderBytes(dir: string | null | undefined): number {
  if (!dir || !fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? folderBytes(p) : e.isFile() ? fs.statSync(p).size : 0;
  }
  return n;
}

const stamp = (d = new Date()) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-');

export async function compareMethods(o: CompareOptions): Promise<CompareReport> {
  const shared = { ...DEFAULT_TRAIN, valRatio: 0.1, ...o.train };
  const lora: LoraOptions = { ...DEFAULT_TRAIN.lora, ...o.lora };
  openOrCreateProject(o.project);
  const id = `compare-${stamp()}`;
  const reports: Partial<Record<Method, MethodReport>> = {};
  for (const method of o.methods ?? (['lora', 'full'] as Method[])) {
    let tokensPerStep = shared.batchSize * shared.maxLength * shared.gradAccum;
    const lr = method === 'full' ? o.fullLr ?? shared.lr : shared.lr;
    const hooks: TrialHooks = {
      name: `${id} ${method}`,
      signal: o.signal,
      onRun: (r) => o.onRun?.(method, r),
      onEvent: (e) => {
        if (e.type === 'start') tokensPerStep = e.tokensPerStep;
        o.onEvent?.(method, e);
      },
    };
    const out = await o.runner.run(o.project, { ...shared, lr, model: o.model, data: o.data, method, lora }, hooks);
    const r = out.result;
    if (r.stopped === 'cancelled') throw new Error(`comparison stopped during the ${method} run (${out.runId}, step ${r.steps}); resume it with \`lora-studio runs resume ${out.runId}\``);
    const evalLoss = r.evalLoss ?? null;
    reports[method] = {
      method, runId: out.runId,
      trainableParams: r.trainableParams, totalParams: r.allParams, trainablePct: (100 * r.trainableParams) / r.allParams,
      peakRssMb: out.peakRssMb, steps: r.steps, tokens: r.steps * tokensPerStep,
      msPerStep: r.tokensPerS > 0 ? (1000 * tokensPerStep) / r.tokensPerS : (1000 * r.wallS) / Math.max(1, r.steps),
      tokensPerS: r.tokensPerS, wallS: r.wallS, finalTrainLoss: r.finalLoss, evalLoss, perplexity: evalLoss === null ? null : Math.exp(evalLoss), lr,
      outputDir: r.out ?? null, outputBytes: folderBytes(r.out), isolated: out.isolated,
    };
  }
  const dir = path.join(path.resolve(o.project), EXPERIMENTS_DIR);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${id}.json`);
  const { train: _t, lora: _l, onEvent: _e, onRun: _r, signal: _s, runner: _x, ...rest } = o;
  void [_t, _l, _e, _r, _s, _x];
  const report: CompareReport = {
    format: 'lora-studio.compare', id, createdAt: new Date().toISOString(), model: path.resolve(o.model),
    data: typeof o.data === 'string' ? path.resolve(o.data) : `${o.data.documents.length} pre-tokenized documents`,
    options: { ...rest, data: undefined, shared: { ...shared }, lora },
    lora: reports.lora!, full: reports.full!, file,
  };
  writeJsonAtomic(file, report as never);
  return report;
}

/** Saved comparisons of a project, newest first. */
export function listComparisons(project: string): CompareReport[] {
  const dir = path.join(path.resolve(project), EXPERIMENTS_DIR);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^compare-.*\.json$/.test(f)).sort().reverse()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CompareReport);
}

// ---------- presentation (CLI and demo) ----------

export function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtNum = (n: number | null, d = 4) => (n === null || !Number.isFinite(n) ? '—' : n.toFixed(d));

/** A plain-text table: first column labels, the others right-aligned. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => maxOf(rows.map((r) => (r[i] ?? '').length), h.length));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(head), w.map((n) => '─'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function compareRows(r: Pick<CompareReport, 'lora' | 'full'>): string[][] {
  const m = [r.lora, r.full];
  const ratio = (a: number, b: number) => (a > 0 && b > 0 ? `${(b / a).toFixed(1)}x` : '—');
  return [
    ['trainable params', ...m.map((x) => fmtInt(x.trainableParams)), ratio(r.lora.trainableParams, r.full.trainableParams)],
    ['total params', ...m.map((x) => fmtInt(x.totalParams)), ''],
    ['trainable %', ...m.map((x) => `${x.trainablePct.toFixed(4)} %`), ''],
    ['peak memory (RSS)', ...m.map((x) => `${fmtInt(x.peakRssMb)} MB`), ratio(r.lora.peakRssMb, r.full.peakRssMb)],
    ['trained in', ...m.map((x) => (x.isolated ? 'its own process' : 'a shared process')), ''],
    ['time per step', ...m.map((x) => `${fmtInt(x.msPerStep)} ms`), ratio(r.lora.msPerStep, r.full.msPerStep)],
    ['tokens/s', ...m.map((x) => fmtInt(x.tokensPerS)), ''],
    ['wall time', ...m.map((x) => `${x.wallS.toFixed(1)} s`), ''],
    ['steps x tokens', ...m.map((x) => `${x.steps} x ${fmtInt(x.tokens / Math.max(1, x.steps))}`), ''],
    ['learning rate', ...m.map((x) => x.lr.toExponential(1)), ''],
    ['final train loss', ...m.map((x) => fmtNum(x.finalTrainLoss)), ''],
    ['eval loss', ...m.map((x) => fmtNum(x.evalLoss)), ''],
    ['perplexity', ...m.map((x) => fmtNum(x.perplexity, 2)), ''],
    ['saved output', ...m.map((x) => `${fmtBytes(x.outputBytes)} (${x.method === 'lora' ? 'adapter' : 'checkpoint'})`), ratio(r.lora.outputBytes, r.full.outputBytes)],
  ];
}

export function formatComparison(r: Pick<CompareReport, 'lora' | 'full'>): string {
  return table(['', 'LoRA', 'full', 'full / LoRA'], compareRows(r));
}

/** The JSON the CLI prints: `lora` and `full` objects in snake_case. */
export function comparisonJson(r: CompareReport): Record<string, unknown> {
  const one = (x: MethodReport) => ({
    run_id: x.runId, trainable_params: x.trainableParams, total_params: x.totalParams, trainable_pct: x.trainablePct,
    peak_rss_mb: x.peakRssMb, steps: x.steps, tokens: x.tokens, ms_per_step: x.msPerStep, tokens_per_s: x.tokensPerS, wall_s: x.wallS,
    lr: x.lr, final_train_loss: x.finalTrainLoss, eval_loss: x.evalLoss, perplexity: x.perplexity,
    output_dir: x.outputDir, output_bytes: x.outputBytes, output_kind: x.method === 'lora' ? 'adapter' : 'checkpoint', isolated: x.isolated,
  });
  return { id: r.id, file: r.file, model: r.model, data: r.data, lora: one(r.lora), full: one(r.full) };
}
