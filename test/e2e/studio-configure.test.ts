// End to end: the Configure view in Debian's Chromium against `lora-studio serve`: the engine's
// estimate for an int8 base, a zero-step run refused next to its field (Go to Train and Start
// disabled), and the configuration still there after a reload.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, type Locator, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const SHARED = resolve('../shared/data');
const FAKE_GPT2 = join(SHARED, 'tiny-gpt2', 'fake_gpt2');
const TOKENIZER = join(SHARED, 'gpt2-tokenizer');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (apt-get install -y chromium)`
  : !existsSync(FAKE_GPT2) || !existsSync(TOKENIZER)
    ? `${SHARED} (tiny-gpt2/fake_gpt2, gpt2-tokenizer) is absent`
    : null;
if (missing) console.warn(`studio configure e2e skipped: ${missing}`);

describe.skipIf(missing !== null)('Configure in Chromium', () => {
  let work: string;
  let server: ChildProcess;
  let url: string;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-configure-e2e-'));
    const model = join(work, 'tiny-gpt2');
    cpSync(FAKE_GPT2, model, { recursive: true });
    for (const f of readdirSync(TOKENIZER)) if (f !== 'SOURCE.txt') copyFileSync(join(TOKENIZER, f), join(model, f));
    writeFileSync(join(work, 'train.txt'), Array.from({ length: 60 }, (_, i) => `Recipe ${i}: whisk the eggs and bake for ${20 + (i % 9)} minutes.`).join('\n'));
    mkdirSync(join(work, 'project'));
    url = await startServe();
    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (server && server.exitCode === null) await new Promise((r) => (server.on('exit', r), server.kill('SIGTERM')));
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

  const text = (l: Locator) => expect.poll(async () => (await l.textContent())?.trim(), { timeout: 30_000 });
  async function view(label: string) {
    await page.getByRole('navigation', { name: 'Studio sections' }).getByRole('button', { name: label, exact: true }).click();
    await text(page.locator('main h1')).toBe(label);
  }

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
