// `lora-studio demo` (`npm run demo`): flags -> the demo service (engine/services/demo.ts; the
// comparison's methods each in their own process) -> its report, with progress bars.
import path from 'node:path';
import { DEMO_MODEL, runDemo } from '../../engine/services/demo.ts';
import { defaultProjectsRoot } from '../../engine/store/project.ts';
import { isolatedTrials } from '../../host/trials.ts';
import { int, parse, runCommand } from '../args.ts';
import { bars } from '../progress.ts';

const HELP = `Usage: lora-studio demo [--project DIR] [--model DIR] [--quick] [--json]

The tutorial end to end, offline, on the built-in demo model (models/demo-llama) and the bundled
samples (samples/recipes.jsonl, samples/reviews.csv):
  1. perplexity of held-out recipes and a generated recipe, before fine-tuning
  2. LoRA fine-tuning on the other recipes (a run of the demo project)
  3. perplexity and generation again, after
  4. LoRA vs full fine-tuning on the same data, budget and seed
  5. sentiment classification of the reviews (LoRA + a classification head): accuracy before/after

Options:
  --project DIR   the demo project (default: <projects folder>/lora-studio-demo; the app lists it)
  --model DIR     another GPT-2 folder instead of the demo model
  --quick         a few steps of everything (a smoke test, numbers meaningless)
  --threads N     CPU threads (default: all cores)`;

export async function demoCommand(argv: string[]): Promise<number> {
  return runCommand('demo', HELP, async () => {
    const { values: v } = parse(argv, { project: { type: 'string' }, model: { type: 'string' }, quick: { type: 'boolean' }, threads: { type: 'string' } });
    if (v.help) { console.log(HELP); return 0; }
    const json = Boolean(v.json);
    const log = json ? (m: string) => console.error(m) : (m: string) => console.log(m);
    const summary = await runDemo({
      project: v.project ?? path.join(defaultProjectsRoot(), 'lora-studio-demo'),
      model: path.resolve(v.model ?? DEMO_MODEL),
      quick: Boolean(v.quick),
      threads: v.threads ? int(v.threads, 'threads', 1) : undefined,
      runner: isolatedTrials(),
      log,
      progress: bars(json ? log : console.log),
    });
    if (json) console.log(JSON.stringify(summary));
    return 0;
  });
}
