// End to end, instruction data (issue #15): the studio in Debian's Chromium (playwright-core)
// against `lora-studio serve`. Opens a model, imports a small messages .jsonl and sees its trained
// spans highlighted, then chats one turn in the Playground — screenshots in out/e2e-chat-artifacts/
// (git-ignored), each checked to be non-blank.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkedShot, connect, gotoView, closeStudio, launchStudio, type Studio, studioE2eMissing, textOf as text, tinyGpt2 } from './studio-harness.ts';

const ARTIFACTS = resolve('out', 'e2e-chat-artifacts');
const missing = studioE2eMissing('studio chat e2e');

const chat = (q: string, a: string) => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });

describe.skipIf(missing !== null)('instruction data in the studio, in Chromium', () => {
  let work: string;
  let st: Studio;
  let page: Page;
  let problems: string[] = [];
  let shots = 0;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'studio-chat-e2e-'));
    tinyGpt2(work);
    const rows = [chat('What goes in guacamole?', 'Avocado, lime and salt.'), { messages: [{ role: 'user', content: 'No answer here' }] }, chat('Can I freeze soup?', 'Yes, for three months.')];
    writeFileSync(join(work, 'chat.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    rmSync(ARTIFACTS, { recursive: true, force: true });
    st = await launchStudio(work, join(work, 'project'));
    ({ page, problems } = st);
    await connect(page, st.url);
  }, 120_000);

  afterAll(() => closeStudio(st, work));

  const shot = (name: string) => checkedShot(page, ARTIFACTS, `${String(++shots).padStart(2, '0')}-${name}`);
  const view = (label: string) => gotoView(page, label);

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
