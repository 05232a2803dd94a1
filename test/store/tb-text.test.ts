// TensorBoard text summaries (the Text dashboard's format, as tf.summary.text writes it), read back
// with the tests' own independent reader (tb-reader.ts); a run's samples survive the history
// rebuild a resume does.
import { afterAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventFileWriter, TB_TAGS } from '../../engine/store/tensorboard.ts';
import { sampleText, scalarHistory } from '../../engine/store/run-logs.ts';
import { readEventFile, scalarsByTag } from './tb-reader.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-tbtext-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('text summaries', () => {
  it('writes a scalar DT_STRING tensor with plugin_name "text" next to the scalars, readable back', () => {
    const dir = path.join(tmp, 'a');
    const w = EventFileWriter.create(dir, [], 1_700_000_000);
    w.scalars(3, [{ tag: TB_TAGS.loss, value: 2.5 }], 1_700_000_001);
    const text = 'Once upon a time — ünïcödé and a\nsecond line';
    w.texts(3, [{ tag: TB_TAGS.sample, text }], 1_700_000_002);
    w.close();
    const { events, truncatedTail } = readEventFile(w.file);
    expect(truncatedTail).toBe(false);
    expect(events).toHaveLength(3);
    expect(scalarsByTag(events).get(TB_TAGS.loss)).toEqual([[3, 2.5]]);
    const last = events[2]!;
    expect(last.step).toBe(3);
    expect(last.wallTime).toBe(1_700_000_002);
    expect(last.values).toEqual([]);
    expect(last.texts).toEqual([{ tag: 'train/sample', text, plugin: 'text', dtype: 7, dataClass: 2 }]);
  });

  it('formats a sample as Markdown quoting the prompt and the text', () => {
    const t = sampleText({ prompt: 'The cat', text: ' sat\non the mat' });
    expect(t.tag).toBe(TB_TAGS.sample);
    expect(t.text).toBe('**Prompt**\n\n> The cat\n\n**Sample**\n\n>  sat\n> on the mat');
  });

  it('rebuilds the samples of samples.jsonl into the history a resumed run starts its event file with', () => {
    const dir = path.join(tmp, 'b');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), JSON.stringify({ step: 2, epoch: 0.1, loss: 3, lr: 1e-3, grad_norm: 1, tokens_per_s: 10, elapsed_s: 1, eta_s: 1, time: '2026-01-01T00:00:01Z' }) + '\n');
    fs.writeFileSync(path.join(dir, 'samples.jsonl'), JSON.stringify({ step: 2, prompt: 'Hi', text: ' there', time: '2026-01-01T00:00:02Z' }) + '\n');
    const w = EventFileWriter.create(dir, scalarHistory(dir), 1_767_225_600);
    w.close();
    const { events } = readEventFile(w.file);
    expect(events.map((e) => [e.step, e.values.length, e.texts?.length ?? 0])).toEqual([[0, 0, 0], [2, 4, 0], [2, 0, 1]]);
    expect(events[2]!.texts![0]!.text).toContain('> Hi');
    expect(events[2]!.wallTime).toBe(Date.parse('2026-01-01T00:00:02Z') / 1000);
  });
});
