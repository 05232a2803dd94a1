// The Configure form's checks before Start: the contract's own validation of the RunConfig, plus
// what the schema allows but a run cannot do (zero steps, a device this machine lacks, a classifier
// without labels), each phrased for the field it belongs to, with the field's label — never a
// RunConfig path, a contract method or a CLI flag.

import { RunConfigSchema, checkpointingFor, ValidationError, parse, type DatasetPreview, type RunConfig } from '../../../engine/api.ts';
import type { FormConfig } from './state.svelte.ts';

/** The form's labels of the RunConfig paths (the inputs' <label>s). */
export const FIELD_LABELS: Record<string, string> = {
  method: 'Method', task: 'Task', baseDtype: 'Base weights', gradientCheckpointing: 'Gradient checkpointing',
  'lora.r': 'Rank r', 'lora.alpha': 'Alpha', 'lora.dropout': 'Dropout', 'lora.bias': 'Bias', 'lora.init': 'Init of A', 'lora.targets': 'Target modules',
  lr: 'Learning rate', schedule: 'Schedule', weightDecay: 'Weight decay', warmupSteps: 'Warmup steps', warmupRatio: 'Warmup ratio', maxGradNorm: 'Max grad norm',
  epochs: 'Epochs', maxSteps: 'Steps', batchSize: 'Batch size', gradAccum: 'Gradient accumulation', maxLength: 'Max length', seed: 'Seed',
  logEvery: 'Log every', checkpointEvery: 'Checkpoint every', device: 'Device', valRatio: 'Held-out share', evalEvery: 'Evaluate every',
  name: 'Name', out: 'Output folder', 'sample.prompt': 'Sample prompt', 'sample.every': 'Sample every', 'sample.maxNewTokens': 'Sample length',
  'chat.format': 'Data format', 'chat.template': 'Chat template', 'chat.trainOn': 'Train on', 'dataset.labelColumn': 'Label column', 'dataset.textColumn': 'Text column',
};

const DEVICE_NAMES: Record<string, string> = { cpu: 'CPU', webgpu: 'WebGPU', cuda: 'CUDA' };
export const deviceName = (d: string): string => DEVICE_NAMES[d] ?? d;

/** A camelCase path as words, for a field the table does not name. */
const words = (path: string): string => {
  const w = path.split('.').pop()!.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return w.charAt(0).toUpperCase() + w.slice(1);
};
export const labelOf = (path: string): string => FIELD_LABELS[path] ?? words(path);

/** The schema's "expected …" in plain words: "a whole number from 1 to 4096", "above 0". */
function plain(expected: string): string {
  return expected
    .replace(/^an integer/, 'a whole number')
    .replace(/^a (finite )?number /, '')
    .replace(/≥ (\S+) and ≤ (\S+)/, 'from $1 to $2')
    .replace(/> (\S+) and ≤ (\S+)/, 'above $1 and at most $2')
    .replace(/≥ (\S+)/, 'at least $1')
    .replace(/> (\S+)/, 'above $1')
    .replace(/≤ (\S+)/, 'at most $1')
    .replace(/one of ((?:"[^"]*"(?:, )?)+)/, (_, list: string) => `one of ${list.replace(/"/g, '')}`);
}

/** One schema issue ("lora.r: expected an integer ≥ 1 …, got 0") as a field path and a message. */
export function phraseIssue(issue: string): { path: string | null; message: string } {
  const m = /^([A-Za-z_][\w.[\]]*): (.*)$/.exec(issue);
  if (!m) return { path: null, message: issue };
  const path = m[1].replace(/\[\d+\]$/, '').replace(/\.\d+$/, '');
  const rest = m[2];
  const e = /^expected (.*), got (.*)$/.exec(rest);
  const missing = /^missing/.test(rest) || (e && /^(null|undefined|"")$/.test(e[2]));
  const message = missing ? 'enter a value' : e ? `must be ${plain(e[1])} (got ${e[2].replace(/^"(.*)"$/, '$1')})` : rest;
  return { path, message };
}

/** A message from the engine without contract method names or CLI flags in it. */
export function friendly(message: string): string {
  return message
    .replace(/invalid params of [a-z]+\.[A-Za-z]+: /g, '')
    .replace(/\b(?:models|runs|datasets|eval|generate|experiments|app|fs|projects)\.[a-z][A-Za-z]+\b/g, 'the engine')
    .replace(/--([a-z][a-z-]*)/g, (_, flag: string) => labelOf(flag.replace(/-([a-z])/g, (_m: string, c: string) => c.toUpperCase())).toLowerCase());
}

export interface CheckContext {
  /** The devices this machine has (app.info); null: not known. */
  devices: readonly string[] | null;
  dataset: DatasetPreview | null;
}

/** What the schema allows but a run cannot do, by field path. */
function runProblems(f: FormConfig, config: RunConfig, ctx: CheckContext): Record<string, string> {
  const out: Record<string, string> = {};
  if (f.stopBy === 'steps' && f.maxSteps === 0) out.maxSteps = 'train at least 1 step';
  if (f.stopBy === 'epochs' && f.epochs === 0) out.epochs = 'train for more than 0 epochs';
  if (ctx.devices && !ctx.devices.includes(f.device)) out.device = `${deviceName(f.device)} is not available on this machine; choose ${ctx.devices.map(deviceName).join(' or ')}`;
  if (f.task === 'seq-cls') {
    if (f.method !== 'lora') out.method = 'a classifier trains with LoRA (its heads train whole)';
    const labelled = Boolean(config.dataset.labelColumn) || Boolean(ctx.dataset?.labels.length);
    if (ctx.dataset && !labelled) out['dataset.labelColumn'] = 'choose the column that holds the class labels';
  }
  return out;
}

/** Every problem of the form, by field path (the first one of each field), before Start. */
export function formProblems(f: FormConfig, config: RunConfig, ctx: CheckContext): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    parse(RunConfigSchema, config, 'configuration');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    for (const issue of e.issues) {
      const { path, message } = phraseIssue(issue);
      const key = path ?? '';
      out[key] ??= message;
    }
  }
  for (const [k, v] of Object.entries(runProblems(f, config, ctx))) out[k] ??= v;
  return out;
}

/** The problems as lines for the list under the form: "Learning rate: must be above 0 (got 0)". */
export const problemLines = (p: Record<string, string>): string[] => Object.entries(p).map(([path, m]) => (path ? `${labelOf(path)}: ${m}` : m));

/** The form's task options as a RunConfig carries them: only what applies, the defaults left out. */
export function taskOptions(f: FormConfig): Pick<RunConfig, 'task' | 'baseDtype' | 'gradientCheckpointing' | 'sample' | 'chat'> {
  const o: Pick<RunConfig, 'task' | 'baseDtype' | 'gradientCheckpointing' | 'sample' | 'chat'> = {};
  if (f.task === 'seq-cls') o.task = 'seq-cls';
  if (f.method === 'lora' && f.baseDtype && f.baseDtype !== 'f32') o.baseDtype = f.baseDtype;
  // Stored only where it differs from what the engine does unset (on for an int8/int4 base).
  if (Boolean(f.gradientCheckpointing) !== checkpointingFor({ method: f.method, baseDtype: o.baseDtype })) o.gradientCheckpointing = Boolean(f.gradientCheckpointing);
  if (f.task === 'seq-cls') return o;
  if (f.sample) o.sample = { ...f.sample };
  const chat: NonNullable<RunConfig['chat']> = {};
  if (f.chat?.format && f.chat.format !== 'auto') chat.format = f.chat.format;
  const template = f.chat?.template?.trim();
  if (template && template !== 'auto') chat.template = template;
  if (f.chat?.trainOn && f.chat.trainOn !== 'completions') chat.trainOn = f.chat.trainOn;
  if (Object.keys(chat).length) o.chat = chat;
  return o;
}

/** A short prompt for samples during training: the start of the dataset's first example, else a fixed one. */
export function defaultSamplePrompt(dataset: DatasetPreview | null): string {
  const first = dataset?.sample[0]?.text.replace(/\s+/g, ' ').trim() ?? '';
  const start = first.split(' ').slice(0, 6).join(' ');
  return start || 'Once upon a time';
}
