// The preload bridge with a fake `electron`: window.studio is exposed through contextBridge only,
// requests are validated before they leave, answers and events before the page sees them.
import { beforeEach, describe, expect, test, vi } from 'vitest';
import type { StudioApi, StudioEvent } from '../../engine/api.ts';
import * as fake from './fake-electron.ts';

vi.mock('electron', async () => await import('./fake-electron.ts'));

beforeEach(() => {
  fake.ipcRenderer.invoked = [];
});

const { studio } = await import('../../electron/preload.ts');

describe('preload', () => {
  test('exposes window.studio = { invoke, on, shell } and nothing else', () => {
    const exposed = fake.contextBridge.exposed.get('studio') as StudioApi;
    expect(exposed).toBe(studio);
    expect([...fake.contextBridge.exposed.keys()]).toEqual(['studio']);
    expect(Object.keys(exposed).sort()).toEqual(['invoke', 'on', 'shell']);
    expect(exposed.shell).toBe('electron');
  });

  test('invalid params never reach the main process', async () => {
    await expect(studio.invoke('models.inspect', { dir: 5 } as never)).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(studio.invoke('no.such' as never, {} as never)).rejects.toMatchObject({ code: 'unknown_method' });
    expect(fake.ipcRenderer.invoked).toEqual([]);
  });

  test('a valid call goes over the one channel; the result is validated', async () => {
    fake.ipcRenderer.reply = (req) => ({ type: 'response', id: req.id, ok: true, result: { runs: [] } });
    expect(await studio.invoke('runs.list', {})).toEqual({ runs: [] });
    expect(fake.ipcRenderer.invoked[0]).toMatchObject({ channel: 'studio:invoke', payload: { type: 'request', method: 'runs.list', params: {} } });
    fake.ipcRenderer.reply = (req) => ({ type: 'response', id: req.id, ok: true, result: { runs: 'all of them' } });
    await expect(studio.invoke('runs.list', {})).rejects.toThrow(/invalid result of runs.list/);
    fake.ipcRenderer.reply = (req) => ({ type: 'response', id: req.id, ok: false, error: { code: 'not_found', message: 'no run x' } });
    await expect(studio.invoke('runs.get', { runId: 'x' })).rejects.toMatchObject({ code: 'not_found', message: 'no run x' });
    fake.ipcRenderer.reply = () => 'garbage';
    await expect(studio.invoke('runs.list', {})).rejects.toThrow(/invalid response message/);
  });

  test('events are validated; invalid ones are dropped; unsubscribe works', () => {
    const got: StudioEvent[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const off = studio.on((e) => got.push(e));
    const ok: StudioEvent = { type: 'engine.status', status: 'ready', message: 'up' };
    fake.ipcRenderer.emit('studio:event', {}, ok);
    fake.ipcRenderer.emit('studio:event', {}, { type: 'engine.status', status: 'on fire', message: 'x' });
    fake.ipcRenderer.emit('studio:event', {}, { type: 'eval', code: 'alert(1)' });
    expect(got).toEqual([ok]);
    expect(warn).toHaveBeenCalledTimes(2);
    off();
    fake.ipcRenderer.emit('studio:event', {}, ok);
    expect(got).toHaveLength(1);
    warn.mockRestore();
  });
});
