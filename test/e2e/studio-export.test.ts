// End to end: samples during training and export, in Debian's Chromium (playwright-core) against
// `lora-studio serve`. Opens the tiny model, imports a text file, trains a few steps with a sample
// prompt and sees the samples appear in Train, exports the run merged and sees the path — a
// Hugging Face folder in the run's folder — with a Copy button (a browser cannot open folders).
// The training settings come from the saved form (localStorage), as a returning user has them.
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
const ARTIFACTS = resolve('out', 'e2e-artifacts', 'export');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PROMPT = 'The cat';

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (apt-get install -y chromium)`
  : !existsSync(FAKE_GPT2) || !existsSync(TOKENIZER)
    ? `${SHARED} (tiny-gpt2/fake_gpt2, gpt2-tokenizer) is absent`
    : null;
if (missing) console.warn(`studio export e2e skipped: ${missing}`);

describe.skipIf(missing !== null)('samples and export in Chromium', () => {
  let work: string;
  let model: string;
  let server: ChildProcess;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-export-e2e-'));
    model = join(work, 'tiny-gpt2');
    cpSync(FAKE_GPT2, model, { recursive: true });
    for (const f of readdirSync(TOKENIZER)) if (f !== 'SOURCE.txt') copyFileSync(join(TOKENIZER, f), join(model, f));
    writeFileSync(join(work, 'train.txt'), Array.from({ length: 60 }, (_, i) => `The cat ${i} sat on the mat and purred at the ${i % 5} birds.`).join('\n'));
    mkdirSync(join(work, 'project'));
    mkdirSync(ARTIFACTS, { recursive: true });
    const url = await startServe();
    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
    // The saved Configure form: 4 steps, a sample of the prompt every 2 steps.
    const form = { stopBy: 'steps', maxSteps: 4, batchSize: 2, maxLength: 16, logEvery: 1, lr: 0.01, lora: { r: 4, dropout: 0 }, sample: { prompt: PROMPT, every: 2, maxNewTokens: 6 } };
    await context.addInitScript((f) => {
      if (!localStorage.getItem('studio.form')) localStorage.setItem('studio.form', f);
    }, JSON.stringify(form));
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);
    await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor({ timeout: 60_000 });
  }, 180_000);

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

  async function startServe(): Promise<string> {
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
  async function view(label: string) {
    await page.getByRole('navigation', { name: 'Studio sections' }).getByRole('button', { name: label, exact: true }).click();
    await text(page.locator('main h1')).toBe(label);
  }

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

    const png = await page.screenshot({ path: join(ARTIFACTS, 'train-export.png'), fullPage: true });
    const stats = imageStats(decodePng(png));
    expect(stats.colors).toBeGreaterThan(30);
    expect(stats.nonBackground).toBeGreaterThan(0.03);
    expect(problems).toEqual([]);
  }, 120_000);
});
