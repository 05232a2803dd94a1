// The renderer's views in jsdom (@testing-library/svelte), against a scripted window.studio.
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import type { RunDetail, RunSummary } from '../../engine/api.ts';
import { DEFAULT_FORM } from '../../renderer/src/lib/state.svelte.ts';
import { INFO } from './fake-studio.ts';
import { freshAppPerTest, nav, renderApp } from './render-app.ts';

freshAppPerTest();

const app = renderApp;

const heading = () => screen.getByRole('heading', { level: 1 });

function summary(runId: string, over: Partial<RunSummary> = {}): RunSummary {
  return {
    runId,
    name: `run ${runId}`,
    status: 'starting',
    config: validConfig(),
    out: `/tmp/runs/${runId}`,
    startedAt: new Date(Date.now() - 1000).toISOString(),
    endedAt: null,
    step: 0,
    totalSteps: null,
    lastLoss: null,
    lastEvalLoss: null,
    trainableParams: null,
    allParams: null,
    result: null,
    error: null,
    ...over,
  };
}
// The fake's runs config must be a valid RunConfig: build it from the form like the app does.
function validConfig(): RunSummary['config'] {
  const { stopBy: _s, name: _n, out: _o, ...rest } = DEFAULT_FORM;
  return { ...rest, model: '/models/tiny', dataset: { path: '/data/train.txt' } };
}

describe('the shell', () => {
  test('sections are buttons in a labelled nav; the current one is marked; Alt+digit jumps and focuses the heading', async () => {
    await app();
    expect(heading().textContent).toBe('Projects');
    expect(nav('Projects').getAttribute('aria-current')).toBe('page');
    await fireEvent.click(nav('Models'));
    expect(heading().textContent).toBe('Models');
    expect(nav('Models').getAttribute('aria-current')).toBe('page');
    expect(nav('Projects').getAttribute('aria-current')).toBeNull();
    await fireEvent.keyDown(window, { key: '3', altKey: true });
    await waitFor(() => expect(heading().textContent).toBe('Datasets'));
    await waitFor(() => expect(document.activeElement).toBe(heading()));
    expect(location.hash).toBe('#/datasets');
  });

  test('an engine crash is announced, and its recovery too', async () => {
    const { api } = await app();
    api.emit({ type: 'engine.status', status: 'crashed', message: 'The engine stopped unexpectedly (exit code 139). Restarting it; the session’s runs are kept.' });
    await waitFor(() => expect(screen.getByTestId('engine-status').textContent).toMatch(/stopped unexpectedly/));
    expect(screen.getByTestId('engine-status').getAttribute('role')).toBe('alert');
    expect(screen.getByTestId('connection').textContent).toMatch(/engine down/);
    api.emit({ type: 'engine.status', status: 'ready', message: 'The engine restarted.' });
    await waitFor(() => expect(screen.queryByTestId('engine-status')).toBeNull());
    expect(screen.getByText('The engine restarted.')).toBeTruthy();
  });

  test('a menu command navigates (desktop app menu)', async () => {
    const { api } = await app();
    api.emit({ type: 'menu.command', command: 'navigate', view: 'compare' });
    await waitFor(() => expect(heading().textContent).toBe('Compare'));
  });
});

describe('Models', () => {
  test('open a folder: architecture, parameters, LoRA-targetable modules', async () => {
    const { api } = await app();
    await fireEvent.click(nav('Models'));
    expect(screen.getByText('No model open')).toBeTruthy();
    await fireEvent.input(screen.getByLabelText('Model folder'), { target: { value: '/models/tiny' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Open model' }));
    await waitFor(() => expect(screen.getByTestId('model-summary')).toBeTruthy());
    expect(screen.getByTestId('model-params').textContent).toBe('10,000');
    expect(screen.getByTestId('peft-line').textContent).toMatch(/^trainable params: 2,048 \|\| all params: 12,048/);
    const table = within(screen.getByRole('region', { name: 'LoRA-targetable modules' }));
    expect(table.getByText('attn.c_attn')).toBeTruthy();
    expect(table.getByText('mlp.c_proj')).toBeTruthy();
    expect(api.callsOf('models.inspect')).toContainEqual({ dir: '/models/tiny', method: 'full' });
  });

  test('an error is shown in an alert, not thrown', async () => {
    await app({ 'models.inspect': () => Promise.reject(new Error('config.json: missing n_embd')) });
    await fireEvent.click(nav('Models'));
    await fireEvent.input(screen.getByLabelText('Model folder'), { target: { value: '/bad' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Open model' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/missing n_embd/));
  });
});

describe('Configure', () => {
  test('the trainable-parameter count follows r and the picked modules, live', async () => {
    const { api, studio } = await app();
    await studio.openModel('/models/tiny');
    await fireEvent.click(nav('Configure'));
    await waitFor(() => expect(screen.getByTestId('trainable-count').textContent).toBe('2,048'));
    await fireEvent.input(screen.getByLabelText('Rank r'), { target: { value: '4' } });
    await waitFor(() => expect(screen.getByTestId('trainable-count').textContent).toBe('1,024'));
    expect(api.callsOf('models.inspect').at(-1)).toMatchObject({ dir: '/models/tiny', lora: { r: 4 } });
    // Pick: start from the default (c_attn), add every mlp.c_fc.
    await fireEvent.click(screen.getByRole('radio', { name: 'Pick' }));
    await waitFor(() => expect(screen.getByTestId('targets-value').textContent).toBe('["c_attn"]'));
    await fireEvent.click(screen.getByRole('checkbox', { name: 'c_fc' }));
    await waitFor(() => expect(screen.getByTestId('targets-value').textContent).toBe('["c_attn","c_fc"]'));
    await waitFor(() => expect(screen.getByTestId('trainable-count').textContent).toBe('2,304'));
    await waitFor(() => expect(screen.getByTestId('memory-estimate').textContent).toMatch(/Total/)); // the engine's estimate, debounced
    // all-linear, then full fine-tuning.
    await fireEvent.click(screen.getByRole('radio', { name: 'all-linear' }));
    await waitFor(() => expect(screen.getByTestId('targets-value').textContent).toBe('"all-linear"'));
    await fireEvent.click(screen.getByRole('radio', { name: 'Full fine-tuning' }));
    await waitFor(() => expect(screen.getByTestId('trainable-count').textContent).toBe('10,000'));
    expect(screen.queryByLabelText('Rank r')).toBeNull();
  });

  test('invalid settings are reported against the contract before anything is sent', async () => {
    const { studio } = await app();
    await studio.openModel('/models/tiny');
    studio.datasetSpec = { path: '/data/train.txt' };
    await fireEvent.click(nav('Configure'));
    await fireEvent.input(screen.getByLabelText('Learning rate'), { target: { value: '0' } });
    await waitFor(() => expect(screen.getByText('Fix before training:')).toBeTruthy());
    expect(screen.getByText(/Learning rate: must be above 0/)).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Go to Train →' }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('Train', () => {
  test('without a model or data: an empty state that says what is missing', async () => {
    await app();
    await fireEvent.click(nav('Train'));
    expect(screen.getByText('Not ready to train')).toBeTruthy();
    expect(screen.getByText('Open a model first (Models).')).toBeTruthy();
    expect(screen.getByText('No runs yet')).toBeTruthy();
  });

  test('start, live progress and chart points from events, stop, result', async () => {
    const run = summary('run-1', { config: validConfig() });
    const { api, studio } = await app({
      'runs.start': () => ({ runId: 'run-1' }),
      'runs.get': (): RunDetail => ({ run, points: [], evalPoints: [], logs: [] }),
      'runs.stop': () => ({ stopping: true }),
    });
    await studio.openModel('/models/tiny');
    studio.datasetSpec = { path: '/data/train.txt' };
    await fireEvent.click(nav('Train'));
    await fireEvent.click(screen.getByRole('button', { name: 'Start training' }));
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('starting'));
    const sent = api.callsOf('runs.start')[0] as { config: Record<string, unknown> };
    expect(sent.config).toMatchObject({ model: '/models/tiny', dataset: { path: '/data/train.txt' }, method: 'lora', epochs: 1, maxSteps: 0 });

    api.emit({ type: 'run.event', runId: 'run-1', event: { type: 'start', totalSteps: 3, trainableParams: 2048, allParams: 12048, examples: 10, tokensPerStep: 64 } });
    for (let s = 1; s <= 2; s++) {
      api.emit({ type: 'run.event', runId: 'run-1', event: { type: 'step', step: s, totalSteps: 3, epoch: s / 3, loss: 4 - s, lr: 1e-3, gradNorm: 0.5, tokensPerS: 1000, elapsedS: s, etaS: 3 - s } });
    }
    api.emit({ type: 'run.event', runId: 'run-1', event: { type: 'eval', step: 2, evalLoss: 2.5, perplexity: Math.exp(2.5), tokens: 40 } });
    await waitFor(() => expect(screen.getByTestId('run-step').textContent).toBe('2'));
    expect(screen.getByTestId('chart-eval-loss').getAttribute('data-points')).toBe('1');
    expect(screen.getByTestId('run-progress').textContent).toMatch(/eval loss 2\.5/);
    expect(screen.getByTestId('run-status').textContent).toBe('running');
    expect(screen.getByTestId('chart-loss').getAttribute('data-points')).toBe('2');
    expect(screen.getByTestId('chart-lr').getAttribute('data-points')).toBe('2');
    expect((screen.getByTestId('run-progressbar') as HTMLProgressElement).value).toBe(2);
    expect(screen.getByTestId('run-progress').textContent).toMatch(/ETA/);

    await fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(api.callsOf('runs.stop')).toEqual([{ runId: 'run-1' }]);
    api.emit({
      type: 'run.event',
      runId: 'run-1',
      event: { type: 'done', result: { steps: 2, finalLoss: 2, trainableParams: 2048, allParams: 12048, tokensPerS: 1000, peakRssMb: 300, wallS: 2, stopped: 'cancelled', out: '/tmp/runs/run-1' } },
    });
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('cancelled'));
    expect(screen.getByText(/Stopped after 2 steps/)).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Stop' }) as HTMLButtonElement).disabled).toBe(true);
  });

  test('pause and resume a running run', async () => {
    const run = summary('run-2', { config: validConfig(), status: 'running', step: 1, totalSteps: 5 });
    const { api } = await app({
      'runs.list': () => ({ runs: [run] }),
      'runs.get': () => ({ run, points: [], evalPoints: [], logs: [] }),
      'runs.pause': () => ({ pausing: true }),
      'runs.resume': () => ({ resumed: true }),
    });
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('running'));
    const button = (name: string) => screen.getByRole('button', { name }) as HTMLButtonElement;
    expect(button('Resume').disabled).toBe(true);
    await fireEvent.click(button('Pause'));
    expect(api.callsOf('runs.pause')).toEqual([{ runId: 'run-2' }]);
    api.emit({ type: 'run.status', runId: 'run-2', status: 'paused', error: null });
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('paused'));
    expect(button('Pause').disabled).toBe(true);
    expect(button('Stop').disabled).toBe(false);
    await fireEvent.click(button('Resume'));
    expect(api.callsOf('runs.resume')).toEqual([{ runId: 'run-2' }]);
    api.emit({ type: 'run.status', runId: 'run-2', status: 'running', error: null });
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('running'));
    expect(screen.queryByRole('region', { name: /\(coming\)/ })).toBeNull(); // no placeholders
  });
});

describe('Datasets', () => {
  test('preview: statistics, mapping, sample; then use it for training', async () => {
    const { api, studio } = await app({
      'datasets.preview': (p) => ({
        path: p.dataset.path,
        format: 'csv',
        examples: 3,
        skipped: { count: 1, examples: ['a.csv:4: empty text'] },
        labelNames: ['neg', 'pos'],
        labels: [{ name: 'pos', count: 2 }, { name: 'neg', count: 1 }],
        sample: [{ text: 'good film', label: 'pos' }, { text: 'bad film', label: 'neg' }],
        columns: ['review', 'sentiment'],
        chars: { mean: 8.5, min: 8, max: 9, total: 17 },
        tokens: null,
        notes: [],
      }),
    });
    await fireEvent.click(nav('Datasets'));
    await fireEvent.input(screen.getByLabelText('Dataset file or folder'), { target: { value: '/data/a.csv' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Preview' }));
    await waitFor(() => expect(screen.getByTestId('dataset-examples').textContent).toBe('3'));
    expect(screen.getByText('good film')).toBeTruthy();
    expect(screen.getByText('a.csv:4: empty text')).toBeTruthy();
    // Column mapping from the file's header.
    await fireEvent.change(screen.getByLabelText('Text column'), { target: { value: 'review' } });
    await fireEvent.change(screen.getByLabelText('Label column'), { target: { value: 'sentiment' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Apply mapping' }));
    await waitFor(() => expect(api.callsOf('datasets.preview').at(-1)).toEqual({ dataset: { path: '/data/a.csv', textColumn: 'review', labelColumn: 'sentiment' } }));
    await fireEvent.click(screen.getByRole('button', { name: 'Use for training' }));
    expect(studio.datasetSpec).toEqual({ path: '/data/a.csv', textColumn: 'review', labelColumn: 'sentiment' });
    expect(screen.getByText('Selected for training.')).toBeTruthy();
  });
});

describe('path pickers', () => {
  test('in a browser: an in-app folder browser (fs.list), keyboard-usable, Escape closes', async () => {
    const { api } = await app({
      'fs.list': (p) => ({
        dir: p.dir ?? '/home/u',
        parent: p.dir === '/home/u/models' ? '/home/u' : '/home',
        entries:
          p.dir === '/home/u/models'
            ? [{ name: 'gpt2', path: '/home/u/models/gpt2', kind: 'dir', size: null }]
            : [
                { name: 'models', path: '/home/u/models', kind: 'dir', size: null },
                { name: 'notes.txt', path: '/home/u/notes.txt', kind: 'file', size: 12 },
              ],
        truncated: false,
      }),
    });
    await fireEvent.click(nav('Models'));
    await fireEvent.click(screen.getByRole('button', { name: 'Browse…' }));
    const dialog = await screen.findByRole('dialog', { name: 'Browse: Model folder' });
    await waitFor(() => expect(within(dialog).getByRole('button', { name: /models\// })).toBeTruthy());
    expect((within(dialog).getByRole('button', { name: /notes\.txt/ }) as HTMLButtonElement).disabled).toBe(true); // folders only
    await fireEvent.click(within(dialog).getByRole('button', { name: /models\// }));
    await waitFor(() => expect(within(dialog).getByRole('button', { name: /gpt2\// })).toBeTruthy());
    expect(api.callsOf('fs.list').at(-1)).toEqual({ dir: '/home/u/models', showHidden: false });
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Choose this folder' }));
    expect((screen.getByLabelText('Model folder') as HTMLInputElement).value).toBe('/home/u/models');
    expect(screen.queryByRole('dialog')).toBeNull();
    // Escape closes it.
    await fireEvent.click(screen.getByRole('button', { name: 'Browse…' }));
    const again = await screen.findByRole('dialog');
    await fireEvent.keyDown(again, { key: 'Escape' });
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  test('in the desktop app: the native dialog, through the contract', async () => {
    const { api } = await app({ 'app.info': () => ({ ...INFO, shell: 'electron', features: { ...INFO.features, dialogs: true } }), 'dialog.open': () => ({ path: '/picked/model' }) });
    await fireEvent.click(nav('Models'));
    await fireEvent.click(screen.getByRole('button', { name: 'Browse…' }));
    await waitFor(() => expect((screen.getByLabelText('Model folder') as HTMLInputElement).value).toBe('/picked/model'));
    expect(api.callsOf('dialog.open')).toEqual([{ kind: 'folder', title: 'Model folder' }]);
    expect(screen.queryByRole('dialog')).toBeNull();
  });
});

describe('Playground, Evaluate and Compare', () => {
  test('Playground before a model is open: disabled controls, no fake output, no placeholder', async () => {
    await app({});
    await fireEvent.click(nav('Playground'));
    expect(screen.queryByRole('region', { name: /\(coming\)/ })).toBeNull();
    expect((screen.getByRole('button', { name: 'Generate' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getAllByText('—')).toHaveLength(2);
  });

  test('Playground: base and fine-tuned side by side, streamed token by token, sampling controls sent', async () => {
    const done = summary('run-ft', { status: 'completed', out: '/runs/run-ft/adapter', result: { steps: 5, finalLoss: 2, trainableParams: 10, allParams: 100, tokensPerS: 1, peakRssMb: 1, wallS: 1, stopped: 'completed' } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { api, studio } = await app({
      'runs.list': () => ({ runs: [done] }),
      'runs.get': () => ({ run: done, points: [], evalPoints: [], logs: [] }),
      'generate.text': async (p) => {
        const words = p.adapter ? [' whisk', ' the', ' eggs'] : [' the', ' end'];
        for (const [i, w] of words.entries()) api.emit({ type: 'generate.token', streamId: p.streamId!, sequence: 0, token: i, text: w });
        if (!p.adapter) await gate;
        const text = words.join('');
        return { text, tokens: words.length, outputs: [text], promptTokens: 2, tokensPerS: 10, wallS: 0.2, finish: ['length'] };
      },
    });
    await studio.openModel('/models/tiny');
    await fireEvent.click(nav('Playground'));
    expect(screen.queryByRole('region', { name: 'Generation (coming)' })).toBeNull();
    await fireEvent.input(screen.getByLabelText('Prompt'), { target: { value: 'Once' } });
    await fireEvent.change(screen.getByLabelText('Fine-tuned with'), { target: { value: 'run-ft' } });
    await fireEvent.input(screen.getByLabelText('Temperature'), { target: { value: '0' } });
    await fireEvent.input(screen.getByLabelText('Max new tokens'), { target: { value: '3' } });
    await fireEvent.input(screen.getByLabelText(/Stop strings/), { target: { value: '\\n' } });
    // Ctrl+Enter in the prompt generates (keyboard).
    await fireEvent.keyDown(screen.getByLabelText('Prompt'), { key: 'Enter', ctrlKey: true });
    // Streamed pieces show before the call returns.
    await waitFor(() => expect(screen.getByTestId('gen-base').textContent).toContain('Once the end'));
    expect((screen.getByRole('button', { name: 'Stop' }) as HTMLButtonElement).disabled).toBe(false);
    release();
    await waitFor(() => expect(screen.getByTestId('gen-tuned').textContent).toContain('Once whisk the eggs'));
    await waitFor(() => expect(screen.getByTestId('gen-tuned-stats').textContent).toContain('3 new tokens'));
    const calls = api.callsOf('generate.text') as Record<string, unknown>[];
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatchObject({ model: '/models/tiny', prompt: 'Once', maxNewTokens: 3, temperature: 0, topK: 50, topP: 0.95, repetitionPenalty: 1, numReturnSequences: 1, seed: 42, stop: ['\n'] });
    expect(calls[0].adapter).toBeUndefined();
    expect(calls[1]).toMatchObject({ model: validConfig().model, adapter: '/runs/run-ft/adapter' });
    expect(screen.getByRole('heading', { name: `Fine-tuned: ${done.name}` })).toBeTruthy();
  });

  test('Evaluate: perplexity, and classification metrics with a confusion matrix', async () => {
    const { api, studio } = await app({
      'eval.perplexity': () => ({ perplexity: 42.5, meanNll: Math.log(42.5), tokens: 100 }),
      'eval.classify': () => ({
        accuracy: 0.75, f1: 0.8, precision: 0.6667, recall: 1, macroF1: 0.7333,
        perClass: [{ precision: 1, recall: 0.5, f1: 0.6667, support: 2 }, { precision: 0.6667, recall: 1, f1: 0.8, support: 2 }],
        confusion: [[1, 1], [0, 2]], labels: ['neg', 'pos'], examples: 4,
      }),
    });
    await studio.openModel('/models/tiny');
    await fireEvent.click(nav('Evaluate'));
    await fireEvent.input(screen.getByLabelText('Text file'), { target: { value: '/data/valid.txt' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Compute perplexity' }));
    await waitFor(() => expect(screen.getByTestId('perplexity').textContent).toBe('42.5'));
    expect(api.callsOf('eval.perplexity')).toEqual([{ model: '/models/tiny', text: '/data/valid.txt', maxLength: 128 }]);
    expect(screen.queryByRole('region', { name: /Accuracy and confusion matrix \(coming\)/ })).toBeNull();

    await fireEvent.input(screen.getByLabelText('Labelled data'), { target: { value: '/data/test.csv' } });
    await fireEvent.input(screen.getByLabelText('Adapter folder (optional)'), { target: { value: '/adapters/cls' } });
    await fireEvent.input(screen.getByLabelText('Label column (optional)'), { target: { value: 'sentiment' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Evaluate classifier' }));
    await waitFor(() => expect(screen.getByTestId('cls-accuracy').textContent).toBe('0.75'));
    expect(api.callsOf('eval.classify')).toEqual([{ model: '/models/tiny', data: '/data/test.csv', adapter: '/adapters/cls', labelColumn: 'sentiment', maxLength: 128 }]);
    const confusion = screen.getByRole('table', { name: /Confusion matrix/ });
    const rows = within(confusion).getAllByRole('row');
    expect(rows.map((r) => [...r.children].map((c) => c.textContent?.trim()))).toEqual([['true \\ predicted', 'neg', 'pos'], ['neg', '1', '1'], ['pos', '0', '2']]);
    expect(within(screen.getByRole('table', { name: 'Per class' })).getAllByRole('row')).toHaveLength(3);
  });

  test('Compare: the project’s runs in a table; saved comparisons and grids; a new LoRA-vs-full comparison with progress', async () => {
    const runs = [
      summary('run-a', { config: validConfig(), status: 'completed', step: 5, totalSteps: 5, result: { steps: 5, finalLoss: 2.5, trainableParams: 2048, allParams: 12048, tokensPerS: 900, peakRssMb: 250, wallS: 3, stopped: 'completed' } }),
      summary('run-b', { config: { ...validConfig(), method: 'full' }, status: 'failed', error: 'boom' }),
    ];
    const m = (method: 'lora' | 'full', over: Record<string, unknown> = {}) => ({
      method, runId: `c-${method}`, trainableParams: method === 'lora' ? 2048 : 10000, totalParams: 12048, trainablePct: method === 'lora' ? 17 : 83,
      peakRssMb: method === 'lora' ? 200 : 300, steps: 5, tokens: 640, msPerStep: 10, tokensPerS: 1000, wallS: 1, finalTrainLoss: 2.5,
      evalLoss: 2.6, perplexity: Math.exp(2.6), lr: 1e-3, outputDir: null, outputBytes: 1000, ...over,
    });
    const report = (id: string) => ({ id, createdAt: '2026-01-01T00:00:00Z', model: '/models/tiny', data: '/data/train.txt', lora: m('lora'), full: m('full'), file: `/p/experiments/${id}.json` });
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const { api } = await app({
      'app.info': () => ({ ...INFO, project: '/p' }),
      'projects.current': () => ({ project: { dir: '/p', name: 'P' } }),
      'runs.list': () => ({ runs }),
      'runs.get': (p) => ({ run: runs.find((r) => r.runId === p.runId)!, points: [], evalPoints: [], logs: [] }),
      'experiments.list': () => ({
        comparisons: [report('compare-1')],
        grids: [{ id: 'grid-abc', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', model: '/models/tiny', data: '/data/train.txt', bestRunId: 'grid-abc-t1', bestAdapter: null, file: '/p/experiments/grid-abc.json',
          trials: [0, 1].map((i) => ({ index: i, params: { r: 4 * (i + 1), alpha: 16, dropout: 0, lr: 1e-3 }, runId: `grid-abc-t${i}`, status: 'completed' as const, perplexity: 20 - i, evalLoss: Math.log(20 - i), steps: 5, wallS: 1 })) }],
      }),
      'experiments.compare': async () => {
        api.emit({ type: 'experiment.event', method: 'lora', runId: 'c-lora', event: { type: 'step', step: 2, totalSteps: 5, epoch: 0, loss: 3.25, lr: 1e-3, gradNorm: 1, tokensPerS: 10, elapsedS: 1, etaS: 1 } });
        await gate;
        return report('compare-2');
      },
    });
    await fireEvent.click(nav('Compare'));
    await waitFor(() => expect(screen.getByTestId('compare-table').querySelectorAll('tbody tr')).toHaveLength(2));
    expect(screen.getByText('LoRA r=8 α=16')).toBeTruthy();
    // A failed session-only run can be deleted, not resumed (it has no checkpoint on disk).
    expect(screen.queryByRole('button', { name: 'Resume run run-b' })).toBeNull();
    expect((screen.getByRole('button', { name: 'Delete run run-b' }) as HTMLButtonElement).disabled).toBe(false);
    await waitFor(() => expect(screen.getByTestId('exp-table').querySelectorAll('tbody tr')).toHaveLength(2));
    expect(within(screen.getByTestId('exp-charts')).getByRole('img', { name: /Peak memory \(MB\)/ })).toBeTruthy();
    expect(screen.getByTestId('grid-table').textContent).toContain('1 (best)');
    expect(screen.queryByRole('region', { name: /LoRA-vs-full experiments and grid search \(coming\)/ })).toBeNull();

    await fireEvent.input(screen.getByLabelText('Model folder'), { target: { value: '/models/tiny' } });
    await fireEvent.input(screen.getByLabelText('Training text'), { target: { value: '/data/train.txt' } });
    await fireEvent.input(screen.getByLabelText('Steps'), { target: { value: '5' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Compare LoRA and full' }));
    await waitFor(() => expect(screen.getByTestId('exp-progress').textContent).toContain('LoRA: step 2/5, loss 3.25'));
    finish();
    await waitFor(() => expect(screen.getByTestId('exp-table').querySelectorAll('tbody tr')).toHaveLength(4));
    expect(api.callsOf('experiments.compare')[0]).toMatchObject({ model: '/models/tiny', data: '/data/train.txt', maxSteps: 5, valRatio: 0.1, lora: { r: 8, alpha: 16 } });
  });
});

describe('saved runs (the project store)', () => {
  const saved = (id: string, over: Partial<RunSummary> = {}) =>
    summary(id, { config: validConfig(), dir: `/projects/p/runs/${id}`, lastCheckpoint: 50, step: 57, totalSteps: 100, ...over });

  test('Train: an interrupted saved run resumes from its checkpoint; its past curve is shown', async () => {
    let run = saved('run-i', { status: 'interrupted', error: 'The process training this run stopped' });
    const points = Array.from({ length: 57 }, (_, i) => ({ step: i + 1, epoch: 0, loss: 3 - i / 100, lr: 1e-3, gradNorm: 1, tokensPerS: 100, elapsedS: i, etaS: 1 }));
    const { api } = await app({
      'runs.list': () => ({ runs: [run] }),
      'runs.get': () => ({ run, points, evalPoints: [], logs: [] }),
      'runs.resume': () => {
        run = { ...run, status: 'starting', error: null };
        return { resumed: true };
      },
    });
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('interrupted'));
    expect(screen.getByTestId('chart-loss').getAttribute('data-points')).toBe('57');
    expect(screen.getByTestId('run-progress').textContent).toMatch(/last checkpoint at step 50/);
    const resume = screen.getByRole('button', { name: 'Resume' }) as HTMLButtonElement;
    expect(resume.disabled).toBe(false);
    await fireEvent.click(resume);
    expect(api.callsOf('runs.resume')).toEqual([{ runId: 'run-i' }]);
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('starting'));
    // The resumed segment continues from step 51: the steps after the checkpoint are replaced.
    api.emit({ type: 'run.event', runId: 'run-i', event: { type: 'step', step: 51, totalSteps: 100, epoch: 0, loss: 2.5, lr: 1e-3, gradNorm: 1, tokensPerS: 100, elapsedS: 51, etaS: 1 } });
    await waitFor(() => expect(screen.getByTestId('chart-loss').getAttribute('data-points')).toBe('51'));
    expect(screen.getByTestId('run-status').textContent).toBe('running');
  });

  test('Train and Compare: delete asks once more, then removes the run', async () => {
    const runs = [saved('run-x', { status: 'cancelled' }), saved('run-y', { status: 'running' })];
    const { api, studio } = await app({
      'runs.list': () => ({ runs }),
      'runs.get': (p) => ({ run: runs.find((r) => r.runId === p.runId)!, points: [], evalPoints: [], logs: [] }),
      'runs.delete': () => ({ deleted: true }),
    });
    await fireEvent.click(nav('Compare'));
    await waitFor(() => expect(screen.getByTestId('compare-table').querySelectorAll('tbody tr')).toHaveLength(2));
    expect((screen.getByRole('button', { name: 'Delete run run-y' }) as HTMLButtonElement).disabled).toBe(true); // it trains
    expect(screen.getByRole('button', { name: 'Resume run run-x' })).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Delete run run-x' }));
    expect(api.callsOf('runs.delete')).toEqual([]);
    const confirm = screen.getByRole('button', { name: 'Yes, delete run run-x' });
    confirm.focus();
    expect(document.activeElement).toBe(confirm);
    await fireEvent.click(confirm);
    expect(api.callsOf('runs.delete')).toEqual([{ runId: 'run-x' }]);
    await waitFor(() => expect(screen.getByTestId('compare-table').querySelectorAll('tbody tr')).toHaveLength(1));
    expect(studio.runs['run-x']).toBeUndefined();
    // In Train, the remaining run trains: it cannot be deleted until it stops; then "Keep" leaves it.
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('running'));
    expect((screen.getByRole('button', { name: 'Delete run' }) as HTMLButtonElement).disabled).toBe(true);
    api.emit({ type: 'run.status', runId: 'run-y', status: 'cancelled', error: null });
    await waitFor(() => expect((screen.getByRole('button', { name: 'Delete run' }) as HTMLButtonElement).disabled).toBe(false));
    await fireEvent.click(screen.getByRole('button', { name: 'Delete run' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Keep' }));
    expect(api.callsOf('runs.delete')).toEqual([{ runId: 'run-x' }]);
    expect(screen.getByTestId('run-status').textContent).toBe('cancelled');
  });

  test('Projects: create a named project (project.json), list its runs, reload them when the project changes', async () => {
    let current: { dir: string; name: string } | null = null;
    let runs: RunSummary[] = [];
    const { api } = await app({
      'projects.current': () => ({ project: current }),
      'projects.create': (p) => {
        current = { dir: p.dir, name: p.name ?? 'x' };
        return current;
      },
      'projects.list': () => ({ root: '/projects', defaultProject: '/projects/default', projects: [{ dir: '/projects/default', name: 'default', runs: 2 }] }),
      'runs.list': () => ({ runs }),
      'runs.get': (p) => ({ run: runs.find((r) => r.runId === p.runId)!, points: [], evalPoints: [], logs: [] }),
    });
    await waitFor(() => expect(screen.getByRole('button', { name: 'Open the project default' })).toBeTruthy());
    expect(screen.getByText('2 runs · default')).toBeTruthy();
    await fireEvent.input(screen.getByLabelText('New project folder'), { target: { value: '/projects/recipes' } });
    await fireEvent.input(screen.getByLabelText('Name (optional)'), { target: { value: 'Recipes' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create' }));
    expect(api.callsOf('projects.create')).toEqual([{ dir: '/projects/recipes', name: 'Recipes' }]);
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Runs in Recipes' })).toBeTruthy());
    // The server announces the project (e.g. opened from the menu): its saved runs are loaded.
    runs = [saved('run-old', { status: 'completed', name: 'LoRA r=8 · recipes.txt' })];
    api.emit({ type: 'project.changed', project: { dir: '/projects/recipes', name: 'Recipes' } });
    await waitFor(() => expect(screen.getByTestId('project-runs').textContent).toContain('LoRA r=8 · recipes.txt'));
    await fireEvent.click(screen.getByRole('button', { name: 'Show LoRA r=8 · recipes.txt in Train' }));
    expect(heading().textContent).toBe('Train');
  });
});
