// The malformed-input corpus: files for every parser the studio reads (datasets in every format,
// tokenizer files, model config.json, safetensors, adapters), written into a folder, each with the
// operation that reads it and the verdict it must get. Nothing random: every file is built from
// fixed bytes, so a run is reproducible and a failure names the case.
//
// Verdicts:
//   refuse  a one-line error (DataError / FormatError) that names the file
//   skips   accepted, with the bad rows in the skip report (never dropped silently)
//   accept  accepted (the corpus also holds valid inputs that used to be refused)

import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { BYTE_TO_UNICODE } from '../../engine/data/bytelevel-bpe.ts';
import { writeParquet } from '../data/parquet-writer.ts';

export type FuzzOp =
  /** loadDataset(path, opts): what `data inspect` and the app's preview read */
  | 'dataset'
  /** loadBlocks(path, 16, tokenizer folder, opts): causal-LM training data */
  | 'causal'
  /** loadLabelled(path, opts): classification training and `classify` */
  | 'labelled'
  /** loadTokenizer(folder) and one encode */
  | 'tokenizer'
  /** loadTokenizer(corpus tokenizer) then encode(the file's text): time-bounded */
  | 'encode'
  /** openSafetensors(path) (+ checkSafetensorsHeader when there is one) and every tensor read */
  | 'safetensors'
  /** loadAdapter(folder) */
  | 'adapter'
  /** loadGPT2(folder): config.json and weights */
  | 'model';

export type Verdict = 'refuse' | 'skips' | 'accept';

export interface FuzzCase {
  id: string;
  /** The parser under test, for the report (CSV, JSONL, safetensors, …). */
  parser: string;
  op: FuzzOp;
  path: string;
  opts?: Record<string, unknown>;
  verdict: Verdict;
  /** What the message must name (default: the path, or the file inside a folder case). */
  names?: string;
}

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Fixed pseudo-random bytes (an LCG), for "binary" files. */
function junk(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A byte-level BPE tokenizer.json: the 256 byte symbols, a few merges, <|endoftext|>. */
export function toyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_UNICODE.forEach((s, b) => (vocab[s] = b));
  const merges: string[] = [];
  const add = (a: string, b: string): void => {
    merges.push(`${a} ${b}`);
    if (vocab[a + b] === undefined) vocab[a + b] = Object.keys(vocab).length;
  };
  const G = BYTE_TO_UNICODE[32]!; // 'Ġ'
  add('!', '!');
  add('!!', '!!');
  add('(', '(');
  add('((', '((');
  add('[', '{');
  add('h', 'e');
  add('l', 'l');
  add('he', 'll');
  add(G, 'w');
  add('o', 'r');
  vocab['<|endoftext|>'] = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** F32 tensors as a safetensors file, written by hand (the store's writer refuses NaN). */
function safetensorsBytes(tensors: { name: string; shape: number[]; data: Float32Array }[]): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  return rawSafetensors(header, Buffer.concat(tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))));
}

/** A safetensors file with a hand-written header (no validation on the way out). */
function rawSafetensors(header: unknown, data: Buffer = Buffer.alloc(0), declaredLength?: number): Buffer {
  const json = enc(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(declaredLength ?? json.length));
  return Buffer.concat([len, json, data]);
}

const ADAPTER_CONFIG = {
  peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 2, lora_alpha: 4, lora_dropout: 0, target_modules: ['c_attn'],
  bias: 'none', fan_in_fan_out: true, base_model_name_or_path: null, inference_mode: true, use_rslora: false,
};

function adapterTensors(fill: (i: number) => number): Buffer {
  const A = new Float32Array(2 * 4).map((_, i) => fill(i));
  const B = new Float32Array(12 * 2).map((_, i) => fill(i + 100));
  return safetensorsBytes([
    { name: 'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', shape: [2, 4], data: A },
    { name: 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight', shape: [12, 2], data: B },
  ]);
}

const GPT2_CONFIG = {
  model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: 300, n_positions: 16, n_embd: 4, n_layer: 1, n_head: 1,
  n_inner: null, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: 0, eos_token_id: 0, tie_word_embeddings: true,
};

/** Writes the corpus under `root` and returns its cases. Special files (FIFO, socket) where the OS allows them. */
export async function buildCorpus(root: string): Promise<{ cases: FuzzCase[]; tokenizerDir: string; cleanup: () => void }> {
  mkdirSync(root, { recursive: true });
  const cases: FuzzCase[] = [];
  const file = (rel: string, bytes: Buffer | string): string => {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, bytes);
    return p;
  };
  const dir = (rel: string): string => {
    const p = join(root, rel);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const add = (c: FuzzCase): void => void cases.push(c);

  const tokenizerDir = dir('tok');
  file('tok/tokenizer.json', JSON.stringify(toyTokenizerJson()));

  // ---------- special files (every reader) ----------
  const fifo = join(root, 'special', 'pipe.txt');
  mkdirSync(join(root, 'special'), { recursive: true });
  let haveFifo = false;
  if (process.platform !== 'win32') {
    try {
      execFileSync('mkfifo', [fifo]);
      haveFifo = true;
    } catch {
      /* no mkfifo here */
    }
  }
  const sockPath = join(root, 'special', 'sock.csv');
  let server: net.Server | null = null;
  if (process.platform !== 'win32') {
    server = net.createServer();
    await new Promise<void>((res) => server!.listen(sockPath, () => res()));
    server.unref();
  }
  if (haveFifo) {
    for (const op of ['dataset', 'causal', 'labelled'] as const) add({ id: `fifo-${op}`, parser: 'special file', op, path: fifo, verdict: 'refuse' });
    const fifoDir = dir('special/fifo-tok');
    execFileSync('mkfifo', [join(fifoDir, 'tokenizer.json')]);
    add({ id: 'fifo-tokenizer.json', parser: 'special file', op: 'tokenizer', path: fifoDir, verdict: 'refuse', names: join(fifoDir, 'tokenizer.json') });
    const fifoSt = join(root, 'special', 'pipe.safetensors');
    execFileSync('mkfifo', [fifoSt]);
    add({ id: 'fifo-safetensors', parser: 'special file', op: 'safetensors', path: fifoSt, verdict: 'refuse' });
    const fifoAd = dir('special/fifo-adapter');
    file('special/fifo-adapter/adapter_config.json', JSON.stringify(ADAPTER_CONFIG));
    execFileSync('mkfifo', [join(fifoAd, 'adapter_model.safetensors')]);
    add({ id: 'fifo-adapter-weights', parser: 'special file', op: 'adapter', path: fifoAd, verdict: 'refuse', names: join(fifoAd, 'adapter_model.safetensors') });
    const fifoCfg = dir('special/fifo-adapter-config');
    execFileSync('mkfifo', [join(fifoCfg, 'adapter_config.json')]);
    add({ id: 'fifo-adapter-config', parser: 'special file', op: 'adapter', path: fifoCfg, verdict: 'refuse', names: join(fifoCfg, 'adapter_config.json') });
    // a FIFO inside an aclImdb folder, named like a review
    const imdb = dir('special/imdb-fifo/aclImdb/train/pos');
    dir('special/imdb-fifo/aclImdb/train/neg');
    file('special/imdb-fifo/aclImdb/train/pos/0_9.txt', 'A fine film.');
    file('special/imdb-fifo/aclImdb/train/neg/0_2.txt', 'A dull film.');
    execFileSync('mkfifo', [join(imdb, '1_10.txt')]);
    add({ id: 'fifo-in-aclimdb', parser: 'aclImdb', op: 'dataset', path: join(root, 'special/imdb-fifo/aclImdb'), verdict: 'skips' });
    add({ id: 'fifo-in-aclimdb-labelled', parser: 'aclImdb', op: 'labelled', path: join(root, 'special/imdb-fifo/aclImdb'), verdict: 'skips' });
    const mdDir = dir('special/md-fifo');
    file('special/md-fifo/a.md', '# Toast\n\n## Ingredients\n- bread\n\n## Directions\n1. Toast it.\n');
    execFileSync('mkfifo', [join(mdDir, 'b.md')]);
    add({ id: 'fifo-in-md-folder', parser: 'Markdown', op: 'dataset', path: mdDir, verdict: 'skips' });
  }
  if (server) {
    add({ id: 'socket-dataset', parser: 'special file', op: 'dataset', path: sockPath, verdict: 'refuse' });
    add({ id: 'socket-causal', parser: 'special file', op: 'causal', path: sockPath, verdict: 'refuse' });
  }
  if (process.platform === 'linux') {
    add({ id: 'dev-zero-dataset', parser: 'special file', op: 'dataset', path: '/dev/zero', verdict: 'refuse' });
    add({ id: 'dev-zero-causal', parser: 'special file', op: 'causal', path: '/dev/zero', verdict: 'refuse' });
    add({ id: 'dev-null-causal', parser: 'special file', op: 'causal', path: '/dev/null', verdict: 'refuse' });
  }
  add({ id: 'dir-as-txt', parser: 'TXT', op: 'dataset', path: dir('folder.txt'), opts: { format: 'txt' }, verdict: 'refuse' });
  add({ id: 'dir-causal', parser: 'TXT', op: 'causal', path: dir('plainfolder'), verdict: 'refuse' });

  // ---------- CSV / TSV ----------
  add({ id: 'csv-empty', parser: 'CSV', op: 'dataset', path: file('csv/empty.csv', ''), verdict: 'refuse' });
  add({ id: 'csv-header-only', parser: 'CSV', op: 'dataset', path: file('csv/header.csv', 'text,label\n'), verdict: 'refuse' });
  add({ id: 'csv-bom-header-only', parser: 'CSV', op: 'labelled', path: file('csv/bom-header.csv', '\ufefftext,label\r\n'), verdict: 'refuse' });
  add({ id: 'csv-ragged', parser: 'CSV', op: 'labelled', path: file('csv/ragged.csv', 'text,label\ngood one,pos\nbad,one,neg,extra\nawful,neg\n'), verdict: 'skips' });
  add({ id: 'csv-unclosed-quote', parser: 'CSV', op: 'dataset', path: file('csv/quote.csv', 'text,label\n"fine",pos\n"never closed,neg\nmore,pos\n'), verdict: 'skips' });
  add({ id: 'csv-binary', parser: 'CSV', op: 'dataset', path: file('csv/binary.csv', junk(4096)), verdict: 'refuse' });
  add({ id: 'csv-nul-bytes', parser: 'CSV', op: 'dataset', path: file('csv/nul.csv', Buffer.concat([enc('text,label\nok,pos\n'), Buffer.alloc(64), enc(',neg\n')])), verdict: 'refuse' });
  add({ id: 'csv-latin1', parser: 'CSV', op: 'labelled', path: file('csv/latin1.csv', latin1('text,label\ncaf\u00e9 tr\u00e8s bon,pos\nd\u00e9go\u00fbtant,neg\nna\u00efve,neg\n')), verdict: 'refuse' });
  add({ id: 'csv-no-text-column', parser: 'CSV', op: 'dataset', path: file('csv/cols.csv', 'review,sentiment\nnice,pos\nbad,neg\n'), opts: { textColumn: 'nonexistent' }, verdict: 'refuse' });
  add({ id: 'csv-causal-no-text-column', parser: 'CSV', op: 'causal', path: join(root, 'csv/cols.csv'), opts: { textColumn: 'nonexistent' }, verdict: 'refuse' });
  add({ id: 'csv-labelled-no-label-column', parser: 'CSV', op: 'labelled', path: join(root, 'csv/cols.csv'), opts: { labelColumn: 'stars' }, verdict: 'refuse' });
  add({ id: 'csv-labelled-unlabelled', parser: 'CSV', op: 'labelled', path: file('csv/one-col.csv', 'text\nhello there\ngeneral kenobi\n'), verdict: 'refuse' });
  add({ id: 'csv-empty-labels', parser: 'CSV', op: 'labelled', path: file('csv/empty-label.csv', 'text,label\nfine,pos\nno label,\nbad,neg\n'), verdict: 'skips' });
  add({ id: 'csv-huge-field', parser: 'CSV', op: 'dataset', path: file('csv/huge.csv', 'text,label\n"' + 'x'.repeat(2_000_000) + '",pos\nshort,neg\n'), verdict: 'accept' });
  add({ id: 'tsv-bad-label-index', parser: 'TSV', op: 'labelled', path: file('csv/data.tsv', 'great\t1\nawful\t0\n'), opts: { labelColumn: '9' }, verdict: 'refuse' });
  add({ id: 'tsv-ragged', parser: 'TSV', op: 'labelled', path: file('csv/ragged.tsv', 'great\t1\nawful\t0\nno tab here\nok\t1\textra\n'), verdict: 'skips' });
  add({ id: 'tsv-binary', parser: 'TSV', op: 'dataset', path: file('csv/binary.tsv', junk(2048, 3)), verdict: 'refuse' });

  // ---------- JSONL / JSON ----------
  add({ id: 'jsonl-all-bad', parser: 'JSONL', op: 'dataset', path: file('json/bad.jsonl', '{oops\n{"text": }\nnot json\n'), verdict: 'refuse' });
  add({ id: 'jsonl-one-bad-line', parser: 'JSONL', op: 'dataset', path: file('json/one-bad.jsonl', '{"text": "first"}\n{"text": broken}\n{"text": "third"}\n'), verdict: 'skips' });
  add({ id: 'jsonl-one-bad-line-causal', parser: 'JSONL', op: 'causal', path: join(root, 'json/one-bad.jsonl'), verdict: 'skips' });
  add({ id: 'jsonl-causal-no-text-column', parser: 'JSONL', op: 'causal', path: join(root, 'json/one-bad.jsonl'), opts: { textColumn: 'nonexistent' }, verdict: 'refuse' });
  add({ id: 'jsonl-labelled-bad-line', parser: 'JSONL', op: 'labelled', path: file('json/lab.jsonl', '{"text": "a", "label": "pos"}\n{"text": "b", "label": \n{"text": "c", "label": "neg"}\n'), verdict: 'skips' });
  add({ id: 'jsonl-non-objects', parser: 'JSONL', op: 'dataset', path: file('json/scalars.jsonl', '1\n"two"\nnull\n[3]\n'), verdict: 'refuse' });
  add({ id: 'jsonl-deep-nesting', parser: 'JSONL', op: 'dataset', path: file('json/deep.jsonl', '['.repeat(200_000) + '\n'), verdict: 'refuse' });
  add({ id: 'jsonl-deep-object', parser: 'JSONL', op: 'dataset', path: file('json/deep-obj.jsonl', '{"a":'.repeat(100_000) + '1' + '}'.repeat(99_999) + '\n'), verdict: 'refuse' });
  add({ id: 'jsonl-binary', parser: 'JSONL', op: 'dataset', path: file('json/binary.jsonl', junk(4096, 11)), verdict: 'refuse' });
  add({ id: 'jsonl-latin1', parser: 'JSONL', op: 'causal', path: file('json/latin1.jsonl', latin1('{"text": "caf\u00e9"}\n{"text": "cr\u00e8me br\u00fbl\u00e9e"}\n')), verdict: 'refuse' });
  add({ id: 'jsonl-newlines-only', parser: 'JSONL', op: 'causal', path: file('json/blank.jsonl', '\n\n\n'), verdict: 'refuse' });
  add({ id: 'json-unclosed-array', parser: 'JSON', op: 'dataset', path: file('json/open.json', '[{"text": "a"},\n{"text": "b"}'), verdict: 'refuse' });
  add({ id: 'json-bracket-only', parser: 'JSON', op: 'dataset', path: file('json/bracket.json', '['), verdict: 'refuse' });
  add({ id: 'json-trailing-garbage', parser: 'JSON', op: 'dataset', path: file('json/trailing.json', '[{"text": "a"}] tail'), verdict: 'refuse' });
  add({ id: 'json-object-no-records', parser: 'JSON', op: 'dataset', path: file('json/obj.json', '{\n  "count": 3,\n  "items": 7\n}\n'), verdict: 'refuse' });
  add({ id: 'json-pretty-broken', parser: 'JSON', op: 'dataset', path: file('json/pretty.json', '{\n  "data": [\n    {"text": "a"},\n'), verdict: 'refuse' });

  // ---------- parquet ----------
  const good = writeParquet([{ name: 'text', type: 'string', values: ['one', 'two', 'three'] }, { name: 'label', type: 'int64', values: [0, 1, 0] }]);
  add({ id: 'parquet-empty', parser: 'parquet', op: 'dataset', path: file('pq/empty.parquet', ''), verdict: 'refuse' });
  add({ id: 'parquet-magic-only', parser: 'parquet', op: 'dataset', path: file('pq/magic.parquet', 'PAR1'), verdict: 'refuse' });
  add({ id: 'parquet-garbage-footer', parser: 'parquet', op: 'dataset', path: file('pq/footer.parquet', Buffer.concat([enc('PAR1'), junk(64, 5), Buffer.from([16, 0, 0, 0]), enc('PAR1')])), verdict: 'refuse' });
  const zeros = Buffer.concat([enc('PAR1'), Buffer.alloc(64), Buffer.from([40, 0, 0, 0]), enc('PAR1')]);
  add({ id: 'parquet-zero-footer', parser: 'parquet', op: 'dataset', path: file('pq/zeros.parquet', zeros), verdict: 'refuse' });
  const hugeLen = Buffer.concat([enc('PAR1'), junk(32, 9), Buffer.from([0xff, 0xff, 0xff, 0x7f]), enc('PAR1')]);
  add({ id: 'parquet-footer-length-huge', parser: 'parquet', op: 'dataset', path: file('pq/hugelen.parquet', hugeLen), verdict: 'refuse' });
  add({ id: 'parquet-truncated', parser: 'parquet', op: 'dataset', path: file('pq/trunc.parquet', good.subarray(0, Math.floor(good.length / 2))), verdict: 'refuse' });
  const corruptData = Buffer.from(good);
  for (let i = 8; i < 40; i++) corruptData[i] = 0xff;
  add({ id: 'parquet-corrupt-pages', parser: 'parquet', op: 'dataset', path: file('pq/pages.parquet', corruptData), verdict: 'refuse' });
  add({ id: 'parquet-no-text-column', parser: 'parquet', op: 'causal', path: file('pq/good.parquet', good), opts: { textColumn: 'nonexistent' }, verdict: 'refuse' });
  add({ id: 'parquet-not-parquet-ext', parser: 'parquet', op: 'dataset', path: file('pq/fake.parquet', 'text,label\na,b\n'), verdict: 'refuse' });

  // ---------- aclImdb folders ----------
  const imdb = (name: string, files: Record<string, string | Buffer>): string => {
    const base = dir(`imdb/${name}/aclImdb`);
    dir(`imdb/${name}/aclImdb/train/pos`);
    dir(`imdb/${name}/aclImdb/train/neg`);
    for (const [rel, body] of Object.entries(files)) file(`imdb/${name}/aclImdb/${rel}`, body);
    return base;
  };
  add({ id: 'aclimdb-empty', parser: 'aclImdb', op: 'dataset', path: imdb('empty', {}), verdict: 'refuse' });
  add({ id: 'aclimdb-bad-names', parser: 'aclImdb', op: 'dataset', path: imdb('names', { 'train/pos/review.txt': 'x', 'train/neg/a_b.txt': 'y' }), verdict: 'refuse' });
  add({ id: 'aclimdb-binary', parser: 'aclImdb', op: 'dataset', path: imdb('binary', { 'train/pos/0_9.txt': junk(300, 1), 'train/neg/0_1.txt': junk(300, 2) }), verdict: 'refuse' });
  add({ id: 'aclimdb-some-bad', parser: 'aclImdb', op: 'labelled', path: imdb('some', { 'train/pos/0_9.txt': 'Great.', 'train/pos/1_8.txt': latin1('Tr\u00e8s bien.'), 'train/neg/0_1.txt': 'Bad.', 'train/neg/1_2.txt': '  <br /> ' }), verdict: 'skips' });
  const withLink = imdb('symlink', { 'train/pos/0_9.txt': 'Great.', 'train/neg/0_1.txt': 'Bad.' });
  try {
    symlinkSync('/etc/passwd', join(withLink, 'train/pos/1_10.txt'));
    symlinkSync(join(withLink, 'train/pos/0_9.txt'), join(withLink, 'train/neg/2_3.txt')); // inside: fine
    add({ id: 'aclimdb-symlink-outside', parser: 'aclImdb', op: 'labelled', path: withLink, verdict: 'skips' });
    add({ id: 'aclimdb-symlink-outside-causal', parser: 'aclImdb', op: 'causal', path: withLink, verdict: 'skips' });
    const linkedDir = imdb('dirlink', { 'train/neg/0_1.txt': 'Bad.' });
    const outside = dir('imdb-outside/pos');
    file('imdb-outside/pos/0_9.txt', 'Outside the dataset.');
    execFileSync('rm', ['-r', join(linkedDir, 'train/pos')]);
    symlinkSync(outside, join(linkedDir, 'train/pos'));
    add({ id: 'aclimdb-dir-symlink-outside', parser: 'aclImdb', op: 'labelled', path: linkedDir, verdict: 'skips' });
  } catch {
    /* no symlinks here */
  }
  const dirAsReview = imdb('dir-review', { 'train/pos/0_9.txt': 'Great.', 'train/neg/0_1.txt': 'Bad.' });
  dir('imdb/dir-review/aclImdb/train/pos/5_7.txt');
  add({ id: 'aclimdb-dir-as-review', parser: 'aclImdb', op: 'dataset', path: dirAsReview, verdict: 'skips' });
  add({ id: 'aclimdb-causal', parser: 'aclImdb', op: 'causal', path: imdb('ok', { 'train/pos/0_9.txt': 'A great film, truly.', 'train/neg/0_1.txt': 'A bad film, sadly.' }), verdict: 'accept' });
  add({ id: 'aclimdb-wrong-split', parser: 'aclImdb', op: 'labelled', path: join(root, 'imdb/ok/aclImdb'), opts: { split: 'dev' }, verdict: 'refuse' });
  add({ id: 'aclimdb-text-column', parser: 'aclImdb', op: 'labelled', path: join(root, 'imdb/ok/aclImdb'), opts: { textColumn: 'review' }, verdict: 'refuse' });

  // ---------- Markdown ----------
  add({ id: 'md-binary', parser: 'Markdown', op: 'dataset', path: file('md/binary.md', junk(2000, 13)), verdict: 'refuse' });
  add({ id: 'md-latin1', parser: 'Markdown', op: 'causal', path: file('md/latin1.md', latin1('# Cr\u00eape\n\n## Ingredients\n- farine\n\n## Directions\n1. M\u00e9langer.\n')), verdict: 'refuse' });
  add({ id: 'md-blank', parser: 'Markdown', op: 'dataset', path: file('md/blank.md', '\n\n  \n'), verdict: 'refuse' });
  add({ id: 'md-empty-folder', parser: 'Markdown', op: 'dataset', path: dir('md/none'), opts: { format: 'md' }, verdict: 'refuse' });

  // ---------- TXT ----------
  add({ id: 'txt-newlines-only', parser: 'TXT', op: 'causal', path: file('txt/newlines.txt', '\n\n\n\n'), verdict: 'refuse' });
  add({ id: 'txt-newlines-only-inspect', parser: 'TXT', op: 'dataset', path: join(root, 'txt/newlines.txt'), verdict: 'refuse' });
  add({ id: 'txt-spaces-only', parser: 'TXT', op: 'causal', path: file('txt/spaces.txt', ' \t \r\n  \n'), verdict: 'refuse' });
  const latinText = latin1('Il \u00e9tait une fois.\nUne for\u00eat tr\u00e8s sombre.\nLe ch\u00e2teau.\n');
  add({ id: 'txt-latin1-causal', parser: 'TXT', op: 'causal', path: file('txt/latin1.txt', latinText), verdict: 'refuse' });
  add({ id: 'txt-latin1-inspect', parser: 'TXT', op: 'dataset', path: join(root, 'txt/latin1.txt'), verdict: 'refuse' });
  add({ id: 'txt-binary-causal', parser: 'TXT', op: 'causal', path: file('txt/binary.txt', junk(8192, 17)), verdict: 'refuse' });
  add({ id: 'txt-binary-inspect', parser: 'TXT', op: 'dataset', path: join(root, 'txt/binary.txt'), verdict: 'refuse' });
  add({ id: 'txt-binary-noext-causal', parser: 'TXT', op: 'causal', path: file('txt/blob', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(120)])), verdict: 'refuse' });
  add({ id: 'txt-utf16', parser: 'TXT', op: 'causal', path: file('txt/utf16.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Hello world\n', 'utf16le')])), verdict: 'refuse' });
  add({ id: 'txt-one-bad-line-causal', parser: 'TXT', op: 'causal', path: file('txt/one-bad.txt', Buffer.concat([enc('line one is fine\nline two is fine\n'), Buffer.from([0xff, 0x41, 10]), enc('line four is fine\nline five is fine\n')])), verdict: 'skips' });
  add({ id: 'txt-one-bad-line-inspect', parser: 'TXT', op: 'dataset', path: join(root, 'txt/one-bad.txt'), verdict: 'skips' });
  add({ id: 'txt-text-column', parser: 'TXT', op: 'causal', path: file('txt/plain.txt', 'hello world\n'), opts: { textColumn: 'nonexistent' }, verdict: 'refuse' });
  add({ id: 'txt-bang-run', parser: 'TXT', op: 'causal', path: file('txt/bang.txt', '!'.repeat(100_000)), verdict: 'accept' });
  add({ id: 'txt-brackets', parser: 'TXT', op: 'causal', path: file('txt/brackets.txt', '[{'.repeat(100_000) + '((((' + '}]'.repeat(100_000)), verdict: 'accept' });
  add({ id: 'txt-missing', parser: 'TXT', op: 'causal', path: join(root, 'txt/does-not-exist.txt'), verdict: 'refuse' });

  // ---------- tokenizer files ----------
  const tokCase = (id: string, files: Record<string, string | Buffer>, verdict: Verdict = 'refuse', names?: string): void => {
    const d = dir(`tokfiles/${id}`);
    for (const [f, body] of Object.entries(files)) file(`tokfiles/${id}/${f}`, body);
    add({ id, parser: 'tokenizer', op: 'tokenizer', path: d, verdict, names: names ? join(d, names) : undefined });
  };
  const tj = toyTokenizerJson();
  tokCase('tokenizer.json-invalid', { 'tokenizer.json': '{"model": {' }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-empty', { 'tokenizer.json': '' }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-array', { 'tokenizer.json': '[1, 2]' }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-vocab-number', { 'tokenizer.json': JSON.stringify({ ...tj, model: { ...(tj.model as object), vocab: 15 } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-merges-number', { 'tokenizer.json': JSON.stringify({ ...tj, model: { ...(tj.model as object), merges: 15 } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-merges-ints', { 'tokenizer.json': JSON.stringify({ ...tj, model: { ...(tj.model as object), merges: [[1, 2]] } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-added-number', { 'tokenizer.json': JSON.stringify({ ...tj, added_tokens: 15 }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-added-bad-id', { 'tokenizer.json': JSON.stringify({ ...tj, added_tokens: [{ id: 'x', content: '<s>' }] }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-vocab-ids-bad', { 'tokenizer.json': JSON.stringify({ ...tj, model: { ...(tj.model as object), vocab: { a: -1, b: 'two' } } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-unknown-model', { 'tokenizer.json': JSON.stringify({ ...tj, model: { type: 'Magic' } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-pretok-number', { 'tokenizer.json': JSON.stringify({ ...tj, pre_tokenizer: 15 }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-normalizer-unknown', { 'tokenizer.json': JSON.stringify({ ...tj, normalizer: { type: 'Nope' } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-wordpiece-vocab-array', { 'tokenizer.json': JSON.stringify({ ...tj, normalizer: null, model: { type: 'WordPiece', unk_token: '[UNK]', vocab: [1, 2] } }) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-binary', { 'tokenizer.json': junk(1000, 19) }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer.json-deep', { 'tokenizer.json': '{"model":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}' }, 'refuse', 'tokenizer.json');
  tokCase('tokenizer_config-invalid', { 'tokenizer.json': JSON.stringify(tj), 'tokenizer_config.json': '{"eos_token": ' }, 'refuse', 'tokenizer_config.json');
  tokCase('tokenizer_config-array', { 'tokenizer.json': JSON.stringify(tj), 'tokenizer_config.json': '[]' }, 'refuse', 'tokenizer_config.json');
  tokCase('tokenizer_config-added-number', { 'tokenizer.json': JSON.stringify(tj), 'tokenizer_config.json': '{"added_tokens_decoder": 15, "eos_token": 15}' }, 'refuse', 'tokenizer_config.json');
  tokCase('vocab.json-array', { 'vocab.json': '["a", "b"]', 'merges.txt': '#version: 0.2\na b\n' }, 'refuse', 'vocab.json');
  tokCase('vocab.json-negative', { 'vocab.json': '{"a": -3, "b": 1}', 'merges.txt': 'a b\n' }, 'refuse', 'vocab.json');
  tokCase('vocab.json-invalid', { 'vocab.json': '{"a": 1,', 'merges.txt': 'a b\n' }, 'refuse', 'vocab.json');
  tokCase('merges.txt-three-fields', { 'vocab.json': '{"a": 0, "b": 1, "ab": 2}', 'merges.txt': 'a b c\n' }, 'refuse', 'merges.txt');
  tokCase('merges.txt-binary', { 'vocab.json': '{"a": 0, "b": 1}', 'merges.txt': junk(500, 23) }, 'refuse', 'merges.txt');
  tokCase('vocab.json-no-merges', { 'vocab.json': '{"a": 0}' }, 'refuse');
  tokCase('vocab.txt-empty', { 'vocab.txt': '' }, 'refuse', 'vocab.txt');
  tokCase('vocab.txt-binary', { 'vocab.txt': junk(700, 29) }, 'refuse', 'vocab.txt');
  tokCase('vocab.txt-no-unk', { 'vocab.txt': 'hello\nworld\n' }, 'refuse', 'vocab.txt');
  add({ id: 'tokenizer-folder-missing', parser: 'tokenizer', op: 'tokenizer', path: join(root, 'tokfiles/none'), verdict: 'refuse' });
  add({ id: 'tokenizer-file-not-folder', parser: 'tokenizer', op: 'tokenizer', path: join(root, 'tok/tokenizer.json'), verdict: 'refuse' });

  // ---------- encode: long runs (timing) ----------
  add({ id: 'encode-bang-100k', parser: 'tokenizer (BPE)', op: 'encode', path: join(root, 'txt/bang.txt'), verdict: 'accept' });
  add({ id: 'encode-brackets-400k', parser: 'tokenizer (BPE)', op: 'encode', path: join(root, 'txt/brackets.txt'), verdict: 'accept' });
  add({ id: 'encode-spaces-200k', parser: 'tokenizer (BPE)', op: 'encode', path: file('txt/spaces-run.txt', ' '.repeat(200_000) + 'x'), verdict: 'accept' });
  add({ id: 'encode-nonascii-run', parser: 'tokenizer (BPE)', op: 'encode', path: file('txt/accents.txt', '\u00e9!'.repeat(50_000)), verdict: 'accept' });

  // ---------- safetensors ----------
  const st = (id: string, bytes: Buffer, verdict: Verdict = 'refuse'): void => {
    add({ id, parser: 'safetensors', op: 'safetensors', path: file(`st/${id}.safetensors`, bytes), verdict });
  };
  const okTensor = safetensorsBytes([{ name: 'w', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }]);
  st('st-empty', Buffer.alloc(0));
  st('st-7-bytes', Buffer.alloc(7));
  st('st-header-past-end', rawSafetensors({}, Buffer.alloc(0), 1000));
  st('st-header-huge', rawSafetensors({}, Buffer.alloc(0), 2 ** 40));
  st('st-header-invalid-json', rawSafetensors('{"w": {"dtype": "F32",'));
  st('st-header-not-utf8', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xfe, 0xfd, 0xfc])]));
  st('st-header-array', rawSafetensors([1, 2]));
  st('st-unknown-dtype', rawSafetensors({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)));
  st('st-shape-absurd', rawSafetensors({ w: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 16] } }, Buffer.alloc(16)));
  st('st-shape-negative', rawSafetensors({ w: { dtype: 'F32', shape: [-1, 4], data_offsets: [0, 16] } }, Buffer.alloc(16)));
  st('st-offsets-past-end', rawSafetensors({ w: { dtype: 'F32', shape: [1000000], data_offsets: [0, 4000000] } }, Buffer.alloc(16)));
  st('st-truncated', okTensor.subarray(0, okTensor.length - 4));
  st('st-overlap', rawSafetensors({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, Buffer.alloc(12)));
  st('st-nan', safetensorsBytes([{ name: 'w', shape: [2], data: new Float32Array([1, NaN]) }]), 'refuse');
  st('st-ok', okTensor, 'accept');

  // ---------- adapters ----------
  const adapter = (id: string, config: string | Buffer | null, weights: Buffer | null, verdict: Verdict = 'refuse', names?: string): void => {
    const d = dir(`adapters/${id}`);
    if (config !== null) file(`adapters/${id}/adapter_config.json`, config);
    if (weights !== null) file(`adapters/${id}/adapter_model.safetensors`, weights);
    add({ id, parser: 'adapter', op: 'adapter', path: d, verdict, names: names ? join(d, names) : undefined });
  };
  const goodCfg = JSON.stringify(ADAPTER_CONFIG);
  adapter('adapter-ok', goodCfg, adapterTensors((i) => (i % 7) / 10), 'accept');
  adapter('adapter-nan', goodCfg, adapterTensors((i) => (i === 3 ? NaN : 0.1)), 'refuse', 'adapter_model.safetensors');
  adapter('adapter-inf', goodCfg, adapterTensors((i) => (i === 105 ? -Infinity : 0.1)), 'refuse', 'adapter_model.safetensors');
  adapter('adapter-config-invalid', '{"peft_type": "LORA",', adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-empty', '', adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-binary', junk(300, 31), adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-r-negative', JSON.stringify({ ...ADAPTER_CONFIG, r: -1 }), adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-r-string', JSON.stringify({ ...ADAPTER_CONFIG, r: '8' }), adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-r-huge', JSON.stringify({ ...ADAPTER_CONFIG, r: 1e300 }), adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-targets-number', JSON.stringify({ ...ADAPTER_CONFIG, target_modules: 15 }), adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-config-missing', null, adapterTensors(() => 0), 'refuse', 'adapter_config.json');
  adapter('adapter-weights-missing', goodCfg, null, 'refuse', 'adapter_model.safetensors');
  adapter('adapter-weights-garbage', goodCfg, junk(64, 37), 'refuse', 'adapter_model.safetensors');
  adapter('adapter-rank-mismatch', JSON.stringify({ ...ADAPTER_CONFIG, r: 4 }), adapterTensors(() => 0), 'refuse', 'adapter_model.safetensors');
  const cfgDir = dir('adapters/adapter-config-dir');
  dir('adapters/adapter-config-dir/adapter_config.json');
  file('adapters/adapter-config-dir/adapter_model.safetensors', adapterTensors(() => 0));
  add({ id: 'adapter-config-dir', parser: 'adapter', op: 'adapter', path: cfgDir, verdict: 'refuse', names: join(cfgDir, 'adapter_config.json') });

  // ---------- model config.json ----------
  const model = (id: string, config: string | Buffer, weights: Buffer | null, verdict: Verdict = 'refuse', names = 'config.json'): void => {
    const d = dir(`models/${id}`);
    file(`models/${id}/config.json`, config);
    if (weights) file(`models/${id}/model.safetensors`, weights);
    add({ id, parser: 'config.json', op: 'model', path: d, verdict, names: join(d, names) });
  };
  const someWeights = safetensorsBytes([{ name: 'wte.weight', shape: [300, 4], data: new Float32Array(1200) }]);
  model('config-invalid-json', '{"n_embd": ', someWeights);
  model('config-empty', '', someWeights);
  model('config-array', '[]', someWeights);
  model('config-n-embd-huge', JSON.stringify({ ...GPT2_CONFIG, n_embd: 1e9 }), someWeights);
  model('config-n-layer-huge', JSON.stringify({ ...GPT2_CONFIG, n_layer: 1e7 }), someWeights);
  model('config-vocab-negative', JSON.stringify({ ...GPT2_CONFIG, vocab_size: -5 }), someWeights);
  model('config-n-embd-string', JSON.stringify({ ...GPT2_CONFIG, n_embd: '4' }), someWeights);
  model('config-head-mismatch', JSON.stringify({ ...GPT2_CONFIG, n_embd: 5, n_head: 2 }), someWeights);
  model('config-binary', junk(200, 41), someWeights);
  model('config-weights-nan', JSON.stringify(GPT2_CONFIG), null, 'refuse', 'model.safetensors');
  {
    // a complete tiny GPT-2 whose weights hold a NaN
    await import('../../engine/models/registry.ts').catch(() => null); // the families' import order (older trees have no registry)
    const { gpt2ParamShapes, parseGPT2Config } = await import('../../engine/models/gpt2.ts');
    const shapes = gpt2ParamShapes(parseGPT2Config(GPT2_CONFIG, 'config.json'));
    const tensors = shapes.map(([name, shape]) => ({ name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01) }));
    tensors[0]!.data[0] = NaN;
    writeFileSync(join(root, 'models/config-weights-nan/model.safetensors'), safetensorsBytes(tensors));
  }

  const cleanup = (): void => {
    server?.close();
  };
  return { cases, tokenizerDir, cleanup };
}
