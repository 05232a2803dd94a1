// `lora-studio serve`: the token and Origin rules, the static files, the WebSocket bridge, and a
// server that outlives malformed requests and bad frames.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { WebSocket } from 'ws';
import { serveCommand } from '../../cli/commands/serve.ts';
import { MAX_MESSAGE_BYTES, decodeMessage, encodeMessage } from '../../engine/api.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { type RunningServer, startServer } from '../../host/serve.ts';
import { readRun } from '../../engine/store/runs.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The subprotocols the studio's page offers: its own, and the session's token. */
const withToken = (token: string) => ['lora-studio', `lora-studio.token.${token}`];

/** Opens a WebSocket; resolves with it, or with the HTTP status the upgrade was refused with. */
function ws(port: number, opts: { path?: string; headers?: Record<string, string>; origin?: string; protocols?: string[] } = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const sock = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/ws'}`, opts.protocols ?? [], { headers: opts.headers, origin: opts.origin });
    sock.on('open', () => resolve(sock));
    sock.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    sock.on('error', reject);
  });
}

function rpc(sock: WebSocket, msg: unknown | string): Promise<Record<string, unknown>> {
  const text = typeof msg === 'string' ? msg : encodeMessage(msg);
  const id = typeof msg === 'object' && msg && 'id' in msg ? (msg as { id: string }).id : '';
  return new Promise((resolve) => {
    const h = (d: Buffer) => {
      const m = decodeMessage(d.toString()) as Record<string, unknown>;
      if (m.type === 'response' && m.id === id) {
        sock.off('message', h);
        resolve(m);
      }
    };
    sock.on('message', h);
    sock.send(text);
  });
}

let dir: string;
let srv: RunningServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'serve-test-'));
  const web = join(dir, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>studio</title><script type="module" src="./assets/app.js"></script>');
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.txt'), 'do not serve me');
  srv = await startServer({ rendererDir: web, spawn: () => inProcessEngine(), log: () => {} });
});

afterAll(async () => {
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP', () => {
  test('the URL points at 127.0.0.1 and carries a long random token in its fragment (never sent over HTTP)', () => {
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{32}$/);
    expect(new URL(srv.url).search).toBe('');
  });

  test('no cookie, ever: the page is public (the built app only), the token opens the WebSocket alone', async () => {
    for (const path of ['/', `/?token=${srv.token}`, '/assets/app.js', '/nope.js']) {
      const r = await get(srv.port, path);
      expect(r.headers['set-cookie'], path).toBeUndefined();
    }
    expect((await get(srv.port, '/')).status).toBe(200);
    expect((await get(srv.port, `/?token=${srv.token}`)).status).toBe(200); // not redirected, not traded for anything
  });

  test('the app, with a strict CSP', async () => {
    const r = await get(srv.port, '/');
    expect(r.status).toBe(200);
    expect(r.body).toContain('<title>studio</title>');
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('DENY');
    const js = await get(srv.port, '/assets/app.js', { Authorization: `Bearer ${srv.token}` });
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/javascript/);
  });

  test('a foreign Origin → 403, even with the token', async () => {
    const auth = { Authorization: `Bearer ${srv.token}` };
    expect((await get(srv.port, '/', { ...auth, Origin: 'http://evil.example' })).status).toBe(403);
    expect((await get(srv.port, '/', { ...auth, Origin: `http://127.0.0.1:${srv.port + 1}` })).status).toBe(403);
    expect((await get(srv.port, '/', { ...auth, Origin: 'null' })).status).toBe(403);
    expect((await get(srv.port, '/', { ...auth, Origin: `http://127.0.0.1:${srv.port}` })).status).toBe(200);
    expect((await get(srv.port, '/', { ...auth, Origin: `http://localhost:${srv.port}` })).status).toBe(200);
  });

  test('a foreign Host (DNS rebinding) → 403', async () => {
    expect((await get(srv.port, '/', { Host: `evil.example:${srv.port}` })).status).toBe(403);
    expect((await get(srv.port, '/', { Host: `evil.example:${srv.port}`, Authorization: `Bearer ${srv.token}` })).status).toBe(403);
  });

  test('only the built app is served: no traversal, no other methods', async () => {
    const auth = { Authorization: `Bearer ${srv.token}` };
    expect((await get(srv.port, '/%2e%2e/secret.txt', auth)).status).toBe(404);
    expect((await get(srv.port, '/..%2fsecret.txt', auth)).status).toBe(404);
    expect((await get(srv.port, '/nope.js', auth)).status).toBe(404);
    expect((await get(srv.port, '/', auth, 'POST')).status).toBe(405);
  });
});

describe('WebSocket', () => {
  test('an upgrade without the token → 401 (a cookie or a wrong token do not count); with a foreign Origin or Host → 403; elsewhere → 404', async () => {
    expect(await ws(srv.port)).toBe(401);
    expect(await ws(srv.port, { origin: `http://127.0.0.1:${srv.port}`, protocols: ['lora-studio'] })).toBe(401);
    expect(await ws(srv.port, { headers: { Cookie: `lora_studio_${srv.port}=${srv.token}`, 'X-Token': srv.token } })).toBe(401);
    expect(await ws(srv.port, { protocols: withToken('x'.repeat(32)) })).toBe(401);
    expect(await ws(srv.port, { protocols: withToken(srv.token), origin: 'http://evil.example' })).toBe(403);
    expect(await ws(srv.port, { protocols: withToken(srv.token), headers: { Host: `evil.example:${srv.port}` } })).toBe(403);
    expect(await ws(srv.port, { path: '/other', headers: { Authorization: `Bearer ${srv.token}` } })).toBe(404);
  });

  test('with the token as a subprotocol and our Origin: requests are answered; bad ones get errors, never a crash', async () => {
    const sock = await ws(srv.port, { protocols: withToken(srv.token), origin: `http://127.0.0.1:${srv.port}` });
    expect(sock).toBeInstanceOf(WebSocket);
    const s = sock as WebSocket;
    expect(s.protocol).toBe('lora-studio'); // the token is not echoed back
    const info = await rpc(s, { type: 'request', id: 'a', method: 'app.info', params: {} });
    expect(info).toMatchObject({ ok: true, result: { shell: 'serve', features: { dialogs: false } } });
    expect(await rpc(s, 'not json {')).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(await rpc(s, { type: 'request', id: 'b', method: 'fs.rm', params: {} })).toMatchObject({ id: 'b', ok: false, error: { code: 'unknown_method' } });
    expect(await rpc(s, { type: 'request', id: 'c', method: 'models.inspect', params: { dir: 42 } })).toMatchObject({
      id: 'c',
      ok: false,
      error: { code: 'invalid_params', message: expect.stringContaining('dir: expected a string') },
    });
    expect(await rpc(s, { type: 'request', id: 'd', method: 'dialog.open', params: { kind: 'file' } })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await rpc(s, { type: 'request', id: 'e', method: 'models.inspect', params: { dir: join(dir, 'missing') } })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await rpc(s, { type: 'request', id: 'f', method: 'runs.list', params: {} })).toMatchObject({ ok: true, result: { runs: [] } });
    s.close();
  });

  test('projects: open and create, with an event to every client', async () => {
    const sock = (await ws(srv.port, { headers: { Authorization: `Bearer ${srv.token}` } })) as WebSocket;
    const events: unknown[] = [];
    sock.on('message', (d) => {
      const m = decodeMessage(d.toString()) as { type: string; event?: unknown };
      if (m.type === 'event') events.push(m.event);
    });
    const p = join(dir, 'proj', 'nested');
    expect(await rpc(sock, { type: 'request', id: 'p1', method: 'projects.create', params: { dir: p } })).toMatchObject({ ok: true, result: { dir: p, name: 'nested' } });
    expect(await rpc(sock, { type: 'request', id: 'p2', method: 'projects.current', params: {} })).toMatchObject({ result: { project: { dir: p } } });
    expect(await rpc(sock, { type: 'request', id: 'p3', method: 'projects.open', params: { dir: join(dir, 'nope') } })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    await vi.waitFor(() => expect(events).toContainEqual({ type: 'project.changed', project: { dir: p, name: 'nested' } }));
    sock.close();
  });
});

/** Writes raw bytes to the server; resolves with its answer's head (or, after a 101, what came before it closed, or `ms`). */
function raw(port: number, bytes: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, ms);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n') && !got.startsWith('HTTP/1.1 101 ')) done(); // a whole answer head (keep-alive keeps the socket)
    });
    s.on('end', done);
    s.on('close', done);
    s.on('error', reject);
  });
}

/** Resolves with the close code once the socket closes. */
const closed = (s: WebSocket) => new Promise<number>((resolve) => s.once('close', (code) => resolve(code)));

describe('robustness: malformed requests and bad frames never stop the server', () => {
  const host = () => `Host: 127.0.0.1:${srv.port}\r\n`;
  const stillServing = async () => {
    expect((await get(srv.port, '/')).status).toBe(200);
    const s = (await ws(srv.port, { protocols: withToken(srv.token) })) as WebSocket;
    expect(await rpc(s, { type: 'request', id: 'ok', method: 'runs.list', params: {} })).toMatchObject({ ok: true });
    s.close();
  };

  test('a request target that is not a URL path (`//[`) gets 400, on HTTP and on a WebSocket upgrade, without the token', async () => {
    expect(await raw(srv.port, `GET //[ HTTP/1.1\r\n${host()}\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(srv.port, `GET //[ HTTP/1.1\r\n${host()}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(srv.port, `GET http://[::1 HTTP/1.1\r\n${host()}\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    await stillServing();
  });

  test('a request line or header that is not HTTP gets 400', async () => {
    expect(await raw(srv.port, Buffer.from([0x00, 0x01, 0xff, 0x20, 0x0d, 0x0a, 0x0d, 0x0a]))).toMatch(/^HTTP\/1\.1 400 /);
    expect(await raw(srv.port, `GET / HTTP/1.1\r\n${host()}Bad Header Line\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
    await stillServing();
  });

  test('a text frame over the size limit closes that connection (1009); the server answers the next client', async () => {
    const s = (await ws(srv.port, { protocols: withToken(srv.token) })) as WebSocket;
    s.on('error', () => {}); // the client sees the close
    const code = closed(s);
    s.send('x'.repeat(MAX_MESSAGE_BYTES + 1));
    expect(await code).toBe(1009);
    await stillServing();
  });

  test('a text frame that is not UTF-8 closes that connection (1007)', async () => {
    const s = (await ws(srv.port, { protocols: withToken(srv.token) })) as WebSocket;
    s.on('error', () => {});
    const code = closed(s);
    s.send(Buffer.from([0x7b, 0xc3, 0x28, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await code).toBe(1007);
    await stillServing();
  });

  test('binary garbage is answered as an invalid request; a frame that breaks the protocol closes the connection', async () => {
    const s = (await ws(srv.port, { protocols: withToken(srv.token) })) as WebSocket;
    const answer = new Promise<Record<string, unknown>>((resolve) => s.once('message', (d) => resolve(decodeMessage(d.toString()) as Record<string, unknown>)));
    s.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]), { binary: true });
    expect(await answer).toMatchObject({ type: 'response', ok: false, error: { code: 'invalid_request' } });
    s.close();
    // A raw handshake, then a frame with the reserved bits and an unknown opcode (and no mask).
    const handshake = `GET /ws HTTP/1.1\r\n${host()}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: lora-studio, lora-studio.token.${srv.token}\r\n\r\n`;
    const reply = await raw(srv.port, Buffer.concat([Buffer.from(handshake), Buffer.from([0xff, 0x05, 1, 2, 3, 4, 5])]));
    expect(reply).toMatch(/^HTTP\/1\.1 101 /);
    await stillServing();
  });
});

describe('the command', () => {
  test('bad options exit with status 2 and say why', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await serveCommand(['--port', 'abc'])).toBe(2);
      expect(err.mock.calls.flat().join(' ')).toMatch(/--port must be an integer/);
      expect(await serveCommand(['--project', join(dir, 'missing')])).toBe(2);
      expect(await serveCommand(['--bogus'])).toBe(2);
    } finally {
      err.mockRestore();
    }
  });

  test('`lora-studio serve` prints the URL with the token as its first stdout line, and stops on SIGTERM', async () => {
    // Without --project it opens the default project (created on first use).
    const root = join(dir, 'projects-root');
    const child = spawn(process.execPath, ['bin/lora-studio.mjs', 'serve', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LORA_STUDIO_PROJECTS_DIR: root, LORA_STUDIO_PROJECT: '' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const i = out.indexOf('\n');
        if (i >= 0) resolve(out.slice(0, i));
      });
      child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
    });
    expect(first).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{32}$/);
    expect(JSON.parse(readFileSync(join(root, 'default', 'project.json'), 'utf8'))).toMatchObject({ format: 'lora-studio.project', name: 'default' });
    const u = new URL(first);
    const port = Number(u.port);
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('LoRA Studio');
    expect(await ws(port)).toBe(401);
    const sock = (await ws(port, { protocols: withToken(new URLSearchParams(u.hash.slice(1)).get('token')!) })) as WebSocket;
    expect(await rpc(sock, { type: 'request', id: 'i', method: 'projects.current', params: {} })).toMatchObject({ ok: true, result: { project: { name: 'default' } } });
    sock.close();
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  }, 120_000);
});

const SHARED = join(process.cwd(), '..', 'shared', 'data');
const haveShared = existsSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2')) && existsSync(join(SHARED, 'gpt2-tokenizer'));

/** The engine child processes (`serve --engine-child`) of this process. */
function engineChildren(): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(process.pid) && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--engine-child');
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.skipIf(!haveShared || process.platform !== 'linux')('a project, with a real engine process', () => {
  test('a run saved in the project survives the engine being killed: interrupted, then resumed from its checkpoint', async () => {
    const project = join(dir, 'crash-project');
    mkdirSync(project);
    const model = join(dir, 'tiny-gpt2');
    cpSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2'), model, { recursive: true });
    for (const f of readdirSync(join(SHARED, 'gpt2-tokenizer'))) cpSync(join(SHARED, 'gpt2-tokenizer', f), join(model, f));
    const text = join(dir, 'story.txt');
    writeFileSync(text, Array.from({ length: 120 }, (_, i) => `Line ${i}: the cat sat on the mat.`).join('\n'));
    const server = await startServer({ rendererDir: join(dir, 'web'), project, log: () => {} }); // forks `serve --engine-child`
    try {
      expect(existsSync(join(project, 'project.json'))).toBe(true);
      const sock = (await ws(server.port, { headers: { Authorization: `Bearer ${server.token}` } })) as WebSocket;
      const events: { type: string; runId?: string; status?: string; event?: { type: string; step?: number } }[] = [];
      sock.on('message', (d) => {
        const m = decodeMessage(d.toString()) as { type: string; event?: (typeof events)[number] };
        if (m.type === 'event') events.push(m.event!);
      });
      const config = {
        model, dataset: { path: text }, method: 'lora', lora: { r: 4, alpha: 8, dropout: 0, bias: 'none', targets: [], useRslora: false, init: 'kaiming' },
        lr: 1e-3, epochs: 0, maxSteps: 100_000, batchSize: 2, gradAccum: 1, maxLength: 16, warmupSteps: 0, warmupRatio: 0, weightDecay: 0, maxGradNorm: 1,
        schedule: 'constant', seed: 1, logEvery: 1, device: 'cpu', checkpointEvery: 3,
      };
      const started = await rpc(sock, { type: 'request', id: 's1', method: 'runs.start', params: { config } });
      expect(started).toMatchObject({ ok: true });
      const runId = (started.result as { runId: string }).runId;
      await vi.waitFor(() => expect(existsSync(join(project, 'runs', runId, 'checkpoints', 'step-6'))).toBe(true), { timeout: 60_000 });
      const [child] = engineChildren();
      expect(child).toBeGreaterThan(0);
      process.kill(child, 'SIGKILL');
      await vi.waitFor(() => expect(events).toContainEqual(expect.objectContaining({ type: 'run.status', runId, status: 'interrupted' })), { timeout: 30_000 });
      // On disk: run.json still says running, for a process that is gone.
      expect(readRun(project, runId)).toMatchObject({ status: 'running', effectiveStatus: 'interrupted' });
      const listed = await rpc(sock, { type: 'request', id: 'l1', method: 'runs.list', params: {} });
      expect((listed.result as { runs: { runId: string; status: string }[] }).runs).toContainEqual(expect.objectContaining({ runId, status: 'interrupted' }));
      await vi.waitFor(() => expect(events).toContainEqual(expect.objectContaining({ type: 'engine.status', status: 'ready' })), { timeout: 60_000 });
      const checkpoint = readRun(project, runId).lastCheckpoint!;
      events.length = 0;
      expect(await rpc(sock, { type: 'request', id: 'r1', method: 'runs.resume', params: { runId } })).toMatchObject({ ok: true, result: { resumed: true } });
      await vi.waitFor(() => expect(events.some((e) => e.type === 'run.event' && e.event?.type === 'step')).toBe(true), { timeout: 60_000 });
      const firstStep = events.find((e) => e.type === 'run.event' && e.event?.type === 'step')!.event!.step;
      expect(firstStep).toBe(checkpoint + 1); // from its last checkpoint
      expect(await rpc(sock, { type: 'request', id: 'x1', method: 'runs.stop', params: { runId } })).toMatchObject({ ok: true, result: { stopping: true } });
      await vi.waitFor(() => expect(events).toContainEqual(expect.objectContaining({ type: 'run.status', runId, status: 'cancelled' })), { timeout: 60_000 });
      expect(readRun(project, runId).segments.map((x) => x.fromStep)).toEqual([0, checkpoint]);
      sock.close();
    } finally {
      await server.close();
    }
  }, 120_000);
});
