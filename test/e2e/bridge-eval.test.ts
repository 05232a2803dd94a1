// eval.perplexity through EngineBridge with a project open: a run's held-out split (the host fills
// the run's project, replacing a client's) equals the run's validation loss, also for a run whose
// mapped dataset was saved as documents; a mapped dataset is scored as perplexity() scores it.
// Real trainer on the tiny GPT-2 of ../shared/data (skips without it).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { perplexity } from '../../engine/train/eval.ts';
import { readRun } from '../../engine/store/runs.ts';
import { tinyRunConfig } from './run-config.ts';

const SHARED = join(process.cwd(), '..', 'shared', 'data');
const haveShared = existsSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2')) && existsSync(join(SHARED, 'gpt2-tokenizer'));

let dir: string;
let model: string;
let data: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bridge-eval-'));
  if (!haveShared) return;
  model = join(dir, 'tiny-gpt2');
  cpSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2'), model, { recursive: true });
  for (const f of readdirSync(join(SHARED, 'gpt2-tokenizer'))) cpSync(join(SHARED, 'gpt2-tokenizer', f), join(model, f));
  data = join(dir, 'notes.jsonl');
  writeFileSync(data, Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: i, body: `Note ${i}: the cat sat on the mat and watched ${i % 7} birds.` })).join('\n') + '\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!haveShared)('eval.perplexity through the bridge', () => {
  test('a run\'s held-out split (its mapped dataset saved as documents) gives its validation loss; a mapped dataset as perplexity() scores it', async () => {
    const project = join(dir, 'project');
    mkdirSync(project);
    const b = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'test', project, onEvent: () => {}, restart: { max: 1, windowMs: 10_000, delayMs: 10 }, log: () => {} });
    b.start();
    try {
      const dataset = { path: data, textColumn: 'body' };
      const { runId } = await b.invoke('runs.start', { config: tinyRunConfig(model, data, { dataset, valRatio: 0.25, maxSteps: 2 }) });
      await vi.waitFor(() => expect(readRun(project, runId).status).toBe('completed'), { timeout: 60_000, interval: 200 });
      const run = readRun(project, runId);
      expect(run.config.data.kind).toBe('documents'); // the mapping was tokenized into the run
      const adapter = join(run.dir, 'adapter');
      // A client's project is replaced by the run's.
      const held = await b.invoke('eval.perplexity', { model, adapter, heldOutOf: runId, project: join(dir, 'elsewhere') });
      expect(held.meanNll).toBeCloseTo(run.result!.evalLoss!, 5);
      await expect(b.invoke('eval.perplexity', { model, heldOutOf: 'run-none' })).rejects.toThrow(/no run "run-none" in this project/);

      const scored = await b.invoke('eval.perplexity', { model, adapter, dataset, maxLength: 16 });
      const want = await perplexity({ model, adapter, data, dataOptions: { textColumn: 'body' }, maxLength: 16 });
      expect(scored).toMatchObject({ tokens: want.tokens, windows: 40 });
      expect(scored.meanNll).toBeCloseTo(want.meanNll, 6);
      await expect(b.invoke('eval.perplexity', { model, dataset, text: data })).rejects.toThrow('give exactly one of "text", "dataset", "heldOutOf", not "text" and "dataset"');
    } finally {
      await b.close();
    }
  }, 120_000);
});
