// The Compare view's grid search (jsdom, a scripted window.studio): the form's lists and their
// validation, trials live with their curves, Stop and Resume, the best trial marked; and the chart
// helpers (one colour per run, no greens, TensorBoard smoothing, log-scale bars).
import { readFileSync } from 'node:fs';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import { ApiError, type GridReportData, type GridSettings, type RunSummary, type StudioEvent } from '../../engine/api.ts';
import App from '../../renderer/src/App.svelte';
import BarChart from '../../renderer/src/components/BarChart.svelte';
import LineChart from '../../renderer/src/components/LineChart.svelte';
import { PALETTE, ema, isGreenish, runColor } from '../../renderer/src/lib/chart.ts';
import { parseValues, trialCount } from '../../renderer/src/lib/grid-form.ts';
import { DEFAULT_FORM, Studio } from '../../renderer/src/lib/state.svelte.ts';
import { freshAppPerTest } from './render-app.ts';
import { FakeStudio, INFO, type Handlers } from './fake-studio.ts';

// jsdom has no canvas: the charts fall back to their text summaries.
freshAppPerTest('compare');

const inProject: Handlers = {
  'app.info': () => ({ ...INFO, project: '/p' }),
  'projects.current': () => ({ project: { dir: '/p', name: 'P' } }),
  'experiments.list': () => ({ comparisons: [], grids: [] }),
};

async function compareView(handlers: Handlers = {}) {
  const api = new FakeStudio({ ...inProject, ...handlers });
  const studio = new Studio(api);
  render(App, { props: { studio, connection: api.connection() } });
  await waitFor(() => expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Compare'));
  await waitFor(() => expect(studio.project).not.toBeNull());
  return { api, studio };
}

const nav = (name: string) => within(screen.getByRole('navigation', { name: 'Studio sections' })).getByRole('button', { name });
const input = (label: string, value: string) => fireEvent.input(screen.getByLabelText(label), { target: { value } });

function grid(settings: GridSettings, status: (i: number) => 'pending' | 'completed', best: number | null = null): GridReportData {
  const trials = settings.r.map((r, i) => ({
    index: i, params: { r, alpha: settings.alpha[0], dropout: settings.dropout[0], lr: settings.lr[0] }, runId: `grid-x-t${i}`, status: status(i),
    perplexity: status(i) === 'completed' ? 30 - 5 * i : null, evalLoss: status(i) === 'completed' ? Math.log(30 - 5 * i) : null, steps: status(i) === 'completed' ? 4 : 0, wallS: status(i) === 'completed' ? 2 : 0,
  }));
  return {
    id: 'grid-x', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', model: '/models/tiny', data: '/data/train.txt', trials,
    bestRunId: best === null ? null : `grid-x-t${best}`, bestAdapter: best === null ? null : '/p/experiments/grid-x/best-adapter', file: '/p/experiments/grid-x.json', settings,
  };
}

const step = (runId: string, s: number, loss: number): StudioEvent => ({
  type: 'experiment.event', method: 'lora', runId, event: { type: 'step', step: s, totalSteps: 4, epoch: 0, loss, lr: 1e-3, gradNorm: 1, tokensPerS: 10, elapsedS: s, etaS: 1 },
});

describe('chart helpers', () => {
  test('runColor: one colour per run id, stable, distinct until the palette wraps; the palette has no greens', () => {
    const a = runColor('cg-a'), b = runColor('cg-b');
    expect(runColor('cg-a')).toBe(a);
    expect(a).not.toBe(b);
    expect(isGreenish('#2f9e6e')).toBe(true); // the old palette's green: the check sees it
    expect(isGreenish('#1d7a4f')).toBe(true); // app.css --ok
    expect(PALETTE.filter(isGreenish)).toEqual([]);
    const many = Array.from({ length: PALETTE.length }, (_, i) => runColor(`cg-many-${i}`));
    expect(new Set(many).size).toBe(PALETTE.length);
  });

  test('ema: TensorBoard’s debiased smoothing (a constant stays constant; 0 is off; non-finite passes through)', () => {
    const flat = [1, 2, 3].map((x) => ({ x, y: 5 }));
    expect(ema(flat, 0.9).map((p) => p.y)).toEqual([5, 5, 5].map((v) => expect.closeTo(v, 12)));
    const pts = [{ x: 1, y: 4 }, { x: 2, y: 2 }, { x: 3, y: NaN }, { x: 4, y: 0 }];
    expect(ema(pts, 0)).toBe(pts);
    const s = ema(pts, 0.5).map((p) => p.y);
    // by hand: last = 2 → 2/0.5 = 4; last = 1 + 1 = 2 → 2/0.75; NaN kept; last = 1 → 1/0.875
    expect(s[0]).toBeCloseTo(4, 12);
    expect(s[1]).toBeCloseTo(2 / 0.75, 12);
    expect(s[2]).toBeNaN();
    expect(s[3]).toBeCloseTo(1 / 0.875, 12);
  });

  test('grid lists: comma-separated values, checked like the contract', () => {
    expect(parseValues(' 4, 8,16 ', 'r')).toEqual({ values: [4, 8, 16], error: null });
    expect(parseValues('4, 2.5', 'r').error).toMatch(/whole numbers/);
    expect(parseValues('4,,8', 'r').error).toMatch(/empty value/);
    expect(parseValues('', 'alpha').error).toMatch(/at least one α/);
    expect(parseValues('0.1, 1', 'dropout').error).toMatch(/“1” is not/);
    expect(parseValues('1e-3, abc', 'lr').error).toMatch(/“abc” is not a number/);
    expect(parseValues('8, 8', 'alpha').error).toMatch(/listed twice/);
    expect(trialCount([parseValues('4,8', 'r'), parseValues('8,16,32', 'alpha'), parseValues('0', 'dropout'), parseValues('1e-3,1e-4', 'lr')])).toBe(12);
    expect(trialCount([parseValues('4,x', 'r')])).toBeNull();
  });

  test('LineChart: the smoothing control changes what is drawn (the summary reports the smoothed last value)', async () => {
    const points = [3, 1, 3, 1].map((y, i) => ({ x: i + 1, y }));
    render(LineChart, { props: { title: 'Loss', testid: 'lc', smoothable: true, series: [{ label: 'run', points }] } });
    const fig = screen.getByTestId('lc');
    expect(fig.textContent).not.toContain('smoothed');
    await fireEvent.input(screen.getByLabelText('Smoothing of Loss'), { target: { value: '0.6' } });
    const last = ema(points, 0.6).at(-1)!.y;
    await waitFor(() => expect(within(fig).getByRole('img').getAttribute('aria-label')).toContain(`last 1 (smoothed ${Number(last.toPrecision(4))})`));
  });

  test('BarChart: a log-scale chart says so, and the highlighted bar is named', () => {
    render(BarChart, { props: { title: 'Trainable parameters', logScale: true, labels: ['LoRA', 'full'], values: [2048, 10_000_000], highlight: 0 } });
    expect(screen.getByRole('img').getAttribute('aria-label')).toBe('Trainable parameters. (log scale) LoRA: 2048 (best), full: 1.00e+7');
  });
});

describe('Compare: stopping a comparison', () => {
  test('Stop asks the engine to stop; the comparison’s stop is a notice, not an error', async () => {
    let release!: () => void;
    const { api } = await compareView({
      'experiments.compare': async () => {
        api.emit({ type: 'experiment.event', method: 'full', runId: 'c-full', event: { type: 'step', step: 1, totalSteps: 4, epoch: 0, loss: 3, lr: 1e-4, gradNorm: 1, tokensPerS: 1, elapsedS: 1, etaS: 1 } });
        await new Promise<void>((r) => (release = r));
        throw new ApiError('failed', 'comparison stopped during the full run (c-full, step 1)');
      },
      'experiments.stop': () => (release(), { stopping: true }),
    });
    await input('Model folder', '/models/tiny');
    await input('Training text', '/data/train.txt');
    await fireEvent.click(screen.getByRole('button', { name: 'Compare LoRA and full' }));
    await waitFor(() => expect(screen.getByTestId('exp-progress').textContent).toBe('full: step 1/4, loss 3'));
    await fireEvent.click(screen.getByRole('button', { name: 'Stop comparison' }));
    await waitFor(() => expect(screen.getByTestId('exp-notice').textContent).toBe('Comparison stopped. The runs it trained so far are kept in the project.'));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(api.callsOf('experiments.stop')).toEqual([{}]);
    expect(screen.queryByTestId('exp-progress')).toBeNull();
  });
});

describe('Compare: grid search', () => {
  test('the lists are checked next to their fields; the trial count follows them', async () => {
    await compareView();
    const count = () => screen.getByTestId('grid-count').textContent!;
    const start = () => screen.getByRole('button', { name: 'Start grid search' }) as HTMLButtonElement;
    await input('Steps', '4');
    await input('r values', '4, 8');
    await input('α values', '8, 16');
    expect(count()).toContain('4 trials of 4 steps each');
    expect(start().disabled).toBe(false);
    await input('r values', '4, x');
    const r = screen.getByLabelText('r values');
    expect(r.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(r.getAttribute('aria-describedby')!)!.textContent).toBe('“x” is not a number.');
    expect(count()).toBe('Fix the values to see the number of trials.');
    expect(start().disabled).toBe(true);
    await input('r values', '2,4,8');
    await input('Dropout values', '0, 0.1');
    expect(r.getAttribute('aria-invalid')).toBeNull();
    expect(count()).toContain('12 trials');
  });

  test('a grid runs live (trial status, curves, progress), stops, resumes with the same settings, and marks the best', async () => {
    let release!: () => void;
    const calls: GridSettings[] = [];
    const { api } = await compareView({
      'experiments.grid': async (p) => {
        const { model: _m, data: _d, project: _p, ...settings } = p;
        calls.push(settings);
        if (calls.length === 1) {
          api.emit({ type: 'grid.update', grid: grid(settings, () => 'pending'), running: 0 });
          api.emit(step('grid-x-t0', 1, 3.5));
          api.emit(step('grid-x-t0', 2, 3.0));
          await new Promise<void>((r) => (release = r));
          return grid(settings, (i) => (i === 0 ? 'completed' : 'pending'));
        }
        api.emit({ type: 'grid.update', grid: grid(settings, (i) => (i === 0 ? 'completed' : 'pending')), running: 1 });
        api.emit(step('grid-x-t1', 1, 2.5));
        return grid(settings, () => 'completed', 1);
      },
      'experiments.stop': () => {
        release();
        return { stopping: true };
      },
    });
    await input('Model folder', '/models/tiny');
    await input('Training text', '/data/train.txt');
    await input('Steps', '4');
    await input('r values', '2, 4');
    await input('α values', '8');
    await input('Dropout values', '0');
    await input('Learning rates', '0.001');
    await fireEvent.click(screen.getByRole('button', { name: 'Start grid search' }));

    await waitFor(() => expect(screen.getByTestId('exp-progress').textContent).toBe('Trial 1 of 2 (r=2 α=8 d=0 lr=0.001): step 2/4, loss 3'));
    // Leaving Compare and coming back: the search is still there, live.
    await fireEvent.click(nav('Models'));
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Models'));
    await fireEvent.click(nav('Compare'));
    await waitFor(() => expect(screen.getByTestId('exp-progress').textContent).toBe('Trial 1 of 2 (r=2 α=8 d=0 lr=0.001): step 2/4, loss 3'));
    const rows = () => within(screen.getByTestId('grid-table')).getAllByRole('row').slice(1);
    expect(rows().map((r) => within(r).getAllByRole('cell')[4].textContent)).toEqual(['running', 'pending']);
    expect(screen.getByTestId('grid-loss').getAttribute('data-points')).toBe('2');
    expect(screen.getByRole('button', { name: 'Searching…' }).matches(':disabled')).toBe(true); // its fieldset is disabled while it runs

    await fireEvent.click(screen.getByRole('button', { name: 'Stop grid search' }));
    await waitFor(() => expect(screen.getByTestId('exp-notice').textContent).toContain('stopped with 1 of 2 trials to go'));
    expect(api.callsOf('experiments.stop')).toHaveLength(1);
    expect(rows().map((r) => within(r).getAllByRole('cell')[4].textContent)).toEqual(['completed', 'pending']);

    await fireEvent.click(screen.getByRole('button', { name: 'Resume grid search' }));
    await waitFor(() => expect(screen.getByTestId('grid-best').textContent).toContain('trial 1 (r=4 α=8 d=0 lr=0.001), validation perplexity 25'));
    expect(calls[1]).toEqual(calls[0]); // resuming is starting the same grid again
    expect(calls[0]).toEqual({ r: [2, 4], alpha: [8], dropout: [0], lr: [0.001], maxSteps: 4, batchSize: DEFAULT_FORM.batchSize, maxLength: DEFAULT_FORM.maxLength, seed: DEFAULT_FORM.seed, valRatio: 0.1 });
    expect(rows().map((r) => within(r).getByRole('rowheader').textContent)).toEqual(['0', '1 (best)']);
    expect(within(screen.getByTestId('grid-perplexity')).getByRole('img').getAttribute('aria-label')).toContain('1: r=4 α=8 d=0 lr=0.001: 25 (best)');
    expect(screen.getByTestId('grid-loss').getAttribute('data-points')).toBe('3');
    expect(screen.queryByRole('button', { name: 'Resume grid search' })).toBeNull();
    expect(within(screen.getByTestId('grid-list')).getAllByRole('row')).toHaveLength(2);
  });

  test('early stopping: its fields show when checked, are checked next to them, and go into the params only when checked', async () => {
    const { api } = await compareView({ 'experiments.grid': (p) => grid((({ model: _m, data: _d, project: _p, ...s }) => s)(p), () => 'completed', 0) });
    await input('Model folder', '/models/tiny');
    await input('Training text', '/data/train.txt');
    await input('Steps', '20');
    await input('r values', '2, 4');
    const start = () => screen.getByRole('button', { name: 'Start grid search' }) as HTMLButtonElement;
    expect(screen.queryByLabelText('Evaluate every (steps)')).toBeNull();
    await fireEvent.click(start());
    await waitFor(() => expect(api.callsOf('experiments.grid')).toHaveLength(1));
    expect(api.callsOf('experiments.grid')[0]).not.toHaveProperty('evalEvery');
    expect(api.callsOf('experiments.grid')[0]).not.toHaveProperty('earlyStop');

    await waitFor(() => expect(start().disabled).toBe(false));
    await fireEvent.click(screen.getByLabelText('Stop weak trials early (median rule)'));
    await input('Evaluate every (steps)', '20');
    const every = screen.getByLabelText('Evaluate every (steps)');
    expect(every.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(every.getAttribute('aria-describedby')!)!.textContent).toContain('Fewer than the 20 steps');
    expect(start().disabled).toBe(true);
    await input('Compare after (finished trials)', '0');
    expect(screen.getByLabelText('Compare after (finished trials)').getAttribute('aria-invalid')).toBe('true');
    await input('Evaluate every (steps)', '5');
    await input('Compare after (finished trials)', '3');
    expect(every.getAttribute('aria-invalid')).toBeNull();
    await fireEvent.click(start());
    await waitFor(() => expect(api.callsOf('experiments.grid')).toHaveLength(2));
    expect(api.callsOf('experiments.grid')[1]).toMatchObject({ r: [2, 4], maxSteps: 20, evalEvery: 5, earlyStop: { minTrials: 3 } });

    await waitFor(() => expect(start().disabled).toBe(false));
    await fireEvent.click(screen.getByLabelText('Stop weak trials early (median rule)'));
    expect(screen.queryByLabelText('Evaluate every (steps)')).toBeNull();
    await fireEvent.click(start());
    await waitFor(() => expect(api.callsOf('experiments.grid')).toHaveLength(3));
    expect(Object.keys(api.callsOf('experiments.grid')[2] as object)).not.toContain('earlyStop');
    expect(Object.keys(api.callsOf('experiments.grid')[2] as object)).not.toContain('evalEvery');
  });

  test('a saved, unfinished grid can be resumed from the list; a cancelled run is never shown in green', async () => {
    const settings = { r: [2, 4], alpha: [8], dropout: [0], lr: [0.001], maxSteps: 4, batchSize: 2, maxLength: 16, seed: 3, valRatio: 0.2 };
    const cancelled: RunSummary = {
      runId: 'grid-x-t1', name: 'grid-x r=4', status: 'cancelled', config: { ...(({ stopBy: _s, name: _n, out: _o, ...rest }) => rest)(DEFAULT_FORM), model: '/models/tiny', dataset: { path: '/data/train.txt' } },
      out: '/p/runs/grid-x-t1', startedAt: '2026-01-01T00:00:00Z', endedAt: '2026-01-01T00:01:00Z', step: 2, totalSteps: 4, lastLoss: 3, lastEvalLoss: null,
      trainableParams: 100, allParams: 1000, result: { steps: 2, finalLoss: 3, trainableParams: 100, allParams: 1000, tokensPerS: 10, peakRssMb: 50, wallS: 1, stopped: 'cancelled' }, error: null,
    };
    const { api } = await compareView({
      'experiments.list': () => ({ comparisons: [], grids: [grid(settings, (i) => (i === 0 ? 'completed' : 'pending'))] }),
      'runs.list': () => ({ runs: [cancelled] }),
      'runs.get': () => ({ run: cancelled, points: [{ step: 1, epoch: 0, loss: 3.2, lr: 1e-3, gradNorm: 1, tokensPerS: 1, elapsedS: 1, etaS: 1 }, { step: 2, epoch: 0, loss: 3, lr: 1e-3, gradNorm: 1, tokensPerS: 1, elapsedS: 2, etaS: 1 }], evalPoints: [], logs: [] }),
      'experiments.grid': () => grid(settings, () => 'completed', 0),
    });
    await waitFor(() => expect(screen.getByTestId('grid-table')).toBeTruthy());
    // Its saved trial run's curve is shown, and the stopped trial says so (not green).
    expect(screen.getByTestId('grid-loss').getAttribute('data-points')).toBe('2');
    const stopped = within(screen.getByTestId('grid-table')).getByText('stopped');
    expect(stopped.className).toContain('status-cancelled');
    const status = within(screen.getByTestId('compare-table')).getByText('cancelled');
    expect([...status.classList].filter((c) => c.startsWith('status'))).toEqual(['status', 'status-cancelled']);
    // …and app.css draws that class in the warning colour, not the success green.
    const css = readFileSync('renderer/src/app.css', 'utf8');
    const rules = css.split('}').filter((r) => /\.status-cancelled\b/.test(r.split('{')[0]));
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) expect(r).not.toMatch(/--ok/);
    expect(isGreenish(runColor('grid-x-t1'))).toBe(false);
    expect(within(screen.getByTestId('compare-params')).getByRole('img').getAttribute('aria-label')).toContain('(log scale)');

    await fireEvent.click(screen.getByRole('button', { name: 'Resume grid grid-x' }));
    await waitFor(() => expect(screen.getByTestId('grid-best')).toBeTruthy());
    expect(api.callsOf('experiments.grid')).toEqual([{ ...settings, model: '/models/tiny', data: '/data/train.txt' }]);
  });
});
