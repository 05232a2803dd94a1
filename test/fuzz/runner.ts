// Child process of the fuzz harness: runs the corpus cases from index START on, one after another,
// and prints one JSON line when a case starts and one when it ends. A case that blocks this
// process (a synchronous read of a FIFO) is killed by the harness, which restarts us after it.
//
//   node --import tsx test/fuzz/runner.ts CASES.json START

import { readFileSync } from 'node:fs';
import type { FuzzCase } from './corpus.ts';

interface Input {
  cases: FuzzCase[];
  tokenizerDir: string;
  /** A real GPT-2 tokenizer folder for the encode timings, when there is one. */
  encodeTokenizerDir: string;
}

export interface CaseResult {
  id: string;
  ok: boolean;
  ms: number;
  /** Error class name and message when !ok. */
  name?: string;
  message?: string;
  /** Rows in the skip report the caller received (undefined: no report reached the caller). */
  skipped?: number;
  info?: string;
}

const input = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Input;
const start = Number(process.argv[3] ?? 0);

const data = await import('../../engine/data/index.ts');
const pipeline = await import('../../engine/data/pipeline.ts');
const tokenizer = await import('../../engine/data/tokenizer.ts');
const safetensors = (await import('../../engine/store/safetensors.ts')) as Record<string, unknown> & typeof import('../../engine/store/safetensors.ts');
const adapter = await import('../../engine/store/adapter.ts');
await import('../../engine/models/registry.ts').catch(() => null); // the families' import order (older trees have no registry)
const gpt2 = await import('../../engine/models/gpt2.ts');

type Skip = { count: number } | undefined;

async function run(c: FuzzCase): Promise<{ skipped?: number; info?: string }> {
  const opts = c.opts ?? {};
  switch (c.op) {
    case 'dataset': {
      const ds = await data.loadDataset(c.path, opts);
      return { skipped: ds.skipped.count, info: `${ds.examples.length} examples` };
    }
    case 'causal': {
      let report: Skip;
      const blocks = await pipeline.loadBlocks(c.path, 16, input.tokenizerDir, { ...opts, cacheDir: undefined, onSkip: (s: { count: number }) => (report = s) } as never);
      return { skipped: report?.count, info: `${blocks.length} blocks` };
    }
    case 'labelled': {
      let report: Skip;
      const d = await pipeline.loadLabelled(c.path, { ...opts, onSkip: (s: { count: number }) => (report = s) } as never);
      const own = (d as { skipped?: { count: number } }).skipped;
      return { skipped: report?.count ?? own?.count, info: `${d.texts.length} examples` };
    }
    case 'tokenizer': {
      const tk = await tokenizer.loadTokenizer(c.path);
      return { info: `encodes to ${tk.encode('Hello world').length} ids` };
    }
    case 'encode': {
      const tk = await tokenizer.loadTokenizerCached(input.encodeTokenizerDir);
      const text = readFileSync(c.path, 'utf8');
      const t0 = performance.now();
      const ids = tk.encode(text);
      return { info: `${ids.length} ids in ${Math.round(performance.now() - t0)} ms` };
    }
    case 'safetensors': {
      const check = safetensors.checkSafetensorsHeader as ((f: string) => unknown) | undefined;
      check?.(c.path);
      const st = safetensors.openSafetensors(c.path);
      const assertFinite = safetensors.assertFinite as ((f: string, n: string, d: Float32Array) => void) | undefined;
      try {
        for (const name of st.tensors.keys()) {
          const d = st.readFloat32(name);
          assertFinite?.(c.path, name, d);
        }
      } finally {
        st.close();
      }
      return { info: `${st.tensors.size} tensors` };
    }
    case 'adapter': {
      const a = adapter.loadAdapter(c.path);
      return { info: `${a.tensors.size} tensors` };
    }
    case 'model': {
      const m = gpt2.loadGPT2(c.path);
      return { info: `${m.weights.size} weights` };
    }
  }
}

for (let i = start; i < input.cases.length; i++) {
  const c = input.cases[i]!;
  process.stdout.write(JSON.stringify({ start: c.id, index: i }) + '\n');
  const t0 = performance.now();
  let res: CaseResult;
  try {
    const r = await run(c);
    res = { id: c.id, ok: true, ms: performance.now() - t0, ...r };
  } catch (e) {
    const err = e as Error;
    res = { id: c.id, ok: false, ms: performance.now() - t0, name: err?.name ?? typeof e, message: err?.message ?? String(e) };
  }
  process.stdout.write(JSON.stringify({ done: res }) + '\n');
}
process.exit(0);
