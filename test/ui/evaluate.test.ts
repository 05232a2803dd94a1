// The Evaluate view in jsdom against a scripted window.studio: what is scored (a text file, the
// Datasets view's mapped dataset, a run's held-out split), the run it starts on, classifier runs.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import type { RunSummary } from '../../engine/api.ts';
import App from '../../renderer/src/App.svelte';
import { DEFAULT_FORM, Studio } from '../../renderer/src/lib/state.svelte.ts';
import { freshAppPerTest } from './render-app.ts';
import { FakeStudio, type Handlers } from './fake-studio.ts';

freshAppPerTest();

const PPL = { perplexity: 12.5, meanNll: Math.log(12.5), tokens: 40 };

function finishedRun(runId: string, config: Partial<RunSummary['config']> & Record<string, unknown> = {}): RunSummary {
  const { stopBy: _s, name: _n, out: _o, ...form } = DEFAULT_FORM;
  return {
    runId, name: `run ${runId}`, status: 'completed', config: { ...form, model: '/models/tiny', dataset: { path: '/data/train.txt' }, ...config } as RunSummary['config'],
    out: `/projects/p/runs/${runId}/adapter`, startedAt: new Date(Date.now() - 1000).toISOString(), endedAt: new Date().toISOString(),
    step: 10, totalSteps: 10, lastLoss: 2, lastEvalLoss: 2.5, trainableParams: 100, allParams: 1000, result: null, error: null, dir: `/projects/p/runs/${runId}`,
  };
}

async function evaluateView(runs: RunSummary[], handlers: Handlers = {}, setup: (s: Studio) => void = () => {}) {
  const api = new FakeStudio({
    'runs.list': () => ({ runs }),
    'runs.get': (p) => ({ run: runs.find((r) => r.runId === p.runId)!, points: [], evalPoints: [], logs: [] }),
    'eval.perplexity': () => PPL,
    ...handlers,
  });
  const studio = new Studio(api);
  render(App, { props: { studio, connection: api.connection() } });
  await waitFor(() => expect(studio.info).not.toBeNull());
  await waitFor(() => expect(Object.keys(studio.runs)).toHaveLength(runs.length));
  await studio.openModel('/models/tiny');
  setup(studio);
  await fireEvent.click(within(screen.getByRole('navigation', { name: 'Studio sections' })).getByRole('button', { name: 'Evaluate' }));
  return { api, studio };
}

const radio = (name: RegExp) => screen.getByRole('radio', { name }) as HTMLInputElement;

describe('Evaluate: what is scored', () => {
  test('the open dataset, with the Datasets view\'s format and template, is the default source', async () => {
    const { api } = await evaluateView([], {}, (s) => {
      s.datasetSpec = { path: '/data/recipes.jsonl', format: 'jsonl', template: '{title}: {steps}', labelColumn: 'kind' };
    });
    expect(radio(/Dataset/).checked).toBe(true);
    expect(screen.queryByRole('radio', { name: /held-out/ })).toBeNull(); // the base model has no held-out split
    expect(screen.getByTestId('eval-mapping').textContent).toBe('From the Datasets view: format jsonl, template {title}: {steps}');
    await fireEvent.input(screen.getByLabelText('Dataset split (optional)'), { target: { value: 'train' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Compute perplexity' }));
    await waitFor(() => expect(screen.getByTestId('perplexity').textContent).toBe('12.5'));
    // The label column means nothing to perplexity: it is not sent.
    expect(api.callsOf('eval.perplexity')).toEqual([{ model: '/models/tiny', dataset: { path: '/data/recipes.jsonl', format: 'jsonl', template: '{title}: {steps}', split: 'train' }, maxLength: 128 }]);
    expect(within(screen.getByTestId('eval-results')).getByText('recipes.jsonl')).toBeTruthy();

    // Another path: only what is typed applies (that dataset was not mapped).
    await fireEvent.input(screen.getByLabelText('Dataset'), { target: { value: '/data/other.csv' } });
    await fireEvent.input(screen.getByLabelText('Dataset text column (optional)'), { target: { value: 'body' } });
    await fireEvent.input(screen.getByLabelText('Dataset split (optional)'), { target: { value: '' } });
    expect(screen.queryByTestId('eval-mapping')).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Compute perplexity' }));
    await waitFor(() => expect(api.callsOf('eval.perplexity')).toHaveLength(2));
    expect(api.callsOf('eval.perplexity')[1]).toEqual({ model: '/models/tiny', dataset: { path: '/data/other.csv', textColumn: 'body' }, maxLength: 128 });
  });

  test('a plain-text file: the text source, with lines; an empty path is reported, not sent', async () => {
    const { api } = await evaluateView([]);
    expect(radio(/Plain text file/).checked).toBe(true);
    await fireEvent.click(screen.getByRole('button', { name: 'Compute perplexity' }));
    expect(screen.getByRole('alert').textContent).toContain('Choose a text file to measure perplexity on.');
    await fireEvent.input(screen.getByLabelText('Text file'), { target: { value: '/data/valid.txt' } });
    await fireEvent.click(screen.getByLabelText('Each line is its own text'));
    await fireEvent.click(screen.getByRole('button', { name: 'Compute perplexity' }));
    await waitFor(() => expect(api.callsOf('eval.perplexity')).toEqual([{ model: '/models/tiny', text: '/data/valid.txt', lines: true, maxLength: 128 }]));
  });

  test('the run the user came from is preselected; its held-out split, for it and for the base model', async () => {
    // run-a's base is not the open model: its held-out tokens are its base's, so that is the base scored.
    const runs = [finishedRun('run-a', { valRatio: 0.2, model: '/models/base-a' }), finishedRun('run-b', { valRatio: 0 })];
    const { api } = await evaluateView(runs, {}, (s) => (s.selectedRun = 'run-a'));
    expect((screen.getByLabelText('Model') as HTMLSelectElement).value).toBe('run-a');
    expect(radio(/held-out split/).checked).toBe(false); // the text file stays the default source
    await fireEvent.click(radio(/held-out split/));
    expect(screen.queryByLabelText('Window (tokens)')).toBeNull(); // the run's own max length applies
    await fireEvent.click(screen.getByRole('button', { name: 'Base and fine-tuned' }));
    await waitFor(() => expect(api.callsOf('eval.perplexity')).toHaveLength(2));
    expect(api.callsOf('eval.perplexity')).toEqual([
      { model: '/models/base-a', heldOutOf: 'run-a' },
      { model: '/models/base-a', adapter: '/projects/p/runs/run-a/adapter', heldOutOf: 'run-a' },
    ]);
    expect(within(screen.getByTestId('eval-results')).getAllByText('held-out split of run-a')).toHaveLength(2);
    expect(within(screen.getByTestId('eval-results')).getByText('base · base-a')).toBeTruthy();

    // A run that held nothing out offers no held-out split: the source falls back.
    await fireEvent.change(screen.getByLabelText('Model'), { target: { value: 'run-b' } });
    await waitFor(() => expect(screen.queryByRole('radio', { name: /held-out split/ })).toBeNull());
    expect(radio(/Plain text file/).checked).toBe(true);
  });
});

describe('Evaluate: a sequence-classification run', () => {
  test('fills the classifier fields from the run, scores its test split when none is typed, warns without an adapter', async () => {
    const seqCls = finishedRun('run-c', { task: 'seq-cls', valRatio: 0.1, maxLength: 64, dataset: { path: '/data/aclImdb' } });
    const causal = finishedRun('run-t', { valRatio: 0.1, dataset: { path: '/data/reviews.csv', textColumn: 'review', labelColumn: 'sentiment' } });
    const { api } = await evaluateView([seqCls, causal], {
      'eval.classify': () => ({
        accuracy: 0.5, f1: 0.5, precision: 0.5, recall: 0.5, macroF1: 0.5, perClass: [{ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 }, { precision: 0.5, recall: 0.5, f1: 0.5, support: 2 }],
        confusion: [[1, 1], [1, 1]], labels: ['neg', 'pos'], examples: 4,
      }),
    }, (s) => (s.selectedRun = 'run-c'));
    expect(screen.getByTestId('eval-cls-note').textContent).toContain('run run-c is a sequence classifier');
    expect((screen.getByRole('button', { name: 'Compute perplexity' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByRole('radio', { name: /held-out split/ })).toBeNull(); // a classifier has no perplexity split
    expect((screen.getByLabelText('Adapter folder (optional)') as HTMLInputElement).value).toBe('/projects/p/runs/run-c/adapter');
    expect((screen.getByLabelText('Labelled data') as HTMLInputElement).value).toBe('/data/aclImdb');
    expect((screen.getByLabelText('Split (optional)') as HTMLInputElement).placeholder).toMatch(/^test/);
    expect(screen.queryByTestId('cls-head-warning')).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Evaluate classifier' }));
    await waitFor(() => expect(screen.getByTestId('cls-accuracy').textContent).toBe('0.5'));
    expect(api.callsOf('eval.classify')).toEqual([{ model: '/models/tiny', data: '/data/aclImdb', adapter: '/projects/p/runs/run-c/adapter', split: 'test', maxLength: 64 }]);

    // Without the adapter the head is the base model's, untrained unless it is a classifier already.
    await fireEvent.input(screen.getByLabelText('Adapter folder (optional)'), { target: { value: '' } });
    expect(screen.getByTestId('cls-head-warning').textContent).toMatch(/classification head is untrained/);
    // A single CSV file has no splits: none is sent.
    await fireEvent.input(screen.getByLabelText('Labelled data'), { target: { value: '/data/reviews.csv' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Evaluate classifier' }));
    await waitFor(() => expect(api.callsOf('eval.classify')).toHaveLength(2));
    expect(api.callsOf('eval.classify')[1]).toEqual({ model: '/models/tiny', data: '/data/reviews.csv', maxLength: 64 });
  });
});
