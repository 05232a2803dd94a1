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

export function connectStudio(): Connection {
  if (window.studio) {
    const api = window.studio;
    return { api, onConnection: (l) => (l('open'), () => {}) };
  }
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = connectWs(`${proto}//${location.host}/ws`);
  window.studio = ws;
  return { api: ws, onConnection: ws.onConnection };
}
