// `lora-studio classify`: flags -> the classify service (engine/services/classify.ts) -> metrics
// and the confusion matrix printed.
import { DEVICES } from '../../engine/api.ts';
import { classify } from '../../engine/services/classify.ts';
import { int, oneOf, parse, required, runCommand } from '../args.ts';
import { trainFromFlags } from './train.ts';

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
    const r = await classify({
      model: required(v, 'model'), adapter: v.adapter, data: required(v, 'data'), textColumn: v['text-column'], labelColumn: v['label-column'],
      split: v.split, maxLength: v['max-length'] ? int(v['max-length'], 'max-length', 512, 1) : undefined,
      batchSize: int(v['batch-size'], 'batch-size', 16), device: oneOf(v.device, 'device', DEVICES, 'cpu'), threads: v.threads ? int(v.threads, 'threads', 1) : undefined,
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

/** `lora-studio train --task seq-cls ...` with already-parsed flags: the train command's one path. */
export function trainSeqClsFromFlags(v: Record<string, unknown>): Promise<number> {
  return trainFromFlags({ ...v, task: 'seq-cls' });
}
