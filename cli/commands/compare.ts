// `lora-studio compare`: flags -> the compare service (engine/services/compare.ts; each method in
// its own process, host/trials.ts) -> progress and the side-by-side table printed.
import path from 'node:path';
import { comparisonJson, formatComparison } from '../../engine/experiments/compare.ts';
import { compare } from '../../engine/services/compare.ts';
import { defaultProjectDir } from '../../engine/store/project.ts';
import { DEFAULT_TRAIN, type Method, type TrainEvent } from '../../engine/train/types.ts';
import { isolatedTrials } from '../../host/trials.ts';
import { LORA_FLAGS, LORA_HELP, TRAIN_FLAGS, loraFromFlags, num, parse, required, runCommand, trainHelp, trainingFromFlags } from '../args.ts';
import { progressBar } from '../progress.ts';

const d = DEFAULT_TRAIN;
const HELP = `Usage: lora-studio compare --model DIR --data FILE [options] [--project DIR] [--json]

Trains the model twice — LoRA, then full fine-tuning — on the same data, token budget and seed,
each as a run of the project in its own process, and prints trainable params, peak memory (RSS),
time per step, tokens/s, wall time, train and eval loss, perplexity and the size on disk of the
adapter vs the full checkpoint. The report is saved as experiments/compare-<id>.json.

Shared training options:
${trainHelp(0.1)}
  --full-lr X           learning rate for full fine-tuning (default: --lr)

${LORA_HELP}

Project options:
  --project DIR         the project the two runs go to (default: $LORA_STUDIO_PROJECT, else the default project)`;

export async function compareCommand(argv: string[]): Promise<number> {
  return runCommand('compare', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, project: { type: 'string' },
      ...TRAIN_FLAGS, 'full-lr': { type: 'string' },
      ...LORA_FLAGS,
    });
    if (v.help) { console.log(HELP); return 0; }
    const json = Boolean(v.json);
    const say = (m: string) => (json ? console.error(m) : console.log(m));
    const project = v.project ? path.resolve(v.project) : defaultProjectDir();
    const ac = new AbortController();
    process.once('SIGINT', () => { console.error('stopping after this step'); ac.abort(); });
    const report = await compare({
      project, model: required(v, 'model'), data: required(v, 'data'), train: trainingFromFlags(v, { valRatio: 0.1 }), lora: loraFromFlags(v),
      fullLr: v['full-lr'] ? num(v['full-lr'], 'full-lr', d.lr, (x) => x > 0) : undefined,
    }, isolatedTrials(), {
      signal: ac.signal,
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
