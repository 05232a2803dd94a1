// `lora-studio eval`: flags -> the evaluate service (engine/services/evaluate.ts) -> perplexity
// printed; with --run, then recorded in the run (a warning when it cannot be).
import { CHAT_FORMATS, DATASET_FORMATS, DEVICES, type DatasetSpec, type RunConfig } from '../../engine/api.ts';
import { evaluatePerplexity } from '../../engine/services/evaluate.ts';
import { defaultProjectDir } from '../../engine/store/project.ts';
import { TRAIN_ONLY_FLAGS, UsageError, int, oneOf, parse, runCommand } from '../args.ts';
import { CHAT_TRAIN_FLAGS, chatFromFlags } from './chat-flags.ts';
import { PROJECT_EVAL_FLAGS, PROJECT_EVAL_HELP, evalTarget, projectFlag, recordEvalInProject } from './project-flags.ts';

const HELP = `Usage: lora-studio eval --model DIR [--adapter DIR] --text FILE [--max-length N] [--lines] [--device cpu|webgpu|cuda] [--json]
       lora-studio eval --model DIR [--adapter DIR] --data FILE [--format F] [--text-column C] [--split S] [--template T] [--max-length N]
                        [--chat-template T] [--train-on completions|all] [--columns F=C,...]
       lora-studio eval --run ID [--project DIR] --held-out

Perplexity of the model (with the adapter merged in); give exactly one of:
  --text FILE           a plain-text file: one document, tokenized whole and cut into consecutive
                        non-overlapping windows of --max-length tokens (default: the model's
                        n_positions); --lines: every non-empty line is its own text. Parquet and
                        binary files are refused; a .jsonl or .csv file is scored as raw text,
                        punctuation and all: score a dataset with --data
  --data FILE           a dataset read as training reads it (aclImdb, CSV/TSV, JSONL, parquet,
                        Markdown, text): each example is its own text, cut at --max-length tokens;
                        instruction data (prompt/completion, Alpaca, ShareGPT, messages) is scored
                        as training's loss is: each row rendered through the chat template, the
                        mean NLL over its trained tokens only (the answers and their end of turn;
                        every token with --train-on all); rows training skips are skipped and counted
    --format auto|${DATASET_FORMATS.filter((f) => f !== 'auto').join('|')}   the dataset's file format (default: auto-detected), or
             text|${CHAT_FORMATS.filter((f) => f !== 'auto' && f !== 'text').join('|')}   its data format, as train's --format
                        (text: plain text even where the records look like instruction data)
    --chat-template auto|FILE|name, --train-on completions|all, --columns F=C,...   as for train
    --text-column C     the column holding the text (CSV/JSONL/parquet)
    --split S           the split to read (e.g. train, test) where the dataset has splits
    --template T        build each example's text from its fields (JSONL records, Markdown recipes),
                        e.g. "Q: {question}\\nA: {answer}"
  --held-out            with --run: the run's held-out validation split, rebuilt from the options
                        in its run.json exactly as training held it out (the same blocks, so it
                        equals the run's final validation loss); the run's max length applies
Each window predicts its tokens 2..end; perplexity = exp(mean NLL).

${PROJECT_EVAL_HELP}`;

/** The dataset flags of `--data` (the column and instruction-data flags are train's own). */
const DATASET_FLAGS = {
  'text-column': TRAIN_ONLY_FLAGS['text-column'], split: { type: 'string' }, template: { type: 'string' }, ...CHAT_TRAIN_FLAGS,
} as const;

type Flags = Record<string, unknown>;
const str = (v: Flags, k: string): string | undefined => (typeof v[k] === 'string' && v[k] !== '' ? (v[k] as string) : undefined);

/** --data and its mapping as the contract's DatasetSpec and RunConfig.chat; the mapping flags alone are a usage error. */
function datasetFromFlags(v: Flags): { dataset: DatasetSpec; chat?: RunConfig['chat'] } | undefined {
  const file = str(v, 'data');
  const mapping = Object.keys(DATASET_FLAGS).filter((k) => v[k] !== undefined);
  if (!file) {
    if (mapping.length) throw new UsageError(`--${mapping[0]} needs --data FILE`);
    return undefined;
  }
  const spec: DatasetSpec = { path: file };
  // --format is the file's format (eval's own) or the data's (train's): the two sets share only auto.
  const format = oneOf(v.format, 'format', [...DATASET_FORMATS, ...CHAT_FORMATS.filter((f) => f !== 'auto')], 'auto');
  const isChatFormat = format !== 'auto' && (CHAT_FORMATS as readonly string[]).includes(format);
  if (v.format !== undefined && !isChatFormat) spec.format = format as DatasetSpec['format'];
  if (str(v, 'text-column')) spec.textColumn = str(v, 'text-column');
  if (str(v, 'split')) spec.split = str(v, 'split');
  // As `data inspect`: a typed "\n" in the template is a newline.
  if (str(v, 'template')) spec.template = str(v, 'template')!.replace(/\\n/g, '\n');
  const c = chatFromFlags({ ...v, format: isChatFormat ? v.format : undefined });
  if (c.chatColumns) spec.chatColumns = c.chatColumns;
  const chat: NonNullable<RunConfig['chat']> = {
    ...(c.format ? { format: c.format } : {}), ...(c.chatTemplate ? { template: c.chatTemplate } : {}), ...(c.trainOn ? { trainOn: c.trainOn } : {}),
  };
  return { dataset: spec, ...(Object.keys(chat).length ? { chat } : {}) };
}

/** What is scored: exactly one of --text, --data and --held-out (the run's split needs --run). */
function sourceFromFlags(v: Flags): { text?: string; dataset?: DatasetSpec; chat?: RunConfig['chat']; heldOutOf?: string; project?: string } {
  const text = str(v, 'text');
  const dataset = datasetFromFlags(v);
  const given = [text && '--text', dataset && '--data', v['held-out'] && '--held-out'].filter(Boolean);
  if (given.length !== 1) throw new UsageError(given.length ? `give one of --text, --data and --held-out, not ${given.join(' and ')}` : 'give --text FILE, --data FILE or --held-out (with --run ID)');
  if (v.lines && !text) throw new UsageError('--lines applies to --text only');
  if (!v['held-out']) return text ? { text } : dataset!;
  const run = str(v, 'run');
  if (!run) throw new UsageError('--held-out needs --run ID (the run whose validation split to score)');
  if (str(v, 'max-length')) throw new UsageError('--max-length does not apply to --held-out: the run\'s own max length cuts its blocks');
  return { heldOutOf: run, project: projectFlag(v) ?? defaultProjectDir() };
}

export async function evalCommand(argv: string[]): Promise<number> {
  return runCommand('eval', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, adapter: { type: 'string' }, text: { type: 'string' }, data: { type: 'string' }, 'held-out': { type: 'boolean' },
      'max-length': { type: 'string' }, lines: { type: 'boolean' }, device: { type: 'string' }, ...DATASET_FLAGS, ...PROJECT_EVAL_FLAGS,
    });
    if (v.help) { console.log(HELP); return 0; }
    const r = await evaluatePerplexity({
      ...evalTarget(v), ...sourceFromFlags(v),
      maxLength: v['max-length'] ? int(v['max-length'], 'max-length', 0, 2) : undefined, lines: v.lines,
      device: oneOf(v.device, 'device', DEVICES, 'cpu'),
    });
    const rows = r.examples !== undefined ? { examples: r.examples, skipped: r.skipped ?? 0 } : {};
    if (v.json) console.log(JSON.stringify({ perplexity: r.perplexity, mean_nll: r.meanNll, tokens: r.tokens, windows: r.windows, ...rows }));
    else if (r.examples !== undefined) {
      console.log(`perplexity ${r.perplexity.toFixed(4)}  (mean NLL ${r.meanNll.toFixed(4)} over ${r.tokens} trained tokens of ${r.examples} instruction examples; ${r.skipped ?? 0} skipped)`);
    } else console.log(`perplexity ${r.perplexity.toFixed(4)}  (mean NLL ${r.meanNll.toFixed(4)} over ${r.tokens} tokens in ${r.windows} windows)`);
    const unrecorded = recordEvalInProject(v, r);
    if (unrecorded) console.error(`lora-studio eval: warning: ${unrecorded}`);
    return 0;
  });
}
