// `lora-studio eval --data` on instruction data scores it as training's loss does: each row through
// the chat template, the mean NLL over the trained positions only (models/demo-llama, a real tiny
// Llama, on the messages sample). Checked against an unmasked per-token forward and the data
// layer's labels, against --train-on all, and against a run's held-out validation loss.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { holdOutSplit } from '../../engine/data/index.ts';
import { loadInstructionData, type TrainOn } from '../../engine/data/instruct.ts';
import { IGNORE_INDEX } from '../../engine/data/preprocess.ts';
import { loadModel } from '../../engine/models/registry.ts';
import { evaluatePerplexity } from '../../engine/services/evaluate.ts';
import { batchFeeds, makeBatch } from '../../engine/train/batch.ts';
import { buildNllSession } from '../../engine/train/eval.ts';
import { tempDir } from '../helpers/tiny-model.ts';

const demo = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-llama');
const sample = path.resolve(import.meta.dirname, '..', '..', 'samples', 'recipes-instruct.jsonl');
const records = readFileSync(sample, 'utf8').split('\n').filter((l) => l.trim()).slice(0, 8);
const T = 96;

type Out = { perplexity: number; mean_nll: number; tokens: number; examples?: number; skipped?: number };
const json = (r: { code: number; stdout: string; stderr: string }): Out => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Out;
};

/** Sum and count of the per-token NLL at the labelled positions, from an unmasked forward of each row. */
async function maskedNll(file: string, trainOn: TrainOn): Promise<{ sum: number; count: number; rows: number }> {
  const d = await loadInstructionData(file, demo, { trainOn, maxLength: T });
  const model = loadModel(demo);
  let sum = 0, count = 0;
  for (const row of d.rows) {
    const n = row.ids.length;
    const session = await buildNllSession(model, 1, n);
    try {
      // makeBatch scores every token: nll[t] is the loss of ids[t + 1]; the mask picks the trained ones.
      const { nll } = await session.run(batchFeeds(makeBatch([row.ids], 1, n)), ['nll']);
      const v = nll.data as Float32Array;
      for (let t = 0; t + 1 < n; t++) if (row.labels[t + 1] !== IGNORE_INDEX) { sum += v[t]; count++; }
    } finally {
      await session.release();
    }
  }
  return { sum, count, rows: d.rows.length };
}

describe('lora-studio eval --data on instruction data (models/demo-llama)', () => {
  const root = tempDir('ls-cli-evi-');
  const file = path.join(root, 'qa.jsonl');
  // The last conversation has no assistant turn: skipped and counted, as training skips it.
  writeFileSync(file, [...records, JSON.stringify({ messages: [{ role: 'user', content: 'Anything?' }] })].join('\n') + '\n');

  it('perplexity = exp(mean NLL over the assistant positions); --train-on all scores every position', async () => {
    const got = json(await runCli('eval', '--model', demo, '--data', file, '--max-length', String(T), '--json'));
    const want = await maskedNll(file, 'completions');
    expect([got.examples, got.skipped, got.tokens]).toEqual([records.length, 1, want.count]);
    expect(got.mean_nll).toBeCloseTo(want.sum / want.count, 4);
    expect(got.perplexity).toBeCloseTo(Math.exp(want.sum / want.count), 3);

    const all = json(await runCli('eval', '--model', demo, '--data', file, '--max-length', String(T), '--train-on', 'all', '--json'));
    const wantAll = await maskedNll(file, 'all');
    expect(all.tokens).toBe(wantAll.count);
    expect(all.tokens).toBeGreaterThan(got.tokens);
    expect(all.mean_nll).toBeCloseTo(wantAll.sum / wantAll.count, 4);
    expect(Math.abs(all.mean_nll - got.mean_nll)).toBeGreaterThan(1e-3);

    // The service (the app's eval.perplexity) gives the same number, with the counts in the contract.
    const app = await evaluatePerplexity({ model: demo, dataset: { path: file }, maxLength: T });
    expect(app).toMatchObject({ tokens: got.tokens, examples: records.length, skipped: 1 });
    expect(app.meanNll).toBeCloseTo(got.mean_nll, 6);
    // --format text (or a text column) reads the same file as plain text, not through the template.
    const plain = json(await runCli('eval', '--model', demo, '--data', file, '--max-length', String(T), '--format', 'text', '--text-column', 'messages', '--json'));
    expect(plain.examples).toBeUndefined();
  }, 180_000);

  it('a run\'s held-out validation loss on instruction data is what eval --data --run reports for those examples', async () => {
    const data = path.join(root, 'train.jsonl');
    writeFileSync(data, records.join('\n') + '\n');
    const project = path.join(root, 'project');
    const t = await runCli('train', '--model', demo, '--data', data, '--project', project, '--max-steps', '2', '--batch-size', '2', '--r', '2',
      '--max-length', String(T), '--val-ratio', '0.25', '--seed', '3', '--threads', '1', '--json');
    expect(t.code).toBe(0);
    const id = /^run (\S+): /m.exec(t.stderr)![1]!;
    const saved = JSON.parse(readFileSync(path.join(project, 'runs', id, 'run.json'), 'utf8')) as { result: { evalLoss: number } };
    // Every record makes a row, so the held-out rows are the held-out records.
    const { val } = holdOutSplit([...records.keys()], 0.25, 3);
    const held = path.join(root, 'held.jsonl');
    writeFileSync(held, val.map((i) => records[i]).join('\n') + '\n');
    const got = json(await runCli('eval', '--run', id, '--project', project, '--data', held, '--max-length', String(T), '--json'));
    expect(got.examples).toBe(val.length);
    expect(got.mean_nll).toBeCloseTo(saved.result.evalLoss, 4);
    const heldOut = json(await runCli('eval', '--run', id, '--project', project, '--held-out', '--json'));
    expect(heldOut.tokens).toBe(got.tokens);
    expect(heldOut.mean_nll).toBeCloseTo(got.mean_nll, 5);
  }, 240_000);

  it('no usable example: one line, as training says it', async () => {
    const bad = path.join(root, 'bad.jsonl');
    writeFileSync(bad, JSON.stringify({ messages: [{ role: 'user', content: 'Anything?' }] }) + '\n');
    const r = await runCli('eval', '--model', demo, '--data', bad);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`lora-studio eval: ${bad}: no usable examples; 1 row(s) skipped`);
  }, 60_000);
});
