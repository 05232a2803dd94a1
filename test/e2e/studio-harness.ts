// What every studio browser test shares: Debian's Chromium (playwright-core never downloads a
// browser), `lora-studio serve` on a project, the tiny GPT-2 with a real tokenizer, screenshots
// checked to be non-blank, and polling helpers (playwright-core has no web-first assertions).
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type BrowserContext, type Locator, type Page, chromium } from 'playwright-core';
import { expect } from 'vitest';
import { decodePng, imageStats } from './png.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const SHARED = resolve('../shared/data');
const FAKE_GPT2 = join(SHARED, 'tiny-gpt2', 'fake_gpt2');
const TOKENIZER = join(SHARED, 'gpt2-tokenizer');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Why the studio's browser tests cannot run here (warned once per file), or null. */
export function studioE2eMissing(what: string): string | null {
  const missing = !existsSync(CHROMIUM)
    ? `${CHROMIUM} is not installed (apt-get install -y chromium)`
    : !existsSync(FAKE_GPT2) || !existsSync(TOKENIZER)
      ? `${SHARED} (tiny-gpt2/fake_gpt2, gpt2-tokenizer) is absent`
      : null;
  if (missing) console.warn(`${what} skipped: ${missing}`);
  return missing;
}

/** A GPT-2-shaped model folder in `work`: the tiny fake GPT-2 + GPT-2's tokenizer files. */
export function tinyGpt2(work: string): string {
  const model = join(work, 'tiny-gpt2');
  cpSync(FAKE_GPT2, model, { recursive: true });
  for (const f of readdirSync(TOKENIZER)) if (f !== 'SOURCE.txt') copyFileSync(join(TOKENIZER, f), join(model, f));
  return model;
}

/** `lora-studio serve --project DIR` on a free port; resolves with the URL it prints. */
export function startServe(project: string): { server: ChildProcess; url: Promise<string> } {
  mkdirSync(project, { recursive: true });
  const server = spawn(process.execPath, ['bin/lora-studio.mjs', 'serve', '--port', '0', '--project', project], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr!.on('data', (d) => (stderr += d));
  const url = new Promise<string>((ok, fail) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) ok(out.split('\n')[0]!);
    });
    server.on('exit', (c) => fail(new Error(`serve exited with ${c}: ${stderr}`)));
  });
  return { server, url };
}

export async function stopServe(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null) return;
  await new Promise((r) => {
    server.on('exit', r);
    server.kill('SIGTERM');
  });
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and page errors seen so far. */
  problems: string[];
}

/** Chromium with its own profile in `work`; console and page errors are collected. */
export async function openBrowser(work: string, viewport = { width: 1280, height: 900 }): Promise<Browser> {
  const context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { context, page, problems };
}

/** Opens the studio's URL and waits for its engine connection. */
export async function connect(page: Page, url: string, timeout = 30_000): Promise<void> {
  await page.goto(url);
  await page.getByTestId('connection').filter({ hasText: 'connected' }).waitFor({ timeout });
}

/** Polls a locator's trimmed text. */
export const textOf = (l: Locator, timeout = 30_000) => expect.poll(async () => (await l.textContent())?.trim(), { timeout });

/** Clicks a section in the nav and waits for its heading. */
export async function gotoView(page: Page, label: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Studio sections' }).getByRole('button', { name: label, exact: true }).click();
  await textOf(page.locator('main h1')).toBe(label);
}

/** A full-page screenshot into `dir`, checked to be a rendered page, not a blank one. */
export async function checkedShot(page: Page, dir: string, name: string, fullPage = true): Promise<Buffer> {
  mkdirSync(dir, { recursive: true });
  const png = await page.screenshot({ path: join(dir, `${name}.png`), fullPage });
  const stats = imageStats(decodePng(png));
  expect(stats.colors, `${name}: distinct colours`).toBeGreaterThan(30);
  expect(stats.nonBackground, `${name}: share of non-background pixels`).toBeGreaterThan(0.03);
  return png;
}

export interface Studio extends Browser {
  server: ChildProcess;
  url: string;
}

/** `serve` on `project` and a browser profile in `work` (not yet on the page: see connect). */
export async function launchStudio(work: string, project: string, viewport?: { width: number; height: number }): Promise<Studio> {
  const s = startServe(project);
  const b = await openBrowser(work, viewport);
  return { ...b, server: s.server, url: await s.url };
}

/** Closes the browser and the server, and removes `work`. */
export async function closeStudio(st: Partial<Studio> | undefined, work: string | undefined): Promise<void> {
  await st?.context?.close();
  await stopServe(st?.server);
  if (work) rmSync(work, { recursive: true, force: true });
}
