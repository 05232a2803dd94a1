import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, loadDataset, streamDataset, type Progress } from '../../engine/data/index.ts';
import { haveShared, samplesDir, shared } from './helpers.ts';
import { writeParquet } from './parquet-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lora-studio-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(tmp, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  return p;
}

function balance(ds: { examples: { label?: number | string }[]; labelNames?: string[] }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of ds.examples) {
    const k = typeof e.label === 'number' && ds.labelNames ? ds.labelNames[e.label]! : String(e.label);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

describe.skipIf(!haveShared('aclImdb-sample'))('aclImdb folders', () => {
  it('reads the train split with labels from the folders and ratings from the names', async () => {
    const progress: Progress[] = [];
    const ds = await loadDataset(shared('aclImdb-sample', 'aclImdb'), { onProgress: (p) => progress.push(p) });
    expect(ds.format).toBe('aclimdb');
    expect(ds.examples).toHaveLength(80);
    expect(ds.labelNames).toEqual(['neg', 'pos']);
    expect(balance(ds)).toEqual({ neg: 40, pos: 40 });
    expect(ds.skipped.count).toBe(0);
    for (const e of ds.examples) {
      expect(e.text).not.toMatch(/<br\s*\/?>/i);
      expect(e.rating).toBeGreaterThanOrEqual(1);
      expect(e.rating).toBeLessThanOrEqual(10);
      if (e.label === 0) expect(e.rating).toBeLessThanOrEqual(4);
      else expect(e.rating).toBeGreaterThanOrEqual(7);
    }
    expect(ds.examples.some((e) => e.text.includes('\n'))).toBe(true);
    const reads = progress.filter((p) => p.phase === 'read');
    expect(reads.at(-1)).toEqual({ done: 80, total: 80, phase: 'read' });
  });

  it('reads the test split, the parent folder and a split folder', async () => {
    const test = await loadDataset(shared('aclImdb-sample', 'aclImdb'), { split: 'test' });
    expect(test.examples).toHaveLength(40);
    expect(balance(test)).toEqual({ neg: 20, pos: 20 });
    const parent = await loadDataset(shared('aclImdb-sample'), { split: 'test' });
    expect(parent.examples.map((e) => e.text)).toEqual(test.examples.map((e) => e.text));
    const splitDir = await loadDataset(shared('aclImdb-sample', 'aclImdb', 'test'), { format: 'aclimdb' });
    expect(splitDir.examples).toHaveLength(40);
  });

  it('a missing unsup folder and an unknown split are clear errors', async () => {
    await expect(loadDataset(shared('aclImdb-sample', 'aclImdb'), { split: 'unsup' })).rejects.toThrow(/train\/unsup is missing/);
    await expect(loadDataset(shared('aclImdb-sample', 'aclImdb'), { split: 'dev' })).rejects.toThrow(/split must be one of train, test, unsup/);
  });
});

describe('aclImdb edge cases', () => {
  it('reports bad file names, invalid UTF-8 and empty reviews instead of dropping them silently', async () => {
    const root = join(tmp, 'imdb', 'aclImdb');
    file('imdb/aclImdb/train/pos/0_9.txt', 'Great film.<br /><br />Loved it.');
    file('imdb/aclImdb/train/pos/1_8.txt', Buffer.from([0x47, 0x6f, 0x6f, 0x64, 0x0a, 0x6f, 0x6b, 0xff, 0x21]));
    file('imdb/aclImdb/train/pos/notes.txt', 'not a review');
    file('imdb/aclImdb/train/neg/0_2.txt', 'Awful.<br/>Just awful.');
    file('imdb/aclImdb/train/neg/1_1.txt', '   ');
    file('imdb/aclImdb/train/unsup/0_0.txt', 'No label here.');
    const ds = await loadDataset(root);
    expect(ds.examples).toEqual([
      { text: 'Awful.\nJust awful.', label: 0, rating: 2 },
      { text: 'Great film.\n\nLoved it.', label: 1, rating: 9 },
    ]);
    expect(ds.skipped.count).toBe(3);
    const all = ds.skipped.examples.join('\n');
    expect(all).toContain('notes.txt: not an aclImdb review file');
    expect(all).toContain('1_8.txt:2:3: invalid UTF-8 (byte 0xff)');
    expect(all).toContain('1_1.txt: empty review');
    const unsup = await loadDataset(root, { split: 'unsup' });
    expect(unsup.examples).toEqual([{ text: 'No label here.', rating: 0 }]);
    expect(unsup.labelNames).toBeUndefined();
  });

  it('a folder that is not aclImdb-shaped is refused with what was found', async () => {
    file('notimdb/readme.txt', 'hello');
    await expect(loadDataset(join(tmp, 'notimdb'), { format: 'aclimdb' })).rejects.toThrow(/is not an aclImdb folder.*found: readme\.txt/);
    await expect(loadDataset(join(tmp, 'notimdb'))).rejects.toThrow(/cannot tell the dataset format/);
  });
});

describe.skipIf(!haveShared('uci-sentiment'))('UCI sentiment (TSV without header)', () => {
  it.each(['imdb_labelled.txt', 'yelp_labelled.txt', 'amazon_cells_labelled.txt'])('%s: 1000 sentences, 500/500', async (name) => {
    const ds = await loadDataset(shared('uci-sentiment', name));
    expect(ds.format).toBe('csv');
    expect(ds.examples).toHaveLength(1000);
    expect(ds.labelNames).toEqual(['0', '1']);
    expect(balance(ds)).toEqual({ '0': 500, '1': 500 });
    expect(ds.skipped.count).toBe(0);
    expect(ds.examples[0]!.text).not.toMatch(/\s$/);
  });
});

describe.skipIf(!haveShared('sms-spam'))('SMS Spam Collection (label first, no header)', () => {
  it('finds the text and label columns and maps ham/spam', async () => {
    const ds = await loadDataset(shared('sms-spam', 'SMSSpamCollection'));
    expect(ds.format).toBe('csv');
    expect(ds.examples).toHaveLength(5574);
    expect(ds.labelNames).toEqual(['ham', 'spam']);
    expect(balance(ds)).toEqual({ ham: 4827, spam: 747 });
    expect(ds.examples[0]!.text).toMatch(/^Go until jurong point/);
  });

  it('explicit columns by index work too', async () => {
    const ds = await loadDataset(shared('sms-spam', 'SMSSpamCollection'), { textColumn: '1', labelColumn: '0' });
    expect(ds.examples).toHaveLength(5574);
  });
});

describe('CSV', () => {
  it('the project sample: 220 balanced reviews with a header', async () => {
    const ds = await loadDataset(join(samplesDir, 'reviews.csv'));
    expect(ds.format).toBe('csv');
    expect(ds.examples.length).toBeGreaterThanOrEqual(200);
    expect(ds.labelNames).toEqual(['negative', 'positive']);
    const b = balance(ds);
    expect(b.negative).toBe(b.positive);
    expect(ds.examples[0]!.text).toBe('A warm, funny film that left the whole audience smiling.');
    expect(ds.skipped.count).toBe(0);
  });

  it('Kaggle-style: BOM, CRLF, quoted multi-line fields, review/sentiment header', async () => {
    const p = file(
      'kaggle.csv',
      '\ufeffreview,sentiment\r\n' +
        '"One of the best films, truly.<br /><br />I mean it.",positive\r\n' +
        '"A ""so-called"" comedy.\r\nNot funny.",negative\r\n' +
        'Plain row,positive\r\n',
    );
    const ds = await loadDataset(p);
    expect(ds.labelNames).toEqual(['negative', 'positive']);
    expect(ds.examples).toEqual([
      { text: 'One of the best films, truly.<br /><br />I mean it.', label: 1 },
      { text: 'A "so-called" comedy.\nNot funny.', label: 0 },
      { text: 'Plain row', label: 1 },
    ]);
  });

  it('ragged rows, empty fields and unknown labels are skipped with file:line and counted', async () => {
    const p = file(
      'messy.csv',
      ['text,label', 'good one,pos', 'bad one,neg', 'too,many,fields,pos', 'fine,pos', ',neg', 'meh,maybe', 'ok,neg', ...Array.from({ length: 40 }, (_, i) => `row ${i},${i % 2 ? 'pos' : 'neg'}`)].join('\n'),
    );
    const ds = await loadDataset(p);
    expect(ds.labelNames).toEqual(['neg', 'pos']);
    expect(ds.examples).toHaveLength(44);
    expect(ds.skipped.count).toBe(3);
    expect(ds.skipped.examples).toEqual([
      `${p}:4: expected 2 fields, got 4`,
      `${p}:6: empty text`,
      `${p}:7: unknown label value "maybe" (expected one of: neg, pos)`,
    ]);
  });

  it('invalid UTF-8 skips exactly the row it is in, naming line and column', async () => {
    const p = file('badutf8.tsv', Buffer.concat([Buffer.from('good text\t1\nbad '), Buffer.from([0xc3, 0x28]), Buffer.from(' text\t0\nfine\t0\n')]));
    const ds = await loadDataset(p);
    expect(ds.examples.map((e) => e.text)).toEqual(['good text', 'fine']);
    expect(ds.skipped.examples).toEqual([`${p}:2:5: invalid UTF-8 (byte 0xc3)`]);
  });

  it('an unclosed quote is reported, not swallowed silently', async () => {
    const p = file('unclosed.csv', 'text,label\nfine,pos\n"never closed,neg\nmore,pos\n');
    const ds = await loadDataset(p);
    expect(ds.examples).toEqual([{ text: 'fine', label: 1 }]);
    expect(ds.skipped.count).toBe(1);
    expect(ds.skipped.examples[0]).toMatch(/unclosed\.csv:\d+: unclosed quote/);
  });

  it('a missing column names the file and lists the columns', async () => {
    const p = file('cols.csv', 'review,sentiment\ngood,pos\n');
    await expect(loadDataset(p, { textColumn: 'body' })).rejects.toThrow(`${p}: no text column "body"; the columns are "review", "sentiment"`);
    await expect(loadDataset(p, { labelColumn: 'stars' })).rejects.toThrow(/no label column "stars"/);
  });

  it('a free-text column used as labels is refused', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => `short ${i},this is a long and unique sentence number ${i} that goes on`);
    const p = file('freetext.csv', ['a,b', ...rows].join('\n'));
    await expect(loadDataset(p, { textColumn: 'a', labelColumn: 'b' })).rejects.toThrow(/looks like free text, not labels/);
  });

  it('empty files are refused', async () => {
    const p = file('empty.csv', '');
    await expect(loadDataset(p)).rejects.toThrow(`${p} is empty`);
    const q = file('header-only.csv', 'text,label\n');
    await expect(loadDataset(q)).rejects.toBeInstanceOf(DataError);
  });
});

describe('JSONL and JSON', () => {
  it('recipes through the default template', async () => {
    const ds = await loadDataset(join(samplesDir, 'recipes.jsonl'));
    expect(ds.format).toBe('jsonl');
    expect(ds.examples.length).toBeGreaterThanOrEqual(80);
    expect(ds.labelNames).toBeUndefined();
    const first = ds.examples[0]!.text;
    expect(first).toMatch(/^Lemon Garlic Pasta\n\nIngredients:\n- 200 g spaghetti\n/);
    expect(first).toMatch(/\n\nDirections:\n1\. Boil the spaghetti/);
  });

  it('a user template', async () => {
    const ds = await loadDataset(join(samplesDir, 'recipes.jsonl'), { template: 'Recipe: {title}\nYou need: {ingredients:inline}\n{directions:lines}' });
    expect(ds.examples[0]!.text).toMatch(/^Recipe: Lemon Garlic Pasta\nYou need: 200 g spaghetti, 2 cloves garlic, sliced,/);
    await expect(loadDataset(join(samplesDir, 'recipes.jsonl'), { template: 'Recipe: {title' })).rejects.toThrow(/never closed/);
  });

  it('field mapping, labels and bad lines with line and column', async () => {
    const p = file(
      'reviews.jsonl',
      ['{"review": "Loved it", "stars": "pos"}', '{"review": "Hated it", "stars": "neg"}', '{"review": "Broken", "stars": }', '', '[1,2]', '{"stars": "pos"}', '{"review": "Again", "stars": "pos"}'].join('\n'),
    );
    const ds = await loadDataset(p, { labelColumn: 'stars' });
    expect(ds.examples).toEqual([
      { text: 'Loved it', label: 1 },
      { text: 'Hated it', label: 0 },
      { text: 'Again', label: 1 },
    ]);
    expect(ds.skipped.count).toBe(3);
    expect(ds.skipped.examples[0]).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:31: invalid JSON \\(unexpected '}'\\)$`));
    expect(ds.skipped.examples[1]).toBe(`${p}:5: expected a JSON object, got an array`);
    expect(ds.skipped.examples[2]).toBe(`${p}:6: missing field "review"`);
  });

  it('JSON arrays stream element by element; an object wrapping an array works too', async () => {
    const p = file('arr.json', '[\n  {"text": "one", "label": 0},\n  {"text": "two, with ] and } inside", "label": 1},\n  {"text": "three", "label": 1}\n]\n');
    const ds = await loadDataset(p);
    expect(ds.examples.map((e) => e.text)).toEqual(['one', 'two, with ] and } inside', 'three']);
    expect(ds.labelNames).toEqual(['0', '1']);
    const q = file('wrapped.json', '{\n  "data": [\n    {"text": "a", "label": "spam"},\n    {"text": "b", "label": "ham"}\n  ]\n}\n');
    const w = await loadDataset(q);
    expect(w.examples).toEqual([
      { text: 'a', label: 1 },
      { text: 'b', label: 0 },
    ]);
  });

  it('an unclosed JSON array is a FormatError', async () => {
    const p = file('open.json', '[{"text": "a"},\n{"text": "b"}');
    await expect(loadDataset(p)).rejects.toThrow(/open\.json:2:\d+: the JSON array is not closed/);
  });

  it('records without an obvious text field ask for --text-column', async () => {
    const p = file('nofield.jsonl', '{"a": "x", "b": "y"}\n');
    await expect(loadDataset(p)).rejects.toThrow(/cannot tell which field holds the text.*--text-column/);
  });
});

describe('plain text and Markdown', () => {
  it('one example per line', async () => {
    const p = file('lines.txt', 'first line\r\nsecond line\n\n  third line  \n');
    const ds = await loadDataset(p);
    expect(ds.format).toBe('txt');
    expect(ds.examples).toEqual([{ text: 'first line' }, { text: 'second line' }, { text: 'third line' }]);
  });

  it('blank-line-separated documents', async () => {
    const p = file('docs.txt', 'Once upon a time\nthere was a fox.\n\n\nThe end\nof the story.\n');
    const ds = await loadDataset(p);
    expect(ds.examples).toEqual([{ text: 'Once upon a time\nthere was a fox.' }, { text: 'The end\nof the story.' }]);
    const forced = await loadDataset(p, { txtMode: 'lines' });
    expect(forced.examples).toHaveLength(4);
  });

  it('a folder of Markdown recipes (one file may hold several)', async () => {
    const ds = await loadDataset(join(samplesDir, 'recipes-md'));
    expect(ds.format).toBe('md');
    expect(ds.examples).toHaveLength(4);
    const soup = ds.examples.find((e) => e.text.startsWith('Spiced Pumpkin Soup'))!;
    expect(soup.text).toContain('Ingredients:\n- 1 small pumpkin, peeled and cubed');
    expect(soup.text).toContain('Directions:\n1. Soften the onion in a little butter.');
  });

  it('a Markdown file without recipe structure is one document', async () => {
    const p = file('notes/plain.md', '# Notes\n\nJust some text about films.\n');
    const ds = await loadDataset(p);
    expect(ds.examples).toEqual([{ text: '# Notes\n\nJust some text about films.' }]);
  });
});

describe('parquet', () => {
  const hf = JSON.stringify({ info: { features: { text: { dtype: 'string', _type: 'Value' }, label: { names: ['neg', 'pos'], _type: 'ClassLabel' } } } });
  const texts = Array.from({ length: 25 }, (_, i) => `Review number ${i}: ${i % 2 ? 'wonderful' : 'terrible'} film.`);

  it('Hugging Face export: text + ClassLabel, several row groups, split by file name', async () => {
    const dir = join(tmp, 'imdb-parquet', 'plain_text');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'train-00000-of-00001.parquet'),
      writeParquet(
        [
          { name: 'text', type: 'string', values: texts },
          { name: 'label', type: 'int64', values: texts.map((_, i) => i % 2) },
        ],
        { rowGroupSize: 10, kv: { huggingface: hf } },
      ),
    );
    writeFileSync(
      join(dir, 'test-00000-of-00001.parquet'),
      writeParquet(
        [
          { name: 'text', type: 'string', values: ['a test review', 'another one'], optional: true },
          { name: 'label', type: 'int64', values: [1, 0] },
        ],
        { kv: { huggingface: hf } },
      ),
    );
    writeFileSync(
      join(dir, 'unsupervised-00000-of-00001.parquet'),
      writeParquet(
        [
          { name: 'text', type: 'string', values: ['no label'] },
          { name: 'label', type: 'int64', values: [-1] },
        ],
        { kv: { huggingface: hf } },
      ),
    );
    const progress: Progress[] = [];
    const train = await loadDataset(join(tmp, 'imdb-parquet'), { onProgress: (p) => progress.push(p) });
    expect(train.format).toBe('parquet');
    expect(train.examples).toHaveLength(25);
    expect(train.labelNames).toEqual(['neg', 'pos']);
    expect(train.examples[1]).toEqual({ text: texts[1], label: 1 });
    expect(progress.filter((p) => p.phase === 'read').map((p) => p.done)).toEqual([10, 20, 25]);
    const test = await loadDataset(join(dir, 'test-00000-of-00001.parquet'));
    expect(test.examples).toEqual([
      { text: 'a test review', label: 1 },
      { text: 'another one', label: 0 },
    ]);
    const unsup = await loadDataset(dir, { split: 'unsup' });
    expect(unsup.examples).toEqual([{ text: 'no label' }]);
    await expect(loadDataset(dir, { split: 'validation' })).rejects.toThrow(/no parquet files for split "validation"/);
  });

  it('nulls are reported; another schema is a clear error', async () => {
    const p = join(tmp, 'nulls.parquet');
    writeFileSync(
      p,
      writeParquet([
        { name: 'sentence', type: 'string', values: ['fine', null, 'also fine'], optional: true },
        { name: 'score', type: 'int32', values: [1, 0, 0] },
      ]),
    );
    const ds = await loadDataset(p, { labelColumn: 'score' });
    expect(ds.examples).toHaveLength(2);
    expect(ds.skipped.examples).toEqual([`${p}: row 1: missing sentence`]);
    const q = join(tmp, 'schema.parquet');
    writeFileSync(q, writeParquet([{ name: 'id', type: 'int64', values: [1, 2] }]));
    await expect(loadDataset(q)).rejects.toThrow(`${q}: no text column (columns: "id"); choose one with --text-column`);
    await expect(loadDataset(p, { textColumn: 'text' })).rejects.toThrow(/no text column "text"; the columns are "sentence", "score"/);
  });

  it('a file that is not parquet is a FormatError', async () => {
    const p = file('fake.parquet', 'this is not parquet at all');
    await expect(loadDataset(p)).rejects.toThrow(/fake\.parquet.*not a parquet file|fake\.parquet.*cannot read parquet/);
  });
});

describe('streaming', () => {
  it('streamDataset yields batches and a context with notes', async () => {
    const { format, ctx, batches } = await streamDataset(join(samplesDir, 'reviews.csv'));
    let n = 0;
    for await (const b of batches) n += b.length;
    expect(format).toBe('csv');
    expect(n).toBe(220);
    expect(ctx.notes.join(' ')).toContain('text column "text"');
  });

  it('a missing path and an unknown format are clear errors', async () => {
    await expect(loadDataset(join(tmp, 'does-not-exist.csv'))).rejects.toThrow(/does not exist/);
    await expect(loadDataset(join(samplesDir, 'reviews.csv'), { format: 'xml' as never })).rejects.toThrow(/unknown format "xml"/);
  });
});
