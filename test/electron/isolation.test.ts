// Inside the desktop app a LoRA-vs-full comparison trains each method in its own process too (it
// used to train both in the engine's utility process, so 'full' inherited LoRA's peak RSS): the
// utility process's trial runner forks the bundled worker next to it with Electron's binary as
// plain Node, and the engine isolates every comparison whatever the shell.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { StudioEvent } from '../../engine/api.ts';
import { engineProcessOptions } from '../../electron/engine-process.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { isolatedTrials } from '../../host/trials.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

describe('comparisons inside Electron', () => {
  afterEach(() => {
    delete (process.versions as Record<string, string | undefined>).electron;
  });

  test("the utility process's trials run out/main/trial-worker.js next to it, with Electron's binary as Node", () => {
    const trials = engineProcessOptions('/app/resources/app.asar/out/main').trials!;
    expect(trials.isolated).toBe(true);
    expect((trials as ReturnType<typeof isolatedTrials>).spec).toEqual({
      entry: '/app/resources/app.asar/out/main/trial-worker.js',
      execArgv: [],
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
  });

  test.skipIf(!hasSharedData)('under Electron the engine trains LoRA and full each in its own process; the report says so', async () => {
    Object.defineProperty(process.versions, 'electron', { value: '41.7.1', configurable: true });
    const dir = tempDir('electron-cmp-');
    const model = makeTinyGPT2(join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = join(dir, 'data.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const events: StudioEvent[] = [];
    const b = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'electron', project: join(dir, 'project'), onEvent: (e) => events.push(e), log: () => {} });
    b.start();
    try {
      const r = await b.invoke('experiments.compare', { model, data, maxSteps: 2, batchSize: 2, maxLength: 16, lr: 1e-2, seed: 1, valRatio: 0.2, lora: { r: 2 } });
      expect(r.lora.isolated).toBe(true);
      expect(r.full.isolated).toBe(true);
      // Each peak RSS is its own process's (measured there), not this process's high-water mark.
      expect(r.lora.peakRssMb).toBeGreaterThan(10);
      expect(r.full.peakRssMb).toBeGreaterThan(10);
      const saved = (await b.invoke('experiments.list', {})).comparisons[0];
      expect([saved.lora.isolated, saved.full.isolated]).toEqual([true, true]);
      expect(events.some((e) => e.type === 'experiment.event' && e.method === 'full' && e.event.type === 'step')).toBe(true);
    } finally {
      await b.close();
    }
  }, 120_000);
});
