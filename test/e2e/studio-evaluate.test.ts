// End to end: the Evaluate view in Debian's Chromium (playwright-core) against `lora-studio serve`.
// A run trained (by the CLI) in the served project, a JSONL dataset opened in the Datasets view:
// Evaluate scores the dataset example by example, and the run's held-out split, whose mean NLL is
// the run's own final validation loss. A screenshot (out/e2e-artifacts/, git-ignored), non-blank.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { perplexity } from '../../engine/train/eval.ts';
import { checkedShot, connect, gotoView, closeStudio, launchStudio, type Studio, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const ARTIFACTS = resolve('out', 'e2e-artifacts');
const missing = studioE2eMissing('studio evaluate e2e');

/** The results table's formatting (renderer/src/lib/format.ts num, 5 digits). */
const shown = (x: number) => Number(x.toPrecision(5)).toString();

describe.skipIf(missing !== null)('the Evaluate view in Chromium', () => {
  let work: string;
  let model: string;
  let runId: string;
  let st: Studio;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-eval-e2e-'));
    model = tinyGpt2(work);
    const recipes = Array.from({ length: 40 }, (_, i) => `Recipe ${i}: whisk the eggs, fold in the flour and bake for ${20 + (i % 9)} minutes.`);
    writeFileSync(join(work, 'train.txt'), recipes.join('\n'));
    writeFileSync(join(work, 'recipes.jsonl'), recipes.slice(0, 6).map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const project = join(work, 'project');
    // A run with a held-out split, saved in the project serve opens.
    const t = await promisify(execFile)(process.execPath, ['bin/lora-studio.mjs', 'train', '--model', model, '--data', join(work, 'train.txt'), '--project', project,
      '--max-steps', '2', '--batch-size', '2', '--max-length', '32', '--val-ratio', '0.25', '--threads', '1', '--run-name', 'recipes', '--json']);
    runId = /^run (\S+): /m.exec(t.stderr)![1]!;
    st = await launchStudio(work, project);
    ({ page, problems } = st);
    await connect(page, st.url);
  }, 120_000);

  afterAll(() => closeStudio(st, work));

  const view = (label: string) => gotoView(page, label);

  test('a JSONL dataset scored example by example, then the run\'s held-out split: its validation loss', async () => {
    await view('Models');
    await page.locator('#model-dir').fill(model);
    await page.getByRole('button', { name: 'Open model' }).click();
    await text(page.getByTestId('peft-line')).toContain('trainable params:');
    await view('Datasets');
    const data = join(work, 'recipes.jsonl');
    await page.locator('#dataset-path').fill(data);
    await page.getByRole('button', { name: 'Preview' }).click();
    await text(page.getByTestId('dataset-examples')).toBe('6');
    await page.getByRole('button', { name: 'Use for training' }).click();

    await view('Evaluate');
    // The run the studio has selected (the project's newest) is preselected; the dataset is the source.
    expect(await page.locator('#eval-target').inputValue()).toBe(runId);
    expect(await page.getByRole('radio', { name: /Dataset/ }).isChecked()).toBe(true);
    const maxLength = Number(await page.locator('#eval-max-length').inputValue());
    await page.getByRole('button', { name: 'Compute perplexity' }).click();
    const rows = page.getByTestId('eval-results').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(1);
    const adapter = join(work, 'project', 'runs', runId, 'adapter');
    const want = await perplexity({ model, adapter, data, maxLength });
    const raw = await perplexity({ model, adapter, text: data, maxLength });
    expect(raw.tokens).toBeGreaterThan(want.tokens); // what scoring the file as text would add
    const cells = async (i: number) => (await rows.nth(i).locator('td').allTextContents()).map((c) => c.trim());
    expect(await cells(0)).toEqual(['recipes', 'recipes.jsonl', shown(want.perplexity), shown(want.meanNll), want.tokens.toLocaleString('en-US')]);

    await page.getByRole('radio', { name: /held-out split/ }).check();
    await page.getByRole('button', { name: 'Base and fine-tuned' }).click();
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(3);
    const saved = JSON.parse(readFileSync(join(work, 'project', 'runs', runId, 'run.json'), 'utf8')) as { result: { evalLoss: number } };
    const tuned = await cells(0); // newest first: the fine-tuned model on the run's held-out split
    expect(tuned.slice(0, 2)).toEqual(['recipes', `held-out split of ${runId}`]);
    expect(tuned[3]).toBe(shown(saved.result.evalLoss));
    expect((await cells(1)).slice(0, 2)).toEqual(['base · tiny-gpt2', `held-out split of ${runId}`]);

    await checkedShot(page, ARTIFACTS, 'evaluate-sources');
    expect(problems).toEqual([]);
  }, 90_000);
});
