// `lora-studio grid`: flags -> the grid service (engine/services/grid.ts) -> each trial and the
// table printed. A grid search over LoRA r, alpha, dropout (and lr), scored by validation perplexity.
import path from 'node:path';
import { table } from '../../engine/experiments/compare.ts';
import { type GridReport, type Trial, gridJson } from '../../engine/experiments/grid.ts';
import { grid } from '../../engine/services/grid.ts';
import { defaultProjectDir } from '../../engine/store/project.ts';
import { DEFAULT_TRAIN, type TrainOptions } from '../../engine/train/types.ts';
import { isolatedTrials } from '../../host/trials.ts';
import { TRAIN_FLAGS, UsageError, int, loraFromFlags, parse, required, runCommand, trainingFromFlags } from '../args.ts';
import { progressBar } from '../progress.ts';

const d = DEFAULT_TRAIN;
const HELP = `Usage: lora-studio grid --model DIR --data FILE --r 4,8,16 --alpha 16,32 --dropout 0.05,0.1 [options] [--json]

Trains one LoRA run per combination (each a normal run of the project), scores each by validation
perplexity and keeps the best adapter (experiments/<grid id>/best-adapter). Running the same
command again resumes the search: finished trials are skipped, an interrupted one continues.

Grid:
  --r LIST              LoRA ranks (default ${d.lora.r})
  --alpha LIST          lora_alpha values (default ${d.lora.alpha})
  --dropout LIST        lora_dropout values (default ${d.lora.dropout})
  --lr LIST             learning rates (default ${d.lr})
  --early-stop          median rule: stop a trial whose eval loss is worse than the median of the
                        finished trials at the same step (needs --eval-every)
  --min-trials N        finished trials needed before pruning (default 2)

Training options (shared by every trial):
  --epochs N, --max-steps N, --batch-size N, --grad-accum N, --max-length N, --warmup-steps N,
  --weight-decay X, --schedule constant|linear|cosine, --seed N, --threads N
  --val-ratio X         held-out fraction that scores the trials (default 0.1)
  --eval-every N        intermediate evaluations (for --early-stop)
  --bias, --targets, --rslora, --init   LoRA options as in \`lora-studio train\`
  --isolate             each trial in its own process

Project options:
  --project DIR         (default: $LORA_STUDIO_PROJECT, else the default project)`;

export function parseList(v: string | undefined, flag: string, fallback: number[], check: (x: number) => boolean): number[] {
  if (v === undefined) return fallback;
  const xs = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (xs.length === 0) throw new UsageError(`--${flag}: give a comma-separated list`);
  return xs.map((s) => {
    const x = Number(s);
    if (!check(x)) throw new UsageError(`--${flag}: "${s}" is not a valid value`);
    return x;
  });
}

export function formatGrid(r: GridReport): string {
  const rows = r.trials.map((t) => [
    `${t.index + 1}${r.best?.runId === t.runId ? ' *' : ''}`, String(t.params.r), String(t.params.alpha), String(t.params.dropout), t.params.lr.toExponential(1),
    t.status, t.perplexity === null ? '—' : t.perplexity.toFixed(3), String(t.steps), `${t.wallS.toFixed(1)} s`,
  ]);
  return table(['trial', 'r', 'alpha', 'dropout', 'lr', 'status', 'val ppl', 'steps', 'time'], rows);
}

export async function gridCommand(argv: string[]): Promise<number> {
  return runCommand('grid', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, project: { type: 'string' },
      r: { type: 'string' }, alpha: { type: 'string' }, dropout: { type: 'string' },
      'early-stop': { type: 'boolean' }, 'min-trials': { type: 'string' }, isolate: { type: 'boolean' },
      ...TRAIN_FLAGS, 'eval-every': { type: 'string' },
      bias: { type: 'string' }, targets: { type: 'string' }, rslora: { type: 'boolean' }, init: { type: 'string' },
    });
    if (v.help) { console.log(HELP); return 0; }
    const evalEvery = int(v['eval-every'], 'eval-every', 0, 0);
    if (v['early-stop'] && evalEvery === 0) throw new UsageError('--early-stop needs --eval-every N (intermediate evaluations to compare)');
    const json = Boolean(v.json);
    const say = (m: string) => (json ? console.error(m) : console.log(m));
    const { r: _r, alpha: _a, dropout: _d, ...loraRest } = v;
    void _r; void _a; void _d;
    // The learning rate is an axis of the grid (--lr), not one value.
    const train: Partial<TrainOptions> = { ...trainingFromFlags({ ...v, lr: undefined }, { valRatio: 0.1 }), evalEvery, lora: loraFromFlags(loraRest) };
    if (!(train.valRatio! > 0)) throw new UsageError('--val-ratio must be > 0: trials are scored on the validation split');
    const ac = new AbortController();
    process.once('SIGINT', () => { console.error('stopping after this step; run the same command again to resume'); ac.abort(); });
    const report = await grid({
      project: v.project ? path.resolve(v.project) : defaultProjectDir(),
      model: required(v, 'model'), data: required(v, 'data'),
      axes: {
        r: parseList(v.r, 'r', [d.lora.r], (x) => Number.isInteger(x) && x >= 1),
        alpha: parseList(v.alpha, 'alpha', [d.lora.alpha], (x) => x > 0),
        dropout: parseList(v.dropout, 'dropout', [d.lora.dropout], (x) => x >= 0 && x < 1),
        lr: parseList(v.lr, 'lr', [d.lr], (x) => x > 0),
      },
      train, runner: v.isolate ? isolatedTrials() : undefined, signal: ac.signal,
      earlyStop: v['early-stop'] ? { minTrials: int(v['min-trials'], 'min-trials', 2) } : false,
      onEvent: (t: Trial, e) => {
        if (e.type === 'step') say(`trial ${t.index + 1} ${progressBar(e.step / e.totalSteps)} step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)}`);
      },
      onTrial: (t: Trial, n) => say(`trial ${t.index + 1}/${n} r=${t.params.r} alpha=${t.params.alpha} dropout=${t.params.dropout} lr=${t.params.lr}: ${t.status}${t.perplexity !== null ? `, val perplexity ${t.perplexity.toFixed(3)}` : ''}${t.error ? ` (${t.error})` : ''}`),
    });
    if (json) console.log(JSON.stringify(gridJson(report)));
    else {
      console.log(`\n${formatGrid(report)}`);
      if (report.best) console.log(`\nbest: trial ${report.best.index + 1} (r=${report.best.params.r}, alpha=${report.best.params.alpha}, dropout=${report.best.params.dropout}, lr=${report.best.params.lr}), val perplexity ${report.best.perplexity!.toFixed(3)}\nbest adapter: ${report.bestAdapter}`);
      console.log(`saved ${report.file}`);
    }
    return 0;
  });
}
