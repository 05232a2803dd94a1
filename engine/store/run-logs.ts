// The logs of a run folder: metrics.jsonl (steps and evaluations), samples.jsonl, log.jsonl and
// the TensorBoard history rebuilt from the metrics (see run-record.ts for the folder's layout).
// Lines are appended with one write(2) each, which SIGKILL cannot split; readers skip a torn
// last line, and resume cuts the logs back to the checkpoint it continues from.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic.ts';
import { isJsonObject, type JsonObject } from './json.ts';
import { METRICS_FILE, SAMPLES_FILE, nowIso, readRun } from './run-record.ts';
import { EventFileWriter, TB_TAGS, isEventFileName, type Scalar, type ScalarPoint, type TextValue } from './tensorboard.ts';

/** One line of metrics.jsonl (snake_case on disk). */
export interface MetricPoint {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerS: number;
  elapsedS: number;
  etaS: number;
  time: string;
}

export interface EvalPoint {
  step: number;
  evalLoss: number;
  evalPerplexity: number | null;
  tokens: number | null;
  time: string;
}

export interface SampleRecord {
  step: number;
  prompt: string;
  text: string;
  time: string;
}

export function appendLine(file: string, value: unknown): void {
  // One write call: a SIGKILL cannot leave half a line.
  fs.appendFileSync(file, JSON.stringify(value) + '\n');
}

/** Parsed lines; a line that is not JSON (a torn tail after a power cut) is skipped. */
export function readJsonl(file: string): JsonObject[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: JsonObject[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line);
      if (isJsonObject(v)) out.push(v);
    } catch {
      /* torn or foreign line */
    }
  }
  return out;
}

const n = (v: unknown): number => (typeof v === 'number' ? v : NaN); // NaN is stored as null

export function readMetrics(dir: string): { steps: MetricPoint[]; evals: EvalPoint[] } {
  const steps: MetricPoint[] = [];
  const evals: EvalPoint[] = [];
  for (const o of readJsonl(path.join(dir, METRICS_FILE))) {
    if (typeof o.step !== 'number') continue;
    const time = typeof o.time === 'string' ? o.time : '';
    if ('eval_loss' in o) {
      evals.push({ step: o.step, evalLoss: n(o.eval_loss), evalPerplexity: typeof o.eval_perplexity === 'number' ? o.eval_perplexity : null, tokens: typeof o.eval_tokens === 'number' ? o.eval_tokens : null, time });
    } else {
      steps.push({
        step: o.step, epoch: n(o.epoch), loss: n(o.loss), lr: n(o.lr), gradNorm: n(o.grad_norm),
        tokensPerS: n(o.tokens_per_s), elapsedS: n(o.elapsed_s), etaS: n(o.eta_s), time,
      });
    }
  }
  return { steps, evals };
}

export function readSamples(dir: string): SampleRecord[] {
  return readJsonl(path.join(dir, SAMPLES_FILE)).map((o) => ({
    step: n(o.step), prompt: String(o.prompt ?? ''), text: String(o.text ?? ''), time: String(o.time ?? ''),
  }));
}

export function metricLine(p: MetricPoint): JsonObject {
  return { step: p.step, epoch: p.epoch, loss: p.loss, lr: p.lr, grad_norm: p.gradNorm, tokens_per_s: p.tokensPerS, elapsed_s: p.elapsedS, eta_s: p.etaS, time: p.time };
}

export function evalLine(p: EvalPoint): JsonObject {
  return { step: p.step, eval_loss: p.evalLoss, eval_perplexity: p.evalPerplexity, eval_tokens: p.tokens, time: p.time };
}

/** The TensorBoard scalars of a metrics line. */
export function stepScalars(p: MetricPoint): Scalar[] {
  return [
    { tag: TB_TAGS.loss, value: p.loss },
    { tag: TB_TAGS.lr, value: p.lr },
    { tag: TB_TAGS.gradNorm, value: p.gradNorm },
    { tag: TB_TAGS.tokensPerS, value: p.tokensPerS },
  ];
}

export const wallTime = (iso: string): number => {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t / 1000 : Date.now() / 1000;
};

/** Keeps only the lines at or before `step` (atomically rewritten): resume continues the curve from the checkpoint. */
export function truncateJsonl(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, 'utf8');
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line);
      if (isJsonObject(v) && typeof v.step === 'number' && v.step <= step) kept.push(line);
    } catch {
      /* torn line: dropped */
    }
  }
  const next = kept.length ? kept.join('\n') + '\n' : '';
  if (next !== text) writeFileAtomic(file, next);
}

export function eventFiles(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter(isEventFileName).sort().map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** A generation sample as a TensorBoard text summary (Markdown: the prompt, then what the model wrote). */
export function sampleText(s: { prompt: string; text: string }): TextValue {
  const quote = (x: string) => x.split('\n').map((l) => `> ${l}`).join('\n');
  return { tag: TB_TAGS.sample, text: `**Prompt**\n\n${quote(s.prompt)}\n\n**Sample**\n\n${quote(s.text)}` };
}

/** TensorBoard history rebuilt from metrics.jsonl and samples.jsonl (used when a run resumes). */
export function scalarHistory(dir: string): ScalarPoint[] {
  const { steps, evals } = readMetrics(dir);
  const points: ScalarPoint[] = [
    ...steps.map((p) => ({ step: p.step, wallTime: wallTime(p.time), scalars: stepScalars(p).filter((s) => Number.isFinite(s.value)) })),
    ...evals.map((e) => ({ step: e.step, wallTime: wallTime(e.time), scalars: Number.isFinite(e.evalLoss) ? [{ tag: TB_TAGS.evalLoss, value: e.evalLoss }] : [] })),
    ...readSamples(dir).filter((s) => Number.isFinite(s.step)).map((s) => ({ step: s.step, wallTime: wallTime(s.time), scalars: [], texts: [sampleText(s)] })),
  ];
  return points.filter((p) => p.scalars.length > 0 || (p.texts?.length ?? 0) > 0).sort((a, b) => a.wallTime - b.wallTime);
}

/**
 * Records an evaluation of a run (e.g. `eval --project DIR --run ID`): a metrics line and an
 * `eval/loss` scalar in the run's event file. Safe while the run trains (appends only).
 */
export function recordEval(projectDir: string, id: string, e: { step?: number; loss: number; perplexity?: number; tokens?: number }): EvalPoint {
  const info = readRun(projectDir, id);
  const point: EvalPoint = { step: e.step ?? info.step, evalLoss: e.loss, evalPerplexity: e.perplexity ?? null, tokens: e.tokens ?? null, time: nowIso() };
  appendLine(path.join(info.dir, METRICS_FILE), evalLine(point));
  const files = eventFiles(info.dir);
  const tb = files.length ? EventFileWriter.append(files[files.length - 1]!) : EventFileWriter.create(info.dir);
  try {
    tb.scalars(point.step, [{ tag: TB_TAGS.evalLoss, value: e.loss }], wallTime(point.time));
  } finally {
    tb.close();
  }
  return point;
}

/** Appends generated samples to a run's samples.jsonl (e.g. `generate --run ID`). Safe while the run trains. */
export function recordSamples(projectDir: string, id: string, samples: { prompt: string; text: string }[], step?: number): SampleRecord[] {
  const info = readRun(projectDir, id);
  const time = nowIso();
  const out = samples.map((s) => ({ step: step ?? info.step, prompt: s.prompt, text: s.text, time }));
  for (const s of out) appendLine(path.join(info.dir, SAMPLES_FILE), s);
  return out;
}
