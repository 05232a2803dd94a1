// Export and samples in the renderer (jsdom, against a scripted window.studio): the Export menu of a
// finished run in Projects and Train (merged, adapter, GGUF with its type), its busy state, the
// path and size it answers, "Open folder" (desktop) or the path with a Copy button (browser); a
// paused run keeps its adapter; generation samples appear live in Train.
import { fireEvent, screen, waitFor, within } from '@testing-library/svelte';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { Result, RunExportResult, RunSummary } from '../../engine/api.ts';
import { DEFAULT_FORM } from '../../renderer/src/lib/state.svelte.ts';
import { INFO, type Handlers } from './fake-studio.ts';
import { freshAppPerTest, nav, renderApp } from './render-app.ts';

freshAppPerTest();
afterEach(() => vi.unstubAllGlobals());

const app = renderApp;


function config(over: Partial<RunSummary['config']> = {}): RunSummary['config'] {
  const { stopBy: _s, name: _n, out: _o, ...rest } = DEFAULT_FORM;
  return { ...rest, model: '/models/tiny', dataset: { path: '/data/train.txt' }, ...over };
}

function run(runId: string, over: Partial<RunSummary> = {}): RunSummary {
  return {
    runId, name: `run ${runId}`, status: 'completed', config: config(), out: `/p/runs/${runId}/adapter`,
    startedAt: new Date(Date.now() - 1000).toISOString(), endedAt: new Date().toISOString(), step: 4, totalSteps: 4,
    lastLoss: 2, lastEvalLoss: null, trainableParams: 100, allParams: 1000, result: null, error: null, dir: `/p/runs/${runId}`, lastCheckpoint: null,
    ...over,
  };
}

function withRuns(runs: RunSummary[], more: Handlers = {}): Handlers {
  return {
    'runs.list': () => ({ runs }),
    'runs.get': (p) => ({ run: runs.find((r) => r.runId === p.runId)!, points: [], evalPoints: [], logs: [] }),
    ...more,
  };
}

/** A runs.export answer held until the test releases it (to see the busy state). */
function held() {
  let release!: (r: RunExportResult) => void;
  const promise = new Promise<RunExportResult>((ok) => (release = ok));
  return { promise, release };
}

describe('Export in the Projects run table', () => {
  test('merged: busy while it writes, then the path and size; in a browser the path comes with a Copy button', async () => {
    const writeText = vi.fn(async () => {});
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    const h = held();
    const { api } = await app(withRuns([run('r1'), run('r2', { status: 'running', out: null })], { 'runs.export': () => h.promise }));
    await waitFor(() => expect(screen.getByTestId('project-runs')).toBeTruthy());
    // Only the finished run has an Export menu.
    expect(screen.queryByRole('button', { name: 'Export run r2' })).toBeNull();
    const exportButton = screen.getByRole('button', { name: 'Export run r1' });
    expect(exportButton.getAttribute('aria-expanded')).toBe('false');
    await fireEvent.click(exportButton);
    expect(exportButton.getAttribute('aria-expanded')).toBe('true');
    const panel = screen.getByRole('group', { name: 'Export run r1' });
    await fireEvent.click(within(panel).getByRole('button', { name: 'Merged model (Hugging Face folder)' }));
    expect(api.callsOf('runs.export')).toEqual([{ runId: 'r1', kind: 'merged' }]);
    await waitFor(() => expect(screen.getByTestId('export-busy').textContent).toMatch(/Exporting merged model/));
    expect(panel.getAttribute('aria-busy')).toBe('true');
    expect((within(panel).getByRole('button', { name: 'PEFT adapter' }) as HTMLButtonElement).disabled).toBe(true);

    h.release({ runId: 'r1', kind: 'merged', out: '/p/runs/r1/export/merged', bytes: 3 * 1024 * 1024, files: ['config.json', 'model.safetensors'] });
    await waitFor(() => expect(screen.getByTestId('export-path').textContent).toBe('/p/runs/r1/export/merged'));
    expect(screen.queryByTestId('export-busy')).toBeNull();
    expect(screen.getByTestId('export-result').textContent).toMatch(/3\.0 MB/);
    // serve has no reveal: no "Open folder", a Copy button instead.
    expect(screen.queryByRole('button', { name: /Open the folder/ })).toBeNull();
    await fireEvent.click(screen.getByRole('button', { name: 'Copy the path /p/runs/r1/export/merged' }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith('/p/runs/r1/export/merged'));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Copy the path /p/runs/r1/export/merged' }).textContent).toBe('Copied'));
  });

  test('GGUF with its type and adapter-only, a custom path and replace; an error is shown in one line', async () => {
    let answer: Result<'runs.export'> | Error = new Error('/out/x.gguf exists already; replace it (overwrite) or choose another path');
    const { api } = await app(withRuns([run('r1')], {
      'runs.export': () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
    }));
    await waitFor(() => expect(screen.getByTestId('project-runs')).toBeTruthy());
    await fireEvent.click(screen.getByRole('button', { name: 'Export run r1' }));
    const panel = screen.getByRole('group', { name: 'Export run r1' });
    await fireEvent.change(within(panel).getByLabelText('GGUF type'), { target: { value: 'q8_0' } });
    await fireEvent.click(within(panel).getByLabelText(/adapter only/));
    await fireEvent.input(within(panel).getByLabelText('Save to'), { target: { value: '  /out/x.gguf ' } });
    await fireEvent.click(within(panel).getByRole('button', { name: 'GGUF' }));
    await waitFor(() => expect(within(panel).getByRole('alert').textContent).toMatch(/exists already/));
    expect(api.callsOf('runs.export')).toEqual([{ runId: 'r1', kind: 'gguf', out: '/out/x.gguf', ggufType: 'q8_0', loraOnly: true }]);

    answer = { runId: 'r1', kind: 'gguf', out: '/out/x.gguf', bytes: 2048, files: ['/out/x.gguf', '/out/x.Modelfile'] };
    await fireEvent.click(within(panel).getByLabelText(/replace an existing export/));
    await fireEvent.click(within(panel).getByRole('button', { name: 'GGUF' }));
    await waitFor(() => expect(screen.getByTestId('export-path').textContent).toBe('/out/x.gguf'));
    expect(api.callsOf('runs.export')[1]).toEqual({ runId: 'r1', kind: 'gguf', out: '/out/x.gguf', ggufType: 'q8_0', loraOnly: true, overwrite: true });
    expect(within(panel).queryByRole('alert')).toBeNull();
    expect(screen.getByTestId('export-result').textContent).toMatch(/GGUF: \/out\/x\.gguf \(2\.0 KB\)/);
  });

  test('a full fine-tuning run exports its model folder and GGUF, no adapter; a classifier no GGUF', async () => {
    await app(withRuns([
      run('full', { config: config({ method: 'full' }), out: '/p/runs/full/model' }),
      run('cls', { config: config({ task: 'seq-cls' }) }),
    ]));
    await waitFor(() => expect(screen.getByTestId('project-runs')).toBeTruthy());
    await fireEvent.click(screen.getByRole('button', { name: 'Export run full' }));
    const full = screen.getByRole('group', { name: 'Export run full' });
    expect(within(full).getByRole('button', { name: 'Model folder (Hugging Face)' })).toBeTruthy();
    expect(within(full).queryByRole('button', { name: 'PEFT adapter' })).toBeNull();
    expect(within(full).queryByLabelText(/adapter only/)).toBeNull();
    expect(within(full).getByRole('button', { name: 'GGUF' })).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Export run cls' }));
    const cls = screen.getByRole('group', { name: 'Export run cls' });
    expect(within(cls).getByRole('button', { name: 'PEFT adapter' })).toBeTruthy();
    expect(within(cls).queryByRole('button', { name: 'GGUF' })).toBeNull();
  });
});

describe('Export in Train', () => {
  test('the desktop app opens the folder (app.reveal); when it cannot, the path is offered to copy', async () => {
    let opened = true;
    const { api } = await app({
      'app.info': () => ({ ...INFO, shell: 'electron', features: { dialogs: true, reveal: true } }),
      ...withRuns([run('r1')], {
        'runs.export': (p) => ({ runId: p.runId, kind: p.kind, out: '/p/runs/r1/export/adapter', bytes: 512, files: ['adapter_config.json', 'adapter_model.safetensors'] }),
        'app.reveal': () => ({ opened }),
      }),
    });
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('completed'));
    await fireEvent.click(screen.getByRole('button', { name: 'Export' }));
    await fireEvent.click(screen.getByRole('button', { name: 'PEFT adapter' }));
    await waitFor(() => expect(screen.getByTestId('export-path').textContent).toBe('/p/runs/r1/export/adapter'));
    await fireEvent.click(screen.getByRole('button', { name: 'Open the folder of /p/runs/r1/export/adapter' }));
    expect(api.callsOf('app.reveal')).toEqual([{ path: '/p/runs/r1/export/adapter' }]);
    expect(screen.queryByRole('button', { name: /Copy the path/ })).toBeNull();
    opened = false;
    await fireEvent.click(screen.getByRole('button', { name: 'Open the folder of /p/runs/r1/export/adapter' }));
    await waitFor(() => expect(screen.getByRole('button', { name: 'Copy the path /p/runs/r1/export/adapter' })).toBeTruthy());
    // The result stays after switching views and back.
    await fireEvent.click(nav('Projects'));
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('export-path').textContent).toBe('/p/runs/r1/export/adapter'));
  });

  test('a run paused (then stopped) keeps and shows its adapter, and can be exported', async () => {
    const { api } = await app(withRuns([run('r3', { status: 'running', step: 2, out: null })], { 'runs.export': (p) => ({ runId: p.runId, kind: p.kind, out: '/x', bytes: 1, files: ['a'] }) }));
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('running'));
    expect(screen.queryByRole('button', { name: 'Export' })).toBeNull();
    api.emit({ type: 'run.status', runId: 'r3', status: 'paused', error: null, out: '/p/runs/r3/adapter' });
    await waitFor(() => expect(screen.getByTestId('run-saved-result').textContent).toMatch(/Paused at step 2; its adapter from then is saved in \/p\/runs\/r3\/adapter/));
    api.emit({ type: 'run.status', runId: 'r3', status: 'cancelled', error: null });
    await waitFor(() => expect(screen.getByTestId('run-status').textContent).toBe('cancelled'));
    expect(screen.getByTestId('run-saved-result').textContent).toMatch(/Stopped at step 2; .*\/p\/runs\/r3\/adapter/);
    await fireEvent.click(screen.getByRole('button', { name: 'Export' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Merged model (Hugging Face folder)' }));
    expect(api.callsOf('runs.export')).toEqual([{ runId: 'r3', kind: 'merged' }]);
  });
});

describe('Run outcome in Train', () => {
  test('a stopped run is not shown as a success (no green "ok" line); a finished one is', async () => {
    const result = { steps: 2, finalLoss: 3, trainableParams: 100, allParams: 1000, tokensPerS: 10, peakRssMb: 50, wallS: 1 };
    await app(withRuns([run('r5', { status: 'cancelled', result: { ...result, stopped: 'cancelled' } })]));
    await fireEvent.click(nav('Train'));
    const line = await waitFor(() => screen.getByText(/^Stopped after 2 steps/));
    expect(line.classList.contains('ok')).toBe(false);
    expect(line.classList.contains('warn')).toBe(true);
  });
});

describe('Samples in Train', () => {
  test('samples stream in live, newest first, with step, prompt and text; saved ones load with the run', async () => {
    const r = run('s1', { status: 'running', step: 0, out: null, config: config({ sample: { prompt: 'Once upon', every: 2 } }) });
    const { api } = await app({
      'runs.list': () => ({ runs: [r] }),
      'runs.get': () => ({ run: r, points: [], evalPoints: [], logs: [], samples: [{ step: 2, prompt: 'Once upon', text: ' a time (saved)' }] }),
    });
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getAllByTestId('run-sample')).toHaveLength(1));
    expect(screen.getByTestId('run-sample').textContent).toMatch(/step 2 · prompt Once upon\s*a time \(saved\)/);
    api.emit({ type: 'run.event', runId: 's1', event: { type: 'step', step: 4, totalSteps: 6, epoch: 1, loss: 2, lr: 1e-3, gradNorm: 1, tokensPerS: 10, elapsedS: 1, etaS: 1 } });
    api.emit({ type: 'run.event', runId: 's1', event: { type: 'sample', step: 4, prompt: 'Once upon', text: ' a time there was a cat' } });
    await waitFor(() => expect(screen.getAllByTestId('run-sample')).toHaveLength(2));
    const [newest, oldest] = screen.getAllByTestId('run-sample');
    expect(within(newest!).getByText('4').tagName).toBe('STRONG');
    expect(newest!.querySelector('pre')!.textContent).toBe(' a time there was a cat');
    expect(oldest!.querySelector('pre')!.textContent).toBe(' a time (saved)');
  });

  test('without a sample prompt the section says how to get samples', async () => {
    await app(withRuns([run('s2')]));
    await fireEvent.click(nav('Train'));
    await waitFor(() => expect(screen.getByTestId('run-samples').textContent).toMatch(/give a sample prompt in Configure/));
    expect(screen.queryAllByTestId('run-sample')).toHaveLength(0);
  });
});
