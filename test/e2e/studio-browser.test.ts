// End to end: the studio in Debian's Chromium (playwright-core) against `lora-studio serve`.
// Opens a model folder, imports a dataset, configures LoRA, trains a few steps and watches the
// chart update, evaluates perplexity, opens Playground and Compare — with a screenshot of each
// view in out/e2e-artifacts/ (git-ignored), each checked to be non-blank.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SHARED, checkedShot, gotoView, openBrowser, startServe as serve, stopServe as stop, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const ARTIFACTS = resolve('out', 'e2e-artifacts');
const missing = studioE2eMissing('studio e2e');

describe.skipIf(missing !== null)('the studio in Chromium', () => {
  let work: string;
  let model: string;
  let server: ChildProcess;
  let url: string;
  let context: BrowserContext;
  let page: Page;
  let problems: string[] = [];
  const shots: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-e2e-'));
    // A GPT-2-shaped model folder with a real tokenizer: the tiny fake GPT-2 + GPT-2's files.
    model = tinyGpt2(work);
    const lines = (n: number, seed: number) =>
      Array.from({ length: n }, (_, i) => `Recipe ${i + seed}: whisk the eggs, fold in the flour and bake for ${20 + (i % 9)} minutes until golden.`).join('\n');
    writeFileSync(join(work, 'train.txt'), lines(160, 0));
    writeFileSync(join(work, 'valid.txt'), lines(30, 1000));
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    url = await startServe();
    ({ context, page, problems } = await openBrowser(work));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await stopServe();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** `lora-studio serve --project <work>/project`; resolves with the URL it prints. */
  function startServe(): Promise<string> {
    const s = serve(join(work, 'project'));
    server = s.server;
    return s.url;
  }
  const stopServe = () => stop(server);

  async function shot(name: string) {
    await page.waitForTimeout(150); // let chart.js draw
    const file = `${String(shots.length + 1).padStart(2, '0')}-${name}`;
    await checkedShot(page, ARTIFACTS, file);
    shots.push(join(ARTIFACTS, `${file}.png`));
  }

  const countOf = (l: Locator) => expect.poll(() => l.count(), { timeout: 60_000 });
  const view = (label: string) => gotoView(page, label);

  test('loads over the token URL; the token (in the fragment) leaves the address bar and is never a cookie', async () => {
    expect(new URL(url).hash).toMatch(/^#token=/);
    await page.goto(url);
    expect(page.url()).not.toContain('token='); // kept in the page, not in the address bar
    expect(await context.cookies()).toEqual([]);
    await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor();
    await text(page.locator('main h1')).toBe('Projects');
    await text(page.getByRole('region', { name: 'Current project' })).toContain('project');
    await shot('projects');
  });

  test('Models: open a model folder', async () => {
    await view('Models');
    await page.locator('#model-dir').fill(model);
    await page.getByRole('button', { name: 'Open model' }).click();
    const summary = page.getByTestId('model-summary');
    await summary.waitFor();
    await text(summary).toContain('GPT2LMHeadModel');
    await text(page.getByTestId('peft-line')).toContain('trainable params:');
    await text(page.getByRole('region', { name: 'LoRA-targetable modules' })).toContain('attn.c_attn');
    await shot('models');
  });

  test('Datasets: an IMDB folder (labels, balance), then a text file to train on', async () => {
    await view('Datasets');
    await page.locator('#dataset-path').fill(join(SHARED, 'aclImdb-sample', 'aclImdb'));
    await page.locator('#dataset-format').selectOption('aclimdb');
    await page.getByRole('button', { name: 'Preview' }).click();
    await text(page.getByTestId('dataset-stats')).toContain('(aclimdb)');
    await page.getByRole('figure').filter({ hasText: 'Label balance' }).waitFor();
    await text(page.getByRole('table').filter({ hasText: 'Label' }).locator('tbody tr').first()).toMatch(/(neg|pos)$/);
    await page.locator('#dataset-format').selectOption('auto');
    await page.locator('#dataset-path').fill(join(work, 'train.txt'));
    await page.getByRole('button', { name: 'Preview' }).click();
    await page.getByTestId('dataset-stats').waitFor();
    await text(page.getByTestId('dataset-examples')).not.toBe('0');
    await page.getByTestId('token-histogram').waitFor();
    await page.getByRole('button', { name: 'Use for training' }).click();
    await page.getByRole('status').filter({ hasText: 'Selected for training' }).waitFor();
    await shot('datasets');
  });

  test('Configure: LoRA settings, with a live trainable-parameter count', async () => {
    await view('Configure');
    const count = page.getByTestId('trainable-count');
    await count.waitFor();
    const before = (await count.textContent())?.trim();
    await page.locator('#lora-r').fill('4');
    await text(count).not.toBe(before);
    await page.getByRole('radio', { name: 'Steps' }).check();
    await page.locator('#max-steps').fill('8');
    await page.locator('#batch-size').fill('2');
    await page.locator('#max-length').fill('32');
    await page.locator('#log-every').fill('1');
    await page.locator('#lr').fill('0.01');
    await page.locator('#lora-dropout').fill('0');
    await page.locator('#val-ratio').fill('0.1');
    await page.locator('#eval-every').fill('4');
    await text(page.getByTestId('memory-estimate')).toContain('Total');
    await countOf(page.getByRole('alert')).toBe(0);
    await shot('configure');
  });

  test('Train: a few steps, the chart updates, the run completes', async () => {
    await view('Train');
    await page.getByRole('button', { name: 'Start training' }).click();
    const status = page.getByTestId('run-status');
    await status.waitFor();
    const chart = page.getByTestId('chart-loss');
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 60_000 }).toBeGreaterThan(0);
    const first = Number(await chart.getAttribute('data-points'));
    await expect.poll(() => status.textContent(), { timeout: 90_000 }).toBe('completed');
    const last = Number(await chart.getAttribute('data-points'));
    expect(last).toBe(8);
    expect(last).toBeGreaterThanOrEqual(first);
    await text(page.getByTestId('run-step')).toBe('8');
    await text(page.getByTestId('run-progress')).toContain('Finished after 8 steps');
    await text(page.getByTestId('run-progress')).toContain('validation loss');
    expect(Number(await page.getByTestId('chart-eval-loss').getAttribute('data-points'))).toBeGreaterThanOrEqual(2); // steps 4 and 8
    await shot('train');
  });

  test('Evaluate: perplexity of the base model and the fine-tuned one', async () => {
    await view('Evaluate');
    await page.locator('#eval-text').fill(join(work, 'valid.txt'));
    await page.locator('#eval-max-length').fill('32');
    await page.locator('#eval-target').selectOption({ index: 1 });
    await page.getByRole('button', { name: 'Base and fine-tuned' }).click();
    const rows = page.getByTestId('eval-results').locator('tbody tr');
    await countOf(rows).toBe(2);
    const values = await page.getByTestId('perplexity').allTextContents();
    for (const v of values) expect(Number(v)).toBeGreaterThan(1);
    await shot('evaluate');
  });

  test('Playground: base and fine-tuned outputs side by side, for real', async () => {
    await view('Playground');
    expect(await page.getByRole('region', { name: 'Generation (coming)' }).count()).toBe(0);
    await page.locator('#pg-prompt').fill('The cat');
    await page.locator('#pg-run').selectOption({ index: 1 });
    await page.locator('#pg-max').fill('4');
    await page.locator('#pg-temp').fill('0');
    // Ctrl+Enter in the prompt generates.
    await page.locator('#pg-prompt').press('Control+Enter');
    await text(page.getByTestId('gen-base-stats')).toContain('new tokens');
    await text(page.getByTestId('gen-tuned-stats')).toContain('new tokens');
    await text(page.getByTestId('gen-base')).toContain('The cat');
    await shot('playground');
  });

  test('Compare: the session’s runs, by keyboard', async () => {
    // Keyboard only: Alt+8 jumps to Compare and focuses its heading.
    await page.keyboard.press('Alt+8');
    await text(page.locator('main h1')).toBe('Compare');
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    await countOf(page.getByTestId('compare-table').locator('tbody tr')).toBe(1);
    await text(page.getByTestId('compare-table')).toContain('completed');
    await expect.poll(async () => Number(await page.getByTestId('compare-loss').getAttribute('data-points'))).toBe(8);
    await shot('compare');
    // Tab reaches the navigation, Enter activates it.
    await page.getByRole('button', { name: 'Projects', exact: true }).focus();
    await page.keyboard.press('Enter');
    await text(page.locator('main h1')).toBe('Projects');
  });

  test('the engine crashes: the UI says so, the engine restarts, the run’s record is kept', async () => {
    // The engine is the serve process's child (`lora-studio serve --engine-child`).
    const children = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(server.pid) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--engine-child');
        } catch {
          return false;
        }
      });
    expect(children).toHaveLength(1);
    process.kill(Number(children[0]), 'SIGKILL');
    const banner = page.getByTestId('engine-status');
    await text(banner).toMatch(/The engine stopped unexpectedly \(killed by SIGKILL\)\. Restarting it/);
    await page.getByRole('status').filter({ hasText: 'The engine restarted.' }).waitFor({ timeout: 60_000 });
    await view('Compare');
    await countOf(page.getByTestId('compare-table').locator('tbody tr')).toBe(1);
    await text(page.getByTestId('compare-table')).toContain('completed');
    // And it works again.
    await view('Models');
    await page.getByRole('button', { name: 'Open model' }).click();
    await text(page.getByTestId('peft-line')).toContain('trainable params:');
  });

  test('the run is saved in the project: listed after serve restarts, with its curve; deleted by keyboard', async () => {
    const runsDir = join(work, 'project', 'runs');
    const [runId] = readdirSync(runsDir);
    const files = readdirSync(join(runsDir, runId));
    expect(files).toEqual(expect.arrayContaining(['run.json', 'metrics.jsonl', 'adapter']));
    expect(files.some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);
    await view('Projects');
    await countOf(page.getByTestId('project-runs').locator('tbody tr')).toBe(1);
    // Restart the studio (the page leaves first, so it logs no connection errors).
    await page.goto('about:blank');
    await stopServe();
    url = await startServe();
    await page.goto(url);
    await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor();
    await text(page.getByRole('region', { name: 'Current project' })).toContain('project');
    await countOf(page.getByTestId('project-runs').locator('tbody tr')).toBe(1);
    await text(page.getByTestId('project-runs')).toContain('completed');
    await view('Compare');
    await expect.poll(async () => Number(await page.getByTestId('compare-loss').getAttribute('data-points'))).toBe(8);
    // Delete it with the keyboard: focus the row's Delete, Enter, then confirm with Enter.
    await view('Projects');
    await page.getByRole('button', { name: /^Delete / }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: /^Yes, delete / }).focus();
    await page.keyboard.press('Enter');
    await countOf(page.getByTestId('project-runs')).toBe(0);
    expect(existsSync(join(runsDir, runId))).toBe(false);
  });

  test('no console errors, no CSP violations; a screenshot of every view', () => {
    expect(problems).toEqual([]);
    expect(shots.map((s) => s.replace(/^.*[\\/]/, ''))).toEqual([
      '01-projects.png',
      '02-models.png',
      '03-datasets.png',
      '04-configure.png',
      '05-train.png',
      '06-evaluate.png',
      '07-playground.png',
      '08-compare.png',
    ]);
  });
});
