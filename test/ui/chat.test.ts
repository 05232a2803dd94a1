// Instruction data in the app (issue #15), in jsdom against a scripted window.studio: the Datasets
// view's instruction preview (trained spans highlighted, with a legend and screen-reader text) and
// the Playground's chat mode (multi-turn, base and fine-tuned side by side, each with its own answers).
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import { type DatasetPreview, type InstructPreview, type Params, type RunSummary, parseParams, parseResult } from '../../engine/api.ts';
import { DEFAULT_FORM } from '../../renderer/src/lib/state.svelte.ts';
import { freshAppPerTest, nav, renderApp } from './render-app.ts';

freshAppPerTest();

const app = renderApp;


/** A scripted preview: chatml or zephyr turns, the answer (and its end of turn) trained. */
function instructPreview(p: Params<'datasets.preview'>): DatasetPreview {
  const zephyr = p.chatTemplate === 'zephyr';
  const turn = (role: string, text: string, end: string) => (zephyr ? `<|${role}|>\n${text}${end}\n` : `<|im_start|>${role}\n${text}${end}\n`);
  const end = zephyr ? '</s>' : '<|im_end|>';
  const all = p.trainOn === 'all';
  const example = (q: string, a: string): InstructPreview['examples'][number] => {
    const segments = all
      ? [{ text: turn('user', q, end) + turn('assistant', a, end), trained: true }]
      : [{ text: turn('user', q, end) + (zephyr ? '<|assistant|>\n' : '<|im_start|>assistant\n'), trained: false }, { text: a + end, trained: true }, { text: '\n', trained: false }];
    return { where: 'chat.jsonl:1', tokens: 20, trainedTokens: all ? 19 : 6, segments, trainedRanges: [[all ? 1 : 12, 18]] };
  };
  const instruct: InstructPreview | undefined = p.model
    ? {
        format: 'messages', fields: ['messages'], template: zephyr ? 'zephyr (built-in)' : 'chatml (built-in; the model has no chat template)', trainOn: all ? 'all' : 'completions',
        endOfTurn: end, tokens: 40, trainedTokens: all ? 38 : 12, trainedShare: all ? 0.95 : 0.3, truncated: 0,
        examples: [example('What goes in guacamole?', 'Avocado and lime.'), example('Can I freeze soup?', 'Yes.')],
      }
    : { format: 'messages', fields: ['messages'], template: null, trainOn: 'completions', endOfTurn: null, tokens: null, trainedTokens: null, trainedShare: null, truncated: 0, examples: [] };
  return {
    path: p.dataset.path, format: 'messages', examples: 2, skipped: { count: 1, examples: ['chat.jsonl:3: the conversation has no assistant turn: nothing to learn'] },
    labelNames: null, labels: [], sample: [{ text: 'user: What goes in guacamole?\nassistant: Avocado and lime.', label: null }], columns: ['messages'],
    chars: { mean: 50, min: 40, max: 60, total: 100 }, tokens: null, instruct, notes: [],
  };
}

describe('Datasets: instruction data', () => {
  test('the format, template and trained share; the trained spans highlighted with a legend; the template and train-on re-render', async () => {
    const { api, studio } = await app({ 'datasets.preview': instructPreview });
    await studio.openModel('/models/tiny');
    await fireEvent.click(nav('Datasets'));
    await fireEvent.input(screen.getByLabelText('Dataset file or folder'), { target: { value: '/data/chat.jsonl' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Preview' }));
    const card = await screen.findByTestId('instruct-preview');
    expect(within(card).getByRole('heading', { level: 2 }).textContent).toContain('messages');
    expect(screen.getByTestId('instruct-template').textContent).toBe('chatml (built-in; the model has no chat template)');
    expect(screen.getByTestId('instruct-share').textContent).toBe('30.0%');
    expect(within(card).getByText(/chat.jsonl:3: the conversation has no assistant turn/)).toBeTruthy();
    expect(api.callsOf('datasets.preview').at(-1)).toMatchObject({ model: '/models/tiny', chatTemplate: 'auto', trainOn: 'completions' });

    const examples = screen.getAllByTestId('instruct-example');
    expect(examples).toHaveLength(2);
    // Only the trained runs are marked; each mark says so to a screen reader; the text reads in order.
    const marks = [...examples[0]!.querySelectorAll('mark')];
    expect(marks.map((m) => m.textContent)).toEqual(['[trained] Avocado and lime.<|im_end|> [end trained]']);
    const visible = (el: Element) => [...el.childNodes].map((n) => (n instanceof Element ? [...n.childNodes].filter((c) => !(c instanceof Element && c.classList.contains('sr-only'))).map((c) => c.textContent).join('') : n.textContent)).join('');
    expect(visible(examples[0]!)).toBe('<|im_start|>user\nWhat goes in guacamole?<|im_end|>\n<|im_start|>assistant\nAvocado and lime.<|im_end|>\n');
    // A legend describes the highlight (not colour alone), and the examples point to it.
    const legend = document.getElementById(examples[0]!.getAttribute('aria-describedby')!)!;
    expect(legend.textContent).toMatch(/Highlighted and underlined text is trained/);

    // Another template and every token trained: the view asks again, and shows the new render.
    await fireEvent.change(screen.getByLabelText('Chat template'), { target: { value: 'zephyr' } });
    await fireEvent.change(screen.getByLabelText('Train on'), { target: { value: 'all' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Render again' }));
    await waitFor(() => expect(screen.getByTestId('instruct-template').textContent).toBe('zephyr (built-in)'));
    expect(api.callsOf('datasets.preview').at(-1)).toMatchObject({ chatTemplate: 'zephyr', trainOn: 'all' });
    expect(studio.form.chat).toMatchObject({ template: 'zephyr', trainOn: 'all' }); // the run's settings (Configure shows them)
    expect(screen.getByTestId('instruct-share').textContent).toBe('95.0%');
    expect([...screen.getAllByTestId('instruct-example')[0]!.querySelectorAll('mark')]).toHaveLength(1);
    expect(visible(screen.getAllByTestId('instruct-example')[0]!)).toBe('<|user|>\nWhat goes in guacamole?</s>\n<|assistant|>\nAvocado and lime.</s>\n');
  });

  test('without a model: the format is named, nothing is rendered, the view says why', async () => {
    await app({ 'datasets.preview': instructPreview });
    await fireEvent.click(nav('Datasets'));
    await fireEvent.input(screen.getByLabelText('Dataset file or folder'), { target: { value: '/data/chat.jsonl' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Preview' }));
    const card = await screen.findByTestId('instruct-preview');
    expect(within(card).getByText(/Open a model with a tokenizer \(Models\) to see the examples rendered/)).toBeTruthy();
    expect(screen.queryAllByTestId('instruct-example')).toHaveLength(0);
    expect((screen.getByRole('button', { name: 'Render again' }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('Playground: chat mode', () => {
  const done: RunSummary = {
    runId: 'run-chat', name: 'chat run', status: 'completed', config: (() => {
      const { stopBy: _s, name: _n, out: _o, ...rest } = DEFAULT_FORM;
      return { ...rest, model: '/models/tiny', dataset: { path: '/data/chat.jsonl' } };
    })(),
    out: '/runs/run-chat/adapter', startedAt: new Date().toISOString(), endedAt: null, step: 5, totalSteps: 5, lastLoss: 1, lastEvalLoss: null,
    trainableParams: 10, allParams: 100, error: null,
    result: { steps: 5, finalLoss: 1, trainableParams: 10, allParams: 100, tokensPerS: 1, peakRssMb: 1, wallS: 1, stopped: 'completed' },
  };

  test('multi-turn: each side continues its own conversation; streamed replies; the template and a system turn are sent', async () => {
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const { api, studio } = await app({
      'runs.list': () => ({ runs: [done] }),
      'runs.get': () => ({ run: done, points: [], evalPoints: [], logs: [] }),
      'generate.text': async (p) => {
        // A scripted model: it answers with the count of user turns it sees, and who it is.
        const n = p.chat!.messages.filter((m) => m.role === 'user').length;
        const words = [p.adapter ? ' Tuned' : ' Base', ` answer ${n}.`];
        for (const [i, w] of words.entries()) api.emit({ type: 'generate.token', streamId: p.streamId!, sequence: 0, token: i, text: w });
        if (!p.adapter) await gate;
        const text = words.join('').trim();
        return { text, tokens: 2, outputs: [text], promptTokens: 9, tokensPerS: 10, wallS: 0.1, finish: ['eos'] };
      },
    });
    await studio.openModel('/models/tiny');
    await fireEvent.click(nav('Playground'));
    await fireEvent.click(screen.getByLabelText(/^Chat \(/));
    expect(screen.queryByLabelText('Prompt')).toBeNull();
    expect(screen.queryByLabelText('Sequences')).toBeNull();
    await fireEvent.change(screen.getByLabelText('Fine-tuned with'), { target: { value: 'run-chat' } });
    await fireEvent.change(screen.getByLabelText('Chat template'), { target: { value: 'chatml' } });
    await fireEvent.input(screen.getByLabelText('System prompt (optional)'), { target: { value: 'Be brief.' } });
    await fireEvent.input(screen.getByLabelText('Message'), { target: { value: 'Hi there' } });
    await fireEvent.keyDown(screen.getByLabelText('Message'), { key: 'Enter' }); // Enter sends
    // the base's answer streams in before its call returns
    await waitFor(() => expect(screen.getByTestId('gen-base').textContent).toContain('Base answer 1.'));
    expect((screen.getByLabelText('Message') as HTMLTextAreaElement).value).toBe('');
    release();
    await waitFor(() => expect(screen.getByTestId('gen-tuned-stats').textContent).toContain('ended by end of text'));
    const conv = (side: 'base' | 'fine-tuned') => screen.getByRole('list', { name: `Conversation with the ${side} model` });
    expect(within(conv('fine-tuned')).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['System Be brief.', 'You Hi there', 'Assistant Tuned answer 1.']);

    gate = new Promise<void>((r) => (release = r));
    await fireEvent.input(screen.getByLabelText('Message'), { target: { value: 'And soup?' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    release();
    await waitFor(() => expect(within(conv('fine-tuned')).getAllByRole('listitem')).toHaveLength(5));
    expect(within(conv('base')).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'System Be brief.', 'You Hi there', 'Assistant Base answer 1.', 'You And soup?', 'Assistant Base answer 2.',
    ]);
    const calls = api.callsOf('generate.text') as Params<'generate.text'>[];
    expect(calls).toHaveLength(4);
    expect(calls[0]).toMatchObject({ model: '/models/tiny', numReturnSequences: 1, chat: { template: 'chatml', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi there' }] } });
    expect(calls[0]!.prompt).toBeUndefined();
    expect(calls[0]!.adapter).toBeUndefined();
    // the second turn: each side sees its own earlier answer
    expect(calls[2]!.chat!.messages).toEqual([
      { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi there' }, { role: 'assistant', content: 'Base answer 1.' }, { role: 'user', content: 'And soup?' },
    ]);
    expect(calls[3]).toMatchObject({ adapter: '/runs/run-chat/adapter', chat: { messages: [{ role: 'system' }, { role: 'user' }, { role: 'assistant', content: 'Tuned answer 1.' }, { role: 'user', content: 'And soup?' }] } });
    expect((screen.getByLabelText('System prompt (optional)') as HTMLInputElement).disabled).toBe(true); // fixed once the chat started

    await fireEvent.click(screen.getByRole('button', { name: 'New chat' }));
    expect(screen.queryByRole('list', { name: 'Conversation with the base model' })).toBeNull();
    expect((screen.getByLabelText('System prompt (optional)') as HTMLInputElement).disabled).toBe(false);
  });

  test('auto template: no template is sent (the engine uses the run\'s saved one, else the model\'s); plain mode still sends the prompt', async () => {
    const { api, studio } = await app({
      'generate.text': (p) => ({ text: 'ok', tokens: 1, outputs: ['ok'], promptTokens: 3, tokensPerS: 1, wallS: 0.1, finish: ['stop_string'] }),
    });
    await studio.openModel('/models/tiny');
    await fireEvent.click(nav('Playground'));
    await fireEvent.click(screen.getByLabelText(/^Chat \(/));
    await fireEvent.input(screen.getByLabelText('Message'), { target: { value: 'Hello' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(screen.getByTestId('gen-base-stats').textContent).toContain('stop string'));
    expect(screen.getByTestId('gen-tuned').textContent!.trim()).toBe('—'); // no run picked: no fine-tuned conversation
    expect(api.callsOf('generate.text')[0]).toMatchObject({ chat: { messages: [{ role: 'user', content: 'Hello' }] } });
    expect((api.callsOf('generate.text')[0] as Params<'generate.text'>).chat!.template).toBeUndefined();
    await fireEvent.click(screen.getByLabelText(/^Chat \(/));
    await fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: 'Once' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Generate' }));
    await waitFor(() => expect(api.callsOf('generate.text')).toHaveLength(2));
    expect(api.callsOf('generate.text')[1]).toMatchObject({ prompt: 'Once' });
    expect((api.callsOf('generate.text')[1] as Params<'generate.text'>).chat).toBeUndefined();
  });
});

describe('the contract', () => {
  const gen = { model: '/m', maxNewTokens: 4, temperature: 0, topK: 0, topP: 1 };
  test('generate.text: chat.messages instead of a prompt; roles and fields are checked', () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }];
    expect(parseParams('generate.text', { ...gen, chat: { messages, template: 'chatml' } })).toMatchObject({ chat: { messages, template: 'chatml' } });
    expect(() => parseParams('generate.text', { ...gen, chat: { messages: [{ role: 'tool', content: 'x' }] } })).toThrow(/chat\.messages\[0\]\.role: expected one of "system", "user", "assistant"/);
    expect(() => parseParams('generate.text', { ...gen, chat: { messages, extra: 1 } })).toThrow(/unknown field "extra"/);
    expect(() => parseParams('generate.text', { ...gen, chat: { messages, template: '' } })).toThrow(/chat\.template/);
  });

  test('datasets.preview: chatTemplate and trainOn; the result\'s instruct part is checked', () => {
    expect(parseParams('datasets.preview', { dataset: { path: '/d.jsonl' }, chatTemplate: 'zephyr', trainOn: 'all' })).toMatchObject({ chatTemplate: 'zephyr', trainOn: 'all' });
    expect(() => parseParams('datasets.preview', { dataset: { path: '/d.jsonl' }, trainOn: 'answers' })).toThrow(/trainOn/);
    const p = instructPreview({ dataset: { path: '/d.jsonl' }, model: '/m' });
    expect(parseResult('datasets.preview', p)).toEqual(p);
    expect(() => parseResult('datasets.preview', { ...p, instruct: { ...p.instruct!, format: 'csv' } })).toThrow(/instruct\.format/);
  });
});
