// Child-process side of engine/experiments/isolated.ts: trains one run of a project and reports
// its events, its outcome and this process's peak RSS to the parent.
import { trainInProject } from '../store/run-training.ts';
import type { WorkerRequest } from './isolated.ts';

const ac = new AbortController();
// The parent went away (killed, closed): stop at the next step with a checkpoint, so the run can be resumed.
process.on('disconnect', () => ac.abort());
process.on('message', (m: WorkerRequest | { type: 'abort' }) => {
  if ('type' in m) {
    if (m.type === 'abort') ac.abort();
    return;
  }
  void run(m);
});

async function run(req: WorkerRequest): Promise<void> {
  const send = (msg: unknown) => new Promise<void>((res) => process.send!(msg, () => res()));
  try {
    const outcome = await trainInProject(req.project, req.opts, {
      name: req.name, runId: req.runId, checkpointEvery: req.checkpointEvery, signal: ac.signal,
      onRun: (r) => void send({ type: 'run', id: r.id, dir: r.dir }),
      onEvent: (event) => void send({ type: 'event', event }),
    });
    await send({ type: 'result', outcome, peakRssMb: process.resourceUsage().maxRSS / 1024 });
  } catch (e) {
    await send({ type: 'error', message: (e as Error).message });
  }
  if (process.connected) process.disconnect();
}
