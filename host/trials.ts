// Isolated trials: each run of an experiment trains in its own child process (host/trial-worker.ts)
// over the host's one transport, so that its peak memory (RSS) is its own and a crash cannot take
// the caller down. Trainer events stream back; the child reports its outcome and peak RSS.
//
// The worker is the TypeScript source run through tsx (the CLI, serve, tests), or the bundled
// out/main/trial-worker.js inside the desktop app, whose utility process runs it with Electron's
// binary as plain Node (ELECTRON_RUN_AS_NODE).
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IsolatedTrialRunner, TrialHooks, TrialOptions, TrialOutcome } from '../engine/experiments/trials.ts';
import type { RunOutcome } from '../engine/store/run-training.ts';
import type { TrainEvent } from '../engine/train/types.ts';
import { forkTransport } from './transport.ts';

/** How to start the worker process. */
export interface WorkerSpec {
  entry: string;
  execArgv: string[];
  env?: Record<string, string>;
}

/** Parent → worker. */
export type ToWorker =
  | { type: 'train'; project: string; opts: TrialOptions; name?: string; runId?: string; checkpointEvery?: number }
  | { type: 'resume'; project: string; runId: string }
  | { type: 'abort' };
type WorkRequest = Extract<ToWorker, { type: 'train' | 'resume' }>;
/** Worker → parent. */
export type FromWorker =
  | { type: 'event'; event: TrainEvent }
  | { type: 'run'; id: string; dir: string }
  | { type: 'result'; outcome: RunOutcome; peakRssMb: number; pid: number }
  | { type: 'error'; message: string };

const require = createRequire(import.meta.url);

/** The worker from the TypeScript sources, with the tsx loader (as bin/lora-studio.mjs runs them). */
export function sourceWorker(): WorkerSpec {
  const loader = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
  return { entry: path.join(import.meta.dirname, 'trial-worker.ts'), execArgv: ['--import', loader] };
}

/** The bundled worker next to the desktop app's engine process (out/main), run by Electron as Node. */
export function bundledWorker(dir: string): WorkerSpec {
  return { entry: path.join(dir, 'trial-worker.js'), execArgv: [], env: { ELECTRON_RUN_AS_NODE: '1' } };
}

/** A runner that trains every trial in a fresh child process. */
export function isolatedTrials(spec: WorkerSpec = sourceWorker()): IsolatedTrialRunner & { readonly spec: WorkerSpec } {
  return {
    isolated: true,
    spec,
    run: (project, opts, hooks = {}) => runIsolated(spec, { type: 'train', project, opts, name: hooks.name, runId: hooks.runId, checkpointEvery: hooks.checkpointEvery }, hooks),
    resume: (project, runId, hooks = {}) => runIsolated(spec, { type: 'resume', project, runId }, hooks),
  };
}

function runIsolated(spec: WorkerSpec, request: WorkRequest, o: TrialHooks): Promise<TrialOutcome> {
  const worker = forkTransport<ToWorker>(spec.entry, { execArgv: spec.execArgv, env: spec.env, output: 'inherit' });
  return new Promise<TrialOutcome>((resolve, reject) => {
    let done = false;
    const onAbort = () => worker.post({ type: 'abort' });
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      o.signal?.removeEventListener('abort', onAbort);
      f();
    };
    worker.onMessage((raw) => {
      const m = raw as FromWorker;
      if (m.type === 'event') o.onEvent?.(m.event);
      else if (m.type === 'run') o.onRun?.({ id: m.id, dir: m.dir });
      else if (m.type === 'result') finish(() => resolve({ ...m.outcome, peakRssMb: m.peakRssMb, isolated: m.pid !== process.pid }));
      else if (m.type === 'error') finish(() => reject(new Error(m.message)));
    });
    worker.onExit((info) => finish(() => reject(new Error(`training process exited (${info.reason ?? `code ${info.code}`}) before reporting a result`))));
    worker.post(request);
    if (o.signal?.aborted) onAbort();
  });
}
