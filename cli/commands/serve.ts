// `lora-studio serve [--port N] [--project DIR]`: the studio's renderer in a browser, over HTTP +
// WebSocket on 127.0.0.1, with a random per-session token. The first stdout line is the URL
// (with the token). Security:
//   - binds 127.0.0.1 only; the Host header must be 127.0.0.1:PORT or localhost:PORT (DNS rebinding)
//   - every request and WebSocket upgrade needs the token: ?token=… once (answered with an
//     HttpOnly SameSite=Strict cookie and a redirect that drops it from the address bar), then the
//     cookie, or an `Authorization: Bearer …` header → else 401
//   - a foreign Origin (a page of another site driving the browser) → 403, even with the token
//   - a strict Content-Security-Policy; only the built renderer's files are served
// The engine runs in a child process (this command with --engine-child); the web server only
// relays, so training never blocks it. If the engine crashes it is restarted and the session's
// runs are kept.

import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES, type StudioEvent, decodeMessage, encodeMessage } from '../../engine/api.ts';
import { EngineBridge, type EngineTransport, type HostToEngine, checkEvent, runEngineHost } from '../../engine/api-handlers.ts';
import { createProject, defaultProjectDir } from '../../engine/store/project.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..');
export const RENDERER_SRC = join(ROOT, 'renderer');
export const RENDERER_OUT = join(ROOT, 'out', 'renderer');
const BIN = join(ROOT, 'bin', 'lora-studio.mjs');

const HELP = `Usage: lora-studio serve [--port N] [--project DIR]

The studio in your browser, on 127.0.0.1 only. Prints the URL (with a per-session token) as the
first line; open it in a browser on this machine. Ctrl+C stops it.

Options:
  --port N        port to listen on (default: a free one)
  --project DIR   the project folder runs are saved in (project.json is created when the folder
                  has none); default: $LORA_STUDIO_PROJECT, else <app data>/lora-studio/projects/default
  --rebuild       rebuild the web app first, even if it is up to date
  -h, --help      this help`;

// ---------------------------------------------------------------------------------------------
// The renderer build (Vite, into out/renderer, which git ignores)

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    m = Math.max(m, newestMtime(join(path, name)));
  }
  return m;
}

/** True when out/renderer is missing or older than the renderer's sources or the contract. */
export function rendererIsStale(out = RENDERER_OUT): boolean {
  const index = join(out, 'index.html');
  if (!existsSync(index)) return true;
  if (!existsSync(RENDERER_SRC)) return false; // an installed build without sources
  const built = statSync(index).mtimeMs;
  return newestMtime(RENDERER_SRC) > built || statSync(join(ROOT, 'engine', 'api.ts')).mtimeMs > built;
}

/** Builds the renderer with Vite when it is missing or stale (or when forced). */
export async function ensureRendererBuilt(opts: { force?: boolean; log?: (m: string) => void } = {}): Promise<string> {
  if (!opts.force && !rendererIsStale()) return RENDERER_OUT;
  if (!existsSync(RENDERER_SRC)) throw new Error(`the web app is not built (${RENDERER_OUT} is missing) and its sources are not here`);
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  log('lora-studio serve: building the web app (once; out/renderer)…');
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error('the web app needs building and Vite is not installed: run `npm install` (dev dependencies included)');
  }
  const tmp = `${RENDERER_OUT}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await vite.build({ configFile: join(RENDERER_SRC, 'vite.config.ts'), logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
  rmSync(RENDERER_OUT, { recursive: true, force: true });
  renameSync(tmp, RENDERER_OUT);
  return RENDERER_OUT;
}

// ---------------------------------------------------------------------------------------------
// The engine child process

/** Starts the engine in a child process (this CLI with --engine-child). */
export function forkEngine(log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): EngineTransport {
  const child: ChildProcess = fork(BIN, ['serve', '--engine-child'], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  // The engine's own output must never reach our stdout (its first line is the URL).
  child.stdout?.on('data', (d: Buffer) => process.stderr.write(d));
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  return {
    post(msg: HostToEngine) {
      if (!child.connected) return;
      try {
        child.send(msg);
      } catch (e) {
        log(`cannot reach the engine: ${(e as Error).message}`);
      }
    },
    onMessage: (cb) => child.on('message', cb),
    onExit: (cb) => {
      let done = false;
      child.on('exit', (code, signal) => {
        if (!done) cb({ code, reason: signal ? `killed by ${signal}` : undefined });
        done = true;
      });
      child.on('error', (e) => {
        if (!done) cb({ code: null, reason: e.message });
        done = true;
      });
    },
    kill: () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 2000);
      t.unref();
    },
  };
}

async function runEngineChild(): Promise<number> {
  if (!process.send) {
    console.error('lora-studio serve: --engine-child is internal (the engine process of `serve`)');
    return 2;
  }
  const send = process.send.bind(process);
  runEngineHost({ post: (m) => send(m), onMessage: (cb) => process.on('message', cb) });
  await new Promise((r) => process.once('disconnect', r));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The web server

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export interface ServerOptions {
  port?: number;
  project?: string | null;
  /** Folder of the built renderer (default out/renderer). */
  rendererDir?: string;
  /** How to start the engine (default: a child process). */
  spawn?: () => EngineTransport;
  token?: string;
  log?: (m: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  token: string;
  bridge: EngineBridge;
  close(): Promise<void>;
}

export function cookieName(port: number): string {
  return `lora_studio_${port}`;
}

function sameToken(a: string | undefined, token: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a), y = Buffer.from(token);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const rendererDir = resolve(opts.rendererDir ?? RENDERER_OUT);
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const clients = new Set<WebSocket>();

  const broadcast = (event: StudioEvent) => {
    let text: string;
    try {
      text = encodeMessage({ type: 'event', event: checkEvent(event) });
    } catch (e) {
      log(`dropped an invalid event: ${(e as Error).message}`);
      return;
    }
    for (const ws of clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  };
  const bridge = new EngineBridge({ spawn: opts.spawn ?? (() => forkEngine(log)), shell: 'serve', project: opts.project ?? null, onEvent: broadcast, log });

  let port = 0;
  const hosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const origins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  /** 403 for a foreign Host or Origin, 401 without the token; null when the request may pass. */
  function refuse(req: IncomingMessage, url: URL): { status: 401 | 403; why: string } | null {
    if (!hosts().has(req.headers.host ?? '')) return { status: 403, why: 'unexpected Host header' };
    const origin = req.headers.origin;
    if (origin !== undefined && !origins().has(origin)) return { status: 403, why: `foreign Origin ${origin}` };
    const auth = req.headers.authorization?.match(/^Bearer (.+)$/)?.[1];
    if (sameToken(url.searchParams.get('token') ?? undefined, token) || sameToken(auth, token) || sameToken(cookies(req)[cookieName(port)], token)) return null;
    return { status: 401, why: 'missing or wrong token: open the URL that `lora-studio serve` printed' };
  }

  const baseHeaders = (): Record<string, string> => ({
    'Content-Security-Policy': contentSecurityPolicy(port),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  });

  function send(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}): void {
    res.writeHead(status, { ...baseHeaders(), 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra });
    res.end(body);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const no = refuse(req, url);
    if (no) return send(res, no.status, `${no.status === 401 ? 'Unauthorized' : 'Forbidden'}: ${no.why}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method Not Allowed\n', undefined, { Allow: 'GET, HEAD' });
    if (url.searchParams.has('token')) {
      // Trade the token in the address bar for a cookie, and drop it from the URL.
      url.searchParams.delete('token');
      const q = url.searchParams.toString();
      return send(res, 302, '', undefined, {
        Location: `${url.pathname}${q ? `?${q}` : ''}`,
        'Set-Cookie': `${cookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        'Cache-Control': 'no-store',
      });
    }
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return send(res, 400, 'Bad Request\n');
    }
    if (rel === '/' || rel === '/index.html') rel = '/index.html';
    const file = resolve(rendererDir, `.${rel}`);
    if (!file.startsWith(rendererDir + sep) || !existsSync(file) || !statSync(file).isFile()) return send(res, 404, 'Not Found\n');
    const body = readFileSync(file);
    const type = MIME[extname(file)] ?? 'application/octet-stream';
    send(res, 200, req.method === 'HEAD' ? '' : body, type, {
      'Cache-Control': rel === '/index.html' ? 'no-store' : 'private, max-age=3600',
      ...(req.method === 'HEAD' ? { 'Content-Length': String(body.length) } : {}),
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  server.on('upgrade', (req, socket: Socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const no = refuse(req, url) ?? (url.pathname === '/ws' ? null : { status: 404 as const, why: 'no such endpoint' });
    if (no) {
      const text = no.status === 401 ? 'Unauthorized' : no.status === 403 ? 'Forbidden' : 'Not Found';
      socket.end(`HTTP/1.1 ${no.status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(no.why)}\r\n\r\n${no.why}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('message', (data, isBinary) => {
        void (async () => {
          let raw: unknown;
          try {
            raw = isBinary ? undefined : decodeMessage(data.toString());
          } catch {
            raw = undefined;
          }
          const response = await bridge.handle(raw ?? { type: 'invalid' });
          if (ws.readyState === WebSocket.OPEN) ws.send(encodeMessage(response));
        })();
      });
    });
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  port = (server.address() as AddressInfo).port;
  bridge.start();
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  return {
    url,
    port,
    token,
    bridge,
    async close() {
      for (const ws of clients) ws.terminate();
      wss.close();
      await bridge.close();
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
    },
  };
}

export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--engine-child')) return runEngineChild();
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        project: { type: 'string' },
        rebuild: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`lora-studio serve: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let port = 0;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`lora-studio serve: --port must be an integer from 0 to 65535, got "${values.port}"`);
      return 2;
    }
  }
  // The project runs are saved in: --project DIR (a folder; project.json is created when it has
  // none), else the default project (created on first use).
  let project: string;
  if (values.project !== undefined) {
    project = resolve(values.project);
    if (!existsSync(project) || !statSync(project).isDirectory()) {
      console.error(`lora-studio serve: --project ${project} is not a folder`);
      return 2;
    }
  } else {
    project = defaultProjectDir();
  }
  try {
    createProject(project);
  } catch (e) {
    console.error(`lora-studio serve: cannot open the project ${project}: ${(e as Error).message}`);
    return 1;
  }
  try {
    await ensureRendererBuilt({ force: values.rebuild });
  } catch (e) {
    console.error(`lora-studio serve: ${(e as Error).message}`);
    return 1;
  }
  let server: RunningServer;
  try {
    server = await startServer({ port, project });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    console.error(`lora-studio serve: cannot listen on 127.0.0.1:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`);
    return 1;
  }
  process.stdout.write(`${server.url}\n`);
  process.stderr.write(`LoRA Studio is serving on 127.0.0.1:${server.port}. Open the URL above in a browser on this machine; Ctrl+C stops it.\n`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  await server.close();
  return 0;
}
