// The renderer talks to the studio only through `window.studio` (the StudioApi of engine/api.ts):
// the desktop app's preload defines it; in a browser (lora-studio serve) it is the WebSocket client.

import type { StudioApi } from '../../../engine/api.ts';
import { type ConnectionState, connectWs } from './ws-client.ts';

declare global {
  interface Window {
    studio?: StudioApi;
  }
}

export interface Connection {
  api: StudioApi;
  onConnection(listener: (state: ConnectionState, detail?: string) => void): () => void;
}

const TOKEN_KEY = 'lora-studio.token';

/**
 * The session's token of `lora-studio serve`: from the URL's fragment (#token=…, never sent to a
 * server), then kept in this tab's session storage (so a reload works) and taken out of the address bar.
 */
export function sessionToken(): string | null {
  const fromUrl = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  if (fromUrl) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
    } catch {
      // storage disabled: the token lives in this page only
    }
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function connectStudio(): Connection {
  if (window.studio) {
    const api = window.studio;
    return { api, onConnection: (l) => (l('open'), () => {}) };
  }
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = connectWs(`${proto}//${location.host}/ws`, { token: sessionToken() });
  window.studio = ws;
  return { api: ws, onConnection: ws.onConnection };
}
