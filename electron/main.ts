// The desktop app's main process: one window, the app menu, native dialogs through the contract,
// IPC wiring, and the engine host. Thin: everything the studio does goes through EngineBridge
// (host/bridge.ts) to the engine in a utility process.

import { BrowserWindow, type IpcMainInvokeEvent, Menu, type MenuItemConstructorOptions, app, dialog, ipcMain, session, shell } from 'electron';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApiError, IPC, type ResponseMessage, type StudioEvent } from '../engine/api.ts';
import { EngineBridge, checkEvent } from '../host/bridge.ts';
import { STUDIO_VERSION } from '../host/session.ts';
import { defaultProjectDir } from '../engine/store/project.ts';
import { spawnUtilityEngine } from './engine-host.ts';
import { hardenSession, hardenWebContents, isAppUrl } from './security.ts';

export interface StudioPaths {
  preload: string;
  rendererIndex: string;
  engineEntry: string;
}

/** Where electron-vite puts things: out/main (this file), out/preload, out/renderer. */
export function defaultPaths(here = dirname(fileURLToPath(import.meta.url))): StudioPaths {
  return {
    preload: join(here, '..', 'preload', 'preload.cjs'),
    rendererIndex: join(here, '..', 'renderer', 'index.html'),
    engineEntry: join(here, 'engine-process.js'),
  };
}

export interface StudioOptions {
  paths?: StudioPaths;
  /** Vite's dev server (electron-vite dev); ignored in a packaged app. */
  devServerUrl?: string;
  project?: string | null;
  /** How to start the engine (default: a utility process). */
  spawn?: ConstructorParameters<typeof EngineBridge>[0]['spawn'];
}

export interface StudioApp {
  window: BrowserWindow;
  bridge: EngineBridge;
  /** Opens the window again (macOS: the dock icon after the last window closed). */
  reopen(): Promise<BrowserWindow>;
}

export function createWindow(paths: StudioPaths, dev: boolean): BrowserWindow {
  return new BrowserWindow({
    width: 1280,
    height: 860,
    minWidth: 800,
    minHeight: 560,
    title: 'LoRA Studio',
    show: false,
    backgroundColor: '#f6f7f9',
    // Spelled out here (not built elsewhere) so that reviewers and electronegativity see them.
    webPreferences: {
      // Reviewed: the preload exposes only window.studio (invoke, on), validated both ways.
      preload: paths.preload, // eng-disable PRELOAD_JS_CHECK
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
      safeDialogs: true,
      spellcheck: false,
      disableBlinkFeatures: 'Auxclick',
      devTools: dev,
    },
  });
}

/** The one IPC channel: contract requests from the app's own page, validated by the bridge. */
export function registerIpc(bridge: EngineBridge, trusted: (event: IpcMainInvokeEvent) => boolean): void {
  ipcMain.handle(IPC.invoke, async (event: IpcMainInvokeEvent, raw: unknown): Promise<ResponseMessage> => {
    if (!trusted(event)) {
      const id = raw && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id.slice(0, 64) : '';
      return { type: 'response', id, ok: false, error: new ApiError('invalid_request', 'request from an untrusted page refused').toJSON() };
    }
    return bridge.handle(raw);
  });
}

export interface MenuActions {
  send(event: StudioEvent): void;
  openDialog(kind: 'file' | 'folder', title: string): Promise<string | null>;
  openProject(dir: string, create: boolean): Promise<void>;
  about(): void;
}

export function menuTemplate(actions: MenuActions, platform = process.platform): MenuItemConstructorOptions[] {
  const views = ['projects', 'models', 'datasets', 'configure', 'train', 'evaluate', 'playground', 'compare'];
  const label = (v: string) => v[0].toUpperCase() + v.slice(1);
  const pick = (kind: 'file' | 'folder', title: string, then: (path: string) => unknown) => async () => {
    const path = await actions.openDialog(kind, title);
    if (path) await then(path);
  };
  return [
    ...(platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'New Project…', accelerator: 'CmdOrCtrl+Shift+N', click: pick('folder', 'New project folder', (p) => actions.openProject(p, true)) },
        { label: 'Open Project…', accelerator: 'CmdOrCtrl+Shift+O', click: pick('folder', 'Open a project folder', (p) => actions.openProject(p, false)) },
        { type: 'separator' },
        { label: 'Open Model…', accelerator: 'CmdOrCtrl+O', click: pick('folder', 'Open a model folder', (p) => actions.send({ type: 'menu.command', command: 'open-model', path: p })) },
        { label: 'Import Dataset…', accelerator: 'CmdOrCtrl+I', click: pick('file', 'Import a dataset', (p) => actions.send({ type: 'menu.command', command: 'open-dataset', path: p })) },
        { type: 'separator' },
        platform === 'darwin' ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        ...views.map((v, i): MenuItemConstructorOptions => ({
          label: label(v),
          accelerator: `CmdOrCtrl+${i + 1}`,
          click: () => actions.send({ type: 'menu.command', command: 'navigate', view: v }),
        })),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'About LoRA Studio', click: () => actions.about() }] },
  ];
}

function projectFromArgv(argv: string[]): string | null {
  const i = argv.indexOf('--project');
  if (i >= 0 && argv[i + 1]) return resolve(argv[i + 1]);
  const eq = argv.find((a) => a.startsWith('--project='));
  return eq ? resolve(eq.slice('--project='.length)) : null;
}

/** Starts the app (call once `app` is ready). */
export async function startStudio(opts: StudioOptions = {}): Promise<StudioApp> {
  const paths = opts.paths ?? defaultPaths();
  const dev = !app.isPackaged;
  const devServerUrl = dev ? opts.devServerUrl : undefined;
  const indexUrl = pathToFileURL(paths.rendererIndex).href;
  hardenSession(session.defaultSession, indexUrl, devServerUrl);

  let window: BrowserWindow | null = null;
  const send = (event: StudioEvent) => {
    let checked: StudioEvent;
    try {
      checked = checkEvent(event);
    } catch (e) {
      console.error(`dropped an invalid event: ${(e as Error).message}`);
      return;
    }
    for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(IPC.event, checked);
  };
  const openDialog = async (kind: 'file' | 'folder', title: string, defaultPath?: string, filters?: { name: string; extensions: string[] }[]) => {
    const options = { title, defaultPath, filters, properties: [kind === 'folder' ? ('openDirectory' as const) : ('openFile' as const), 'createDirectory' as const] };
    const r = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
    return r.canceled ? null : (r.filePaths[0] ?? null);
  };

  const bridge = new EngineBridge({
    spawn: opts.spawn ?? (() => spawnUtilityEngine(paths.engineEntry)),
    shell: 'electron',
    // --project DIR, else the default project (engine/store/project.ts); `project: null` opens none.
    project: opts.project !== undefined ? opts.project : (projectFromArgv(process.argv) ?? defaultProjectDir()),
    onEvent: send,
    log: (m) => console.error(`[studio] ${m}`),
    local: {
      'dialog.open': async (p) => ({ path: await openDialog(p.kind, p.title ?? (p.kind === 'folder' ? 'Choose a folder' : 'Choose a file'), p.defaultPath, p.filters) }),
      'dialog.save': async (p) => {
        const options = { title: p.title ?? 'Save', defaultPath: p.defaultPath };
        const r = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
        return { path: r.canceled ? null : (r.filePath ?? null) };
      },
      // "Open folder": an existing absolute path only, shown selected in the system file manager.
      'app.reveal': async (p) => {
        if (!isAbsolute(p.path)) throw new ApiError('invalid_params', `path: ${p.path} is not an absolute path`);
        const target = resolve(p.path);
        if (!existsSync(target)) throw new ApiError('not_found', `${target} does not exist`);
        shell.showItemInFolder(target);
        return { opened: true };
      },
    },
  });
  bridge.start();

  registerIpc(bridge, (event) => {
    const url = event.senderFrame?.url ?? '';
    return isAppUrl(url, indexUrl, devServerUrl);
  });

  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      menuTemplate({
        send,
        openDialog: (kind, title) => openDialog(kind, title),
        openProject: async (dir, create) => {
          try {
            await bridge.invoke(create ? 'projects.create' : 'projects.open', { dir });
          } catch (e) {
            dialog.showErrorBox('LoRA Studio', (e as Error).message);
          }
        },
        about: () => {
          void dialog.showMessageBox({ type: 'info', title: 'About LoRA Studio', message: `LoRA Studio ${STUDIO_VERSION}`, detail: 'Fine-tune small language models with LoRA, on your own machine, offline.' });
        },
      }),
    ),
  );

  const open = async (): Promise<BrowserWindow> => {
    const w = createWindow(paths, dev);
    window = w;
    hardenWebContents(w.webContents, indexUrl, devServerUrl);
    w.once('ready-to-show', () => w.show());
    if (devServerUrl) await w.loadURL(devServerUrl);
    else await w.loadFile(paths.rendererIndex);
    return w;
  };
  const app_: StudioApp = { window: await open(), bridge, reopen: async () => (app_.window = await open()) };
  return app_;
}

/** The app's lifecycle (only when running inside Electron). */
export function main(): void {
  app.enableSandbox();
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  // Every web contents, whichever created it, gets the same navigation rules.
  app.on('web-contents-created', (_event, contents) => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-attach-webview', (e) => e.preventDefault());
  });
  let studio: StudioApp | null = null;
  app.on('second-instance', () => {
    if (studio && !studio.window.isDestroyed()) {
      if (studio.window.isMinimized()) studio.window.restore();
      studio.window.focus();
    }
  });
  app.whenReady().then(async () => {
    studio = await startStudio({ devServerUrl: process.env.ELECTRON_RENDERER_URL });
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0 && studio) void studio.reopen();
    });
  }, (e) => {
    console.error(e);
    app.quit();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('before-quit', () => {
    void studio?.bridge.close();
  });
}

if (process.versions.electron && process.type === 'browser') main();
