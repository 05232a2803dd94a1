// `lora-studio compare`: LoRA vs full fine-tuning on the same model, data, token budget and seed.
import path from 'node:path';
import { defaultProjectDir } from '../../engine/store/project.ts';
import { comparisonJson, compareMethods, formatComparison } from '../../engine/experiments/compare.ts';
import { DEFAULT_TRAIN, type Method, type TrainEvent, type TrainOptions } from '../../engine/train/types.ts';
import { LORA_FLAGS, LORA_HELP, TRAIN_FLAGS, loraFromFlags, num, parse, required, runCommand, trainingFromFlags } from '../args.ts';

const d = DEFAULT_TRAIN;
const HELP = `Usage: lora-studio compare --model DIR --data FILE [options] [--project DIR] [--json]

Trains the model twice — LoRA, then full fine-tuning — on the same data, token budget and seed,
each as a run of the project in its own process, and prints trainable params, peak memory (RSS),
time per step, tokens/s, wall time, train and eval loss, perplexity and the size on disk of the
adapter vs the full checkpoint. The report is saved as experiments/compare-<id>.json.

Shared training options:
  --lr X                learning rate (default ${d.lr})
  --full-lr X           learning rate for full fine-tuning (default: --lr)
  --epochs N            passes over the data (default ${d.epochs})
  --max-steps N         optimizer steps; overrides --epochs
  --batch-size N        sequences per micro-batch (default ${d.batchSize})
  --grad-accum N        micro-batches per optimizer step (default ${d.gradAccum})
  --max-length N        tokens per sequence (default ${d.maxLength})
  --warmup-steps N      linear warmup steps (default 0)
  --weight-decay X      AdamW weight decay (default ${d.weightDecay})
  --schedule constant|linear|cosine (default ${d.schedule})
  --seed N              (default ${d.seed})
  --val-ratio X         held-out fraction for eval loss and perplexity (default 0.1)
  --threads N           CPU threads (default: all cores)
  --in-process          train both in this process (peak RSS is then shared)

${LORA_HELP}

Project options:
  --project DIR         the project the two runs go to (default: $LORA_STUDIO_PROJECT, else the default project)`;

export async function compareCommand(argv: string[]): Promise<number> {
  return runCommand('compare', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, project: { type: 'string' },
      ...TRAIN_FLAGS, 'full-lr': { type: 'string' }, 'in-process': { type: 'boolean' },
      ...LORA_FLAGS,
    });
    if (v.help) { console.log(HELP); return 0; }
    const json = Boolean(v.json);
    const say = (m: string) => (json ? console.error(m) : console.log(m));
    const project = v.project ? path.resolve(v.project) : defaultProjectDir();
    const train: Partial<TrainOptions> = trainingFromFlags(v, { valRatio: 0.1 });
    const ac = new AbortController();
    process.once('SIGINT', () => { console.error('stopping after this step'); ac.abort(); });
    const report = await compareMethods({
      project, model: required(v, 'model'), data: required(v, 'data'), train, lora: loraFromFlags(v),
      fullLr: v['full-lr'] ? num(v['full-lr'], 'full-lr', d.lr, (x) => x > 0) : undefined,
      isolate: !v['in-process'], signal: ac.signal,
      onRun: (m: Method, r) => say(`${m}: run ${r.id} (${r.dir})`),
      onEvent: (m: Method, e: TrainEvent) => {
        if (e.type === 'step') say(`${m.padEnd(4)} ${progressBar(e.step / e.totalSteps)} step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} ${Math.round(e.tokensPerS)} tok/s`);
        else if (e.type === 'eval') say(`${m.padEnd(4)} eval @ step ${e.step}: loss ${e.evalLoss.toFixed(4)} perplexity ${e.perplexity.toFixed(2)}`);
      },
    });
    if (json) console.log(JSON.stringify(comparisonJson(report)));
    else console.log(`\n${formatComparison(report)}\n\nsaved ${report.file}`);
    return 0;
  });
}

export function progressBar(f: number, width = 24): string {
  const n = Math.max(0, Math.min(width, Math.round(f * width)));
  return `[${'█'.repeat(n)}${'░'.repeat(width - n)}] ${String(Math.round(100 * f)).padStart(3)}%`;
}
