// Entry of the engine's utility process: serves contract requests from the main process.
// Runs with Node's APIs and none of the window's privileges.

import { runEngineHost } from '../engine/api-handlers.ts';

const port = process.parentPort;
runEngineHost({
  post: (m) => port.postMessage(m),
  onMessage: (cb) => port.on('message', (e: { data: unknown }) => cb(e.data)),
});
