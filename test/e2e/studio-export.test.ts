// End to end: samples during training and export, in Debian's Chromium (playwright-core) against
// `lora-studio serve`. Opens the tiny model, imports a text file, trains a few steps with a sample
// prompt and sees the samples appear in Train, exports the run merged and sees the path — a
// Hugging Face folder in the run's folder — with a Copy button (a browser cannot open folders).
// The training settings come from the saved form (localStorage), as a returning user has them.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkedShot, connect, gotoView, closeStudio, launchStudio, type Studio, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const ARTIFACTS = resolve('out', 'e2e-artifacts', 'export');
const PROMPT = 'The cat';
const missing = studioE2eMissing('studio export e2e');

describe.skipIf(missing !== null)('samples and export in Chromium', () => {
  let work: string;
  let model: string;
  let st: Studio;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-export-e2e-'));
    model = tinyGpt2(work);
    writeFileSync(join(work, 'train.txt'), Array.from({ length: 60 }, (_, i) => `The cat ${i} sat on the mat and purred at the ${i % 5} birds.`).join('\n'));
    st = await launchStudio(work, join(work, 'project'));
    ({ page, problems } = st);
    // The saved Configure form: 4 steps, a sample of the prompt every 2 steps.
    const form = { stopBy: 'steps', maxSteps: 4, batchSize: 2, maxLength: 16, logEvery: 1, lr: 0.01, lora: { r: 4, dropout: 0 }, sample: { prompt: PROMPT, every: 2, maxNewTokens: 6 } };
    await st.context.addInitScript((f) => {
      if (!localStorage.getItem('studio.form')) localStorage.setItem('studio.form', f);
    }, JSON.stringify(form));
    await connect(page, st.url, 60_000);
  }, 180_000);

  afterAll(() => closeStudio(st, work));

  const view = (label: string) => gotoView(page, label);

  test('train with samples, see them in Train, export merged, see the path', async () => {
    await view('Models');
    await page.locator('#model-dir').fill(model);
    await page.getByRole('button', { name: 'Open model' }).click();
    await text(page.getByTestId('model-summary')).toContain('GPT2LMHeadModel');

    await view('Datasets');
    await page.locator('#dataset-path').fill(join(work, 'train.txt'));
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByTestId('dataset-stats').waitFor();
    await page.getByRole('button', { name: 'Use for training' }).click();
    await page.getByRole('status').filter({ hasText: 'Selected for training' }).waitFor();

    await view('Train');
    await page.getByRole('button', { name: 'Start training' }).click();
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 60_000 }).toBe('completed');
    // Samples at steps 2 and 4, newest first, each with its prompt.
    const samples = page.getByTestId('run-sample');
    await expect.poll(() => samples.count(), { timeout: 10_000 }).toBe(2);
    await text(samples.first()).toMatch(new RegExp(`^step 4 · prompt ${PROMPT}`));
    await text(samples.last()).toMatch(new RegExp(`^step 2 · prompt ${PROMPT}`));

    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await page.getByRole('button', { name: 'Merged model (Hugging Face folder)' }).click();
    const runsDir = join(work, 'project', 'runs');
    const [runId] = readdirSync(runsDir);
    const merged = join(runsDir, runId!, 'export', 'merged');
    await text(page.getByTestId('export-path'), 30_000).toBe(merged);
    await text(page.getByTestId('export-result')).toMatch(/Merged model \(Hugging Face folder\): .* \(\d+(\.\d)? (KB|MB)\)/);
    expect(readdirSync(merged)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    // serve cannot open a folder on the user's desktop: the path comes with a Copy button.
    expect(await page.getByRole('button', { name: `Copy the path ${merged}` }).count()).toBe(1);
    expect(await page.getByRole('button', { name: /^Open the folder/ }).count()).toBe(0);

    await checkedShot(page, ARTIFACTS, 'train-export');
    expect(problems).toEqual([]);
  }, 120_000);
});
