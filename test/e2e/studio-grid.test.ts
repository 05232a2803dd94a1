// End to end: a grid search from the Compare view, in Debian's Chromium (playwright-core) against
// `lora-studio serve`, on the tiny GPT-2: two trials of a few steps, live, the best one marked,
// smoothing and the hover readout of the loss chart, and the page fitting a 1024×700 window (no
// sideways scroll) — with a screenshot checked to be non-blank (out/e2e-artifacts/, git-ignored).
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, type Locator, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodePng, imageStats } from './png.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHARED = resolve('../shared/data');
const FAKE_GPT2 = join(SHARED, 'tiny-gpt2', 'fake_gpt2');
const TOKENIZER = join(SHARED, 'gpt2-tokenizer');
const ARTIFACTS = resolve('out', 'e2e-artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (apt-get install -y chromium)`
  : !existsSync(FAKE_GPT2) || !existsSync(TOKENIZER)
    ? `${SHARED} (tiny-gpt2/fake_gpt2, gpt2-tokenizer) is absent`
    : null;
if (missing) console.warn(`studio grid e2e skipped: ${missing}`);

describe.skipIf(missing !== null)('a grid search in the studio, in Chromium', () => {
  let work: string;
  let server: ChildProcess;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-grid-e2e-'));
    const model = join(work, 'tiny-gpt2');
    cpSync(FAKE_GPT2, model, { recursive: true });
    for (const f of readdirSync(TOKENIZER)) if (f !== 'SOURCE.txt') copyFileSync(join(TOKENIZER, f), join(model, f));
    writeFileSync(join(work, 'train.txt'), Array.from({ length: 120 }, (_, i) => `Recipe ${i}: whisk the eggs, fold in the flour and bake for ${20 + (i % 9)} minutes.`).join('\n'));
    mkdirSync(join(work, 'project'));
    mkdirSync(ARTIFACTS, { recursive: true });
    const url = await startServe();
    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1024, height: 700 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);
    await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor();
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (server && server.exitCode === null) {
      await new Promise((r) => {
        server.on('exit', r);
        server.kill('SIGTERM');
      });
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function startServe(): Promise<string> {
    server = spawn(process.execPath, ['bin/lora-studio.mjs', 'serve', '--port', '0', '--project', join(work, 'project')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    server.stderr!.on('data', (d) => (stderr += d));
    return new Promise<string>((ok, fail) => {
      let out = '';
      server.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) ok(out.split('\n')[0]);
      });
      server.on('exit', (c) => fail(new Error(`serve exited with ${c}: ${stderr}`)));
    });
  }

  const text = (l: Locator, timeout = 30_000) => expect.poll(async () => (await l.textContent())?.trim(), { timeout });

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
    const png = await page.screenshot({ path: join(ARTIFACTS, 'grid-compare-1024.png') });
    const img = decodePng(png);
    expect([img.width, img.height]).toEqual([1024, 700]);
    const stats = imageStats(img);
    expect(stats.colors).toBeGreaterThan(30);
    expect(stats.nonBackground).toBeGreaterThan(0.03);
    // The whole view too (for a look: forms side by side, tables, charts), equally non-blank.
    const full = imageStats(decodePng(await page.screenshot({ path: join(ARTIFACTS, 'grid-compare-1024-full.png'), fullPage: true })));
    expect(full.nonBackground).toBeGreaterThan(0.03);
    expect(problems).toEqual([]);
  }, 120_000);
});
