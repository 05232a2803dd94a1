import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.ts';
import { listRuns } from '../../engine/store/runs.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

describe.skipIf(!hasSharedData)('lora-studio demo --quick', () => {
  it('runs the whole flow on a tiny model and leaves a demo project behind', async () => {
    const dir = tempDir('demo-');
    const model = makeTinyGPT2(path.join(dir, 'model'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const project = path.join(dir, 'project');
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['demo', '--quick', '--model', model, '--project', project, '--threads', '1', '--json'])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const s = JSON.parse(out.at(-1)!);
    expect(s.perplexity.before).toBeGreaterThan(1);
    expect(s.perplexity.after).toBeGreaterThan(1);
    expect(typeof s.generation.before).toBe('string');
    expect(typeof s.generation.after).toBe('string');
    expect(s.compare.lora.trainableParams).toBeLessThan(s.compare.full.trainableParams);
    expect(existsSync(s.compare.file)).toBe(true);
    expect(s.classification.accuracyBefore).toBeGreaterThanOrEqual(0);
    expect(s.classification.accuracyAfter).toBeGreaterThanOrEqual(0);
    expect(s.compare.lora.isolated).toBe(true); // the comparison's methods each in their own process
    // The LoRA run and the two comparison runs are runs of the demo project.
    const runs = listRuns(project).runs;
    expect(runs).toHaveLength(3);
    expect(runs.every((r) => r.status === 'completed')).toBe(true);
    expect(runs.some((r) => r.id === s.loraRun)).toBe(true);
  }, 90_000);
});
