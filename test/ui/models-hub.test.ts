// The Models view's Hugging Face part (issue #11): the list of models the studio sees (models.list),
// opening one with a click, and "Download from Hugging Face" with live progress (model.pull events)
// and cancel (models.cancelPull), against a scripted window.studio.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ListedModelData, Result } from '../../engine/api.ts';
import { ApiError } from '../../engine/api.ts';
import App from '../../renderer/src/App.svelte';
import { Studio } from '../../renderer/src/lib/state.svelte.ts';
import { FakeStudio, type Handlers } from './fake-studio.ts';

HTMLCanvasElement.prototype.getContext = (() => null) as unknown as HTMLCanvasElement['getContext'];
beforeEach(() => {
  localStorage.clear();
  history.replaceState(null, '', '#/projects');
});
afterEach(() => localStorage.clear());

const DEMO: ListedModelData = { ref: '/app/models/demo-llama', name: 'demo-llama', source: 'built-in', dir: '/app/models/demo-llama', family: 'llama', architecture: 'LlamaForCausalLM', params: 4_212_992, dtype: 'F16', sizeBytes: 8_817_000, trainable: true };
const MAMBA: ListedModelData = {
  ref: 'state-spaces/mamba-130m-hf', name: 'state-spaces/mamba-130m-hf', source: 'hf-cache', dir: '/cache/models--state-spaces--mamba-130m-hf/snapshots/abc', repo: 'state-spaces/mamba-130m-hf',
  commit: 'a'.repeat(40), revisions: ['main'], family: 'mamba', architecture: 'MambaForCausalLM', params: 129_135_360, dtype: 'F32', sizeBytes: 517_000_000, trainable: false,
  whyNot: 'config.json: unsupported architecture "mamba" (this build loads: gpt2, distilbert, llama, mistral, qwen2)',
};
const TINY: ListedModelData = { ...DEMO, ref: 'org/tiny', name: 'org/tiny', source: 'hf-cache', dir: '/cache/models--org--tiny/snapshots/def', repo: 'org/tiny', commit: 'd'.repeat(40), revisions: ['main'] };
const PULLED: Result<'models.pull'> = { repo: 'org/tiny', revision: 'main', commit: 'd'.repeat(40), dir: TINY.dir, files: [], downloadedBytes: 3_000_000, offline: false, notes: [] };

async function modelsView(handlers: Handlers = {}) {
  let models = [DEMO, MAMBA];
  const api = new FakeStudio({ 'models.list': () => ({ cacheDir: '/cache', models }), ...handlers });
  const studio = new Studio(api);
  render(App, { props: { studio, connection: api.connection() } });
  await waitFor(() => expect(studio.info).not.toBeNull());
  await fireEvent.click(within(screen.getByRole('navigation', { name: 'Studio sections' })).getByRole('button', { name: 'Models' }));
  await waitFor(() => expect(screen.getByTestId('models-table')).toBeTruthy());
  return { api, studio, setModels: (m: ListedModelData[]) => (models = m) };
}

/** A models.pull the test ends by hand. */
function deferredPull() {
  let settle!: { resolve: (r: Result<'models.pull'>) => void; reject: (e: Error) => void };
  const handler = () => new Promise<Result<'models.pull'>>((resolve, reject) => (settle = { resolve, reject }));
  return { handler, settle: () => settle };
}

describe('Models: the Hugging Face cache and downloads', () => {
  test('lists the demo model and the cached ones, with why a model cannot be trained; a click opens one', async () => {
    const { api } = await modelsView();
    const table = within(screen.getByTestId('models-table'));
    expect(table.getByRole('button', { name: 'Open demo-llama' })).toBeTruthy();
    expect(table.getByText('4.2M')).toBeTruthy();
    expect(table.getByText(/unsupported architecture "mamba"/)).toBeTruthy();
    expect(screen.getByText('/cache')).toBeTruthy();
    await fireEvent.click(table.getByRole('button', { name: 'Open demo-llama' }));
    await waitFor(() => expect(screen.getByTestId('model-summary')).toBeTruthy());
    expect(api.callsOf('models.inspect')).toContainEqual({ dir: DEMO.dir, method: 'full' });
  });

  test('download: live progress from model.pull events, then the list refreshes with the new model', async () => {
    const pull = deferredPull();
    const { api, setModels } = await modelsView({ 'models.pull': pull.handler });
    await fireEvent.input(screen.getByLabelText('Repository (ORG/NAME)'), { target: { value: 'org/tiny' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    await waitFor(() => expect(api.callsOf('models.pull')).toHaveLength(1));
    const { pullId, repo } = api.callsOf('models.pull')[0] as { pullId: string; repo: string };
    expect(repo).toBe('org/tiny');
    expect(screen.getByTestId('pull-status').textContent).toBe('Asking the Hub for the file list…');
    const base = { type: 'model.pull', pullId, repo: 'org/tiny', message: null } as const;
    api.emit({ ...base, phase: 'progress', file: 'model.safetensors', bytes: 1_048_576, totalBytes: 4_194_304, bytesPerSecond: 524_288, etaSeconds: 6 });
    api.emit({ ...base, pullId: 'someone-else', phase: 'progress', file: 'x', bytes: 9, totalBytes: 10, bytesPerSecond: 0, etaSeconds: null });
    await waitFor(() => expect(screen.getByTestId('pull-status').textContent).toBe('1.0 MB of 4.0 MB · 512 KB/s · 6.0 s left · model.safetensors'));
    expect((screen.getByTestId('pull-progress').querySelector('progress') as HTMLProgressElement).value).toBe(1_048_576);
    setModels([DEMO, MAMBA, TINY]);
    pull.settle().resolve(PULLED);
    await waitFor(() => expect(screen.getByTestId('pull-note').textContent).toMatch(/^org\/tiny: 0 files ready/));
    expect(screen.queryByTestId('pull-progress')).toBeNull();
    await waitFor(() => expect(screen.getByRole('button', { name: 'Open org/tiny' })).toBeTruthy());
    expect(api.callsOf('models.list').length).toBeGreaterThanOrEqual(2);
  });

  test('cancel sends models.cancelPull for this download and says it resumes; a failure is an alert', async () => {
    const pull = deferredPull();
    const { api } = await modelsView({ 'models.pull': pull.handler, 'models.cancelPull': () => ({ cancelled: true }) });
    await fireEvent.input(screen.getByLabelText('Repository (ORG/NAME)'), { target: { value: 'org/tiny' } });
    await fireEvent.input(screen.getByLabelText(/^Revision/), { target: { value: 'v1.0' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    await waitFor(() => expect(api.callsOf('models.pull')).toHaveLength(1));
    const { pullId, revision } = api.callsOf('models.pull')[0] as { pullId: string; revision: string };
    expect(revision).toBe('v1.0');
    await fireEvent.click(screen.getByRole('button', { name: 'Cancel download' }));
    expect(api.callsOf('models.cancelPull')).toEqual([{ pullId }]);
    pull.settle().reject(new ApiError('failed', 'org/tiny: model.safetensors: download cancelled'));
    await waitFor(() => expect(screen.getByTestId('pull-note').textContent).toMatch(/cancelled.*resume/));
    expect(screen.queryByRole('alert')).toBeNull();

    const again = deferredPull();
    api.handlers['models.pull'] = again.handler;
    await fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    await waitFor(() => expect(api.callsOf('models.pull')).toHaveLength(2));
    again.settle().reject(new ApiError('failed', 'org/gated: this model is gated: it needs a token'));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('org/gated: this model is gated'));
  });

  test('a repo id that is not one is refused before any request', async () => {
    const { api } = await modelsView();
    await fireEvent.input(screen.getByLabelText('Repository (ORG/NAME)'), { target: { value: 'not a/repo/id' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Download' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('Hugging Face repo id'));
    expect(api.callsOf('models.pull')).toEqual([]);
  });
});
