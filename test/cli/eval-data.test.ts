// `lora-studio eval` scores data the way training reads it: --data example by example (with the
// dataset's columns/template, never its JSON punctuation), --held-out a run's validation split
// exactly as the run held it out; one of --text/--data/--held-out, one-line errors otherwise.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { parseParams, parseResult } from '../../engine/api.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { loadModel } from '../../engine/models/registry.ts';
import { heldOutOptions } from '../../engine/services/evaluate.ts';
import { perplexity, windowsNll } from '../../engine/train/eval.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const cli = runCli;
const json = (r: { code: number; stdout: string; stderr: string }) => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { perplexity: number; mean_nll: number; tokens: number; windows: number };
};

const RECIPES = [
  { title: 'Pancakes', steps: '2 eggs, 1 cup flour, 1 cup milk. Whisk and fry.' },
  { title: 'Tea', steps: 'Boil water, pour over leaves, wait three minutes.' },
  { title: 'Toast', steps: 'Bread, butter. Toast the bread, spread the butter.' },
];

describe.runIf(hasSharedData)('lora-studio eval --data / --held-out', () => {
  const root = tempDir('ls-cli-evd-');
  const model = makeTinyGPT2(path.join(root, 'm'), { nPositions: 32 });

  it('--data FILE.jsonl scores each example\'s text (as perplexity() does), not the JSON around it', async () => {
    const file = path.join(root, 'r.jsonl');
    const texts = RECIPES.map((r) => `${r.title}: ${r.steps}`);
    writeFileSync(file, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const got = json(await cli('eval', '--model', model, '--data', file, '--json'));
    const engine = await perplexity({ model, data: file });
    expect(got.mean_nll).toBeCloseTo(engine.meanNll, 6);
    expect([got.tokens, got.windows]).toEqual([engine.tokens, 3]);
    // Independently: the three texts tokenized on their own, no braces or "text" keys.
    const tok = await loadTokenizer(model);
    const want = await windowsNll(loadModel(model), texts.map((t) => tok.encode(t)));
    expect(got.tokens).toBe(want.count);
    expect(got.mean_nll).toBeCloseTo(want.sum / want.count, 5);
    const raw = json(await cli('eval', '--model', model, '--text', file, '--json'));
    expect(raw.tokens).toBeGreaterThan(got.tokens + 3 * 4); // at least {"text": "…"} per line
  }, 120_000);

  it('--template builds each example from its fields, as the Datasets mapping does', async () => {
    const file = path.join(root, 'fields.jsonl');
    writeFileSync(file, RECIPES.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const got = json(await cli('eval', '--model', model, '--data', file, '--template', '{title}\\n{steps}', '--max-length', '12', '--json'));
    const tok = await loadTokenizer(model);
    const want = await windowsNll(loadModel(model), RECIPES.map((r) => tok.encode(`${r.title}\n${r.steps}`).slice(0, 12)));
    expect(got.tokens).toBe(want.count);
    expect(got.mean_nll).toBeCloseTo(want.sum / want.count, 5);
    const engine = await perplexity({ model, data: file, dataOptions: { template: '{title}\n{steps}' }, maxLength: 12 });
    expect(got.mean_nll).toBeCloseTo(engine.meanNll, 6);
  }, 120_000);

  // The scored number itself is checked on models/demo-llama (test/cli/eval-instruct.test.ts).
  it('unmapped instruction data is read through the chat template, as training reads it; a named column is scored as text', async () => {
    const file = path.join(root, 'alpaca.jsonl');
    writeFileSync(file, RECIPES.map((r) => JSON.stringify({ instruction: `How do I make ${r.title}?`, input: '', output: r.steps })).join('\n') + '\n');
    // This model's 32 positions hold no answer after the chatml prompt: training's one line.
    const short = await cli('eval', '--model', model, '--data', file);
    expect(short.code).toBe(1);
    expect(short.stderr.trim().split('\n')).toHaveLength(1);
    expect(short.stderr).toContain(`lora-studio eval: ${file}: no usable examples; 3 row(s) skipped, first: `);
    expect(short.stderr).toContain('no answer tokens within the max length of 32 tokens');
    const got = json(await cli('eval', '--model', model, '--data', file, '--text-column', 'output', '--json'));
    const tok = await loadTokenizer(model);
    const want = await windowsNll(loadModel(model), RECIPES.map((r) => tok.encode(r.steps)));
    expect(got.tokens).toBe(want.count);
    expect(got.mean_nll).toBeCloseTo(want.sum / want.count, 5);
  }, 120_000);

  it('--held-out --run scores the run\'s validation split: its own final validation loss', async () => {
    const project = path.join(root, 'project');
    const data = path.join(root, 'train.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const t = await cli('train', '--model', model, '--data', data, '--project', project, '--max-steps', '2', '--batch-size', '2',
      '--max-length', '16', '--val-ratio', '0.25', '--seed', '3', '--threads', '1', '--json');
    expect(t.code).toBe(0);
    const id = /^run (\S+): /m.exec(t.stderr)![1]!;
    const saved = JSON.parse(readFileSync(path.join(project, 'runs', id, 'run.json'), 'utf8')) as { result: { evalLoss: number } };
    expect(saved.result.evalLoss).toBeGreaterThan(0);
    const got = json(await cli('eval', '--run', id, '--project', project, '--held-out', '--json'));
    expect(got.mean_nll).toBeCloseTo(saved.result.evalLoss, 5);
    const engine = await perplexity({ model, adapter: path.join(project, 'runs', id, 'adapter'), heldOut: heldOutOptions(project, id) });
    expect(got.mean_nll).toBeCloseTo(engine.meanNll, 6);
    expect(got.tokens).toBe(engine.tokens);

    const noSplit = await cli('train', '--model', model, '--data', data, '--project', project, '--max-steps', '1', '--batch-size', '2', '--max-length', '16', '--threads', '1', '--json');
    const id0 = /^run (\S+): /m.exec(noSplit.stderr)![1]!;
    const refused = await cli('eval', '--run', id0, '--project', project, '--held-out');
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(`lora-studio eval: run ${id0} held out no validation split (its validation ratio is 0)`);
  }, 180_000);

  it('exactly one of --text, --data and --held-out; the mapping flags need --data', async () => {
    const file = path.join(root, 'r.jsonl');
    const cases: [string[], string][] = [
      [['--text', file, '--data', file], 'give one of --text, --data and --held-out, not --text and --data'],
      [[], 'give --text FILE, --data FILE or --held-out (with --run ID)'],
      [['--text', file, '--split', 'test'], '--split needs --data FILE'],
      [['--held-out'], '--held-out needs --run ID (the run whose validation split to score)'],
      [['--data', file, '--lines'], '--lines applies to --text only'],
      [['--data', file, '--format', 'xml'], '--format must be auto, aclimdb,'],
    ];
    for (const [args, message] of cases) {
      const r = await cli('eval', '--model', model, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toContain(`lora-studio eval: ${message}`);
    }
  }, 120_000);
});

describe('eval.perplexity params', () => {
  it('take exactly one of text, dataset and heldOutOf', () => {
    const base = { model: '/m' };
    expect(parseParams('eval.perplexity', { ...base, dataset: { path: '/d.jsonl', textColumn: 'body' } })).toEqual({ ...base, dataset: { path: '/d.jsonl', textColumn: 'body' } });
    expect(parseParams('eval.perplexity', { ...base, heldOutOf: 'run-1' })).toEqual({ ...base, heldOutOf: 'run-1' });
    expect(() => parseParams('eval.perplexity', base)).toThrow('invalid params of eval.perplexity: give exactly one of "text", "dataset", "heldOutOf"');
    expect(() => parseParams('eval.perplexity', { ...base, text: '/t.txt', heldOutOf: 'run-1' })).toThrow('give exactly one of "text", "dataset", "heldOutOf", not "text" and "heldOutOf"');
    expect(() => parseParams('eval.perplexity', { ...base, heldOutOf: '../x' })).toThrow(/heldOutOf: expected a string matching/);
  });

  it('take instruction data\'s chat options with a dataset, and answer its examples and skipped rows', () => {
    const p = { model: '/m', dataset: { path: '/c.jsonl', chatColumns: { messages: 'turns' } }, chat: { format: 'messages', template: 'chatml', trainOn: 'all' } };
    expect(parseParams('eval.perplexity', p)).toEqual(p);
    expect(() => parseParams('eval.perplexity', { ...p, chat: { trainOn: 'prompts' } })).toThrow(/chat\.trainOn/);
    const r = { perplexity: 3, meanNll: Math.log(3), tokens: 40, windows: 4, examples: 4, skipped: 1 };
    expect(parseResult('eval.perplexity', r)).toEqual(r);
    expect(() => parseResult('eval.perplexity', { ...r, skipped: -1 })).toThrow(/skipped/);
  });
});
