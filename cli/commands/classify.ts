import { trainableLine } from '../../engine/lora/peft-model.ts';
import type { Device } from '../../engine/onnx/runtime.ts';
import { type ClassifyEvent, DEFAULT_CLASSIFY, evaluateClassifier, trainClassifier } from '../../engine/train/classify.ts';
import type { Schedule } from '../../engine/train/types.ts';
import { UsageError, int, loraFromFlags, num, parse, required, runCommand } from '../args.ts';

const HELP = `Usage: lora-studio classify --model DIR [--adapter DIR] --data PATH [options] [--json]

Evaluates a sequence classifier (DistilBERT or GPT-2, with a PEFT SEQ_CLS adapter whose heads
were saved as modules_to_save) on labelled data: accuracy, precision, recall, F1 and the
confusion matrix (rows = true class, columns = predicted).
  --text-column C / --label-column C   which columns hold the text and the label (CSV/JSONL/parquet)
  --split NAME                         aclImdb / parquet split (train, test)
  --max-length N                       tokens per example (default 512, at most the model's limit)
  --batch-size N                       default 16
  --device cpu|webgpu|cuda
--json prints {"accuracy", "f1", "precision", "recall", "confusion", "labels", "examples"}.`;

export async function classifyCommand(argv: string[]): Promise<number> {
  return runCommand('classify', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, adapter: { type: 'string' }, data: { type: 'string' }, 'text-column': { type: 'string' },
      'label-column': { type: 'string' }, split: { type: 'string' }, 'max-length': { type: 'string' }, 'batch-size': { type: 'string' },
      device: { type: 'string' }, threads: { type: 'string' },
    });
    if (v.help) { console.log(HELP); return 0; }
    const r = await evaluateClassifier({
      model: required(v, 'model'), adapter: v.adapter, data: required(v, 'data'), textColumn: v['text-column'], labelColumn: v['label-column'],
      split: v.split, maxLength: v['max-length'] ? int(v['max-length'], 'max-length', 512, 1) : undefined,
      batchSize: int(v['batch-size'], 'batch-size', 16), device: (v.device ?? 'cpu') as Device, threads: v.threads ? int(v.threads, 'threads', 1) : undefined,
    });
    if (v.json) {
      console.log(JSON.stringify({ accuracy: r.accuracy, f1: r.f1, precision: r.precision, recall: r.recall, macro_f1: r.macroF1, confusion: r.confusion, labels: r.labels, examples: r.examples }));
    } else {
      console.log(`accuracy ${r.accuracy.toFixed(4)}  f1 ${r.f1.toFixed(4)}  precision ${r.precision.toFixed(4)}  recall ${r.recall.toFixed(4)}  (${r.examples} examples)`);
      const w = Math.max(...r.labels.map((l) => l.length), 6);
      console.log(`confusion (rows = true, columns = predicted):\n${''.padEnd(w)}  ${r.labels.map((l) => l.padStart(w)).join(' ')}`);
      r.confusion.forEach((row, i) => console.log(`${r.labels[i].padEnd(w)}  ${row.map((x) => String(x).padStart(w)).join(' ')}`));
    }
    return 0;
  });
}

/**
 * `lora-studio train --task seq-cls ...`: called by cli/commands/train.ts with its parsed flags
 * (model, data, out, lr, epochs, max-steps, batch-size, max-length, warmup-*, weight-decay,
 * max-grad-norm, schedule, seed, log-every, val-ratio, eval-every, device, threads, LoRA flags,
 * and optionally validation, text-column, label-column).
 */
export async function trainSeqClsFromFlags(v: Record<string, unknown>): Promise<number> {
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const d = DEFAULT_CLASSIFY;
  if (s('method') && s('method') !== 'lora') throw new UsageError('--task seq-cls trains with --method lora (the heads train whole as modules_to_save)');
  if (s('grad-accum') && s('grad-accum') !== '1') throw new UsageError('--task seq-cls does not support --grad-accum yet');
  const json = Boolean(v.json);
  const schedule = (s('schedule') ?? d.schedule) as Schedule;
  if (!['constant', 'linear', 'cosine'].includes(schedule)) throw new UsageError(`--schedule must be constant, linear or cosine, got "${schedule}"`);
  const lora = loraFromFlags(v);
  if (s('dropout') === undefined) lora.dropout = d.lora.dropout;
  const ac = new AbortController();
  process.once('SIGINT', () => { console.error('stopping after this step (Ctrl-C again to kill)'); ac.abort(); });
  const say = (m: string) => (json ? console.error(m) : console.log(m));
  const onEvent = (e: ClassifyEvent) => {
    if (e.type === 'start') say(`${trainableLine(e.trainableParams, e.allParams)}\nclassifier with ${e.numLabels} labels, ${e.examples} examples, ${e.totalSteps} steps`);
    else if (e.type === 'step') say(`step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  acc ${(e.accuracy ?? 0).toFixed(3)}  lr ${e.lr.toExponential(2)}  grad_norm ${e.gradNorm.toFixed(3)}  ${(e.examplesPerS ?? 0).toFixed(1)} ex/s  eta ${e.etaS.toFixed(1)}s`);
    else if (e.type === 'eval') say(`eval @ step ${e.step}: loss ${e.evalLoss.toFixed(4)}  accuracy ${(e.accuracy ?? 0).toFixed(4)}  f1 ${(e.f1 ?? 0).toFixed(4)}  confusion ${JSON.stringify(e.confusion)}`);
    else if (e.type === 'log') console.error(e.message);
  };
  const r = await trainClassifier({
    model: required(v, 'model'), data: required(v, 'data'), out: required(v, 'out'), validation: s('validation'),
    textColumn: s('text-column'), labelColumn: s('label-column'), lora,
    lr: num(s('lr'), 'lr', d.lr, (x) => x > 0),
    epochs: num(s('epochs'), 'epochs', d.epochs, (x) => x > 0),
    maxSteps: int(s('max-steps'), 'max-steps', 0, 0),
    batchSize: int(s('batch-size'), 'batch-size', d.batchSize),
    maxLength: int(s('max-length'), 'max-length', d.maxLength, 2),
    warmupSteps: int(s('warmup-steps'), 'warmup-steps', 0, 0),
    warmupRatio: num(s('warmup-ratio'), 'warmup-ratio', 0, (x) => x >= 0 && x < 1),
    weightDecay: num(s('weight-decay'), 'weight-decay', d.weightDecay, (x) => x >= 0),
    maxGradNorm: num(s('max-grad-norm'), 'max-grad-norm', d.maxGradNorm, (x) => x >= 0),
    schedule, seed: int(s('seed'), 'seed', d.seed, 0), logEvery: int(s('log-every'), 'log-every', d.logEvery),
    valRatio: num(s('val-ratio'), 'val-ratio', 0, (x) => x >= 0 && x < 1),
    evalEvery: int(s('eval-every'), 'eval-every', 0, 0),
    device: (s('device') ?? 'cpu') as Device, threads: s('threads') ? int(s('threads'), 'threads', 1) : undefined,
  }, { onEvent, signal: ac.signal });
  if (json) {
    console.log(JSON.stringify({
      steps: r.steps, final_loss: r.finalLoss, trainable_params: r.trainableParams, all_params: r.allParams, examples_per_s: r.examplesPerS,
      peak_rss_mb: r.peakRssMb, wall_s: r.wallS, stopped: r.stopped, out: r.out, labels: r.labels,
      ...(r.eval ? { eval_loss: r.eval.loss, eval_accuracy: r.eval.accuracy, eval_f1: r.eval.f1, eval_confusion: r.eval.confusion } : {}),
    }));
  } else {
    say(`${r.stopped === 'cancelled' ? 'stopped' : 'done'}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}${r.eval ? `, eval accuracy ${r.eval.accuracy.toFixed(4)} f1 ${r.eval.f1.toFixed(4)}` : ''}, ${r.wallS.toFixed(1)} s → ${r.out}`);
  }
  return 0;
}
