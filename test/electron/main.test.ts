// The desktop app's main process with a fake `electron`: window options, IPC registration and
// validation, navigation and permissions, the menu, native dialogs, the engine host and crashes.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeEach, describe, expect, test, vi } from 'vitest';
import * as fake from './fake-electron.ts';

vi.mock('electron', async () => await import('./fake-electron.ts'));

const { startStudio, main, menuTemplate, defaultPaths } = await import('../../electron/main.ts');
const { CSP, isAppUrl } = await import('../../electron/security.ts');

const dir = mkdtempSync(join(tmpdir(), 'electron-main-'));
const paths = { preload: join(dir, 'preload', 'preload.cjs'), rendererIndex: join(dir, 'renderer', 'index.html'), engineEntry: join(dir, 'main', 'engine-process.js') };
const APP_URL = `${pathToFileURL(paths.rendererIndex).href}#/models`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => fake.reset());

const invoke = (payload: unknown, url = APP_URL) => fake.ipcMain.invoke('studio:invoke', url, payload);
const eventsSent = (w: fake.BrowserWindow) => w.webContents.sent.filter((s) => s.channel === 'studio:event').map((s) => s.payload as { type: string; [k: string]: unknown });

async function start() {
  const studio = await startStudio({ paths, project: null });
  const win = fake.BrowserWindow.all[0];
  return { studio, win };
}

describe('the window', () => {
  test('one window, locked down: context isolation, sandbox, no Node, web security, no webviews', async () => {
    const { studio, win } = await start();
    expect(fake.BrowserWindow.all).toHaveLength(1);
    expect(win.options.webPreferences).toMatchObject({
      preload: paths.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
    });
    expect(win.options.webPreferences.enableBlinkFeatures).toBeUndefined();
    expect(win.loaded.file).toBe(paths.rendererIndex);
    expect(win.shown).toBe(true);
    await studio.bridge.close();
  });

  test('navigation, redirects, new windows and webviews are refused', async () => {
    const { studio, win } = await start();
    expect(win.webContents.fire('will-navigate', 'https://evil.example/').prevented).toBe(true);
    expect(win.webContents.fire('will-navigate', 'file:///etc/passwd').prevented).toBe(true);
    expect(win.webContents.fire('will-navigate', pathToFileURL(paths.rendererIndex).href).prevented).toBe(false);
    expect(win.webContents.fire('will-redirect', 'https://evil.example/').prevented).toBe(true);
    expect(win.webContents.fire('will-attach-webview', {}, {}).prevented).toBe(true);
    expect(win.webContents.windowOpenHandler!({ url: 'https://evil.example' })).toEqual({ action: 'deny' });
    await studio.bridge.close();
  });

  test('permissions denied, remote requests blocked, a strict CSP on every response', async () => {
    const { studio } = await start();
    const ses = fake.session.defaultSession;
    const granted: boolean[] = [];
    ses.permissionRequest!({}, 'media', (ok: boolean) => granted.push(ok));
    ses.permissionRequest!({}, 'notifications', (ok: boolean) => granted.push(ok));
    expect(granted).toEqual([false, false]);
    expect(ses.permissionCheck!({}, 'clipboard-read')).toBe(false);
    const cancel = (url: string) => new Promise((r) => ses.beforeRequest!({ url }, (res: { cancel: boolean }) => r(res.cancel)));
    expect(await cancel('https://cdn.example.com/x.js')).toBe(true);
    expect(await cancel('http://127.0.0.1:8080/')).toBe(true);
    expect(await cancel(pathToFileURL(join(dir, 'renderer', 'assets', 'index.js')).href)).toBe(false);
    expect(await cancel(pathToFileURL(join(dir, 'main', 'main.js')).href)).toBe(true);
    const headers = await new Promise<Record<string, string[]>>((r) => ses.headersReceived!({ responseHeaders: {} }, (res: { responseHeaders: Record<string, string[]> }) => r(res.responseHeaders)));
    expect(headers['Content-Security-Policy']).toEqual([CSP]);
    expect(CSP).toContain("script-src 'self'");
    expect(CSP).not.toMatch(/unsafe-(inline|eval)/);
    await studio.bridge.close();
  });

  test('app-wide: sandbox for every renderer, a single instance, hardened new web contents', () => {
    main();
    expect(fake.app.sandboxed).toBe(true);
    expect(fake.app.listenerCount('web-contents-created')).toBe(1);
    const contents = new fake.FakeWebContents();
    fake.app.emit('web-contents-created', {}, contents);
    expect(contents.windowOpenHandler!({})).toEqual({ action: 'deny' });
    expect(contents.fire('will-attach-webview').prevented).toBe(true);
  });

  test('isAppUrl: only the renderer folder (and, in development, Vite’s server)', () => {
    const index = pathToFileURL(paths.rendererIndex).href;
    expect(isAppUrl(index, index)).toBe(true);
    expect(isAppUrl(`${index}#/train`, index)).toBe(true);
    expect(isAppUrl('file:///etc/hosts', index)).toBe(false);
    expect(isAppUrl('http://localhost:5173/', index)).toBe(false);
    expect(isAppUrl('http://localhost:5173/src/main.ts', index, 'http://localhost:5173/')).toBe(true);
    expect(isAppUrl('ws://localhost:5173/', index, 'http://localhost:5173/')).toBe(true);
    expect(isAppUrl('http://localhost:5174/', index, 'http://localhost:5173/')).toBe(false);
    expect(isAppUrl('not a url', index)).toBe(false);
  });

  test('the built layout: preload is CommonJS next to main', () => {
    const p = defaultPaths('/app/out/main');
    expect(p).toEqual({ preload: '/app/out/preload/preload.cjs', rendererIndex: '/app/out/renderer/index.html', engineEntry: '/app/out/main/engine-process.js' });
  });
});

describe('IPC', () => {
  test('exactly one channel; every payload is validated', async () => {
    const { studio } = await start();
    expect([...fake.ipcMain.handlers.keys()]).toEqual(['studio:invoke']);
    expect([...fake.ipcMain.listeners.keys()]).toEqual([]);
    expect(await invoke({ type: 'request', id: 'a', method: 'app.info', params: {} })).toMatchObject({ id: 'a', ok: true, result: { shell: 'electron', features: { dialogs: true } } });
    expect(await invoke('junk')).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(await invoke({ type: 'request', id: 'b', method: 'runs.start', params: { config: { model: 1 } } })).toMatchObject({ id: 'b', ok: false, error: { code: 'invalid_params' } });
    expect(await invoke({ type: 'request', id: 'c', method: 'shell.exec', params: {} })).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
    await studio.bridge.close();
  });

  test('requests from any other page are refused', async () => {
    const { studio } = await start();
    const r = await invoke({ type: 'request', id: 'x', method: 'fs.list', params: {} }, 'https://evil.example/');
    expect(r).toMatchObject({ id: 'x', ok: false, error: { code: 'invalid_request', message: expect.stringMatching(/untrusted/) } });
    await studio.bridge.close();
  });

  test('native open and save dialogs answer through the contract', async () => {
    const { studio } = await start();
    expect(await invoke({ type: 'request', id: 'd', method: 'dialog.open', params: { kind: 'folder', title: 'Model folder' } })).toMatchObject({ ok: true, result: { path: '/picked/folder' } });
    expect(fake.dialog.calls[0]).toMatchObject({ fn: 'showOpenDialog', options: { title: 'Model folder', properties: ['openDirectory', 'createDirectory'] } });
    fake.dialog.next.canceled = true;
    expect(await invoke({ type: 'request', id: 'e', method: 'dialog.open', params: { kind: 'file' } })).toMatchObject({ ok: true, result: { path: null } });
    fake.dialog.next.canceled = false;
    expect(await invoke({ type: 'request', id: 'f', method: 'dialog.save', params: { defaultPath: '/tmp/a.json' } })).toMatchObject({ ok: true, result: { path: '/picked/file.json' } });
    expect(await invoke({ type: 'request', id: 'g', method: 'dialog.open', params: { kind: 'socket' } })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    await studio.bridge.close();
  });

  test('app.reveal shows an existing file or folder in the file manager; anything else is refused', async () => {
    const { studio } = await start();
    expect(await invoke({ type: 'request', id: 'i', method: 'app.info', params: {} })).toMatchObject({ ok: true, result: { features: { dialogs: true, reveal: true } } });
    expect(await invoke({ type: 'request', id: 'r', method: 'app.reveal', params: { path: dir } })).toMatchObject({ ok: true, result: { opened: true } });
    expect(fake.shell.shown).toEqual([dir]);
    expect(await invoke({ type: 'request', id: 's', method: 'app.reveal', params: { path: join(dir, 'nothing-here') } })).toMatchObject({ ok: false, error: { code: 'not_found', message: `${join(dir, 'nothing-here')} does not exist` } });
    expect(await invoke({ type: 'request', id: 't', method: 'app.reveal', params: { path: 'relative/path' } })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(await invoke({ type: 'request', id: 'u', method: 'app.reveal', params: { path: 42 } })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(fake.shell.shown).toEqual([dir]);
    await studio.bridge.close();
  });
});

describe('the engine in a utility process', () => {
  test('it is forked from the built entry; its crash is announced and it restarts', async () => {
    const { studio, win } = await start();
    expect(fake.utilityProcess.forks).toHaveLength(1);
    expect(fake.utilityProcess.forks[0].entry).toBe(paths.engineEntry);
    expect(await invoke({ type: 'request', id: 'a', method: 'runs.list', params: {} })).toMatchObject({ ok: true });
    fake.utilityProcess.forks[0].engine.crash(134);
    await vi.waitFor(() => expect(eventsSent(win).map((e) => `${e.type}:${e.status}`)).toEqual(['engine.status:crashed', 'engine.status:ready']), { timeout: 5000 });
    expect(eventsSent(win)[0].message).toMatch(/exit code 134/);
    expect(fake.utilityProcess.forks).toHaveLength(2);
    expect(await invoke({ type: 'request', id: 'b', method: 'app.info', params: {} })).toMatchObject({ ok: true });
    await studio.bridge.close();
    expect(fake.utilityProcess.forks[1].killed).toBe(true);
  });
});

describe('the menu', () => {
  test('File, Edit, View, Window, Help; Open Model shows the native dialog and tells the renderer', async () => {
    const { studio, win } = await start();
    const template = (fake.Menu.applied as { template: { label?: string; role?: string; submenu?: { label?: string; click?: () => Promise<void> }[] }[] }).template;
    expect(template.map((m) => m.label ?? m.role)).toEqual(['File', 'editMenu', 'View', 'windowMenu', 'help']);
    const openModel = template[0].submenu!.find((i) => i.label === 'Open Model…')!;
    await openModel.click!();
    expect(fake.dialog.calls.at(-1)).toMatchObject({ fn: 'showOpenDialog', options: { properties: ['openDirectory', 'createDirectory'] } });
    expect(eventsSent(win).at(-1)).toEqual({ type: 'menu.command', command: 'open-model', path: '/picked/folder' });
    const views = template[2].submenu!.filter((i) => i.click);
    expect(views.map((v) => v.label)).toEqual(['Projects', 'Models', 'Datasets', 'Configure', 'Train', 'Evaluate', 'Playground', 'Compare']);
    await views[4].click!();
    expect(eventsSent(win).at(-1)).toEqual({ type: 'menu.command', command: 'navigate', view: 'train' });
    // New Project… creates the folder and announces the project.
    fake.dialog.next.filePaths = [join(dir, 'new-project')];
    await template[0].submenu!.find((i) => i.label === 'New Project…')!.click!();
    expect(eventsSent(win).at(-1)).toEqual({ type: 'project.changed', project: { dir: join(dir, 'new-project'), name: 'new-project' } });
    expect(existsSync(join(dir, 'new-project', 'project.json'))).toBe(true); // a real project
    // Open Project… on a folder that is not a project says so (no crash, nothing changes).
    mkdirSync(join(dir, 'plain-folder'));
    fake.dialog.next.filePaths = [join(dir, 'plain-folder')];
    await template[0].submenu!.find((i) => i.label === 'Open Project…')!.click!();
    expect(JSON.stringify(fake.dialog.calls.at(-1))).toMatch(/no project\.json/);
    expect(await studio.bridge.invoke('projects.current', {})).toEqual({ project: { dir: join(dir, 'new-project'), name: 'new-project' } });
    await studio.bridge.close();
  });

  test('without --project, the default project is opened (created on first use)', async () => {
    const before = process.env.LORA_STUDIO_PROJECT;
    process.env.LORA_STUDIO_PROJECT = join(dir, 'default-project');
    try {
      const studio = await startStudio({ paths });
      expect(studio.bridge.projectDir).toBe(join(dir, 'default-project'));
      expect(existsSync(join(dir, 'default-project', 'project.json'))).toBe(true);
      await studio.bridge.close();
    } finally {
      if (before === undefined) delete process.env.LORA_STUDIO_PROJECT;
      else process.env.LORA_STUDIO_PROJECT = before;
    }
  });

  test('macOS gets the app menu first', () => {
    const t = menuTemplate({ send: () => {}, openDialog: async () => null, openProject: async () => {}, about: () => {} }, 'darwin');
    expect(t[0]).toEqual({ role: 'appMenu' });
  });
});
