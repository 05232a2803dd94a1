// End to end: sequence classification from the app, in Debian's Chromium against `lora-studio
// serve`: the sample reviews as labelled data, Configure's task choice with the label names from the
// dataset, a few LoRA steps of the tiny GPT-2's classifier in Train, then Evaluate filled from the
// run (model, adapter with its head, data) with accuracy, F1 and the confusion matrix — equal to
// the engine's own classify() of the same adapter. A screenshot, checked non-blank.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { classify } from '../../engine/services/classify.ts';
import { checkedShot, closeStudio, connect, gotoView, launchStudio, type Studio, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const ARTIFACTS = resolve('out', 'e2e-artifacts');
const REVIEWS = resolve('samples', 'reviews.csv');
const missing = studioE2eMissing('studio classify e2e');

describe.skipIf(missing !== null)('sequence classification in the studio, in Chromium', () => {
  let work: string;
  let model: string;
  let st: Studio;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-cls-e2e-'));
    model = tinyGpt2(work);
    st = await launchStudio(work, join(work, 'project'));
    ({ page, problems } = st);
    await connect(page, st.url);
  }, 120_000);

  afterAll(() => closeStudio(st, work));

  const view = (label: string) => gotoView(page, label);

  test('labelled reviews: task, label names, a LoRA classifier trained, evaluated from the run', async () => {
    await view('Models');
    await page.locator('#model-dir').fill(model);
    await page.getByRole('button', { name: 'Open model' }).click();
    await page.getByTestId('model-summary').waitFor();
    await view('Datasets');
    await page.locator('#dataset-path').fill(REVIEWS);
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByTestId('dataset-stats').waitFor();
    await page.getByRole('button', { name: 'Use for training' }).click();

    await view('Configure');
    await page.getByRole('radio', { name: 'Sequence classification' }).check();
    await text(page.getByTestId('label-names')).toMatch(/^(negative|positive) \(\d+\), (negative|positive) \(\d+\)$/);
    expect(await page.getByRole('radio', { name: 'Full fine-tuning' }).isDisabled()).toBe(true); // LoRA + the head
    await page.getByRole('radio', { name: 'Steps' }).check();
    await page.locator('#max-steps').fill('3');
    await page.locator('#batch-size').fill('4');
    await page.locator('#max-length').fill('32');

    await view('Train');
    await page.getByRole('button', { name: 'Start training' }).click();
    await text(page.getByTestId('run-status'), 90_000).toBe('completed');
    await page.getByRole('button', { name: 'Evaluate →' }).click();
    await text(page.locator('main h1')).toBe('Evaluate');
    await page.getByTestId('eval-cls-note').waitFor();
    const adapter = await page.locator('#cls-adapter').inputValue();
    expect(adapter).not.toBe('');
    expect(await page.getByTestId('cls-head-warning').count()).toBe(0); // the run's adapter carries its head
    expect(await page.locator('#cls-data').inputValue()).toBe(REVIEWS);
    await page.locator('#cls-max').fill('32');
    await page.getByRole('button', { name: 'Evaluate classifier' }).click();
    await page.getByTestId('cls-results').waitFor({ timeout: 60_000 });

    const want = await classify({ model, adapter, data: REVIEWS, maxLength: 32 });
    const shown = Number((await page.getByTestId('cls-accuracy').textContent())!.trim());
    expect(shown).toBeCloseTo(want.accuracy, 4);
    const cells = (await page.getByTestId('cls-confusion').locator('tbody td').allTextContents()).map((c) => Number(c.replace(/,/g, '')));
    expect(cells.reduce((a, b) => a + b, 0)).toBe(readFileSync(REVIEWS, 'utf8').trim().split('\n').length - 1);
    await checkedShot(page, ARTIFACTS, 'classify-evaluate');
    expect(problems).toEqual([]);
  }, 180_000);
});
