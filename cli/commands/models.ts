// `lora-studio models pull|list`: models from the Hugging Face Hub into the shared HF cache (the
// one Python's transformers uses), and every model the studio can see.
import { HubError } from '../../engine/hub/errors.ts';
import { listModels, type ListedModel } from '../../engine/hub/list.ts';
import { formatBytes, progressLine, type PullEvent } from '../../engine/hub/progress.ts';
import { pullModel } from '../../engine/hub/pull.ts';
import { hubSettings } from '../../engine/hub/settings.ts';
import { UsageError, parse, runCommand } from '../args.ts';

const HELP = `Usage: lora-studio models <command> [options]

Commands:
  pull ORG/NAME [--revision REV] [--include GLOB...] [--json]
                        download a model repository from the Hugging Face Hub into the HF cache:
                        config, generation config, tokenizer files and safetensors weights (every
                        shard and the index). Other files (.bin, .onnx, .gguf, subfolders, ...)
                        only when --include matches them (fnmatch globs, as huggingface-cli's).
                        An interrupted pull resumes where it stopped; every file is checked
                        against the Hub's sha256 (LFS) or git sha1 before it is used.
  list [--json]         the built-in demo model and every model in the HF cache: family,
                        parameters, dtype, size on disk, and whether this build can train it

Use a pulled model anywhere a model folder goes: --model ORG/NAME (or ORG/NAME@REV).

Environment (the same as Python's huggingface_hub):
  HF_HUB_CACHE / HF_HOME  the cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
  HF_ENDPOINT             the Hub (default https://huggingface.co)
  HF_TOKEN                a token for gated or private models (else the file $HF_HOME/token)
  HF_HUB_OFFLINE=1        never touch the network (pull then only reports what the cache has)
  HF_HUB_DOWNLOAD_TIMEOUT seconds without data before a transfer is retried (default 30)`;

/** `--include a b c` (as huggingface-cli takes it) -> `--include a --include b --include c`. */
function spreadIncludes(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    out.push(a);
    if (a !== '--include') continue;
    let n = 0;
    while (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) {
      if (n++ > 0) out.push('--include');
      out.push(argv[++i]!);
    }
  }
  return out;
}

export async function modelsCommand(argv: string[]): Promise<number> {
  return runCommand('models', HELP, async () => {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') { console.log(HELP); return sub ? 0 : 2; }
    if (sub === 'pull') return pull(rest);
    if (sub === 'list') return list(rest);
    throw new UsageError(`unknown command "${sub}" (pull or list)`);
  });
}

async function pull(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(spreadIncludes(argv), { revision: { type: 'string' }, include: { type: 'string', multiple: true } }, true);
  if (v.help) { console.log(HELP); return 0; }
  const [repo, ...extra] = positionals;
  if (!repo) throw new UsageError('models pull needs a repo id, like openai-community/gpt2');
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (several --include patterns go after --include)`);
  const json = Boolean(v.json);
  const tty = Boolean(process.stderr.isTTY) && !json;
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  let lineShown = false;
  const clear = (): void => {
    if (lineShown) { process.stderr.write('\r\x1b[K'); lineShown = false; }
  };
  const onEvent = (e: PullEvent): void => {
    if (json) return;
    if (e.type === 'resolved') {
      const todo = e.totalBytes - e.cachedBytes;
      console.error(`${e.repo}@${e.revision} = commit ${e.commit}: ${e.files.length} files, ${formatBytes(e.totalBytes)}${e.cachedBytes ? ` (${formatBytes(todo)} to download, the rest is cached)` : ''}`);
    } else if (e.type === 'progress' && tty) {
      process.stderr.write(`\r\x1b[K${progressLine(e).slice(0, Math.max(20, (process.stderr.columns || 100) - 1))}`);
      lineShown = true;
    } else if (e.type === 'retry') {
      clear();
      console.error(`  ${e.file}: ${e.reason}; resuming (attempt ${e.attempt + 1})`);
    } else if (e.type === 'file-done') {
      clear();
      console.error(`  ${e.file.padEnd(36)} ${formatBytes(e.size).padStart(9)}  ${e.cached ? 'cached' : 'downloaded, verified'}`);
    }
  };
  try {
    const r = await pullModel(repo, { revision: v.revision, include: v.include, signal: abort.signal, onEvent });
    clear();
    if (json) {
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    for (const n of r.notes) console.error(`note: ${n}`);
    const ref = r.revision === 'main' ? r.repo : `${r.repo}@${r.revision}`;
    console.log(`${ref}: ${r.files.length} files in ${r.dir} (${formatBytes(r.downloadedBytes)} downloaded)`);
    console.log(`use it with --model ${ref}`);
    return 0;
  } catch (e) {
    clear();
    if (e instanceof HubError && e.code === 'cancelled') {
      console.error(`lora-studio models: ${e.message}; run the same command to resume`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const fmtParams = (n: number | null): string => (n === null ? '-' : n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

async function list(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, {}, true);
  if (v.help) { console.log(HELP); return 0; }
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const cacheDir = hubSettings().cacheDir;
  const models = listModels({ cacheDir });
  if (v.json) {
    console.log(JSON.stringify({ cacheDir, models }, null, 2));
    return 0;
  }
  const rows = models.map((m: ListedModel) => [m.name, m.family ?? '?', fmtParams(m.params), m.dtype ?? '-', formatBytes(m.sizeBytes), m.trainable ? 'yes' : 'no']);
  const head = ['MODEL', 'FAMILY', 'PARAMS', 'DTYPE', 'SIZE', 'TRAIN'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 2 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(fmt(head));
  models.forEach((m, i) => {
    console.log(fmt(rows[i]!));
    if (!m.trainable && m.whyNot) console.log(`  why not: ${m.whyNot}`);
  });
  console.log(`\nHF cache: ${cacheDir}${models.some((m) => m.source === 'hf-cache') ? '' : ' (no models yet: lora-studio models pull ORG/NAME)'}`);
  return 0;
}
