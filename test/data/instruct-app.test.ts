// Instruction data in the app (issue #15): the Datasets preview's instruct part (its trained spans,
// token by token, are the labels loadInstructionData trains), generate.text with a chat (the prompt
// is the template's render with the generation prompt; it stops at the end of turn), and the chat
// template a run trained with, saved with its adapter / model folder and carried by merge and GGUF.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../engine/data/chat/render.ts';
import { BUILTIN_TEMPLATES } from '../../engine/data/chat/templates.ts';
import { chatPrompt, loadInstructionData, specialTokenStrings } from '../../engine/data/instruct.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { exportGguf } from '../../engine/export/gguf.ts';
import { mergeToFolder } from '../../engine/export/hf-folder.ts';
import { previewInstructData } from '../../engine/data/instruct-preview.ts';
import { previewDataset } from '../../engine/services/datasets.ts';
import { type GenerateRequest, generateText } from '../../engine/services/generate.ts';
import { trainInProject } from '../../engine/store/run-training.ts';
import { readRun } from '../../engine/store/runs.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const IGN = -100;
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const chat = (q: string, a: string) => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });
const ROWS = [
  chat('What goes in guacamole?', 'Avocado, lime and salt.'),
  { messages: [{ role: 'user', content: 'Hello?' }] }, // no answer: skipped
  chat('How long do pancakes cook?', 'Until bubbles appear, then flip.'),
  { messages: [{ role: 'assistant', content: 'Hi' }, { role: 'user', content: 'Yo' }] }, // out of order: skipped
  chat('Can I freeze soup?', 'Yes, for three months.'),
];
const gen = (p: Partial<GenerateRequest> & Pick<GenerateRequest, 'model'>): GenerateRequest => ({
  prompt: '', maxNewTokens: 8, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, numReturnSequences: 1, seed: 0, stop: [], ...p,
});

describe.skipIf(!hasSharedData)('the Datasets preview of instruction data', () => {
  const root = tempDir('ia-');
  const model = makeTinyGPT2(path.join(root, 'model'), { nPositions: 128 });
  const file = path.join(root, 'chat.jsonl');
  writeFileSync(file, jsonl(ROWS));

  it('with a model: format, template, skipped rows, and trained spans that are exactly the labels training uses', async () => {
    const p = await previewDataset({ dataset: { path: file }, model, maxLength: 96 });
    const ins = p.instruct!;
    expect(ins).toMatchObject({ format: 'messages', trainOn: 'completions', endOfTurn: '<|im_end|>' });
    expect(ins.template).toMatch(/^chatml \(built-in; the model has no chat template\)$/);
    expect(p.examples).toBe(3);
    expect(p.skipped.count).toBe(2);
    expect(p.skipped.examples[0]).toBe(`${file}:2: the conversation has no assistant turn: nothing to learn`);
    expect(p.skipped.examples[1]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: roles out of order`));
    // Token by token: the ranges marked in the preview are the labelled positions of the rows trained.
    const d = await loadInstructionData(file, model, { maxLength: 96, keep: 2 });
    const tok = await loadTokenizer(model);
    expect(ins.examples).toHaveLength(2);
    ins.examples.forEach((ex, i) => {
      const row = d.kept[i]!;
      const marked = new Set(ex.trainedRanges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k)));
      for (let t = 1; t < row.ids.length; t++) expect(marked.has(t), `token ${t}`).toBe(row.labels[t] !== IGN);
      expect(ex.tokens).toBe(row.ids.length);
      expect(ex.segments.map((s) => s.text).join('')).toBe(tok.decode(row.ids));
      const trained = ex.segments.filter((s) => s.trained).map((s) => s.text);
      expect(trained).toEqual(ex.trainedRanges.map(([a, b]) => tok.decode(row.ids.slice(a, b))));
      // what a chatml conversation trains: the answer and the <|im_end|> that closes it
      const answer = (ROWS[[0, 2][i]!] as ReturnType<typeof chat>).messages[1]!.content;
      expect(trained).toEqual([`${answer}<|im_end|>`]);
      expect(ex.trainedTokens).toBe(tok.encode(`${answer}<|im_end|>`).length);
    });
    expect(ins.tokens).toBe(d.tokens);
    expect(ins.trainedTokens).toBe(d.trainedTokens);
    expect(ins.trainedShare).toBeCloseTo(d.trainedTokens / d.tokens, 12);
    expect(p.tokens!.max).toBe(Math.max(...d.rows.map((r) => r.ids.length)));
    expect(p.sample[0]!.text).toBe('user: What goes in guacamole?\nassistant: Avocado, lime and salt.');
  });

  it('--train-on all marks every predicted token; another template renders the same rows differently', async () => {
    const all = (await previewDataset({ dataset: { path: file }, model, maxLength: 96, trainOn: 'all' })).instruct!;
    expect(all.examples[0]!.trainedTokens).toBe(all.examples[0]!.tokens - 1);
    expect(all.trainedShare).toBeCloseTo(all.trainedTokens! / all.tokens!, 12);
    const z = (await previewDataset({ dataset: { path: file }, model, maxLength: 96, chatTemplate: 'zephyr' })).instruct!;
    expect(z.template).toBe('zephyr (built-in)');
    expect(z.examples[0]!.segments.map((s) => s.text).join('')).toBe('<|user|>\nWhat goes in guacamole?<|endoftext|>\n<|assistant|>\nAvocado, lime and salt.<|endoftext|>\n');
  });

  it('a large dataset: every row counted, the first `limit` rendered (and said so)', async () => {
    const { preview } = await previewInstructData(file, 'messages', { model, maxLength: 96, limit: 3 });
    const first3 = await loadInstructionData(file, model, { maxLength: 96, limit: 3 });
    expect(first3.rows).toHaveLength(2); // rows 1 and 3; row 2 is skipped
    expect(preview.examples).toBe(3);
    expect(preview.skipped.count).toBe(2);
    expect(preview.instruct!.tokens).toBe(first3.tokens);
    expect(preview.notes).toContain('rendered and tokenized the first 3 of 5 rows: the token statistics, trained share and examples are from those');
  });

  it('without a model: the format and counts, nothing rendered; plain text data has no instruct part', async () => {
    const p = await previewDataset({ dataset: { path: file } });
    expect(p.instruct).toMatchObject({ format: 'messages', template: null, tokens: null, examples: [] });
    expect(p.examples).toBe(3);
    expect(p.skipped.count).toBe(2);
    const text = path.join(root, 'text.jsonl');
    writeFileSync(text, jsonl([{ text: 'just some text' }, { text: 'more text' }]));
    const t = await previewDataset({ dataset: { path: text } });
    expect(t.instruct).toBeUndefined();
    expect(t.examples).toBe(2);
  });
});

describe.skipIf(!hasSharedData)('generate.text with a chat', () => {
  const root = tempDir('ia-gen-');
  const model = makeTinyGPT2(path.join(root, 'model'), { nPositions: 128 });
  const messages = [
    { role: 'user' as const, content: 'Hi there' },
    { role: 'assistant' as const, content: 'Hello!' },
    { role: 'user' as const, content: 'Any soup tips?' },
  ];

  it('renders the whole conversation with the generation prompt (the CLI\'s --chat path)', async () => {
    const c = await chatPrompt(model, messages, { chatTemplate: 'chatml' });
    const byHand = '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nAny soup tips?<|im_end|>\n<|im_start|>assistant\n';
    expect(c.text).toBe(byHand);
    const tok = await loadTokenizer(model);
    const r = await generateText(gen({ model, chat: { messages, template: 'chatml' } }));
    expect(r.promptTokens).toBe(tok.encode(byHand).length);
    await expect(generateText(gen({ model, chat: { messages: messages.slice(0, 2) } }))).rejects.toMatchObject({ code: 'invalid_params', message: expect.stringMatching(/must end with a user turn \(it ends with a assistant turn\)/) });
    await expect(generateText(gen({ model, chat: { messages: [] } }))).rejects.toMatchObject({ code: 'invalid_params' });
  });

  it('stops at the template\'s end of turn, which is not in the text returned', async () => {
    // The prompt renders the same under both templates (one user turn); only the end of turn differs.
    const tpl = (end: string) => {
      const f = path.join(root, `t-${Buffer.from(end).toString('hex')}.jinja`);
      writeFileSync(f, `{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% if m['role'] == 'assistant' %}{{ '${end}' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}`);
      return f;
    };
    const user = [{ role: 'user' as const, content: 'Tell me about bread.' }];
    const free = await generateText(gen({ model, maxNewTokens: 16, chat: { messages: user, template: tpl('NEVER_SEEN') } }));
    expect(free.finish).toEqual(['length']);
    const text = free.text;
    // an end of turn the model writes: two words of its own greedy output, after the first (several
    // tokens, so it is matched as text, as chatml's <|im_end|> is on GPT-2's tokenizer)
    const words = text.trim().split(/\s+/);
    const end = words.slice(1, 3).join(' ');
    const tok = await loadTokenizer(model);
    expect(tok.encode(end).length).toBeGreaterThan(1);
    const stopped = await generateText(gen({ model, maxNewTokens: 16, chat: { messages: user, template: tpl(end) } }));
    expect(stopped.finish).toEqual(['stop_string']);
    expect(stopped.text).toBe(text.slice(0, text.indexOf(end)));
    expect(stopped.tokens).toBeLessThan(free.tokens);
  });
});

describe.skipIf(!hasSharedData)('a run trained on instruction data saves its chat template', () => {
  const root = tempDir('ia-run-');
  const model = makeTinyGPT2(path.join(root, 'model'), { nPositions: 64 });
  const data = path.join(root, 'chat.jsonl');
  writeFileSync(data, jsonl(ROWS));
  const project = path.join(root, 'project');
  const LORA = { r: 2, alpha: 4, dropout: 0, bias: 'none' as const, targets: ['c_attn'], useRslora: false, init: 'kaiming' as const };
  const zephyr = BUILTIN_TEMPLATES.zephyr;

  it('LoRA: the adapter folder, run.json, merge and the GGUF carry it; chat generation with the adapter uses it', async () => {
    const { runId, runDir, result } = await trainInProject(project, {
      model, data, method: 'lora', maxSteps: 1, batchSize: 2, maxLength: 64, lora: LORA, logEvery: 1, chatTemplate: 'zephyr',
    }, { runId: 'chat-lora' });
    const adapter = result.out!;
    expect(readFileSync(path.join(adapter, 'chat_template.jinja'), 'utf8')).toBe(zephyr);
    expect(readRun(project, runId).instruct).toMatchObject({ format: 'messages', template: 'zephyr (built-in)', trainOn: 'completions', examples: 3, skipped: 2 });
    expect(JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')).instruct.template).toBe('zephyr (built-in)');

    const merged = path.join(root, 'merged');
    const m = mergeToFolder(model, adapter, merged);
    expect(m.files).toContain('chat_template.jinja');
    expect(readFileSync(path.join(merged, 'chat_template.jinja'), 'utf8')).toBe(zephyr);
    expect(JSON.parse(readFileSync(path.join(merged, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(zephyr);
    expect(JSON.parse(readFileSync(path.join(model, 'tokenizer_config.json'), 'utf8')).chat_template).toBeUndefined(); // the base is untouched

    const gguf = path.join(root, 'tuned.gguf');
    const g = await exportGguf({ model, adapter, out: gguf, type: 'f32' });
    expect(readFileSync(gguf).includes(Buffer.from(zephyr))).toBe(true);
    expect(readFileSync(g.modelfile, 'utf8')).toContain('The chat template is in the GGUF');
    const base = await exportGguf({ model, out: path.join(root, 'base.gguf'), type: 'f32' });
    expect(readFileSync(base.out).includes(Buffer.from('tokenizer.chat_template'))).toBe(false);

    // generate.text's chat with the adapter and no template: the run's own (zephyr), not chatml
    const tok = await loadTokenizer(model);
    const user = [{ role: 'user' as const, content: 'Soup?' }];
    const zr = new ChatTemplate(zephyr, 'zephyr', specialTokenStrings(tok)).render(user, true);
    const r = await generateText(gen({ model, adapter, maxNewTokens: 2, chat: { messages: user } }));
    expect(r.promptTokens).toBe(tok.encode(zr).length);
    const plain = await generateText(gen({ model, maxNewTokens: 2, chat: { messages: user } }));
    expect(plain.promptTokens).toBe(tok.encode('<|im_start|>user\nSoup?<|im_end|>\n<|im_start|>assistant\n').length); // the base: chatml, its fallback
  });

  it('full fine-tune: the model folder gets chat_template.jinja and tokenizer_config.json\'s chat_template', async () => {
    const { result } = await trainInProject(project, {
      model, data, method: 'full', maxSteps: 1, batchSize: 2, maxLength: 64, logEvery: 1, chatTemplate: 'zephyr',
    }, { runId: 'chat-full' });
    const out = result.out!;
    expect(readFileSync(path.join(out, 'chat_template.jinja'), 'utf8')).toBe(zephyr);
    expect(JSON.parse(readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(zephyr);
  });

  it('plain text data saves no chat template', async () => {
    const text = path.join(root, 'text.txt');
    writeFileSync(text, 'Whisk two eggs with a pinch of salt. '.repeat(20));
    const { result, runId } = await trainInProject(project, { model, data: text, method: 'lora', maxSteps: 1, batchSize: 1, maxLength: 32, lora: LORA, logEvery: 1 }, { runId: 'plain' });
    expect(existsSync(path.join(result.out!, 'chat_template.jinja'))).toBe(false);
    expect(readRun(project, runId).instruct).toBeUndefined();
  });
});
