// The Configure view (jsdom, scripted window.studio): task, base dtype, checkpointing, samples and
// instruction-data choices reach runs.start's RunConfig; the engine's estimate shows live and warns
// when the run will not fit; checks sit next to their fields, in words; only this machine's
// devices are offered; the whole configuration survives a reload, per project. Train's Start asks
// before a run that will not fit.
import { fireEvent, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import { ApiError, type DatasetPreview, type Params, type RunConfig, type RunDetail, type RunSummary } from '../../engine/api.ts';
import { friendly, phraseIssue } from '../../renderer/src/lib/config-check.ts';
import { DEFAULT_FORM } from '../../renderer/src/lib/state.svelte.ts';
import { INFO, type Handlers } from './fake-studio.ts';
import { freshAppPerTest, nav, renderApp } from './render-app.ts';

freshAppPerTest();

const app = renderApp;
const input = (label: string) => screen.getByLabelText(label) as HTMLInputElement;

const PREVIEW: DatasetPreview = {
  path: '/data/reviews.csv', format: 'csv', examples: 40, skipped: { count: 0, examples: [] }, labelNames: null,
  labels: [{ name: 'neg', count: 22 }, { name: 'pos', count: 18 }],
  sample: [{ text: 'The soup was  cold and the bread was stale, sadly.', label: 'neg' }],
  columns: ['review', 'sentiment'], chars: { mean: 40, min: 10, max: 80, total: 1600 }, tokens: { sampled: 40, total: 4000, mean: 100, max: 120, p95: 110, histogram: { edges: [0, 200], counts: [40] } }, notes: [],
};

/** A studio with a model and a dataset open, on Configure; runs.start records the config it gets. */
async function configure(handlers: Handlers = {}) {
  const started: RunConfig[] = [];
  const run = (config: RunConfig): RunSummary => ({
    runId: 'r1', name: 'r1', status: 'starting', config, out: null, startedAt: new Date().toISOString(), endedAt: null, step: 0, totalSteps: null,
    lastLoss: null, lastEvalLoss: null, trainableParams: null, allParams: null, result: null, error: null,
  });
  const ctx = await app({
    'runs.start': (p) => (started.push(p.config), { runId: 'r1' }),
    'runs.get': (): RunDetail => ({ run: run(started.at(-1)!), points: [], evalPoints: [], logs: [] }),
    ...handlers,
  });
  await ctx.studio.openModel('/models/tiny');
  ctx.studio.datasetSpec = { path: '/data/reviews.csv' };
  ctx.studio.dataset = PREVIEW;
  await fireEvent.click(nav('Configure'));
  return { ...ctx, started };
}

async function startFromTrain() {
  await fireEvent.click(nav('Train'));
  await fireEvent.click(screen.getByRole('button', { name: 'Start training' }));
}

describe('Configure: what the engine can train', () => {
  test('sequence classification: the label column from the dataset\'s columns, its label names; LoRA only; reaches runs.start', async () => {
    const { studio, started } = await configure();
    await fireEvent.click(screen.getByRole('radio', { name: 'Sequence classification' }));
    expect(screen.getByTestId('label-names').textContent).toBe('neg (22), pos (18)');
    const col = screen.getByLabelText('Label column') as HTMLSelectElement;
    expect([...col.options].map((o) => o.textContent)).toEqual(['(detected)', 'review', 'sentiment']);
    await fireEvent.change(col, { target: { value: 'sentiment' } });
    expect(studio.datasetSpec?.labelColumn).toBe('sentiment');
    expect((screen.getByRole('radio', { name: 'Full fine-tuning' }) as HTMLInputElement).disabled).toBe(true);
    expect(screen.queryByText('Samples during training')).toBeNull(); // a classifier has none
    await startFromTrain();
    await waitFor(() => expect(started).toHaveLength(1));
    expect(started[0]).toMatchObject({ task: 'seq-cls', method: 'lora', dataset: { path: '/data/reviews.csv', labelColumn: 'sentiment' } });
    expect(started[0]).not.toHaveProperty('sample');
    expect(started[0]).not.toHaveProperty('chat');
  });

  test('base dtype, gradient checkpointing, samples (prompt from the data) and the chat template + train-on choice reach runs.start', async () => {
    const { started } = await configure();
    expect(input('Learning rate').value).toBe('0.002'); // the app's LoRA default
    // Left at the default, the rate follows the method: full fine-tuning gets the engine's 2e-4.
    await fireEvent.click(screen.getByRole('radio', { name: 'Full fine-tuning' }));
    expect(input('Learning rate').value).toBe('0.0002');
    await fireEvent.click(screen.getByRole('radio', { name: 'LoRA' }));
    expect(input('Learning rate').value).toBe('0.002');
    const ckpt = screen.getByRole('checkbox', { name: 'Gradient checkpointing' }) as HTMLInputElement;
    expect(ckpt.checked).toBe(false);
    await fireEvent.change(screen.getByLabelText('Base weights'), { target: { value: 'int8' } });
    expect(ckpt.checked).toBe(true); // the engine's default for an int8 base, shown
    await fireEvent.click(ckpt); // and turned off: stored, since it differs from the default
    await fireEvent.click(screen.getByRole('checkbox', { name: /Generate a sample/ }));
    expect(input('Sample prompt').value).toBe('The soup was cold and the');
    await fireEvent.input(input('Sample every (steps)'), { target: { value: '5' } });
    expect(screen.getByTestId('instruct-note').textContent).toMatch(/auto detects them/);
    await fireEvent.change(screen.getByLabelText('Chat template'), { target: { value: 'llama3' } });
    await fireEvent.click(screen.getByRole('radio', { name: 'every token' }));
    await startFromTrain();
    await waitFor(() => expect(started).toHaveLength(1));
    expect(started[0]).toMatchObject({
      lr: 2e-3, baseDtype: 'int8', gradientCheckpointing: false,
      sample: { prompt: 'The soup was cold and the', every: 5, maxNewTokens: 40 }, chat: { template: 'llama3', trainOn: 'all' },
    });
    expect(started[0]).not.toHaveProperty('task'); // causal LM: the default, left out
    expect(started[0].chat).not.toHaveProperty('format'); // auto
  });

  test('instruction data the preview detected is named', async () => {
    const { studio } = await configure();
    studio.dataset = { ...PREVIEW, instruct: { format: 'alpaca' } } as DatasetPreview;
    await waitFor(() => expect(screen.getByTestId('instruct-note').textContent).toMatch(/instruction data \(alpaca\)/));
  });
});

describe('Configure: the estimate', () => {
  test('the engine\'s estimate follows the form (debounced) and warns when the run will not fit; Start asks first', async () => {
    let available = 8192;
    const estimate = (p: Params<'runs.estimate'>) => {
      const peak = 100 + (p.baseDtype === 'int8' ? 50 : 200) + p.batchSize * p.maxLength * 0.5;
      return { peakRssMb: peak, stepS: 0.25, weightsMb: 100, activationsMb: peak - 200, totalMemoryMb: 16_384, availableMemoryMb: available, fits: peak <= available };
    };
    const { api, started } = await configure({ 'runs.estimate': estimate });
    await waitFor(() => expect(screen.getByTestId('estimate-peak').textContent).toBe(`${Math.round(300 + 4 * 128 * 0.5)} MB`));
    expect(api.callsOf('runs.estimate').at(-1)).toEqual({ model: '/models/tiny', method: 'lora', batchSize: 4, maxLength: 128, gradientCheckpointing: false, baseDtype: 'f32', lora: { r: 8, targets: [] } });
    expect(screen.getByTestId('estimate-step').textContent).toBe('250 ms');
    // 4000 tokens / 128 = 31 blocks, batch 4: 8 steps of an epoch.
    expect(screen.getByTestId('estimate-run').textContent).toBe('≈ 2.0 s for 8 steps');
    await fireEvent.change(screen.getByLabelText('Base weights'), { target: { value: 'int8' } });
    await waitFor(() => expect(screen.getByTestId('estimate-peak').textContent).toBe(`${Math.round(150 + 4 * 128 * 0.5)} MB`));
    expect(screen.queryByTestId('estimate-warning')).toBeNull();
    // Less memory than the run needs: a warning, and Start asks before starting.
    available = 200;
    await fireEvent.input(input('Batch size'), { target: { value: '8' } });
    await waitFor(() => expect(screen.getByTestId('estimate-warning').textContent).toMatch(/needs about 662 MB at its peak, more than the 200 MB available/));
    await startFromTrain();
    await waitFor(() => expect(screen.getByTestId('start-too-big').textContent).toMatch(/662 MB/));
    expect(started).toHaveLength(0);
    await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByTestId('start-too-big')).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Start training' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Start anyway' }));
    await waitFor(() => expect(started).toHaveLength(1));
    expect(started[0]).toMatchObject({ batchSize: 8, baseDtype: 'int8' });
  });
});

describe('Configure: checks before Start', () => {
  test('zero steps and bad LoRA numbers are reported next to their fields, in words; no NaN; Go to Train and Start are disabled', async () => {
    const { view } = await configure();
    await fireEvent.click(screen.getByRole('radio', { name: 'Steps' }));
    const steps = screen.getByRole('spinbutton', { name: 'Steps' }) as HTMLInputElement;
    expect(steps.value).toBe('0');
    await waitFor(() => expect(document.getElementById('max-steps-error')?.textContent).toBe('train at least 1 step'));
    expect(steps.getAttribute('aria-invalid')).toBe('true');
    expect(steps.getAttribute('aria-describedby')).toBe('max-steps-error');
    await fireEvent.input(input('Rank r'), { target: { value: '0' } });
    await fireEvent.input(input('Alpha'), { target: { value: '' } });
    await waitFor(() => expect(document.getElementById('lora-r-error')?.textContent).toBe('must be a whole number from 1 to 4096 (got 0)'));
    expect(document.getElementById('lora-alpha-error')?.textContent).toBe('enter a value');
    expect(screen.getByTestId('lora-scaling').textContent).toBe('scaling = — (needs r and alpha)');
    const list = screen.getByText('Fix before training:').parentElement!.textContent!;
    expect(list).toMatch(/Steps: train at least 1 step/);
    expect(list).toMatch(/Rank r: must be a whole number from 1 to 4096/);
    expect(list).toMatch(/Alpha: enter a value/);
    const text = view.container.textContent!;
    expect(text).not.toMatch(/NaN|models\.inspect|runs\.estimate|lora\.r|maxSteps|--[a-z]/);
    expect((screen.getByRole('button', { name: 'Go to Train →' }) as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.click(nav('Train'));
    expect((screen.getByRole('button', { name: 'Start training' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText('Fix in Configure before training:').parentElement!.textContent).toMatch(/Steps: train at least 1 step/);
  });

  test('only the devices this machine has are offered; a saved one it lacks is marked and reported', async () => {
    localStorage.setItem('studio.form', JSON.stringify({ device: 'cuda' }));
    await configure({ 'app.info': () => ({ ...INFO, devices: ['cpu', 'webgpu'] }) });
    const select = screen.getByLabelText('Device') as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(['CPU', 'WebGPU', 'CUDA (not available)']);
    await waitFor(() => expect(document.getElementById('device-error')?.textContent).toBe('CUDA is not available on this machine; choose CPU or WebGPU'));
    await fireEvent.change(select, { target: { value: 'cpu' } });
    await waitFor(() => expect(document.getElementById('device-error')).toBeNull());
  });
});

describe('messages in words', () => {
  test('schema issues become field messages; engine errors lose method names and flags', async () => {
    expect(phraseIssue('lora.dropout: expected a number ≥ 0 and ≤ 0.99, got 2')).toEqual({ path: 'lora.dropout', message: 'must be from 0 to 0.99 (got 2)' });
    expect(phraseIssue('schedule: expected one of "constant", "linear", "cosine", got "step"')).toEqual({ path: 'schedule', message: 'must be one of constant, linear, cosine (got step)' });
    expect(phraseIssue('sample.prompt: missing (expected a string)')).toEqual({ path: 'sample.prompt', message: 'enter a value' });
    expect(friendly('invalid params of models.inspect: x')).toBe('x');
    const { started } = await configure({ 'runs.start': () => Promise.reject(new ApiError('failed', 'device cuda: the CUDA provider is not installed; use --device cpu or --max-length 64')) });
    await startFromTrain();
    const alert = await screen.findByText(/CUDA provider is not installed/);
    expect(alert.textContent).toBe('device cuda: the CUDA provider is not installed; use device cpu or max length 64');
    expect(started).toHaveLength(0);
  });
});

describe('Configure: remembered per project', () => {
  test('the whole configuration (targets mode and pick, new fields) comes back after a reload, for the project it was made in; the output hint follows the project', async () => {
    let project: { dir: string; name: string } | null = { dir: '/projects/a', name: 'A' };
    const handlers: Handlers = {
      'projects.current': () => ({ project }),
      'app.info': () => ({ ...INFO, project: project?.dir ?? null, defaultOutDir: project ? `${project.dir}/runs` : '/tmp/runs' }),
    };
    const first = await configure(handlers);
    await waitFor(() => expect(first.studio.project?.dir).toBe('/projects/a'));
    await fireEvent.input(input('Rank r'), { target: { value: '16' } });
    await fireEvent.click(screen.getByRole('radio', { name: 'Pick' }));
    await fireEvent.click(screen.getByRole('checkbox', { name: 'c_fc' }));
    await waitFor(() => expect(screen.getByTestId('targets-value').textContent).toBe('["c_attn","c_fc"]'));
    await fireEvent.change(screen.getByLabelText('Base weights'), { target: { value: 'int4' } });
    await fireEvent.click(screen.getByRole('checkbox', { name: /Generate a sample/ }));
    first.view.unmount();

    // A reload: a new studio over the same storage, the model opened again.
    const again = await configure(handlers);
    await waitFor(() => expect(again.studio.project?.dir).toBe('/projects/a'));
    expect(input('Rank r').value).toBe('16');
    expect((screen.getByRole('radio', { name: 'Pick' }) as HTMLInputElement).checked).toBe(true);
    expect(screen.getByTestId('targets-value').textContent).toBe('["c_attn","c_fc"]');
    expect((screen.getByLabelText('Base weights') as HTMLSelectElement).value).toBe('int4');
    expect(input('Sample prompt').value).toBe('The soup was cold and the');
    expect(screen.getByText(/Default: \/projects\/a\/runs/)).toBeTruthy();

    // Another project has its own configuration; coming back restores A's.
    project = { dir: '/projects/b', name: 'B' };
    again.api.emit({ type: 'project.changed', project });
    await waitFor(() => expect(screen.getByText(/Default: \/projects\/b\/runs/)).toBeTruthy());
    await fireEvent.input(input('Rank r'), { target: { value: '4' } });
    await fireEvent.click(screen.getByRole('checkbox', { name: /Generate a sample/ })); // off in B
    await waitFor(() => expect(JSON.parse(localStorage.getItem('studio.form:/projects/b')!).lora.r).toBe(4));
    expect(screen.queryByLabelText('Sample prompt')).toBeNull();
    project = { dir: '/projects/a', name: 'A' };
    again.api.emit({ type: 'project.changed', project });
    await waitFor(() => expect(input('Rank r').value).toBe('16'));
    expect(input('Sample prompt').value).toBe('The soup was cold and the');
    // And B again: its samples stay off (not A's left over).
    project = { dir: '/projects/b', name: 'B' };
    again.api.emit({ type: 'project.changed', project });
    await waitFor(() => expect(input('Rank r').value).toBe('4'));
    expect(screen.queryByLabelText('Sample prompt')).toBeNull();
    expect(DEFAULT_FORM.lr).toBe(2e-3);
  });
});
