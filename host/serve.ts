// The web bridge of `lora-studio serve`: the studio's renderer over HTTP and the contract over a
// WebSocket, on 127.0.0.1, with a random per-session token. Security:
//   - binds 127.0.0.1 only; the Host header must be 127.0.0.1:PORT or localhost:PORT (DNS rebinding)
//   - a foreign Origin (a page of another site driving the browser) → 403
//   - the token travels in the URL's fragment (never sent over HTTP), is kept in the page's memory
//     and offered on the WebSocket handshake as a subprotocol (`lora-studio.token.<token>`), or as
//     an `Authorization: Bearer …` header by other clients; no cookie (a browser would send a
//     cookie for 127.0.0.1 to every port). An upgrade without it → 401. The page itself is public:
//     only the built renderer's files are served, with a strict Content-Security-Policy.
//   - a malformed request gets 400, a bad WebSocket frame closes that connection: the server lives
// The engine runs in a child process (this CLI with `serve --engine-child`): the web server only
// relays, so training never blocks it; if the engine crashes it is restarted and the session's
// runs are kept.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES, type StudioEvent, decodeMessage, encodeMessage } from '../engine/api.ts';
import { EngineBridge, checkEvent } from './bridge.ts';
import { runEngineHost } from './engine-process.ts';
import { type EngineToHost, type EngineTransport, type HostToEngine, forkTransport, parentPort } from './transport.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..');
export const RENDERER_SRC = join(ROOT, 'renderer');
export const RENDERER_OUT = join(ROOT, 'out', 'renderer');
const BIN = join(ROOT, 'bin', 'lora-studio.mjs');

/** The WebSocket subprotocol the studio speaks; the token rides along as `${WS_PROTOCOL}.token.<token>`. */
export const WS_PROTOCOL = 'lora-studio';
export const TOKEN_PROTOCOL_PREFIX = `${WS_PROTOCOL}.token.`;

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
  return newestMtime(RENDERER_SRC) > built || ['api.ts', 'api-shapes.ts', 'schema.ts'].some((f) => statSync(join(ROOT, 'engine', f)).mtimeMs > built);
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

/** Starts the engine in a child process (this CLI with `serve --engine-child`); its output goes to stderr. */
export function forkEngine(log: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): EngineTransport {
  // The engine's own output must never reach our stdout (its first line is the URL).
  return forkTransport<HostToEngine>(BIN, { args: ['serve', '--engine-child'], output: 'stderr', log });
}

/** The engine child's main: serves its parent until the parent goes away. */
export async function runEngineChild(): Promise<never> {
  const port = parentPort<EngineToHost>();
  runEngineHost(port);
  await new Promise<void>((r) => port.onDisconnect(r));
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
  /** The URL to open: the token in its fragment. */
  url: string;
  port: number;
  token: string;
  bridge: EngineBridge;
  close(): Promise<void>;
}

function sameToken(a: string | undefined, token: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a), y = Buffer.from(token);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token a WebSocket handshake offers: as a subprotocol, or as a bearer token. */
export function offeredToken(req: IncomingMessage): string | undefined {
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const inProtocol = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length);
  return inProtocol ?? req.headers.authorization?.match(/^Bearer (.+)$/)?.[1];
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

/** The request's path, or null when its target is not a URL path (e.g. `//[`). */
function requestPath(req: IncomingMessage): string | null {
  try {
    return new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  } catch {
    return null;
  }
}

type Refusal = { status: 400 | 401 | 403 | 404; why: string };
const STATUS_TEXT: Record<Refusal['status'], string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' };

/** Host and Origin rules (every request), and the token (WebSocket upgrades). */
function gate(port: () => number, token: string) {
  const hosts = () => new Set([`127.0.0.1:${port()}`, `localhost:${port()}`]);
  const origins = () => new Set([`http://127.0.0.1:${port()}`, `http://localhost:${port()}`]);
  return (req: IncomingMessage, needToken: boolean): Refusal | null => {
    if (!hosts().has(req.headers.host ?? '')) return { status: 403, why: 'unexpected Host header' };
    const origin = req.headers.origin;
    if (origin !== undefined && !origins().has(origin)) return { status: 403, why: `foreign Origin ${origin}` };
    if (needToken && !sameToken(offeredToken(req), token)) return { status: 401, why: 'missing or wrong token: open the URL that `lora-studio serve` printed' };
    return null;
  };
}

function staticFiles(rendererDir: string, port: () => number, refuse: ReturnType<typeof gate>) {
  const send = (res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string> = {}) => {
    res.writeHead(status, {
      'Content-Security-Policy': contentSecurityPolicy(port()), 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY',
      'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Resource-Policy': 'same-origin', 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra,
    });
    res.end(body);
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const pathname = requestPath(req);
    const no: Refusal | null = pathname === null ? { status: 400, why: 'the request target is not a path' } : refuse(req, false);
    if (no) return send(res, no.status, `${STATUS_TEXT[no.status]}: ${no.why}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'Method Not Allowed\n', undefined, { Allow: 'GET, HEAD' });
    let rel: string;
    try {
      rel = decodeURIComponent(pathname!);
    } catch {
      return send(res, 400, 'Bad Request\n');
    }
    if (rel === '/' || rel === '/index.html') rel = '/index.html';
    const file = resolve(rendererDir, `.${rel}`);
    if (!file.startsWith(rendererDir + sep) || !existsSync(file) || !statSync(file).isFile()) return send(res, 404, 'Not Found\n');
    const body = readFileSync(file);
    send(res, 200, req.method === 'HEAD' ? '' : body, MIME[extname(file)] ?? 'application/octet-stream', {
      'Cache-Control': rel === '/index.html' ? 'no-store' : 'private, max-age=3600',
      ...(req.method === 'HEAD' ? { 'Content-Length': String(body.length) } : {}),
    });
  };
}

/** One client: each text frame a request envelope; a bad frame (too big, not UTF-8) closes this connection only. */
function serveSocket(ws: WebSocket, bridge: EngineBridge, clients: Set<WebSocket>, log: (m: string) => void): void {
  clients.add(ws);
  ws.on('close', () => clients.delete(ws));
  // A frame over the size limit, text that is not UTF-8, a protocol violation: ws closes this
  // connection (1009, 1007, 1002) and reports it here; without a listener it would end the process.
  ws.on('error', (e) => log(`a WebSocket connection was closed: ${e.message}`));
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
  const refuse = gate(() => port, token);
  const server = createServer(staticFiles(rendererDir, () => port, refuse));
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, handleProtocols: (offered) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false) });
  wss.on('error', (e) => log(`WebSocket server: ${e.message}`));
  server.on('upgrade', (req, socket: Socket, head) => {
    socket.on('error', () => socket.destroy());
    const pathname = requestPath(req);
    const no: Refusal | null = pathname === null ? { status: 400, why: 'the request target is not a path' } : (refuse(req, true) ?? (pathname === '/ws' ? null : { status: 404, why: 'no such endpoint' }));
    if (no) {
      socket.end(`HTTP/1.1 ${no.status} ${STATUS_TEXT[no.status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(no.why)}\r\n\r\n${no.why}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, bridge, clients, log));
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
  return {
    url: `http://127.0.0.1:${port}/#token=${token}`,
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
