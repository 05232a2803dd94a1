// `lora-studio eval`: flags -> the evaluate service (engine/services/evaluate.ts) -> perplexity
// printed; with --run, then recorded in the run (a warning when it cannot be).
import { DEVICES } from '../../engine/api.ts';
import { evaluatePerplexity } from '../../engine/services/evaluate.ts';
import { int, oneOf, parse, required, runCommand } from '../args.ts';
import { PROJECT_EVAL_FLAGS, PROJECT_EVAL_HELP, evalTarget, recordEvalInProject } from './project-flags.ts';

const HELP = `Usage: lora-studio eval --model DIR [--adapter DIR] --text FILE [--max-length N] [--lines] [--device cpu|webgpu|cuda] [--json]

Perplexity of the model (with the adapter merged in) on a text file. The file is one document,
tokenized whole and cut into consecutive non-overlapping windows of --max-length tokens (default:
the model's n_positions); each window predicts its tokens 2..end; perplexity = exp(mean NLL).
--lines: every non-empty line is its own text.

${PROJECT_EVAL_HELP}`;

export async function evalCommand(argv: string[]): Promise<number> {
  return runCommand('eval', HELP, async () => {
    const { values: v } = parse(argv, { model: { type: 'string' }, adapter: { type: 'string' }, text: { type: 'string' }, 'max-length': { type: 'string' }, lines: { type: 'boolean' }, device: { type: 'string' }, ...PROJECT_EVAL_FLAGS });
    if (v.help) { console.log(HELP); return 0; }
    const r = await evaluatePerplexity({
      ...evalTarget(v), text: required(v, 'text'),
      maxLength: v['max-length'] ? int(v['max-length'], 'max-length', 0, 2) : undefined, lines: v.lines,
      device: oneOf(v.device, 'device', DEVICES, 'cpu'),
    });
    if (v.json) console.log(JSON.stringify({ perplexity: r.perplexity, mean_nll: r.meanNll, tokens: r.tokens, windows: r.windows }));
    else console.log(`perplexity ${r.perplexity.toFixed(4)}  (mean NLL ${r.meanNll.toFixed(4)} over ${r.tokens} tokens in ${r.windows} windows)`);
    const unrecorded = recordEvalInProject(v, r);
    if (unrecorded) console.error(`lora-studio eval: warning: ${unrecorded}`);
    return 0;
  });
}
