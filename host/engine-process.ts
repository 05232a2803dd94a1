// The engine process's message loop: every incoming message is validated, each request answered
// (host/engine-handlers.ts), events streamed; 'ready' once it serves. The same loop runs in serve's
// child process, in the desktop app's utility process, and in this process for tests.

import { ApiError, parseRequest } from '../engine/api.ts';
import { type EngineHandlerOptions, type EngineHandlers, createEngineHandlers } from './engine-handlers.ts';
import { type EngineToHost, type EngineTransport, type HostToEngine, type ParentPort, inProcessPair } from './transport.ts';

export type EngineOptions = Omit<EngineHandlerOptions, 'emit'>;

/** Serves contract requests arriving from the parent (the engine side of the process boundary). */
export function runEngineHost(port: ParentPort<EngineToHost>, opts: EngineOptions = {}): EngineHandlers {
  const handlers = createEngineHandlers({ ...opts, emit: (event) => port.post({ type: 'event', event }) });
  port.onMessage((raw) => {
    const req = parseRequest(raw);
    if (!req.ok) {
      port.post(req.response);
      return;
    }
    handlers.handle(req.method, req.params).then(
      (result) => port.post({ type: 'response', id: req.id, ok: true, result }),
      (e) => port.post({ type: 'response', id: req.id, ok: false, error: ApiError.from(e).toJSON() }),
    );
  });
  port.onDisconnect(() => handlers.stopAll());
  port.post({ type: 'ready', pid: process.pid });
  return handlers;
}

/**
 * The engine in this process, behind the same message boundary (every message is structured-
 * cloned, as across a real one). For tests, and for shells that can't start a process.
 */
export function inProcessEngine(opts: EngineOptions = {}): EngineTransport & { handlers: EngineHandlers; crash(code?: number): void } {
  const pair = inProcessPair<HostToEngine, EngineToHost>();
  const handlers = runEngineHost(pair.child, opts);
  return { ...pair.host, handlers, crash: (code = 1) => pair.crash(code) };
}
