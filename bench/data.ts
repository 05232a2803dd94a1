// Dataset import + tokenization benchmark.
//
//   node --import tsx bench/data.ts [--reviews 50000] [--keep DIR] [--no-write]
//
// Synthesizes an aclImdb-shaped folder (train/test × pos/neg, <id>_<rating>.txt, `<br />` in
// the text) of N reviews in a temp dir from the sentences of ../shared/data/aclImdb-sample, with
// a few invented words per review so that the tokenizer's word cache also sees misses, then
// measures, each in a fresh child process (so peak RSS is per mode):
//   stream   streamDataset + GPT-2 tokenization batch by batch, keeping only token ids
//   load     loadDataset (all examples in memory) + tokenizeDataset (no cache), as the trainer does
//   cached   the same with a warm tokenized cache (second run)
//   workers  load, tokenizing in 2 worker threads (tokenizeDataset's `workers` option)
// Results go to the `## Datasets` section of docs/BENCHMARKS.md.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '../engine/util/rng.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const shared = resolve(root, '..', 'shared', 'data');
const sampleDir = join(shared, 'aclImdb-sample', 'aclImdb');
const tokenizerDir = join(shared, 'gpt2-tokenizer');

function synthesize(dir: string, n: number): { bytes: number; files: number } {
  const sentences: string[] = [];
  const lengths: number[] = [];
  for (const split of ['train', 'test']) {
    for (const lab of ['pos', 'neg']) {
      const d = join(sampleDir, split, lab);
      for (const f of readdirSync(d)) {
        const t = readFileSync(join(d, f), 'utf8');
        lengths.push(t.length);
        for (const s of t.split(/(?<=[.!?])\s+|<br \/><br \/>/)) if (s.trim().length > 3) sentences.push(s.trim());
      }
    }
  }
  const rng = new Rng(1234);
  const rnd = () => rng.next();
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const word = (): string => {
    const len = 4 + Math.floor(rnd() * 6);
    let w = letters[Math.floor(rnd() * 26)]!.toUpperCase();
    for (let i = 1; i < len; i++) w += letters[Math.floor(rnd() * 26)];
    return w;
  };
  let bytes = 0;
  let id = 0;
  const per = Math.ceil(n / 4);
  for (const split of ['train', 'test']) {
    for (const lab of ['neg', 'pos']) {
      const d = join(dir, 'aclImdb', split, lab);
      mkdirSync(d, { recursive: true });
      for (let k = 0; k < per && id < n; k++, id++) {
        const target = lengths[Math.floor(rnd() * lengths.length)]!;
        const parts: string[] = [];
        let len = 0;
        while (len < target) {
          let s = sentences[Math.floor(rnd() * sentences.length)]!;
          if (rnd() < 0.3) s = s.replace(/\b[A-Z][a-z]+\b/, word()); // invented names
          parts.push(s);
          len += s.length + 1;
          if (rnd() < 0.15) {
            parts.push('<br /><br />');
            len += 12;
          }
        }
        const text = parts.join(' ');
        const rating = lab === 'pos' ? 7 + Math.floor(rnd() * 4) : 1 + Math.floor(rnd() * 4);
        writeFileSync(join(d, `${k}_${rating}.txt`), text);
        bytes += Buffer.byteLength(text);
      }
    }
  }
  return { bytes, files: id };
}

interface ModeResult {
  mode: string;
  examples: number;
  textMB: number;
  importS: number;
  tokenizeS: number;
  totalS: number;
  /** CPU seconds (user + system) the run used; robust to other load on the machine */
  cpuS: number;
  tokens: number;
  peakRssMB: number;
  /** RSS after the tokenizer is loaded, before any data */
  baseRssMB: number;
  /** RSS when a fifth of the reviews were processed (stream mode) */
  rssAtFifthMB?: number;
  /** live heap after a full GC at 10k reviews and at the end (stream mode) */
  heapAtFifthMB?: number;
  heapAtEndMB?: number;
  fromCache?: boolean;
}

async function runMode(mode: string, data: string, cacheDir: string): Promise<ModeResult> {
  const { streamDataset, loadDataset, tokenizeDataset, loadTokenizer } = await import('../engine/data/index.ts');
  const tk = await loadTokenizer(tokenizerDir);
  const baseRss = process.memoryUsage().rss;
  let rssAtFifth: number | undefined;
  let heapAtFifth: number | undefined;
  const liveHeap = (): number | undefined => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) return undefined;
    gc();
    return process.memoryUsage().heapUsed;
  };
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 20);
  let examples = 0;
  let chars = 0;
  let tokens = 0;
  let importS = 0;
  let tokenizeS = 0;
  let fromCache: boolean | undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (mode === 'stream') {
    for (const split of ['train', 'test']) {
      const { batches } = await streamDataset(data, { split });
      let tImport = performance.now();
      for await (const batch of batches) {
        const t1 = performance.now();
        importS += (t1 - tImport) / 1000;
        for (const ex of batch) {
          tokens += tk.encode(ex.text).length;
          chars += Buffer.byteLength(ex.text);
        }
        examples += batch.length;
        if (rssAtFifth === undefined && examples >= 10_000) {
          rssAtFifth = process.memoryUsage().rss;
          heapAtFifth = liveHeap();
        }
        tImport = performance.now();
        tokenizeS += (tImport - t1) / 1000;
      }
    }
  } else {
    const t1 = performance.now();
    const train = await loadDataset(data, { split: 'train' });
    const test = await loadDataset(data, { split: 'test' });
    const all = [...train.examples, ...test.examples];
    const t2 = performance.now();
    importS = (t2 - t1) / 1000;
    const tok = await tokenizeDataset(all, tk, mode === 'workers' ? { cacheDir: null, workers: 2 } : { cacheDir });
    tokenizeS = (performance.now() - t2) / 1000;
    fromCache = tok.fromCache;
    examples = all.length;
    tokens = tok.totalTokens;
    for (const e of all) chars += Buffer.byteLength(e.text);
  }
  const totalS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  const heapAtEnd = mode === 'stream' ? liveHeap() : undefined;
  sample();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  return {
    mode,
    examples,
    textMB: chars / 1e6,
    importS,
    tokenizeS,
    totalS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    tokens,
    peakRssMB: Math.max(peak, maxRss) / 1e6,
    baseRssMB: baseRss / 1e6,
    ...(rssAtFifth === undefined ? {} : { rssAtFifthMB: rssAtFifth / 1e6 }),
    ...(heapAtFifth === undefined ? {} : { heapAtFifthMB: heapAtFifth / 1e6 }),
    ...(heapAtEnd === undefined ? {} : { heapAtEndMB: heapAtEnd / 1e6 }),
    ...(fromCache === undefined ? {} : { fromCache }),
  };
}

function writeSection(markdown: string): void {
  const file = join(root, 'docs', 'BENCHMARKS.md');
  mkdirSync(dirname(file), { recursive: true });
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = old.search(/^## Datasets\s*$/m);
  let next: string;
  if (start < 0) next = old.replace(/\s*$/, '\n\n') + markdown;
  else {
    const rest = old.slice(start + 1);
    const end = rest.search(/^## /m);
    next = old.slice(0, start) + markdown + (end < 0 ? '' : '\n' + rest.slice(end));
  }
  writeFileSync(file, next.replace(/\s*$/, '\n'));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      reviews: { type: 'string', default: '50000' },
      keep: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      mode: { type: 'string' },
      data: { type: 'string' },
      'cache-dir': { type: 'string' },
    },
  });
  if (values.mode) {
    const r = await runMode(values.mode, values.data!, values['cache-dir']!);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (!existsSync(sampleDir) || !existsSync(tokenizerDir)) {
    console.error(`bench/data: needs ${sampleDir} and ${tokenizerDir} (see ../shared/data/README.md)`);
    process.exitCode = 1;
    return;
  }
  const n = Number(values.reviews);
  const work = values.keep ?? mkdtempSync(join(tmpdir(), 'lora-studio-bench-data-'));
  const data = join(work, 'aclImdb');
  const cacheDir = join(work, 'cache');
  try {
    let t = performance.now();
    const syn = existsSync(data) ? null : synthesize(work, n);
    if (syn) console.log(`synthesized ${syn.files} reviews, ${(syn.bytes / 1e6).toFixed(1)} MB, in ${((performance.now() - t) / 1000).toFixed(1)} s -> ${data}`);
    rmSync(cacheDir, { recursive: true, force: true });
    const results: ModeResult[] = [];
    const loadBefore = loadavg()[0]!;
    for (const mode of ['stream', 'load', 'cached', 'workers']) {
      t = performance.now();
      const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--mode', mode === 'cached' ? 'load' : mode, '--data', data, '--cache-dir', cacheDir], {
        cwd: root,
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (child.status !== 0) throw new Error(`mode ${mode} failed: ${child.stderr}`);
      const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as ModeResult;
      r.mode = mode;
      results.push(r);
      console.log(
        `${mode.padEnd(7)} ${r.examples} reviews, ${r.textMB.toFixed(1)} MB: import ${r.importS.toFixed(2)} s, tokenize ${r.tokenizeS.toFixed(2)} s, ` +
          `total ${r.totalS.toFixed(2)} s = ${(r.textMB / r.totalS).toFixed(2)} MB/s (CPU ${r.cpuS.toFixed(2)} s = ${(r.textMB / r.cpuS).toFixed(2)} MB per CPU-second); ${r.tokens} tokens; ` +
          `RSS ${r.baseRssMB.toFixed(0)} MB after loading the tokenizer${r.rssAtFifthMB ? `, ${r.rssAtFifthMB.toFixed(0)} MB at 10k reviews` : ''}, peak ${r.peakRssMB.toFixed(0)} MB`,
      );
    }
    const cpu = cpus();
    const md = [
      '## Datasets',
      '',
      `Import + GPT-2 tokenization of a synthesized aclImdb-shaped folder (${n.toLocaleString('en-US')} reviews, ` +
        `train/test × pos/neg, built from the sentences of \`../shared/data/aclImdb-sample\` with invented names mixed in). ` +
        `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ` +
        `1-minute load average ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after (other work shares these cores, so times vary run to run). ` +
        `Measured ${new Date().toISOString().slice(0, 10)}. Reproduce: \`node --import tsx bench/data.ts\` (options: \`--reviews N\`, \`--keep DIR\`, \`--no-write\`).`,
      '',
      '| mode | reviews | text MB | import s | tokenize s | total s | MB/s (wall) | CPU s | MB per CPU-s | tokens | RSS after tokenizer load MB | peak RSS MB |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.mode} | ${r.examples} | ${r.textMB.toFixed(1)} | ${r.importS.toFixed(2)} | ${r.tokenizeS.toFixed(2)} | ${r.totalS.toFixed(2)} | ` +
          `${(r.textMB / r.totalS).toFixed(2)} | ${r.cpuS.toFixed(2)} | ${(r.textMB / r.cpuS).toFixed(2)} | ${r.tokens.toLocaleString('en-US')} | ${r.baseRssMB.toFixed(0)} | ${r.peakRssMB.toFixed(0)} |`,
      ),
      '',
      `- \`stream\`: \`streamDataset\` + \`encode\` batch by batch, keeping only counts. Memory is bounded: the live heap ` +
        `after a full GC is ${results[0]!.heapAtFifthMB?.toFixed(0) ?? '?'} MB after 10,000 reviews and ${results[0]!.heapAtEndMB?.toFixed(0) ?? '?'} MB after all ` +
        `${results[0]!.examples.toLocaleString('en-US')} (the tokenizer's word cache is capped); the higher peak RSS is V8's lazy collection.`,
      '- `load`: `loadDataset` (all examples in memory) + `tokenizeDataset` (writes the tokenized cache).',
      '- `cached`: the same run again; the tokenized cache (keyed by content hash + tokenizer + settings) is reused.',
      '- `workers`: like `load` (no cache) with `tokenizeDataset(…, { workers: 2 })`. On 2 shared cores it does not pay: each worker reloads the tokenizer, ' +
        'warms its own word cache and gets a copy of the texts, so it costs more CPU and memory than it saves; it is off by default (for machines with more cores).',
      '- `stream`, `load` and `cached` run on one thread; "MB per CPU-s" is the throughput independent of other load on the machine.',
      '- Target from the datasets issue: ≥ 5 MB/s of text on 2 cores with bounded memory.',
      '',
    ].join('\n');
    if (!values['no-write']) {
      writeSection(md);
      console.log('wrote the Datasets section of docs/BENCHMARKS.md');
    }
  } finally {
    if (!values.keep) rmSync(work, { recursive: true, force: true });
  }
}

await main();
