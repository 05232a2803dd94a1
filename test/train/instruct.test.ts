// Completion-only loss through the one training loop (issue #15): the first step's loss equals the
// mean, over exactly the assistant positions, of the per-token NLL of an unmasked forward on the
// same rows (buildNllSession, every weight frozen); --train-on all equals the mean over every
// predicted position; validation loss is completion-only too.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInstructionData, type InstructRow } from '../../engine/data/instruct.ts';
import { holdOutSplit } from '../../engine/data/pipeline.ts';
import { loadModel } from '../../engine/models/registry.ts';
import { makeBatch } from '../../engine/train/batch.ts';
import { buildNllSession, perplexity } from '../../engine/train/eval.ts';
import { batchFeeds } from '../../engine/train/batch.ts';
import { train } from '../../engine/train/trainer.ts';
import type { TrainEvent } from '../../engine/train/types.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const IGN = -100;
const T = 96;
const LORA = { r: 4, alpha: 8, dropout: 0, bias: 'none' as const, targets: ['c_attn'], useRslora: false, init: 'kaiming' as const };

const conversations = [
  ['What goes in Guacamole?', 'Avocado, lime, tomato and coriander.'],
  ['How long do pancakes cook?', 'Until bubbles appear, then flip them.'],
  ['Is hummus made of chickpeas?', 'Yes, with tahini and lemon.'],
  ['What is in a Greek salad?', 'Tomato, cucumber, onion, feta and olives.'],
  ['How do I boil an egg?', 'Simmer it for eight minutes.'],
  ['What makes bread rise?', 'Yeast or baking powder.'],
  ['Can I freeze soup?', 'Yes, for up to three months.'],
  ['How hot is a warm oven?', 'About 180 degrees.'],
].map(([q, a]) => ({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] }));

/** Per-token NLL [B, T] of the base model on the rows, labels = the ids (nothing masked). */
async function unmaskedNll(model: string, rows: InstructRow[]): Promise<{ nll: Float32Array; predicted: Float32Array }> {
  const m = loadModel(model);
  const s = await buildNllSession(m, rows.length, T);
  try {
    const batch = makeBatch(rows.map((r) => r.ids), rows.length, T);
    const out = await s.run(batchFeeds(batch), ['nll']);
    return { nll: out.nll.data as Float32Array, predicted: batch.lossWeights };
  } finally {
    await s.release();
  }
}

/** Mean NLL over the positions t whose next token (t + 1) is labelled (all: every predicted position). */
function meanOver(rows: InstructRow[], nll: Float32Array, predicted: Float32Array, all: boolean): { mean: number; count: number } {
  let sum = 0, count = 0;
  rows.forEach((r, b) => {
    for (let t = 0; t + 1 < r.ids.length; t++) {
      if (!(predicted[b * T + t]! > 0)) throw new Error('a real position is not predicted');
      if (all || r.labels[t + 1] !== IGN) { sum += nll[b * T + t]!; count++; }
    }
  });
  return { mean: sum / count, count };
}

describe.skipIf(!hasSharedData)('completion-only loss in training (tiny random GPT-2, chatml)', () => {
  const setup = () => {
    const root = tempDir('instruct-');
    const model = makeTinyGPT2(path.join(root, 'model'), { nPositions: 128 });
    const data = path.join(root, 'chat.jsonl');
    writeFileSync(data, conversations.slice(0, 4).map((c) => JSON.stringify(c)).join('\n') + '\n');
    return { root, model, data };
  };

  it('the first step\'s loss is the mean NLL over exactly the assistant tokens; --train-on all, over every token', async () => {
    const { model, data } = setup();
    const rows = (await loadInstructionData(data, model, { maxLength: T })).rows;
    expect(rows).toHaveLength(4);
    const { nll, predicted } = await unmaskedNll(model, rows);
    const completions = meanOver(rows, nll, predicted, false);
    const everything = meanOver(rows, nll, predicted, true);
    expect(completions.count).toBeLessThan(everything.count / 2);
    expect(Math.abs(completions.mean - everything.mean)).toBeGreaterThan(1e-3); // the two can be told apart
    for (const [trainOn, want] of [['completions', completions], ['all', everything]] as const) {
      const events: TrainEvent[] = [];
      // one batch holds all four rows: the mean does not depend on the shuffled order
      await train({ model, data, trainOn, maxSteps: 1, batchSize: 4, maxLength: T, lora: LORA, logEvery: 1 }, { onEvent: (e) => events.push(e) });
      const step = events.find((e) => e.type === 'step');
      if (step?.type !== 'step') throw new Error('no step event');
      expect(step.loss, trainOn).toBeCloseTo(want.mean, 5);
      const start = events.find((e) => e.type === 'start');
      if (start?.type !== 'start') throw new Error('no start event');
      expect(start.instruct).toMatchObject({ format: 'messages', trainOn, examples: 4, skipped: 0 });
      expect(start.instruct!.template).toMatch(/^chatml/);
    }
  });

  it('validation loss and its token count are over the held-out rows\' assistant tokens only', async () => {
    const { root, model } = setup();
    const data = path.join(root, 'chat8.jsonl');
    writeFileSync(data, conversations.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const rows = (await loadInstructionData(data, model, { maxLength: T })).rows;
    const { val } = holdOutSplit(rows, 0.25, 42);
    expect(val).toHaveLength(2);
    const { nll, predicted } = await unmaskedNll(model, val);
    const want = meanOver(val, nll, predicted, false);
    const events: TrainEvent[] = [];
    // lr 1e-12: the one update leaves the weights as they were, so the final eval scores the base model
    await train({ model, data, maxSteps: 1, batchSize: 2, maxLength: T, lora: LORA, valRatio: 0.25, lr: 1e-12, seed: 42 }, { onEvent: (e) => events.push(e) });
    const ev = events.find((e) => e.type === 'eval');
    if (ev?.type !== 'eval') throw new Error('no eval event');
    expect(ev.tokens).toBe(want.count);
    expect(ev.evalLoss).toBeCloseTo(want.mean, 5);
    expect(Math.abs(ev.perplexity / Math.exp(want.mean) - 1)).toBeLessThan(1e-4);
    // eval on the run's held-out split rebuilds the same rows with the same answer labels
    const p = await perplexity({ model, heldOut: { data, valRatio: 0.25, seed: 42, maxLength: T } });
    expect(p.tokens).toBe(want.count);
    expect(p.meanNll).toBeCloseTo(want.mean, 5);
  });

  it('plain text is still packed into blocks, and --format text packs a prompt/completion file as text', async () => {
    const { root, model } = setup();
    const data = path.join(root, 'pc.jsonl');
    const rec = (i: number) => ({ text: `Recipe ${i}: whisk two eggs, warm the butter, stir slowly until just set.`, prompt: 'Q', completion: 'A' });
    writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify(rec(i))).join('\n') + '\n');
    for (const [format, instruct] of [['auto', true], ['text', false]] as const) {
      const events: TrainEvent[] = [];
      await train({ model, data, format, maxSteps: 1, batchSize: 2, maxLength: 8, lora: LORA }, { onEvent: (e) => events.push(e) });
      const start = events.find((e) => e.type === 'start');
      if (start?.type !== 'start') throw new Error('no start event');
      expect(start.instruct !== undefined, format).toBe(instruct);
      if (instruct) expect(start.examples).toBe(6); // one row per record
      else expect(start.examples).toBeGreaterThan(6); // 8-token blocks of the text field
    }
  });
});
