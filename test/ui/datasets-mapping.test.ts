// The Datasets view's mapping (issue #15 item 1, #13): the data's format (the run's chat.format)
// and one column select per field of an instruction format, sent with datasets.preview and
// carried by runs.start's RunConfig; a mapping select (label, text, format, field) previews again
// on change; the engine's one-line error about a missing column shows in the ErrorBox, with the
// mapping kept so it can be fixed. In jsdom against a scripted engine that reads the mapping as
// engine/services/datasets.ts does.
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import { ApiError, type DatasetPreview, type Params, type RunConfig, type RunDetail, type RunSummary } from '../../engine/api.ts';
import { freshAppPerTest, nav, renderApp } from './render-app.ts';

freshAppPerTest();

const QA = [['What goes in guacamole?', 'Avocado and lime.'], ['Can soup be frozen?', 'Yes.'], ['Is rice gluten free?', 'Yes, it is.']] as const;
const FILE = '/data/qa.csv';

/** The engine's preview of a question,answer,topic CSV: plain text, or prompt/completion pairs through the mapping. */
function qaPreview(p: Params<'datasets.preview'>): DatasetPreview {
  const base = {
    path: p.dataset.path, skipped: { count: 0, examples: [] }, labelNames: null, columns: ['question', 'answer', 'topic'],
    chars: { mean: 30, min: 20, max: 40, total: 90 }, tokens: null, notes: [],
  };
  const c = { prompt: 'prompt', completion: 'completion', ...p.dataset.chatColumns };
  if (p.chatFormat === 'prompt-completion') {
    for (const [field, col] of Object.entries(c)) {
      if (!base.columns.includes(col)) {
        throw new ApiError('failed', `${FILE}: missing field "${col}"${col !== field ? `, mapped to ${field}` : ''} (the prompt-completion format needs it; the fields are "question", "answer", "topic")`);
      }
    }
    const at = (name: string) => base.columns.indexOf(name);
    const row = (r: readonly string[]) => [r[0], r[1], 'food'];
    const pairs = QA.map((r) => ({ prompt: row(r)[at(c.prompt)]!, completion: row(r)[at(c.completion)]! }));
    return {
      ...base, format: 'prompt-completion', examples: pairs.length, labels: [],
      sample: pairs.map((x) => ({ text: `prompt: ${x.prompt}\ncompletion: ${x.completion}`, label: null })),
      instruct: {
        format: 'prompt-completion', fields: [c.prompt, c.completion], template: null, trainOn: 'completions', endOfTurn: '<|endoftext|>',
        tokens: 30, trainedTokens: 9, trainedShare: 0.3, truncated: 0,
        examples: pairs.slice(0, 2).map((x) => ({
          where: `${FILE}:2`, tokens: 15, trainedTokens: 5, trainedRanges: [[10, 15]],
          segments: [{ text: x.prompt, trained: false }, { text: `${x.completion}<|endoftext|>`, trained: true }],
        })),
      },
    };
  }
  const topic = p.dataset.labelColumn === 'topic';
  return {
    ...base, format: 'csv', examples: QA.length,
    labels: topic ? [{ name: 'food', count: 3 }] : [],
    sample: QA.map(([q, a]) => ({ text: `${q} ${a}`, label: topic ? 'food' : null })),
  };
}

/** The app with a model open and a RunConfig recorder for runs.start, on Datasets with the CSV previewed. */
async function previewed() {
  const started: RunConfig[] = [];
  const run = (config: RunConfig): RunSummary => ({
    runId: 'r1', name: 'r1', status: 'starting', config, out: null, startedAt: new Date().toISOString(), endedAt: null, step: 0, totalSteps: null,
    lastLoss: null, lastEvalLoss: null, trainableParams: null, allParams: null, result: null, error: null,
  });
  const ctx = await renderApp({
    'datasets.preview': qaPreview,
    'runs.start': (p) => (started.push(p.config), { runId: 'r1' }),
    'runs.get': (): RunDetail => ({ run: run(started.at(-1)!), points: [], evalPoints: [], logs: [] }),
  });
  await ctx.studio.openModel('/models/tiny');
  await fireEvent.click(nav('Datasets'));
  await fireEvent.input(screen.getByLabelText('Dataset file or folder'), { target: { value: FILE } });
  await fireEvent.click(screen.getByRole('button', { name: 'Preview' }));
  await screen.findByTestId('dataset-stats');
  const previews = () => ctx.api.callsOf('datasets.preview') as Params<'datasets.preview'>[];
  return { ...ctx, started, previews };
}

const select = (label: string) => screen.getByLabelText(label) as HTMLSelectElement;

describe('Datasets: instruction column mapping', () => {
  test('question/answer columns as prompt/completion: previewed with the mapping, and runs.start carries it', async () => {
    const { studio, started, previews } = await previewed();
    expect(screen.queryByTestId('instruct-preview')).toBeNull(); // plain CSV as read
    expect(previews()).toHaveLength(1);
    expect(previews()[0]).not.toHaveProperty('chatFormat');
    expect(screen.queryByLabelText('Prompt column')).toBeNull(); // no instruction format yet

    await fireEvent.change(select('Data format (causal LM)'), { target: { value: 'prompt-completion' } });
    expect(studio.form.chat.format).toBe('prompt-completion'); // the run's setting
    expect([...select('Prompt column').options].map((o) => o.textContent)).toEqual(['(default name: prompt)', 'question', 'answer', 'topic']);
    expect(select('Completion column')).toBeTruthy();
    // Neither field has a column yet: no preview that would only fail, a hint instead.
    expect(previews()).toHaveLength(1);
    expect(screen.getByTestId('instruct-unmapped').textContent).toMatch(/Choose the prompt and completion columns/);
    expect((screen.getByRole('button', { name: 'Use for training' }) as HTMLButtonElement).disabled).toBe(true);

    await fireEvent.change(select('Prompt column'), { target: { value: 'question' } });
    expect(previews()).toHaveLength(1);
    await fireEvent.change(select('Completion column'), { target: { value: 'answer' } });
    await waitFor(() => expect(previews()).toHaveLength(2));
    expect(previews()[1]).toMatchObject({ chatFormat: 'prompt-completion', model: '/models/tiny', dataset: { path: FILE, chatColumns: { prompt: 'question', completion: 'answer' } } });
    const card = await screen.findByTestId('instruct-preview');
    expect(within(card).getByRole('heading', { level: 2 }).textContent).toContain('prompt / completion');
    const marks = [...screen.getAllByTestId('instruct-example')[0]!.querySelectorAll('mark')].map((m) => m.textContent);
    expect(marks).toEqual(['[trained] Avocado and lime.<|endoftext|> [end trained]']);
    expect(screen.queryByTestId('instruct-unmapped')).toBeNull();

    await fireEvent.click(screen.getByRole('button', { name: 'Use for training' }));
    expect(studio.datasetSpec).toEqual({ path: FILE, chatColumns: { prompt: 'question', completion: 'answer' } });
    await fireEvent.click(nav('Configure'));
    expect((screen.getByLabelText('Data format') as HTMLSelectElement).value).toBe('prompt-completion'); // the same setting
    await fireEvent.click(nav('Train'));
    await fireEvent.click(screen.getByRole('button', { name: 'Start training' }));
    await waitFor(() => expect(started).toHaveLength(1));
    expect(started[0]).toMatchObject({ dataset: { path: FILE, chatColumns: { prompt: 'question', completion: 'answer' } }, chat: { format: 'prompt-completion' } });
  });

  test('changing the label column previews again: the label balance follows without Apply mapping', async () => {
    const { previews } = await previewed();
    expect(screen.queryByText(/Label balance/)).toBeNull();
    await fireEvent.change(select('Label column'), { target: { value: 'topic' } });
    await waitFor(() => expect(previews()).toHaveLength(2));
    expect(previews()[1]!.dataset).toEqual({ path: FILE, labelColumn: 'topic' });
    await waitFor(() => expect(screen.getByText('food: 3')).toBeTruthy());
    await fireEvent.change(select('Text column'), { target: { value: 'question' } });
    await waitFor(() => expect(previews()).toHaveLength(3));
    expect(previews()[2]!.dataset).toEqual({ path: FILE, textColumn: 'question', labelColumn: 'topic' });
  });

  test('a column the file lacks: the engine\'s one line in the ErrorBox, the mapping kept to fix it', async () => {
    const { previews } = await previewed();
    await fireEvent.change(select('Data format (causal LM)'), { target: { value: 'prompt-completion' } });
    await fireEvent.change(select('Prompt column'), { target: { value: 'question' } });
    // Applied anyway: completion keeps its default name, which the file does not have.
    await fireEvent.click(screen.getByRole('button', { name: 'Apply mapping' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain(`${FILE}: missing field "completion" (the prompt-completion format needs it; the fields are "question", "answer", "topic")`);
    expect(alert.textContent).not.toMatch(/\n\s+at /); // no stack
    expect(screen.queryByTestId('dataset-stats')).toBeNull();
    await fireEvent.change(select('Completion column'), { target: { value: 'answer' } });
    await screen.findByTestId('instruct-preview');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(previews().at(-1)!.dataset.chatColumns).toEqual({ prompt: 'question', completion: 'answer' });
  });
});
