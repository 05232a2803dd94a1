// `lora-studio data inspect PATH [--format auto|aclimdb|csv|jsonl|txt|parquet|md]
//    [--text-column C] [--label-column C] [--split train|test] [--model DIR] [--json]`
//
// Prints the detected format, example count, label balance and (with a model folder) token
// statistics. Errors: one line on stderr, exit status 1.

import { parseArgs } from 'node:util';
import { DATASET_FORMATS, loadDataset, type LoadDatasetOptions } from '../../engine/data/index.ts';
import { tokenizeDataset } from '../../engine/data/cache.ts';
import { datasetStats, labelBalance } from '../../engine/data/preprocess.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { CHAT_INSPECT_FLAGS, CHAT_INSPECT_USAGE, inspectInstructFromFlags } from './chat-flags.ts';

const USAGE = `usage: lora-studio data inspect PATH [--format auto|${DATASET_FORMATS.join('|')}] [--text-column C] [--label-column C]
                               [--split train|test] [--template T] [--model DIR] [--max-length N] [--cache-dir DIR] [--json]
${CHAT_INSPECT_USAGE}`;

export interface InspectResult {
  path: string;
  format: string;
  examples: number;
  /** label name -> count ({} when the data has no labels) */
  labels: Record<string, number>;
  skipped: { count: number; examples: string[] };
  notes: string[];
  tokens?: number;
  max_tokens?: number;
  mean_tokens?: number;
  median_tokens?: number;
  p95_tokens?: number;
  truncated?: number;
  histogram?: { edges: number[]; counts: number[] };
}

export interface DataCommandIO {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIO: DataCommandIO = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** `lora-studio data …`; argv is what follows `data` (a leading "data" is tolerated). */
export async function dataCommand(argv: string[], io: DataCommandIO = defaultIO): Promise<number> {
  const args = argv[0] === 'data' ? argv.slice(1) : argv;
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        format: { type: 'string' },
        'text-column': { type: 'string' },
        'label-column': { type: 'string' },
        split: { type: 'string' },
        template: { type: 'string' },
        model: { type: 'string' },
        'max-length': { type: 'string' },
        'cache-dir': { type: 'string' },
        ...CHAT_INSPECT_FLAGS,
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(USAGE + '\n');
      return 0;
    }
    const [sub, path, ...extra] = positionals;
    if (sub !== 'inspect') {
      io.err(`lora-studio data: ${sub === undefined ? 'missing subcommand' : `unknown subcommand ${JSON.stringify(sub)}`}; ${USAGE.split('\n')[0]}\n`);
      return 1;
    }
    if (!path) {
      io.err(`lora-studio data inspect: missing PATH; ${USAGE.split('\n')[0]}\n`);
      return 1;
    }
    if (extra.length) {
      io.err(`lora-studio data inspect: unexpected argument ${JSON.stringify(extra[0])}\n`);
      return 1;
    }
    const instruct = await inspectInstructFromFlags(path, values);
    if (instruct) {
      io.out(values.json ? JSON.stringify(instruct.json, null, 2) + '\n' : instruct.text);
      return 0;
    }
    const format = values.format ?? 'auto';
    if (format !== 'auto' && !(DATASET_FORMATS as readonly string[]).includes(format)) {
      io.err(`lora-studio data inspect: --format must be one of auto, ${DATASET_FORMATS.join(', ')}; got ${JSON.stringify(format)}\n`);
      return 1;
    }
    let maxLength: number | undefined;
    if (values['max-length'] !== undefined) {
      maxLength = Number(values['max-length']);
      if (!Number.isInteger(maxLength) || maxLength < 1) {
        io.err(`lora-studio data inspect: --max-length must be a positive integer; got ${JSON.stringify(values['max-length'])}\n`);
        return 1;
      }
    }
    const opts: LoadDatasetOptions = { format: format as LoadDatasetOptions['format'] };
    if (values['text-column'] !== undefined) opts.textColumn = values['text-column'];
    if (values['label-column'] !== undefined) opts.labelColumn = values['label-column'];
    if (values.split !== undefined) opts.split = values.split;
    if (values.template !== undefined) opts.template = values.template.replace(/\\n/g, '\n');
    const ds = await loadDataset(path, opts);
    const result: InspectResult = {
      path,
      format: ds.format,
      examples: ds.examples.length,
      labels: labelBalance(ds.examples, ds.labelNames) ?? {},
      skipped: ds.skipped,
      notes: ds.notes ?? [],
    };
    if (values.model !== undefined) {
      const tk = await loadTokenizer(values.model);
      const tokenized = await tokenizeDataset(ds.examples, tk, { cacheDir: values['cache-dir'] ?? null });
      const st = datasetStats(ds.examples, { labelNames: ds.labelNames, tokenLengths: tokenized.lengths(), maxLength });
      result.tokens = st.tokens;
      result.max_tokens = st.maxTokens;
      result.mean_tokens = Math.round((st.meanTokens ?? 0) * 100) / 100;
      result.median_tokens = st.medianTokens;
      result.p95_tokens = st.p95Tokens;
      if (maxLength !== undefined) result.truncated = st.truncated;
      result.histogram = st.histogram;
    }
    io.out(values.json ? JSON.stringify(result, null, 2) + '\n' : formatText(result));
    return 0;
  } catch (e) {
    io.err(`lora-studio data: ${oneLine(e)}\n`);
    return 1;
  }
}

function formatText(r: InspectResult): string {
  const lines: string[] = [];
  lines.push(`path:      ${r.path}`);
  lines.push(`format:    ${r.format}${r.notes.length ? ` (${r.notes.join('; ')})` : ''}`);
  lines.push(`examples:  ${r.examples}`);
  const labels = Object.entries(r.labels);
  if (labels.length) {
    lines.push(`labels:    ${labels.map(([k, v]) => `${k} ${v} (${((100 * v) / Math.max(1, r.examples)).toFixed(1)}%)`).join(', ')}`);
  } else lines.push('labels:    none');
  lines.push(`skipped:   ${r.skipped.count}`);
  for (const s of r.skipped.examples) lines.push(`  - ${s}`);
  if (r.tokens !== undefined) {
    lines.push(
      `tokens:    ${r.tokens} total; per example max ${r.max_tokens}, mean ${r.mean_tokens}, median ${r.median_tokens}, p95 ${r.p95_tokens}` +
        (r.truncated !== undefined ? `; ${r.truncated} longer than --max-length` : ''),
    );
    if (r.histogram) {
      const peak = Math.max(1, ...r.histogram.counts);
      lines.push('length histogram (tokens):');
      r.histogram.counts.forEach((c, i) => {
        if (c === 0) return;
        const lo = r.histogram!.edges[i]!;
        const hi = r.histogram!.edges[i + 1]! - 1;
        lines.push(`  ${`${lo}-${hi}`.padStart(11)} ${'#'.repeat(Math.max(1, Math.round((30 * c) / peak)))} ${c}`);
      });
    }
  }
  return lines.join('\n') + '\n';
}
