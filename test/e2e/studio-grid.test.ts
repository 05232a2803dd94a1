// End to end: a grid search from the Compare view, in Debian's Chromium (playwright-core) against
// `lora-studio serve`, on the tiny GPT-2: two trials of a few steps, live, the best one marked,
// smoothing and the hover readout of the loss chart, and the page fitting a 1024×700 window (no
// sideways scroll) — with a screenshot checked to be non-blank (out/e2e-artifacts/, git-ignored).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodePng } from './png.ts';
import { checkedShot, connect, closeStudio, launchStudio, type Studio, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const ARTIFACTS = resolve('out', 'e2e-artifacts');
const missing = studioE2eMissing('studio grid e2e');

describe.skipIf(missing !== null)('a grid search in the studio, in Chromium', () => {
  let work: string;
  let st: Studio;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-grid-e2e-'));
    tinyGpt2(work);
    writeFileSync(join(work, 'train.txt'), Array.from({ length: 120 }, (_, i) => `Recipe ${i}: whisk the eggs, fold in the flour and bake for ${20 + (i % 9)} minutes.`).join('\n'));
    st = await launchStudio(work, join(work, 'project'), { width: 1024, height: 700 });
    ({ page, problems } = st);
    await connect(page, st.url);
  }, 120_000);

  afterAll(() => closeStudio(st, work));

  test('two trials train live; the best is marked; the chart smooths and reads out; the page fits 1024 px', async () => {
    await page.getByRole('navigation', { name: 'Studio sections' }).getByRole('button', { name: 'Compare', exact: true }).click();
    await text(page.locator('main h1')).toBe('Compare');
    await page.locator('#exp-model').fill(join(work, 'tiny-gpt2'));
    await page.locator('#exp-data').fill(join(work, 'train.txt'));
    await page.locator('#exp-steps').fill('3');
    await page.locator('#exp-batch').fill('2');
    await page.locator('#exp-len').fill('32');
    await page.locator('#exp-val').fill('0.2');
    await page.locator('#grid-r').fill('2,');
    await text(page.locator('#grid-r-err')).toBe('An empty value between commas.'); // checked as typed
    await page.locator('#grid-r').fill('2, 4');
    await page.locator('#grid-alpha').fill('8');
    await page.locator('#grid-dropout').fill('0');
    await page.locator('#grid-lr').fill('0.01');
    await text(page.getByTestId('grid-count')).toBe('2 trials of 3 steps each');
    await page.getByRole('button', { name: 'Start grid search' }).click();

    const rows = page.getByTestId('grid-table').locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(2);
    // Live: the first trial is running while the second waits.
    await expect.poll(async () => (await rows.locator('td:nth-child(6)').allTextContents()).map((s) => s.trim()), { timeout: 30_000 }).toContain('running');
    await expect.poll(async () => (await rows.locator('td:nth-child(6)').allTextContents()).map((s) => s.trim()), { timeout: 90_000 }).toEqual(['completed', 'completed']);
    await page.getByRole('button', { name: 'Start grid search' }).waitFor({ timeout: 30_000 }); // the search has answered
    await text(page.getByTestId('grid-best')).toMatch(/^Best: trial [01] \(r=[24] α=8 d=0 lr=0\.01\), validation perplexity \d.* saved as best-adapter$/);
    expect((await rows.locator('th').allTextContents()).filter((t) => t.includes('(best)'))).toHaveLength(1);
    const loss = page.getByTestId('grid-loss');
    expect(Number(await loss.getAttribute('data-points'))).toBe(6); // 3 steps of each trial
    await page.getByTestId('grid-perplexity').waitFor();
    // The trials are runs of the project, shown in the runs table too.
    await expect.poll(() => page.getByTestId('compare-table').locator('tbody tr').count(), { timeout: 30_000 }).toBe(2);

    // Smoothing and the hover readout of the loss chart.
    await page.getByLabel('Smoothing of Training loss by trial').fill('0.6');
    await text(loss.locator('output')).toBe('0.60');
    await expect.poll(async () => (await loss.getByRole('img').getAttribute('aria-label')) ?? '').toContain('(smoothed ');
    await loss.scrollIntoViewIfNeeded();
    const box = (await loss.locator('canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await text(page.getByTestId('grid-loss-readout')).toMatch(/^step [123]: 0: r=2 .* \(raw \d/);

    // Fits 1024 px: no sideways scroll; a screenshot of the window, not blank.
    const wide = await page.evaluate(() => {
      // The outermost elements that reach past the window (what makes the page scroll sideways).
      const out: string[] = [];
      for (const el of document.querySelectorAll<HTMLElement>('body *')) {
        if (el.getBoundingClientRect().right <= window.innerWidth + 0.5 || out.some((o) => el.parentElement?.closest(`[data-wide="${o}"]`))) continue;
        // Inside a box that scrolls (a wide table's .table-scroll), it doesn't widen the page.
        let clipped = false;
        for (let a = el.parentElement; a && !clipped; a = a.parentElement) clipped = getComputedStyle(a).overflowX !== 'visible' && a.getBoundingClientRect().right <= window.innerWidth + 0.5;
        if (clipped) continue;
        const id = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.dataset.testid ? `[${el.dataset.testid}]` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ')[0]}` : ''}:${Math.round(el.getBoundingClientRect().right)}`;
        el.dataset.wide = id;
        out.push(id);
      }
      return { scrollWidth: document.documentElement.scrollWidth, out };
    });
    expect(wide.out).toEqual([]);
    expect(wide.scrollWidth).toBeLessThanOrEqual(1024);
    await page.getByTestId('grid-results').scrollIntoViewIfNeeded();
    await page.waitForTimeout(150); // let chart.js draw
    const img = decodePng(await checkedShot(page, ARTIFACTS, 'grid-compare-1024', false));
    expect([img.width, img.height]).toEqual([1024, 700]);
    // The whole view too (for a look: forms side by side, tables, charts), equally non-blank.
    await checkedShot(page, ARTIFACTS, 'grid-compare-1024-full');
    expect(problems).toEqual([]);
  }, 120_000);
});
