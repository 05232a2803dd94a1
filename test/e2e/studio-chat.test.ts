// End to end, instruction data (issue #15): the studio in Debian's Chromium (playwright-core)
// against `lora-studio serve`. Opens a model, imports a small messages .jsonl and sees its trained
// spans highlighted, then chats one turn in the Playground — screenshots in out/e2e-chat-artifacts/
// (git-ignored), each checked to be non-blank.
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
const ARTIFACTS = resolve('out', 'e2e-chat-artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed (apt-get install -y chromium)`
  : !existsSync(FAKE_GPT2) || !existsSync(TOKENIZER)
    ? `${SHARED} (tiny-gpt2/fake_gpt2, gpt2-tokenizer) is absent`
    : null;
if (missing) console.warn(`studio chat e2e skipped: ${missing}`);

const chat = (q: string, a: string) => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });

describe.skipIf(missing !== null)('instruction data in the studio, in Chromium', () => {
  let work: string;
  let server: ChildProcess;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let shots = 0;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-chat-e2e-'));
    const model = join(work, 'tiny-gpt2');
    cpSync(FAKE_GPT2, model, { recursive: true });
    for (const f of readdirSync(TOKENIZER)) if (f !== 'SOURCE.txt') copyFileSync(join(TOKENIZER, f), join(model, f));
    const rows = [chat('What goes in guacamole?', 'Avocado, lime and salt.'), { messages: [{ role: 'user', content: 'No answer here' }] }, chat('Can I freeze soup?', 'Yes, for three months.')];
    writeFileSync(join(work, 'chat.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    mkdirSync(join(work, 'project'));
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    const url = await startServe();
    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
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

  async function startServe(): Promise<string> {
    server = spawn(process.execPath, ['bin/lora-studio.mjs', 'serve', '--port', '0', '--project', join(work, 'project')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    server.stderr!.on('data', (d) => (stderr += d));
    return new Promise<string>((ok, fail) => {
      let out = '';
      server.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) ok(out.split('\n')[0]!);
      });
      server.on('exit', (c) => fail(new Error(`serve exited with ${c}: ${stderr}`)));
    });
  }

  async function shot(name: string) {
    const png = await page.screenshot({ path: join(ARTIFACTS, `${String(++shots).padStart(2, '0')}-${name}.png`), fullPage: true });
    const stats = imageStats(decodePng(png));
    expect(stats.colors, `${name}: distinct colours`).toBeGreaterThan(30);
    expect(stats.nonBackground, `${name}: share of non-background pixels`).toBeGreaterThan(0.03);
  }

  const text = (l: Locator) => expect.poll(async () => (await l.textContent())?.trim(), { timeout: 30_000 });
  async function view(label: string) {
    await page.getByRole('navigation', { name: 'Studio sections' }).getByRole('button', { name: label, exact: true }).click();
    await text(page.locator('main h1')).toBe(label);
  }

  test('a messages .jsonl: trained spans highlighted; then one chat turn in the Playground', async () => {
    await view('Models');
    await page.locator('#model-dir').fill(join(work, 'tiny-gpt2'));
    await page.getByRole('button', { name: 'Open model' }).click();
    await text(page.getByTestId('model-summary')).toContain('GPT2LMHeadModel');

    await view('Datasets');
    await page.locator('#dataset-path').fill(join(work, 'chat.jsonl'));
    await page.getByRole('button', { name: 'Preview' }).click();
    const card = page.getByTestId('instruct-preview');
    await card.waitFor();
    await text(page.getByTestId('instruct-template')).toContain('chatml (built-in');
    await text(page.getByTestId('dataset-examples')).toBe('2');
    await text(card).toContain('no assistant turn'); // the skipped row and why
    const first = page.getByTestId('instruct-example').first();
    // chatml on GPT-2's tokenizer: the answer and its <|im_end|> are the trained tokens
    expect((await first.locator('mark').allTextContents()).map((t) => t.replace(/\[(end )?trained\]/g, '').trim())).toEqual(['Avocado, lime and salt.<|im_end|>']);
    expect(await first.textContent()).toContain('<|im_start|>user\nWhat goes in guacamole?<|im_end|>');
    const share = Number((await page.getByTestId('instruct-share').textContent())!.replace('%', ''));
    expect(share).toBeGreaterThan(5);
    expect(share).toBeLessThan(60);
    await shot('datasets-instruct');

    await view('Playground');
    await page.getByRole('checkbox', { name: /^Chat \(/ }).check();
    await page.locator('#pg-max').fill('6');
    await page.locator('#pg-temp').fill('0');
    await page.locator('#pg-message').fill('What goes in guacamole?');
    await page.locator('#pg-message').press('Enter');
    await text(page.getByTestId('gen-base-stats')).toMatch(/\d+ new tokens · .* ended by (end of text|stop string|max new tokens)/);
    const base = page.getByRole('list', { name: 'Conversation with the base model' });
    await text(base.getByRole('listitem').first()).toBe('You What goes in guacamole?');
    await text(page.getByTestId('gen-tuned')).toBe('—'); // no finished run picked
    await shot('playground-chat');
    expect(problems).toEqual([]);
  }, 60_000);
});
