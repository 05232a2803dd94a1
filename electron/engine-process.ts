// Entry of the engine's utility process: serves contract requests from the main process (the
// host's engine loop, host/engine-process.ts). Runs with Node's APIs and none of the window's
// privileges. A comparison's two methods each train in their own process: the bundled trial
// worker next to this file, which Electron's binary runs as plain Node.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EngineOptions, runEngineHost } from '../host/engine-process.ts';
import { bundledWorker, isolatedTrials } from '../host/trials.ts';
import { parentPort } from '../host/transport.ts';

/** The engine's options in the app: isolated trials run out/main/trial-worker.js. */
export function engineProcessOptions(here = dirname(fileURLToPath(import.meta.url))): EngineOptions {
  return { trials: isolatedTrials(bundledWorker(here)) };
}

if ((process as unknown as { parentPort?: unknown }).parentPort) runEngineHost(parentPort(), engineProcessOptions());
