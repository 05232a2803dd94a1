import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataCommand } from '../../cli/commands/data.ts';
import { haveShared, samplesDir, shared } from './helpers.ts';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await dataCommand(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('lora-studio data inspect', () => {
  it('prints format, examples and label balance', async () => {
    const r = await run(['inspect', join(samplesDir, 'reviews.csv')]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^format: +csv/m);
    expect(r.out).toMatch(/^examples: +220$/m);
    expect(r.out).toMatch(/^labels: +negative 110 \(50\.0%\), positive 110 \(50\.0%\)$/m);
  });

  it('--json has format, examples and labels', async () => {
    const r = await run(['inspect', join(samplesDir, 'recipes.jsonl'), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.format).toBe('jsonl');
    expect(j.examples).toBe(86);
    expect(j.labels).toEqual({});
    expect(j.tokens).toBeUndefined();
  });

  it.skipIf(!haveShared('aclImdb-sample') || !haveShared('gpt2-tokenizer'))('--model adds token statistics (aclImdb, test split)', async () => {
    const r = await run(['inspect', shared('aclImdb-sample', 'aclImdb'), '--split', 'test', '--model', shared('gpt2-tokenizer'), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.format).toBe('aclimdb');
    expect(j.examples).toBe(40);
    expect(j.labels).toEqual({ neg: 20, pos: 20 });
    expect(j.tokens).toBeGreaterThan(40 * 50);
    expect(j.max_tokens).toBeGreaterThan(j.mean_tokens);
    expect(j.mean_tokens).toBeCloseTo(j.tokens / 40, 1);
  });

  it.skipIf(!haveShared('sms-spam'))('--format, --text-column and --label-column', async () => {
    const r = await run(['inspect', shared('sms-spam', 'SMSSpamCollection'), '--format', 'csv', '--text-column', '1', '--label-column', '0', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).labels).toEqual({ ham: 4827, spam: 747 });
  });

  it('errors are one line on stderr and exit status 1', async () => {
    for (const argv of [
      ['inspect', join(samplesDir, 'missing.csv')],
      ['inspect'],
      ['frobnicate'],
      ['inspect', join(samplesDir, 'reviews.csv'), '--bogus'],
      ['inspect', join(samplesDir, 'reviews.csv'), '--format', 'xml'],
      ['inspect', join(samplesDir, 'reviews.csv'), '--text-column', 'nope'],
      ['inspect', join(samplesDir, 'reviews.csv'), '--model', samplesDir],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.out).toBe('');
      expect(r.err.trimEnd().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.err).toMatch(/^lora-studio data/);
    }
  });

  it('--help prints the usage', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('lora-studio data inspect PATH');
  });
});
