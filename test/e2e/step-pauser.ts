// Pausing a run from the event of a given step. A tiny run's steps take ~2 ms, so polling for the
// step (vi.waitFor every 50 ms) and then pausing can see 20 steps go by before the pause lands,
// or the run finish: the pause is asked from inside the bridge's event callback instead.
import type { Result, StudioEvent } from '../../engine/api.ts';
import type { EngineBridge } from '../../host/bridge.ts';

export function stepPauser() {
  const waiting: ((e: StudioEvent) => void)[] = [];
  let bridge: EngineBridge | null = null;
  return {
    attach(b: EngineBridge): void { bridge = b; },
    /** The bridge's onEvent (or called from it). */
    onEvent(e: StudioEvent): void { for (const l of [...waiting]) l(e); },
    /** Pauses the first run `which` accepts once it reports a step past `after`; resolves to pause's answer. */
    pauseAfter(which: (runId: string) => boolean, after: number): Promise<Result<'runs.pause'>> {
      return new Promise((resolve, reject) => {
        const l = (e: StudioEvent) => {
          if (e.type !== 'run.event' || !which(e.runId) || e.event.type !== 'step' || e.event.step <= after) return;
          waiting.splice(waiting.indexOf(l), 1);
          bridge!.invoke('runs.pause', { runId: e.runId }).then(resolve, reject);
        };
        waiting.push(l);
      });
    },
  };
}
