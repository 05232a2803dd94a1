// window.studio over the WebSocket of `lora-studio serve`: the same StudioApi as the desktop
// app's preload. Every response and event is validated against the contract before use.

import {
  ApiError,
  type MethodName,
  type Params,
  type Result,
  type StudioApi,
  type StudioEvent,
  decodeMessage,
  encodeMessage,
  parseResult,
  parseServerMessage,
} from '../../../engine/api.ts';

export type ConnectionState = 'connecting' | 'open' | 'closed';

export interface WsStudio extends StudioApi {
  onConnection(listener: (state: ConnectionState, detail?: string) => void): () => void;
  close(): void;
}

interface Pending {
  method: MethodName;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** The WebSocket subprotocol of `lora-studio serve`; the session's token is offered as `lora-studio.token.<token>`. */
export const WS_PROTOCOL = 'lora-studio';

/**
 * Connects (and reconnects) to the studio's WebSocket at `url`, offering the session's token on
 * the handshake (a subprotocol: no cookie, nothing in the URL).
 */
export function connectWs(url: string, opts: { token: string | null; WebSocketImpl?: typeof WebSocket }): WsStudio {
  const WS = opts.WebSocketImpl ?? WebSocket;
  const listeners = new Set<(e: StudioEvent) => void>();
  const connListeners = new Set<(s: ConnectionState, detail?: string) => void>();
  const pending = new Map<string, Pending>();
  const outbox: string[] = [];
  let ws: WebSocket | null = null;
  let seq = 0;
  let closed = false;
  let retry = 0;
  let state: ConnectionState = 'connecting';
  let stateDetail: string | undefined;

  const setState = (s: ConnectionState, detail?: string) => {
    state = s;
    stateDetail = detail;
    for (const l of connListeners) l(s, detail);
  };

  function open() {
    if (!opts.token) {
      setState('closed', 'this page has no session token: open the URL that `lora-studio serve` printed');
      return;
    }
    setState('connecting');
    const sock = new WS(url, [WS_PROTOCOL, `${WS_PROTOCOL}.token.${opts.token}`]);
    ws = sock;
    sock.onopen = () => {
      retry = 0;
      setState('open');
      for (const m of outbox.splice(0)) sock.send(m);
    };
    sock.onmessage = (ev: MessageEvent) => {
      let msg;
      try {
        msg = parseServerMessage(decodeMessage(String(ev.data)));
      } catch (e) {
        console.warn(`studio: ignored an invalid message from the server: ${(e as Error).message}`);
        return;
      }
      if (msg.type === 'event') {
        for (const l of listeners) l(msg.event);
        return;
      }
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (!msg.ok) return p.reject(new ApiError(msg.error.code, msg.error.message, msg.error.details));
      try {
        p.resolve(parseResult(p.method, msg.result));
      } catch (e) {
        p.reject(new ApiError('failed', `the server answered ${p.method} with an invalid result: ${(e as Error).message}`));
      }
    };
    sock.onclose = (ev: CloseEvent) => {
      if (ws !== sock) return;
      ws = null;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(new ApiError('engine_crashed', 'the connection to the studio server was lost'));
      }
      if (closed) return setState('closed');
      setState('closed', ev.code === 1006 ? 'the studio server is not reachable (was `lora-studio serve` stopped?)' : `connection closed (${ev.code})`);
      const delay = Math.min(10_000, 500 * 2 ** retry++);
      setTimeout(() => !closed && open(), delay);
    };
  }
  open();

  return {
    shell: 'browser',
    invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
      const id = `r${++seq}`;
      const text = encodeMessage({ type: 'request', id, method, params });
      return new Promise<Result<M>>((resolve, reject) => {
        pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
        if (ws && ws.readyState === WS.OPEN) ws.send(text);
        else outbox.push(text);
      });
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onConnection(listener) {
      connListeners.add(listener);
      listener(state, stateDetail);
      return () => connListeners.delete(listener);
    },
    close() {
      closed = true;
      ws?.close();
    },
  };
}
