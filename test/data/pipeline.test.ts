// Training, evaluation and `data inspect` share one importer: the same input gives the same
// verdict and the same skip report, whichever entry reads it (loadDataset for inspect and the
// app, loadBlocks / loadCausalData for causal LM, loadDocuments for evaluation, loadLabelled for
// classification).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, FormatError, loadDataset } from '../../engine/data/index.ts';
import { formatSkipReport, holdOutLabelled, loadBlocks, loadCausalData, loadDocuments, loadLabelled, type SkipSummary } from '../../engine/data/pipeline.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { toyTokenizerJson } from '../fuzz/corpus.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ls-pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const tok = join(tmp, 'tok');
mkdirSync(tok);
writeFileSync(join(tok, 'tokenizer.json'), JSON.stringify(toyTokenizerJson()));

function file(rel: string, body: string | Buffer): string {
  const p = join(tmp, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, body);
  return p;
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('one verdict and one skip report for every entry', () => {
  it('JSONL with bad lines: inspect, causal LM, evaluation and classification report the same rows', async () => {
    const p = file('mixed.jsonl', '{"text": "first", "label": "pos"}\n{"text": broken}\nnot json\n{"text": "fourth", "label": "neg"}\n{"text": "", "label": "neg"}\n');
    const inspect = await loadDataset(p);
    expect(inspect.skipped.count).toBe(3);
    const reports: SkipSummary[] = [];
    const onSkip = (s: SkipSummary) => reports.push(s);
    const causal = await loadCausalData(p, 4, tok, { cacheDir: null, onSkip });
    await loadBlocks(p, 4, tok, { cacheDir: null, onSkip });
    const docs = await loadDocuments(p, { onSkip });
    const labelled = await loadLabelled(p, { onSkip });
    expect(reports).toHaveLength(4);
    for (const r of [...reports, causal.skipped, docs.skipped, labelled.skipped!]) {
      expect(r).toEqual({ file: p, count: 3, examples: inspect.skipped.examples, reasons: inspect.skipped.reasons });
    }
    expect(reports[0]!.reasons).toEqual({ 'invalid JSON': 2, 'empty text': 1 });
    expect(docs.texts).toEqual(['first', 'fourth']);
    expect(labelled.texts).toEqual(['first', 'fourth']);
    expect(causal.documents).toBe(2);
    expect(formatSkipReport(reports[0]!)).toBe(`${p}: skipped 3 rows (invalid JSON 2, empty text 1); first: ${inspect.skipped.examples.join('; ')}`);
  });

  it('no onSkip call when nothing was skipped', async () => {
    const p = file('clean.jsonl', '{"text": "one"}\n{"text": "two"}\n');
    let called = 0;
    await loadBlocks(p, 4, tok, { cacheDir: null, onSkip: () => called++ });
    expect(called).toBe(0);
  });

  it('the options reach the importer: a missing text column is refused for training as for inspect', async () => {
    const p = file('cols.csv', 'review,sentiment\nnice film,pos\nbad film,neg\n');
    const want = `${p}: no text column "nonexistent"; the columns are "review", "sentiment"`;
    await expect(loadDataset(p, { textColumn: 'nonexistent' })).rejects.toThrow(want);
    await expect(loadBlocks(p, 4, tok, { textColumn: 'nonexistent', cacheDir: null })).rejects.toThrow(want);
    await expect(loadLabelled(p, { textColumn: 'nonexistent' })).rejects.toThrow(want);
    await expect(loadDocuments(p, { textColumn: 'nonexistent' })).rejects.toThrow(want);
    // and a real column is used
    const d = await loadLabelled(p, { textColumn: 'review', labelColumn: 'sentiment' });
    expect(d).toMatchObject({ texts: ['nice film', 'bad film'], labelNames: ['neg', 'pos'], labels: [1, 0] });
  });

  it('options that do not apply to the format are refused, not ignored', async () => {
    const txt = file('plain.txt', 'hello world\n');
    expect((await errorOf(loadBlocks(txt, 4, tok, { textColumn: 'text', cacheDir: null }))).message).toBe(`${txt}: a text column ("text") does not apply to plain text (txt): it has no columns`);
    expect((await errorOf(loadDataset(txt, { labelColumn: 'y' }))).message).toMatch(/a label column \("y"\) does not apply to plain text/);
    const csv = file('t.csv', 'text,label\na,pos\nb,neg\n');
    expect((await errorOf(loadDataset(csv, { template: '{text}' }))).message).toMatch(/t\.csv: a template does not apply to CSV\/TSV/);
    expect((await errorOf(loadDataset(csv, { split: 'test' }))).message).toMatch(/t\.csv: split "test" does not apply to CSV\/TSV: this data has no splits/);
    expect((await errorOf(loadDataset(csv, { txtMode: 'lines' }))).message).toMatch(/txtMode "lines" does not apply to CSV\/TSV/);
    const json = file('j.jsonl', '{"text": "a"}\n');
    expect((await errorOf(loadDataset(json, { delimiter: ';' }))).message).toMatch(/j\.jsonl: a delimiter does not apply to JSON\/JSONL/);
    // split "train" is every format's only split: accepted
    expect((await loadDataset(csv, { split: 'train' })).examples).toHaveLength(2);
  });
});

describe('plain text for causal LM: one document, the same rules as inspect', () => {
  it('a .txt file is one document with its newlines (CRLF kept, BOM dropped)', async () => {
    const p = file('doc.txt', '\ufeffline one\r\nline two\n\n\nline three\n');
    const docs = await loadDocuments(p);
    expect(docs).toMatchObject({ texts: ['line one\r\nline two\n\n\nline three\n'], format: 'txt' });
    const tk = await loadTokenizer(tok);
    const blocks = await loadBlocks(p, 1000, tok, { cacheDir: null });
    expect(blocks.map((b) => Array.from(b))).toEqual([tk.encode('line one\r\nline two\n\n\nline three\n')]);
    // txtMode lines: every line its own document (EOS between them)
    expect((await loadDocuments(p, { txtMode: 'lines' })).texts).toEqual(['line one', 'line two', 'line three']);
  });

  it('a line with invalid UTF-8 is left out of the document and reported exactly as inspect reports it', async () => {
    const p = file('one-bad.txt', Buffer.concat([Buffer.from('good one\ngood two\n'), Buffer.from([0x62, 0x61, 0xff, 0x64, 0x0a]), Buffer.from('good four\r\ngood five\n')]));
    const inspect = await loadDataset(p);
    expect(inspect.examples.map((e) => e.text)).toEqual(['good one', 'good two', 'good four', 'good five']);
    expect(inspect.skipped.examples).toEqual([`${p}:3:3: invalid UTF-8 (byte 0xff)`]);
    let report: SkipSummary | undefined;
    const docs = await loadDocuments(p, { onSkip: (s) => (report = s) });
    expect(docs.texts).toEqual(['good one\ngood two\ngood four\r\ngood five\n']);
    expect(report).toEqual({ file: p, count: 1, examples: inspect.skipped.examples, reasons: { 'invalid UTF-8': 1 } });
  });

  it('paragraph files: a paragraph with invalid UTF-8 is left out whole, as inspect skips it', async () => {
    const p = file('paras.txt', Buffer.concat([Buffer.from('Para one\nstill one.\n\nPara two\nbad '), Buffer.from([0xe9]), Buffer.from('\n\nPara three\nends here.\n')]));
    const inspect = await loadDataset(p);
    expect(inspect.examples).toHaveLength(2);
    expect(inspect.skipped.count).toBe(1);
    const docs = await loadDocuments(p);
    expect(docs.texts).toEqual(['Para one\nstill one.\n\n\nPara three\nends here.\n']);
    expect(docs.skipped.examples).toEqual(inspect.skipped.examples);
  });

  it('newline-only, Latin-1, binary and UTF-16 files are refused for training exactly as by inspect', async () => {
    const cases: [string, Buffer | string, RegExp][] = [
      ['blank.txt', '\n\n \n\t\n', /blank\.txt: no examples found \(the txt importer read nothing\)$/],
      ['latin1.txt', Buffer.from('caf\u00e9\nna\u00efve\nd\u00e9j\u00e0 vu\n', 'latin1'), /latin1\.txt: is not UTF-8 text: 3 of 3 rows hold invalid UTF-8, first at 1:4: invalid UTF-8 \(byte 0xe9\) \(Latin-1 or Windows-1252\?/],
      ['binary.txt', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]), /binary\.txt: is binary data, not UTF-8 text: a NUL byte at offset 7$/],
      ['utf16.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hello\n', 'utf16le')]), /utf16\.txt: is UTF-16 text \(byte-order mark FF FE\); convert it to UTF-8/],
      ['utf16-nobom.txt', Buffer.from('hello world, no byte-order mark here\n', 'utf16le'), /a NUL byte at offset 1 \(UTF-16 text without a byte-order mark\?/],
    ];
    for (const [name, body, re] of cases) {
      const p = file(name, body);
      const a = await errorOf(loadDataset(p));
      const b = await errorOf(loadBlocks(p, 4, tok, { cacheDir: null }));
      expect(a).toBeInstanceOf(DataError);
      expect(a.message, name).toMatch(re);
      expect(b.message).toBe(a.message);
    }
    // a few bad rows among many are reported, not fatal
    const some = file('mostly-fine.txt', Buffer.concat([Buffer.from('a\nb\nc\n'), Buffer.from([0xe9, 0x0a])]));
    expect((await loadDataset(some)).skipped.count).toBe(1);
  });

  it('a big Latin-1 file is refused in linear time; a NUL past the head skips its line only', async () => {
    const line = Buffer.from('caf\u00e9 cr\u00e8me br\u00fbl\u00e9e tr\u00e8s bon\n', 'latin1');
    const big = file('big-latin1.txt', Buffer.concat(Array.from({ length: 100_000 }, () => line)));
    const t0 = performance.now();
    expect((await errorOf(loadDataset(big))).message).toMatch(/big-latin1\.txt: is not UTF-8 text: 100000 of 100000 rows hold invalid UTF-8, first at 1:4/);
    expect(performance.now() - t0).toBeLessThan(10_000); // re-decoding every prefix took minutes
    const ok = Buffer.from('a perfectly fine line of text, repeated\n');
    const late = file('nul-late.txt', Buffer.concat([...Array.from({ length: 40_000 }, () => ok), Buffer.from('bad \u0000 line\n'), ok]));
    const ds = await loadDataset(late);
    expect(ds.examples).toHaveLength(40_001);
    expect(ds.skipped.examples).toEqual([`${late}:40001:5: a NUL byte (binary data, not text)`]);
    const docs = await loadDocuments(late);
    expect(docs.texts[0]).not.toContain('\u0000');
    expect(docs.skipped.examples).toEqual(ds.skipped.examples);
  });

  it('a folder: an aclImdb folder trains (as inspect reads it); another folder gets the format error, naming it', async () => {
    const root = join(tmp, 'imdb', 'aclImdb');
    file('imdb/aclImdb/train/pos/0_9.txt', 'A fine film.<br />Truly.');
    file('imdb/aclImdb/train/neg/0_2.txt', 'A dull film.');
    const blocks = await loadBlocks(root, 4, tok, { cacheDir: null });
    expect(blocks.length).toBeGreaterThan(0);
    expect((await loadDocuments(root)).texts).toEqual(['A dull film.', 'A fine film.\nTruly.']);
    const empty = join(tmp, 'emptyfolder');
    mkdirSync(empty);
    expect((await errorOf(loadBlocks(empty, 4, tok, { cacheDir: null }))).message).toMatch(new RegExp(`^${empty}: cannot tell the dataset format of this folder`));
    expect((await errorOf(loadBlocks(join(tmp, 'nope.txt'), 4, tok))).message).toBe(`${join(tmp, 'nope.txt')}: data file not found`);
  });
});

describe('dataset folders: files stay inside, special files are never read', () => {
  it('a symlink out of an aclImdb folder is skipped and reported; one inside is followed', async () => {
    const root = join(tmp, 'links', 'aclImdb');
    file('links/aclImdb/train/pos/0_9.txt', 'Great.');
    file('links/aclImdb/train/neg/0_1.txt', 'Bad.');
    symlinkSync('/etc/passwd', join(root, 'train/pos/1_10.txt'));
    symlinkSync(join(root, 'train/pos/0_9.txt'), join(root, 'train/neg/2_3.txt'));
    const reports: SkipSummary[] = [];
    const d = await loadLabelled(root, { onSkip: (s) => reports.push(s) });
    expect(d.texts.sort()).toEqual(['Bad.', 'Great.', 'Great.']);
    expect(d.texts.join()).not.toMatch(/root:/);
    expect(reports[0]!.examples).toEqual([`${join(root, 'train/pos/1_10.txt')}: not read: a symbolic link to /etc/passwd, outside the dataset folder ${root}`]);
    expect(reports[0]!.reasons).toEqual({ 'symlink outside the dataset': 1 });
  });

  it('a class folder linked outside the dataset: its files are not read', async () => {
    const root = join(tmp, 'dirlink', 'aclImdb');
    file('dirlink/aclImdb/train/neg/0_1.txt', 'Bad.');
    file('elsewhere/pos/0_9.txt', 'Outside.');
    symlinkSync(join(tmp, 'elsewhere', 'pos'), join(root, 'train', 'pos'));
    const ds = await loadDataset(root);
    expect(ds.examples.map((e) => e.text)).toEqual(['Bad.']);
    expect(ds.skipped.examples[0]).toMatch(/0_9\.txt: not read: its folder is a symbolic link to .*elsewhere\/pos, outside the dataset folder/);
  });

  it.skipIf(process.platform === 'win32')('a FIFO as the data path is refused at once; a FIFO inside a folder is skipped; the event loop keeps running', async () => {
    const fifo = join(tmp, 'pipe.jsonl');
    execFileSync('mkfifo', [fifo]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    for (const load of [() => loadDataset(fifo), () => loadBlocks(fifo, 4, tok), () => loadLabelled(fifo), () => loadDocuments(fifo)]) {
      expect((await errorOf(load())).message).toBe(`${fifo}: is a FIFO (named pipe); expected a dataset file or folder`);
    }
    expect(performance.now() - t0).toBeLessThan(2000);
    const root = join(tmp, 'fifo-imdb', 'aclImdb');
    file('fifo-imdb/aclImdb/train/pos/0_9.txt', 'Great.');
    file('fifo-imdb/aclImdb/train/neg/0_1.txt', 'Bad.');
    execFileSync('mkfifo', [join(root, 'train/pos/1_8.txt')]);
    mkdirSync(join(root, 'train/neg/3_3.txt'));
    const ds = await loadDataset(root);
    clearInterval(timer);
    expect(ds.examples).toHaveLength(2);
    expect(ds.skipped.examples.sort()).toEqual([
      `${join(root, 'train/neg/3_3.txt')}: is a folder, not a review file`,
      `${join(root, 'train/pos/1_8.txt')}: is a FIFO (named pipe), not a review file`,
    ]);
    expect(ticks).toBeGreaterThan(0);
    if (process.platform === 'linux') expect((await errorOf(loadBlocks('/dev/zero', 4, tok))).message).toBe('/dev/zero: is a character device; expected a dataset file or folder');
  });
});

describe('classification data', () => {
  it('dropped rows reach the skip report (bad label values, empty labels, ragged rows)', async () => {
    const p = file('cls.csv', 'text,label\ngreat film,pos\nno label here,\nawful,neg\nbad,row,extra\nmeh,neutralish\nfine,pos\n');
    const reports: SkipSummary[] = [];
    const d = await loadLabelled(p, { onSkip: (s) => reports.push(s), labelNames: ['neg', 'pos'] });
    expect(d.texts).toEqual(['great film', 'awful', 'fine']);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.count).toBe(3);
    expect(reports[0]!.reasons).toEqual({ 'empty label': 1, 'ragged row': 1, 'unknown label': 1 });
    expect(d.skipped).toEqual(reports[0]);
  });

  it('holdOutLabelled: seeded; stratified on request', () => {
    const d = { texts: Array.from({ length: 40 }, (_, i) => `t${i}`), labels: Array.from({ length: 40 }, (_, i) => (i < 30 ? 0 : 1)) };
    const a = holdOutLabelled(d, 0.25, 5);
    expect(a).toEqual(holdOutLabelled(d, 0.25, 5));
    expect(a.valid.texts).toHaveLength(10);
    const s = holdOutLabelled(d, 0.2, 5, { stratify: true });
    expect(s.valid.labels.filter((l) => l === 0)).toHaveLength(6);
    expect(s.valid.labels.filter((l) => l === 1)).toHaveLength(2);
  });
});

describe('parquet footers', () => {
  it('a corrupt footer is one line naming the file, not a TypeError from inside hyparquet', async () => {
    const p = file('zeros.parquet', Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64), Buffer.from([40, 0, 0, 0]), Buffer.from('PAR1')]));
    const e = await errorOf(loadDataset(p));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toBe(`${p}: not a valid parquet file (corrupt or truncated metadata)`);
  });
});
