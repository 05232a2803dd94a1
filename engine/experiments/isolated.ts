// One training run of a project in its own child process, so that its peak memory (RSS) is its
// own and a crash cannot take the caller down. The child is engine/experiments/trial-worker.ts;
// trainer events stream back over IPC.
import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { trainInProject, type RunOutcome } from '../store/run-training.ts';
import type { TrainEvent, TrainOptions } from '../train/types.ts';

export type TrialOptions = Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>;

export interface IsolatedRunOptions {
  /** Run in a child process (default true); false runs in this process (peak RSS is then shared). */
  isolate?: boolean;
  name?: string;
  runId?: string;
  checkpointEvery?: number;
  onEvent?: (e: TrainEvent) => void;
  onRun?: (run: { id: string; dir: string }) => void;
  signal?: AbortSignal;
}

export interface IsolatedOutcome extends RunOutcome {
  /** Peak resident memory of the process that trained, in MB. */
  peakRssMb: number;
  isolated: boolean;
}

type WorkerMessage =
  | { type: 'event'; event: TrainEvent }
  | { type: 'run'; id: string; dir: string }
  | { type: 'result'; outcome: RunOutcome; peakRssMb: number }
  | { type: 'error'; message: string };

export interface WorkerRequest {
  project: string;
  opts: TrialOptions;
  name?: string;
  runId?: string;
  checkpointEvery?: number;
}

const require = createRequire(import.meta.url);

/** The tsx loader, so the child can run the TypeScript sources as bin/lora-studio.mjs does. */
function tsxLoader(): string {
  return pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
}

export async function trainRun(project: string, opts: TrialOptions, o: IsolatedRunOptions = {}): Promise<IsolatedOutcome> {
  if (o.isolate === false) {
    const outcome = await trainInProject(project, opts, { name: o.name, runId: o.runId, checkpointEvery: o.checkpointEvery, onEvent: o.onEvent, onRun: o.onRun, signal: o.signal });
    return { ...outcome, peakRssMb: outcome.result.peakRssMb, isolated: false };
  }
  const worker = path.join(import.meta.dirname, 'trial-worker.ts');
  const child: ChildProcess = fork(worker, [], { execArgv: ['--import', tsxLoader()], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
  const req: WorkerRequest = { project, opts, name: o.name, runId: o.runId, checkpointEvery: o.checkpointEvery };
  return new Promise<IsolatedOutcome>((resolve, reject) => {
    let done = false;
    const onAbort = () => child.send({ type: 'abort' });
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      o.signal?.removeEventListener('abort', onAbort);
      f();
    };
    child.on('message', (m: WorkerMessage) => {
      if (m.type === 'event') o.onEvent?.(m.event);
      else if (m.type === 'run') o.onRun?.({ id: m.id, dir: m.dir });
      else if (m.type === 'result') finish(() => resolve({ ...m.outcome, peakRssMb: m.peakRssMb, isolated: true }));
      else if (m.type === 'error') finish(() => reject(new Error(m.message)));
    });
    child.on('error', (e) => finish(() => reject(e)));
    child.on('exit', (code, sig) => finish(() => reject(new Error(`training process exited (${sig ?? `code ${code}`}) before reporting a result`))));
    child.send(req);
  });
}
