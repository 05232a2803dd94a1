// A fake `electron` module for the main-process and preload tests (Electron's binary cannot be
// downloaded here). It records what the app asks of Electron and lets tests play the user, the
// renderer and the engine's utility process.
import { EventEmitter } from 'node:events';
import { inProcessEngine } from '../../host/engine-process.ts';
import type { EngineTransport } from '../../host/transport.ts';

type Handler = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

export class FakeWebContents extends EventEmitter {
  sent: { channel: string; payload: unknown }[] = [];
  windowOpenHandler: Handler | null = null;
  setWindowOpenHandler(h: Handler) {
    this.windowOpenHandler = h;
  }
  send(channel: string, payload: unknown) {
    this.sent.push({ channel, payload: structuredClone(payload) });
  }
  /** Emits an event the way Electron does, with a preventable event object. */
  fire(name: string, ...args: unknown[]): { prevented: boolean } {
    const e = { prevented: false, preventDefault() { this.prevented = true; } };
    this.emit(name, e, ...args);
    return e;
  }
}

export class BrowserWindow extends EventEmitter {
  static all: BrowserWindow[] = [];
  static getAllWindows() {
    return BrowserWindow.all.filter((w) => !w.destroyed);
  }
  webContents = new FakeWebContents();
  loaded: { file?: string; url?: string } = {};
  destroyed = false;
  shown = false;
  constructor(readonly options: Record<string, any>) { // eslint-disable-line @typescript-eslint/no-explicit-any
    super();
    BrowserWindow.all.push(this);
  }
  async loadFile(file: string) {
    this.loaded.file = file;
    this.emit('ready-to-show');
  }
  async loadURL(url: string) {
    this.loaded.url = url;
    this.emit('ready-to-show');
  }
  show() {
    this.shown = true;
  }
  isDestroyed() {
    return this.destroyed;
  }
  isMinimized() {
    return false;
  }
  restore() {}
  focus() {}
}

class FakeIpcMain {
  handlers = new Map<string, Handler>();
  listeners = new Map<string, Handler>();
  handle(channel: string, fn: Handler) {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, fn);
  }
  on(channel: string, fn: Handler) {
    this.listeners.set(channel, fn);
  }
  /** What the renderer's ipcRenderer.invoke would get, from a page at `url`. */
  async invoke(channel: string, url: string, payload: unknown) {
    const h = this.handlers.get(channel);
    if (!h) throw new Error(`No handler registered for '${channel}'`);
    return structuredClone(await h({ senderFrame: { url } }, structuredClone(payload)));
  }
}
export const ipcMain = new FakeIpcMain();

export const dialog = {
  next: { canceled: false, filePaths: ['/picked/folder'] as string[], filePath: '/picked/file.json' },
  calls: [] as { fn: string; options: any }[], // eslint-disable-line @typescript-eslint/no-explicit-any
  async showOpenDialog(a: unknown, b?: unknown) {
    dialog.calls.push({ fn: 'showOpenDialog', options: b ?? a });
    return { canceled: dialog.next.canceled, filePaths: dialog.next.filePaths };
  },
  async showSaveDialog(a: unknown, b?: unknown) {
    dialog.calls.push({ fn: 'showSaveDialog', options: b ?? a });
    return { canceled: dialog.next.canceled, filePath: dialog.next.filePath };
  },
  showErrorBox(title: string, content: string) {
    dialog.calls.push({ fn: 'showErrorBox', options: { title, content } });
  },
  async showMessageBox(options: unknown) {
    dialog.calls.push({ fn: 'showMessageBox', options });
    return { response: 0 };
  },
};

export const shell = {
  shown: [] as string[],
  showItemInFolder(p: string) {
    shell.shown.push(p);
  },
};

export const Menu = {
  applied: null as unknown,
  buildFromTemplate: (template: unknown) => ({ template }),
  setApplicationMenu(m: unknown) {
    Menu.applied = m;
  },
};

class FakeSession {
  permissionRequest: Handler | null = null;
  permissionCheck: Handler | null = null;
  beforeRequest: Handler | null = null;
  headersReceived: Handler | null = null;
  setPermissionRequestHandler(h: Handler) {
    this.permissionRequest = h;
  }
  setPermissionCheckHandler(h: Handler) {
    this.permissionCheck = h;
  }
  webRequest = {
    onBeforeRequest: (h: Handler) => (this.beforeRequest = h),
    onHeadersReceived: (h: Handler) => (this.headersReceived = h),
  };
}
export const session = { defaultSession: new FakeSession() };

/** The utility process: by default the real engine handlers, in this process. */
export class FakeUtilityProcess extends EventEmitter {
  engine: EngineTransport & { crash(code?: number): void };
  killed = false;
  constructor(readonly entry: string, readonly options: unknown) {
    super();
    this.engine = utilityProcess.engineFactory();
    this.engine.onMessage((m) => this.emit('message', m));
    this.engine.onExit((info) => this.emit('exit', info.code ?? 0));
  }
  postMessage(m: unknown) {
    this.engine.post(structuredClone(m) as Parameters<EngineTransport['post']>[0]);
  }
  kill() {
    this.killed = true;
    this.engine.kill();
    return true;
  }
}
export const utilityProcess = {
  forks: [] as FakeUtilityProcess[],
  engineFactory: () => inProcessEngine(),
  fork(entry: string, _args: string[], options: unknown) {
    const p = new FakeUtilityProcess(entry, options);
    utilityProcess.forks.push(p);
    return p;
  },
};

class FakeApp extends EventEmitter {
  isPackaged = false;
  sandboxed = false;
  quitCalled = false;
  enableSandbox() {
    this.sandboxed = true;
  }
  requestSingleInstanceLock() {
    return true;
  }
  quit() {
    this.quitCalled = true;
  }
  whenReady() {
    return new Promise<void>(() => {}); // the tests start the studio themselves
  }
}
export const app = new FakeApp();

// Renderer-side (preload) halves.
export const contextBridge = {
  exposed: new Map<string, unknown>(),
  exposeInMainWorld(name: string, api: unknown) {
    contextBridge.exposed.set(name, api);
  },
};
class FakeIpcRenderer extends EventEmitter {
  invoked: { channel: string; payload: unknown }[] = [];
  reply: (payload: any) => unknown = () => undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  async invoke(channel: string, payload: unknown) {
    this.invoked.push({ channel, payload });
    return structuredClone(await this.reply(structuredClone(payload)));
  }
}
export const ipcRenderer = new FakeIpcRenderer();

export function reset(): void {
  BrowserWindow.all = [];
  ipcMain.handlers.clear();
  ipcMain.listeners.clear();
  dialog.calls = [];
  shell.shown = [];
  dialog.next = { canceled: false, filePaths: ['/picked/folder'], filePath: '/picked/file.json' };
  Menu.applied = null;
  session.defaultSession = new FakeSession();
  utilityProcess.forks = [];
  utilityProcess.engineFactory = () => inProcessEngine();
  app.removeAllListeners();
  app.sandboxed = false;
  app.quitCalled = false;
  contextBridge.exposed.clear();
  ipcRenderer.removeAllListeners();
  ipcRenderer.invoked = [];
}

export default { app, BrowserWindow, ipcMain, dialog, shell, Menu, session, utilityProcess, contextBridge, ipcRenderer };
