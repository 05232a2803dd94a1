// The desktop app's security rules besides the window's webPreferences (in main.ts): a strict
// CSP, no remote content, navigation and new windows blocked, every permission denied.
// Unit-tested with a fake `electron` (test/electron).

import type { Session, WebContents } from 'electron';

/** The renderer's Content-Security-Policy (also in renderer/index.html as a meta tag). */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/** URLs the app itself loads: its renderer files (file://) or, in development, Vite's server. */
export function isAppUrl(url: string, rendererIndexUrl: string, devServerUrl?: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (devServerUrl) {
    // Vite's dev server, and its hot-reload WebSocket on the same host and port.
    const d = new URL(devServerUrl);
    if (u.host === d.host && (u.protocol === d.protocol || u.protocol === 'ws:')) return true;
  }
  if (u.protocol === 'devtools:') return true;
  if (u.protocol !== 'file:') return false;
  const root = new URL('.', rendererIndexUrl).href;
  return u.href.startsWith(root);
}

/** Navigation, new windows, webviews and redirects: all refused. */
export function hardenWebContents(contents: WebContents, rendererIndexUrl: string, devServerUrl?: string): void {
  contents.on('will-navigate', (event, url) => {
    // Only reloads of the app page itself (hash changes don't navigate).
    if (!isAppUrl(url, rendererIndexUrl, devServerUrl) || new URL(url).pathname !== new URL(devServerUrl ?? rendererIndexUrl).pathname) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

/** Permissions denied; remote requests blocked; the CSP header on everything served. */
export function hardenSession(ses: Session, rendererIndexUrl: string, devServerUrl?: string): void {
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !isAppUrl(details.url, rendererIndexUrl, devServerUrl) });
  });
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
}
