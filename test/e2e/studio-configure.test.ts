// End to end: the Configure view in Debian's Chromium against `lora-studio serve`: the engine's
// estimate for an int8 base, a zero-step run refused next to its field (Go to Train and Start
// disabled), and the configuration still there after a reload.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gotoView, closeStudio, launchStudio, type Studio, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const missing = studioE2eMissing('studio configure e2e');

describe.skipIf(missing !== null)('Configure in Chromium', () => {
  let work: string;
  let st: Studio;
  let url: string;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-configure-e2e-'));
    tinyGpt2(work);
    writeFileSync(join(work, 'train.txt'), Array.from({ length: 60 }, (_, i) => `Recipe ${i}: whisk the eggs and bake for ${20 + (i % 9)} minutes.`).join('\n'));
    st = await launchStudio(work, join(work, 'project'));
    ({ page, problems } = st);
    url = st.url;
  }, 120_000);

  afterAll(() => closeStudio(st, work));

  const view = (label: string) => gotoView(page, label);

  test('int8 base: the estimate; zero steps: a field error, Go to Train and Start disabled; a reload keeps the configuration', async () => {
    await page.goto(url);
    await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor();
    await view('Models');
    await page.locator('#model-dir').fill(join(work, 'tiny-gpt2'));
    await page.getByRole('button', { name: 'Open model' }).click();
    await page.getByTestId('model-summary').waitFor();
    await view('Datasets');
    await page.locator('#dataset-path').fill(join(work, 'train.txt'));
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByTestId('dataset-stats').waitFor();
    await page.getByRole('button', { name: 'Use for training' }).click();

    await view('Configure');
    const peak = page.getByTestId('estimate-peak'), weights = page.getByTestId('estimate-weights');
    await text(peak).toMatch(/^\d+(\.\d)? (MB|GB)$/);
    const f32 = (await weights.textContent())!;
    await page.locator('#base-dtype').selectOption('int8');
    await text(weights).not.toBe(f32); // the engine's estimate: an int8 base takes less
    const before = (await peak.textContent())!;
    await page.locator('#batch-size').fill('1');
    await text(peak).not.toBe(before); // the logits and activations of one sequence, not four
    await page.locator('#batch-size').fill('4');
    await text(page.getByTestId('estimate-step')).toMatch(/ms|s$/);
    // The device list is this machine's: CPU at least, nothing it lacks.
    const devices = await page.locator('#device option').allTextContents();
    expect(devices[0]).toBe('CPU');
    expect(devices.join(' ')).not.toMatch(/not available/);

    await page.getByRole('radio', { name: 'Steps' }).check();
    await page.locator('#max-steps').fill('0');
    await text(page.locator('#max-steps-error')).toBe('train at least 1 step');
    expect(await page.locator('#max-steps').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByRole('button', { name: 'Go to Train →' }).isDisabled()).toBe(true);
    expect(await page.locator('main').textContent()).not.toMatch(/NaN/);
    await view('Train');
    expect(await page.getByRole('button', { name: 'Start training' }).isDisabled()).toBe(true);
    await text(page.getByRole('alert').filter({ hasText: 'Fix in Configure' })).toContain('Steps: train at least 1 step');

    // A reload: the configuration of this project comes back.
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor();
    await view('Configure');
    expect(await page.locator('#base-dtype').inputValue()).toBe('int8');
    expect(await page.getByRole('radio', { name: 'Steps' }).isChecked()).toBe(true);
    await text(page.locator('#max-steps-error')).toBe('train at least 1 step');
    expect(await page.locator('#lr').inputValue()).toBe('0.002');
    expect(problems).toEqual([]);
  }, 90_000);
});
