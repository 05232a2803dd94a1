// The CLI side of issue #15: train's instruction flags as TrainOptions, `data inspect` of
// instruction data, and the generator stopping at a chat template's end-of-turn token.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chatFromFlags } from '../../cli/commands/chat-flags.ts';
import { dataCommand } from '../../cli/commands/data.ts';
import { UsageError } from '../../cli/args.ts';
import { chatPrompt } from '../../engine/data/instruct.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { Generator } from '../../engine/generate/generator.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const samples = path.resolve(import.meta.dirname, '..', '..', 'samples');

async function data(argv: string[]) {
  let out = '', err = '';
  const code = await dataCommand(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('train flags for instruction data', () => {
  it('map to TrainOptions fields, and bad values are usage errors', () => {
    expect(chatFromFlags({})).toEqual({});
    expect(chatFromFlags({ format: 'sharegpt', 'chat-template': 'zephyr', 'train-on': 'all', columns: 'prompt=question, completion=answer' })).toEqual({
      format: 'sharegpt', chatTemplate: 'zephyr', trainOn: 'all', chatColumns: { prompt: 'question', completion: 'answer' },
    });
    expect(() => chatFromFlags({ format: 'chat' })).toThrow(new UsageError('--format must be auto, text or one of prompt-completion, alpaca, sharegpt, messages, got "chat"'));
    expect(() => chatFromFlags({ 'train-on': 'prompts' })).toThrow(UsageError);
    expect(() => chatFromFlags({ columns: 'question' })).toThrow(/--columns: "question" is not FIELD=COLUMN/);
  });
});

describe.skipIf(!hasSharedData)('data inspect and generate --chat (tiny random GPT-2)', () => {
  const root = hasSharedData ? tempDir('chat-cli-') : '';
  const model = hasSharedData ? makeTinyGPT2(path.join(root, 'm'), { nPositions: 128 }) : '';

  it('data inspect shows one rendered example with the trained spans marked and the trained share', async () => {
    const r = await data(['inspect', path.join(samples, 'recipes-instruct.jsonl'), '--model', model, '--max-length', '256', '--example', '2']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('format:    messages (instruction data; chat template: chatml (built-in; the model has no chat template))');
    expect(r.out).toContain('examples:  60, one per row (not packed)');
    expect(r.out).toMatch(/tokens:    \d+ total; \d+ trained \(\d+\.\d%, --train-on completions\)/);
    expect(r.out).toContain('<|im_start|>user\nHow do I make Tomato Basil Soup?<|im_end|>\n<|im_start|>assistant\n«Here is how to make Tomato Basil Soup: 1. Soften');
    expect(r.out).toContain('Happy cooking!<|im_end|>»\n');
    const j = await data(['inspect', path.join(samples, 'recipes-instruct.jsonl'), '--model', model, '--train-on', 'all', '--json']);
    const parsed = JSON.parse(j.out) as { trainedShare: number; examples: number; tokens: number; trainedTokens: number };
    expect(parsed.examples).toBe(60);
    expect(parsed.trainedTokens).toBe(parsed.tokens - 60); // every token but each row's first (nothing predicts it)
    expect(parsed.trainedShare).toBeCloseTo((parsed.tokens - 60) / parsed.tokens, 12);
  });

  it('data inspect: instruction data without --model, and a bad row, are one line each', async () => {
    const noModel = await data(['inspect', path.join(samples, 'recipes-instruct.jsonl')]);
    expect(noModel.code).toBe(1);
    expect(noModel.err).toBe(`lora-studio data: ${path.join(samples, 'recipes-instruct.jsonl')} holds instruction data (messages): give --model DIR to render it through the model's chat template and count its tokens\n`);
    const f = path.join(root, 'bad.jsonl');
    writeFileSync(f, `${JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] })}\n${JSON.stringify({ messages: [{ role: 'assistant', content: 'Hello' }] })}\n`);
    const r = await data(['inspect', f, '--model', model]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`skipped:   1\n  - ${f}:2: roles out of order: turn 1 is assistant, expected user`);
    // plain recipes stay on the plain-text inspection
    const plain = await data(['inspect', path.join(samples, 'recipes.jsonl')]);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('examples:  86');
  });

  it('the generator stops at a chat end-of-turn token as at EOS', async () => {
    const c = await chatPrompt(model, 'How do I make tea?');
    const tok = await loadTokenizer(model);
    const gen = await Generator.load(model, undefined, {});
    try {
      const free = await gen.generate(c.ids, { maxNewTokens: 6, eosTokenId: null }, tok);
      expect(free.tokens[0]).toHaveLength(6);
      // make the third greedy token an end-of-turn token: generation stops right there
      const third = free.tokens[0]![2]!;
      const stopped = await gen.generate(c.ids, { maxNewTokens: 6, eosTokenId: null, stopTokenIds: [third] }, tok);
      expect(stopped.tokens[0]).toEqual(free.tokens[0]!.slice(0, free.tokens[0]!.indexOf(third) + 1));
      expect(stopped.finish).toEqual(['eos']);
    } finally {
      await gen.release();
    }
  });
});
