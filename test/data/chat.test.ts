// Chat templates, instruction formats and completion-only label masks (issue #15).
//
// Templates: the real chat_template strings of four published models are stored in
// test/fixtures/chat-templates/ (each names its source). The expected renders are either published
// (SmolLM2's generation prompt appears verbatim in a TRL pull request that printed
// apply_chat_template's output; TinyLlama's model card prints its render) or derived by hand from
// the template, reading it as transformers does (trim_blocks and lstrip_blocks on, so a newline
// right after a block tag `%}` is dropped, one after an expression `}}` is kept).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../engine/data/chat/render.ts';
import { BUILTIN_TEMPLATES } from '../../engine/data/chat/templates.ts';
import { chatPrompt, inspectInstruction, instructFormatOf, loadInstructionData } from '../../engine/data/instruct.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { FIXTURES, TOKENIZER_DIR, hasSharedData, tempDir } from '../helpers/tiny-model.ts';
import { writeParquet } from './parquet-writer.ts';

interface Fixture { chat_template: string; bos_token: string | null; eos_token: string; source: string }
const fixture = (name: string): Fixture => JSON.parse(readFileSync(path.join(FIXTURES, 'chat-templates', `${name}.json`), 'utf8')) as Fixture;
const tpl = (name: string, opts = {}) => {
  const f = fixture(name);
  return new ChatTemplate(f.chat_template, name, { bos_token: f.bos_token ?? undefined, eos_token: f.eos_token }, opts);
};
const JULY_26_2024 = new Date(2024, 6, 26, 12);
const conv = [
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Thanks' },
  { role: 'assistant', content: 'Bye now.' },
] as const;
const C = () => conv.map((m) => ({ ...m }));
const IGN = -100;

describe('real chat templates render as apply_chat_template does', () => {
  it('SmolLM2-135M-Instruct: default system turn, generation prompt (published render)', () => {
    const t = tpl('smollm2-135m-instruct');
    expect(t.render([{ role: 'user', content: 'What is 2 + 2? Answer with one number only.' }], true)).toBe(
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2 + 2? Answer with one number only.<|im_end|>\n<|im_start|>assistant\n',
    );
    // by hand: each turn is <|im_start|>role\ncontent<|im_end|>\n; a given system turn replaces the default
    expect(t.render([{ role: 'system', content: 'Be brief.' }, ...C()], false)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
        '<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\nBye now.<|im_end|>\n',
    );
  });

  it('Qwen2.5-Instruct: the model card\'s system prompt and question (derived by hand)', () => {
    const t = tpl('qwen2.5-instruct');
    const msgs = [
      { role: 'system' as const, content: 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' },
      { role: 'user' as const, content: 'Give me a short introduction to large language model.' },
    ];
    expect(t.render(msgs, true)).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nGive me a short introduction to large language model.<|im_end|>\n<|im_start|>assistant\n',
    );
    // no system turn: the template writes its default one (the same text)
    expect(t.render(msgs.slice(1), true)).toBe(t.render(msgs, true));
  });

  it('Llama-3.2-Instruct: BOS, the dated system header (date_string or strftime_now), trimmed content', () => {
    const expected =
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
    expect(tpl('llama-3.2-instruct', { vars: { date_string: '26 Jul 2024' } }).render([{ role: 'user', content: 'Hi there' }], true)).toBe(expected);
    // without date_string the template asks strftime_now("%d %b %Y")
    expect(tpl('llama-3.2-instruct', { now: JULY_26_2024 }).render([{ role: 'user', content: '  Hi there \n' }], true)).toBe(expected);
  });

  it('TinyLlama-1.1B-Chat-v1.0 (Zephyr): the model card\'s render', () => {
    expect(tpl('tinyllama-1.1b-chat-v1.0').render([
      { role: 'system', content: 'You are a friendly chatbot who always responds in the style of a pirate' },
      { role: 'user', content: 'How many helicopters can a human eat in one sitting?' },
    ], true)).toBe('<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n');
  });

  it('assistant spans are each answer plus the end-of-turn text that closes it, for every template', () => {
    const cases: [string, string, RenderOpts?][] = [
      ['smollm2-135m-instruct', '<|im_end|>'], ['qwen2.5-instruct', '<|im_end|>'],
      ['llama-3.2-instruct', '<|eot_id|>', { now: JULY_26_2024 }], ['tinyllama-1.1b-chat-v1.0', '</s>'],
    ];
    for (const [name, eot, opts] of cases) {
      const t = tpl(name, opts);
      const { text, spans } = t.assistantSpans(C());
      expect(spans.map(([a, b]) => text.slice(a, b)), name).toEqual([`Hello!${eot}`, `Bye now.${eot}`]);
      expect(t.endOfTurn(), name).toBe(eot);
    }
  });

  it('the built-ins render their formats', () => {
    const b = (n: keyof typeof BUILTIN_TEMPLATES) => new ChatTemplate(BUILTIN_TEMPLATES[n], n, { bos_token: '<s>', eos_token: '</s>' });
    const two = C().slice(0, 2);
    expect(b('chatml').render(two, false)).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n');
    expect(b('llama3').render(two, true)).toBe(
      '<s><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(b('alpaca').render([{ role: 'user', content: 'Add 2 and 3.' }], true)).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd 2 and 3.\n\n### Response:\n',
    );
    const a = b('alpaca').assistantSpans([{ role: 'system', content: 'Sys.' }, { role: 'user', content: 'Add 2 and 3.' }, { role: 'assistant', content: '5' }]);
    expect(a.text).toBe('Sys.\n\n### Instruction:\nAdd 2 and 3.\n\n### Response:\n5</s>\n\n');
    expect(a.spans.map(([x, y]) => a.text.slice(x, y))).toEqual(['5</s>']);
    expect(b('zephyr').render(two, false)).toBe(tpl('tinyllama-1.1b-chat-v1.0').render(two, false));
  });
});

type RenderOpts = { now?: Date; vars?: Record<string, unknown> };

// A GPT-2 tokenizer folder with chat special tokens added (as SmolLM2 and Llama 3 have them).
function chatTokenizer(dir: string, o: { template?: string; eos?: string; addBos?: string } = {}): string {
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(path.join(TOKENIZER_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown> & { added_tokens: unknown[] };
  const extra = ['<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
  extra.forEach((content, i) => json.added_tokens.push({ id: 50257 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  if (o.addBos) {
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: o.addBos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: o.addBos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [o.addBos]: { id: o.addBos, ids: [50257 + extra.indexOf(o.addBos)], tokens: [o.addBos] } },
    };
  }
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  const cfg: Record<string, unknown> = { bos_token: o.addBos ?? '<|endoftext|>', eos_token: o.eos ?? '<|im_end|>', unk_token: '<|endoftext|>' };
  if (o.template) cfg.chat_template = o.template;
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  return dir;
}

const jsonl = (rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

describe.skipIf(!hasSharedData)('label masks, token by token', () => {
  it('SmolLM2 template from the model folder: only the answers and their <|im_end|> are labelled', async () => {
    const root = tempDir('chat-');
    const model = chatTokenizer(path.join(root, 'm'), { template: fixture('smollm2-135m-instruct').chat_template });
    const data = path.join(root, 'd.jsonl');
    writeFileSync(data, jsonl([{ messages: C() }]));
    const d = await loadInstructionData(data, model, { maxLength: 512 });
    expect(d.format).toBe('messages');
    expect(d.template).toBe(path.join(model, 'tokenizer_config.json'));
    const tok = await loadTokenizer(model);
    // The render, split by hand at the answers (SmolLM2 writes its default system turn):
    const segs: [string, boolean][] = [
      ['<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n', false],
      ['Hello!<|im_end|>', true],
      ['\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n', false],
      ['Bye now.<|im_end|>', true],
      ['\n', false],
    ];
    expect(d.kept).toEqual([]);
    const ids: number[] = [], labels: number[] = [];
    for (const [s, trained] of segs) for (const id of tok.encode(s)) { ids.push(id); labels.push(trained ? id : IGN); }
    expect(d.rows[0]!.ids).toEqual(ids);
    expect(d.rows[0]!.labels).toEqual(labels);
    // the end-of-turn token is one token and labelled
    const imEnd = tok.tokenToId('<|im_end|>')!;
    expect(labels.filter((l) => l === imEnd)).toHaveLength(2);
    expect(d.trainedTokens).toBe(labels.filter((l) => l !== IGN).length);
    // --train-on all: every token
    const all = await loadInstructionData(data, model, { maxLength: 512, trainOn: 'all' });
    expect(all.rows[0]!.labels).toEqual(ids);
  });

  it('Llama 3.2: the template writes BOS, so a BOS-adding tokenizer adds no second one; chatml gets one BOS', async () => {
    const root = tempDir('chat-');
    const model = chatTokenizer(path.join(root, 'm'), { template: fixture('llama-3.2-instruct').chat_template, eos: '<|eot_id|>', addBos: '<|begin_of_text|>' });
    const tok = await loadTokenizer(model);
    const bos = tok.tokenToId('<|begin_of_text|>')!;
    expect(tok.encode('Hi', { addSpecialTokens: true })[0]).toBe(bos); // this tokenizer adds BOS by default
    const data = path.join(root, 'd.jsonl');
    writeFileSync(data, jsonl([{ messages: C().slice(0, 2) }]));
    const d = await loadInstructionData(data, model, { maxLength: 512, now: JULY_26_2024 });
    const ids = d.rows[0]!.ids;
    expect(ids[0]).toBe(bos);
    expect(ids.filter((x) => x === bos)).toHaveLength(1);
    const eot = tok.tokenToId('<|eot_id|>')!;
    const answer = [...tok.encode('Hello!', { addSpecialTokens: false }), eot];
    expect(d.rows[0]!.labels.filter((l) => l !== IGN)).toEqual(answer);
    expect(d.rows[0]!.labels.slice(-answer.length)).toEqual(answer);
    const c = await loadInstructionData(data, model, { maxLength: 512, chatTemplate: 'chatml' });
    expect(c.rows[0]!.ids[0]).toBe(bos);
    expect(c.rows[0]!.ids.slice(1)).toEqual(tok.encode('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n', { addSpecialTokens: false }));
  });

  it('chatml on plain GPT-2 (markers are several tokens): the answer and its <|im_end|> text are labelled', async () => {
    const root = tempDir('chat-');
    const data = path.join(root, 'd.jsonl');
    writeFileSync(data, jsonl([{ messages: C().slice(0, 2) }]));
    const d = await loadInstructionData(data, TOKENIZER_DIR, { maxLength: 512 });
    expect(d.template).toMatch(/^chatml \(built-in; the model has no chat template\)/);
    const tok = await loadTokenizer(TOKENIZER_DIR);
    const pre = tok.encode('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n');
    const ans = tok.encode('Hello!<|im_end|>');
    expect(d.rows[0]!.ids).toEqual([...pre, ...ans, ...tok.encode('\n')]);
    expect(d.rows[0]!.labels).toEqual([...pre.map(() => IGN), ...ans, IGN]);
  });

  it('TRL prompt/completion strings: prompt + completion + EOS, the completion and EOS labelled (CSV, mapped columns)', async () => {
    const root = tempDir('chat-');
    const data = path.join(root, 'd.csv');
    writeFileSync(data, 'question,answer\n"The capital of France is"," Paris."\n');
    expect(await instructFormatOf(data, 'auto', { prompt: 'question', completion: 'answer' })).toBe('prompt-completion');
    expect(await instructFormatOf(data)).toBeNull(); // without the mapping it is plain text
    const d = await loadInstructionData(data, TOKENIZER_DIR, { maxLength: 64, columns: { prompt: 'question', completion: 'answer' } });
    const tok = await loadTokenizer(TOKENIZER_DIR);
    const p = tok.encode('The capital of France is'), c = [...tok.encode(' Paris.'), 50256];
    expect(d.template).toBeNull();
    expect(d.rows[0]).toEqual({ ids: [...p, ...c], labels: [...p.map(() => IGN), ...c] });
  });

  it('cuts rows at max length; an example whose answer starts past it is skipped and counted', async () => {
    const root = tempDir('chat-');
    const data = path.join(root, 'd.jsonl');
    const long = 'word '.repeat(60);
    writeFileSync(data, jsonl([
      { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: long }] },
      { messages: [{ role: 'user', content: long }, { role: 'assistant', content: 'Yes.' }] },
    ]));
    const d = await loadInstructionData(data, TOKENIZER_DIR, { maxLength: 32 });
    expect(d.rows).toHaveLength(1);
    expect(d.rows[0]!.ids).toHaveLength(32);
    expect(d.truncated).toBe(1);
    expect(d.skipped.count).toBe(1);
    expect(d.skipped.examples[0]).toMatch(new RegExp(`^${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: no answer tokens within the max length of 32 tokens \\(the answer starts at token \\d+\\); raise --max-length$`));
  });
});

describe.skipIf(!hasSharedData)('formats, detected and read', () => {
  const want = [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Add 2 and 3.\n\nAs a word.' }, { role: 'assistant', content: 'Five.' }];
  const render = (msgs: typeof want) => new ChatTemplate(BUILTIN_TEMPLATES.chatml, 'chatml', {}).render(msgs as never, false);

  it('alpaca (JSON array), sharegpt (JSONL), messages (parquet column of JSON) and conversational prompt/completion', async () => {
    const root = tempDir('chat-');
    const tok = await loadTokenizer(TOKENIZER_DIR);
    const files: [string, string | Buffer, string][] = [
      ['a.json', JSON.stringify([{ instruction: 'Add 2 and 3.', input: 'As a word.', output: 'Five.', system: 'Be kind.' }], null, 2), 'alpaca'],
      ['s.jsonl', jsonl([{ conversations: [{ from: 'system', value: 'Be kind.' }, { from: 'human', value: 'Add 2 and 3.\n\nAs a word.' }, { from: 'gpt', value: 'Five.' }] }]), 'sharegpt'],
      ['m.parquet', writeParquet([{ name: 'messages', type: 'string', values: [JSON.stringify(want)] }]), 'messages'],
      ['p.jsonl', jsonl([{ prompt: want.slice(0, 2), completion: want.slice(2) }]), 'prompt-completion'],
    ];
    for (const [name, body, format] of files) {
      const f = path.join(root, name);
      writeFileSync(f, body);
      expect(await instructFormatOf(f), name).toBe(format);
      const d = await loadInstructionData(f, TOKENIZER_DIR, { maxLength: 256, keep: 1 });
      expect(d.format, name).toBe(format);
      expect(d.kept[0]!.text, name).toBe(render(want));
      expect(d.rows[0]!.ids, name).toEqual(tok.encode(render(want)));
    }
  });

  it('recipes.jsonl and text files stay plain text; --format picks a format', async () => {
    expect(await instructFormatOf(path.join(FIXTURES, '..', '..', 'samples', 'recipes.jsonl'))).toBeNull();
    expect(await instructFormatOf(path.join(FIXTURES, '..', '..', 'samples', 'recipes-instruct.jsonl'))).toBe('messages');
    expect(await instructFormatOf(path.join(FIXTURES, '..', '..', 'samples', 'recipes-instruct.jsonl'), 'text')).toBeNull();
    await expect(instructFormatOf('x.jsonl', 'chatgpt' as never)).rejects.toThrow(/^unknown data format "chatgpt"; use one of auto, text, prompt-completion, alpaca, sharegpt, messages$/);
  });
});

describe.skipIf(!hasSharedData)('bad input: one line naming the file, the row and the problem', () => {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  it('rows without an answer, with roles out of order, missing fields or broken JSON are skipped and reported', async () => {
    const root = tempDir('chat-');
    const f = path.join(root, 'd.jsonl');
    writeFileSync(f, jsonl([
      { messages: C().slice(0, 2) },
      { messages: [{ role: 'user', content: 'Hi' }] },
      { messages: [{ role: 'user', content: 'Hi' }, { role: 'user', content: 'Hi?' }, { role: 'assistant', content: 'Yes' }] },
      { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Yes' }, { role: 'system', content: 'x' }] },
      { messages: [{ role: 'user', content: 'Hi' }, { role: 'bot', content: 'Yes' }] },
      { text: 'no messages here' },
      '{"messages": [',
    ]));
    const d = await loadInstructionData(f, TOKENIZER_DIR, { maxLength: 128 });
    expect(d.rows).toHaveLength(1);
    expect(d.skipped.count).toBe(6);
    // the file is read first (broken JSON), then each record is checked
    const [json, ...ex] = d.skipped.examples;
    expect(json).toMatch(new RegExp(`^${esc(f)}:7: invalid JSON \\(`));
    expect(ex[0]).toBe(`${f}:2: the conversation has no assistant turn: nothing to learn`);
    expect(ex[1]).toBe(`${f}:3: roles out of order: turn 2 is user, expected assistant (turns must alternate user, assistant, … after an optional system turn)`);
    expect(ex[2]).toBe(`${f}:4: roles out of order: turn 3 is a system turn (only the first turn may be)`);
    expect(ex[3]).toBe(`${f}:5: turn 2 has role "bot"; expected one of system, user, assistant`);
    expect(ex[4]).toBe(`${f}:6: missing field "messages" (the messages format needs it; the fields are "text")`);
    for (const e of d.skipped.examples) expect(e).not.toMatch(/\n/);
  });

  it('a template that raises skips the row with its message; an undefined template variable stops with one line', async () => {
    const root = tempDir('chat-');
    const f = path.join(root, 'd.jsonl');
    writeFileSync(f, jsonl([{ messages: C().slice(0, 2) }, { messages: [{ role: 'user', content: 'boom' }, { role: 'assistant', content: 'x' }] }]));
    const raising = path.join(root, 'raising.jinja');
    writeFileSync(raising, "{% for m in messages %}{% if m['content'] == 'boom' %}{{ raise_exception('no booms here') }}{% endif %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}");
    const d = await loadInstructionData(f, TOKENIZER_DIR, { maxLength: 128, chatTemplate: raising });
    expect(d.rows).toHaveLength(1);
    expect(d.skipped.examples).toEqual([`${f}:2: the chat template (${raising}) raised an exception: no booms here`]);
    const undef = path.join(root, 'undef.jinja');
    writeFileSync(undef, "{{ persona }}{% for m in messages %}{{ m['content'] }}{% endfor %}{% if tone is defined %}{{ tone }}{% endif %}");
    await expect(loadInstructionData(f, TOKENIZER_DIR, { maxLength: 128, chatTemplate: undef })).rejects.toThrow(
      new RegExp(`^${esc(f)}:1: the chat template \\(${esc(undef)}\\) uses the variable "persona", which is not defined \\(apply_chat_template passes messages, add_generation_prompt, tools, documents and the special tokens\\)$`),
    );
    // every row bad: the error names the first
    const bad = path.join(root, 'bad.jsonl');
    writeFileSync(bad, jsonl([{ messages: [{ role: 'user', content: 'Hi' }] }]));
    await expect(loadInstructionData(bad, TOKENIZER_DIR, { maxLength: 128 })).rejects.toThrow(`${bad}: no usable examples; 1 row(s) skipped, first: ${bad}:1: the conversation has no assistant turn: nothing to learn`);
    await expect(loadInstructionData(bad, TOKENIZER_DIR, { maxLength: 128, chatTemplate: 'nope' })).rejects.toThrow(/not auto, a built-in \(chatml, llama3, alpaca, zephyr\) or an existing template file/);
    const text = path.join(root, 't.jsonl');
    writeFileSync(text, jsonl([{ text: 'hello' }]));
    await expect(loadInstructionData(text, TOKENIZER_DIR, { maxLength: 128 })).rejects.toThrow(new RegExp(`^${esc(text)}:1: not instruction data: the fields are "text"; expected "messages"`));
  });
});

describe.skipIf(!hasSharedData)('data inspect and the chat prompt', () => {
  it('marks the trained tokens of one example and reports the trained share', async () => {
    const root = tempDir('chat-');
    const model = chatTokenizer(path.join(root, 'm'), {});
    const f = path.join(root, 'd.jsonl');
    writeFileSync(f, jsonl([{ messages: C() }]));
    const r = await inspectInstruction(f, model, { maxLength: 256, chatTemplate: 'chatml' });
    expect(r.example!.marked).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n«Hello!<|im_end|>»\n<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n«Bye now.<|im_end|>»\n');
    const tok = await loadTokenizer(model);
    const trained = tok.encode('Hello!<|im_end|>').length + tok.encode('Bye now.<|im_end|>').length;
    expect(r.example!.trainedTokens).toBe(trained);
    expect(r.trainedShare).toBeCloseTo(trained / r.example!.tokens, 12);
  });

  it('generate --chat: the prompt as a user turn; stop at the end-of-turn token or, when it is not one token, its text', async () => {
    const root = tempDir('chat-');
    const model = chatTokenizer(path.join(root, 'm'), { eos: '<|endoftext|>' });
    const c = await chatPrompt(model, 'How do I make tea?', { chatTemplate: 'chatml' });
    const tok = await loadTokenizer(model);
    expect(c.text).toBe('<|im_start|>user\nHow do I make tea?<|im_end|>\n<|im_start|>assistant\n');
    expect(c.ids).toEqual(tok.encode(c.text));
    expect(c.stopTokenIds).toEqual([50256, tok.tokenToId('<|im_end|>')]);
    expect(c.stopStrings).toEqual([]);
    const plain = await chatPrompt(TOKENIZER_DIR, 'How do I make tea?');
    expect(plain.stopTokenIds).toEqual([50256]);
    expect(plain.stopStrings).toEqual(['<|im_end|>']);
  });
});


