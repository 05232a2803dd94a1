// The browser's side of `lora-studio serve`: the session token comes from the URL's fragment (never
// a cookie, never the query), is dropped from the address bar, and goes on the WebSocket handshake
// as a subprotocol.
import { afterEach, describe, expect, test } from 'vitest';
import { sessionToken } from '../../renderer/src/lib/studio.ts';
import { WS_PROTOCOL, connectWs } from '../../renderer/src/lib/ws-client.ts';

class FakeSocket {
  static OPEN = 1;
  static made: { url: string; protocols: unknown }[] = [];
  readyState = 0;
  onopen: (() => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  constructor(url: string, protocols?: unknown) {
    FakeSocket.made.push({ url, protocols });
  }
  send() {}
  close() {}
}

afterEach(() => {
  FakeSocket.made = [];
  sessionStorage.clear();
  history.replaceState(null, '', '/');
});

describe('the session token', () => {
  test('read from #token=…, kept for this tab, dropped from the address bar; no cookie', () => {
    history.replaceState(null, '', '/?view=models#token=abc_DEF-123');
    expect(sessionToken()).toBe('abc_DEF-123');
    expect(location.hash).toBe('');
    expect(location.search).toBe('?view=models');
    expect(document.cookie).toBe('');
    expect(sessionToken()).toBe('abc_DEF-123'); // a reload of this tab
  });

  test('none in the URL or the tab: null', () => {
    expect(sessionToken()).toBeNull();
  });

  test('offered on the handshake as a subprotocol next to the studio\'s own', () => {
    const c = connectWs('ws://127.0.0.1:9/ws', { token: 'tok', WebSocketImpl: FakeSocket as unknown as typeof WebSocket });
    expect(FakeSocket.made).toEqual([{ url: 'ws://127.0.0.1:9/ws', protocols: [WS_PROTOCOL, 'lora-studio.token.tok'] }]);
    c.close();
  });

  test('without a token it does not connect, and says which URL to open', () => {
    const states: [string, string | undefined][] = [];
    const c = connectWs('ws://127.0.0.1:9/ws', { token: null, WebSocketImpl: FakeSocket as unknown as typeof WebSocket });
    c.onConnection((s, d) => states.push([s, d]));
    expect(FakeSocket.made).toEqual([]);
    expect(states).toEqual([['closed', expect.stringMatching(/open the URL that `lora-studio serve` printed/)]]);
    c.close();
  });
});
