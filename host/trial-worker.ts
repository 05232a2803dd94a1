// The child-process side of host/trials.ts: trains (or resumes) one run of a project and reports its
// events, its outcome and this process's peak RSS to the parent.
import { resumeRun, trainInProject } from '../engine/store/run-training.ts';
import type { TrainEvent } from '../engine/train/types.ts';
import type { FromWorker, ToWorker } from './trials.ts';
import { parentPort } from './transport.ts';

const parent = parentPort<FromWorker>();
const ac = new AbortController();
// The parent went away (killed, closed): stop at the next step with a checkpoint, so the run can be resumed.
parent.onDisconnect(() => ac.abort());
parent.onMessage((raw) => {
  const m = raw as ToWorker;
  if (m.type === 'abort') ac.abort();
  else if (m.type === 'train' || m.type === 'resume') void train(m);
});

async function train(req: Extract<ToWorker, { type: 'train' | 'resume' }>): Promise<void> {
  const send = (msg: FromWorker) => new Promise<void>((res) => process.send!(msg, () => res()));
  const hooks = {
    signal: ac.signal,
    onRun: (r: { id: string; dir: string }) => void send({ type: 'run', id: r.id, dir: r.dir }),
    onEvent: (event: TrainEvent) => void send({ type: 'event', event }),
  };
  try {
    const outcome = req.type === 'resume'
      ? await resumeRun(req.project, req.runId, hooks)
      : await trainInProject(req.project, req.opts, { ...hooks, name: req.name, runId: req.runId, checkpointEvery: req.checkpointEvery });
    await send({ type: 'result', outcome, peakRssMb: process.resourceUsage().maxRSS / 1024, pid: process.pid });
  } catch (e) {
    await send({ type: 'error', message: (e as Error).message });
  }
  parent.close();
}
