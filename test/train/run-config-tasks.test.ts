// The contract's RunConfig reaches the trainer whole (issue 13): a sequence-classification config
// trains a classifier on the dataset's mapped columns, an instruction-data config trains through
// the chat template with its train-on choice, both through LiveRuns (what the studio's Start
// calls); runs.estimate answers estimateRun's numbers for the model's spec.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAINING, type RunConfig, type StudioEvent } from '../../engine/api.ts';
import { createEngineHandlers } from '../../host/engine-handlers.ts';
import { hasWebGpuDriver } from '../../engine/onnx/devices.ts';
import { loadModelSpec } from '../../engine/models/registry.ts';
import { previewDataset } from '../../engine/services/datasets.ts';
import { estimateForRun } from '../../engine/services/estimate.ts';
import { calibratedMachine } from '../../engine/train/estimate-calibrate.ts';
import { LiveRuns, toTrainOptions } from '../../engine/services/train.ts';
import { estimateRun } from '../../engine/train/estimate.ts';
import type { TrainEvent } from '../../engine/train/types.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const base = (model: string, over: Partial<RunConfig> & Pick<RunConfig, 'dataset'>): RunConfig => ({
  ...DEFAULT_TRAINING, lora: { ...DEFAULT_TRAINING.lora, r: 2, targets: ['c_attn'] }, model, epochs: 0, maxSteps: 2, batchSize: 2, maxLength: 32, logEvery: 1, threads: 1, ...over,
});

/** Starts a run through LiveRuns and resolves with its trainer events once it has ended. */
async function train(config: RunConfig): Promise<{ status: string; error: string | null; events: TrainEvent[] }> {
  const events: TrainEvent[] = [];
  let done!: (v: { status: string; error: string | null }) => void;
  const ended = new Promise<{ status: string; error: string | null }>((ok) => (done = ok));
  const runs = new LiveRuns((e: StudioEvent) => {
    if (e.type === 'run.event') events.push(e.event);
    if (e.type === 'run.status' && ['completed', 'failed', 'cancelled'].includes(e.status)) done({ status: e.status, error: e.error });
  });
  await runs.start({ config });
  return { ...(await ended), events };
}

describe.skipIf(!hasSharedData)('a RunConfig trains with its task (tiny random GPT-2)', () => {
  const root = hasSharedData ? tempDir('run-config-') : '';
  const model = hasSharedData ? makeTinyGPT2(path.join(root, 'model'), { nEmbd: 8, nLayer: 1, nHead: 2 }) : '';

  it('seq-cls: the dataset mapping\'s text and label columns reach the classifier', async () => {
    const data = path.join(root, 'reviews.csv');
    const rows = ['great fun film,pos', 'awful slow film,neg', 'i loved it,pos', 'boring and bad,neg', 'really good,pos', 'the worst,neg'];
    writeFileSync(data, `review,sentiment\n${rows.join('\n')}\n`);
    const config = base(model, { task: 'seq-cls', dataset: { path: data, textColumn: 'review', labelColumn: 'sentiment' } });
    expect(toTrainOptions(config, data)).toMatchObject({ task: 'seq-cls', textColumn: 'review', labelColumn: 'sentiment', data });
    const r = await train(config);
    expect(r.error).toBeNull();
    expect(r.status).toBe('completed');
    const start = r.events.find((e) => e.type === 'start');
    expect(start).toMatchObject({ numLabels: 2, examples: 6 });
    expect(start && 'labels' in start ? [...start.labels!].sort() : []).toEqual(['neg', 'pos']);
    const steps = r.events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(2);
    expect(steps[0]).toHaveProperty('accuracy'); // a classifier's step
    const done = r.events.find((e) => e.type === 'done');
    expect(done && done.type === 'done' ? done.result.labels?.length : 0).toBe(2);
  }, 120_000);

  it('instruction data in a mapped dataset: one example per row through the template, with the train-on choice', async () => {
    const data = path.join(root, 'chat.jsonl');
    const qa = [['What goes in guacamole?', 'Avocado and lime.'], ['How long do eggs boil?', 'Eight minutes.'], ['What makes bread rise?', 'Yeast.'], ['Can soup be frozen?', 'Yes.']];
    writeFileSync(data, qa.map(([prompt, completion]) => JSON.stringify({ prompt, completion })).join('\n') + '\n');
    // format 'jsonl' is a mapping: before, such a dataset was tokenized here as plain documents.
    const config = base(model, { dataset: { path: data, format: 'jsonl' }, chat: { format: 'auto', template: 'chatml', trainOn: 'all' } });
    const r = await train(config);
    expect(r.error).toBeNull();
    expect(r.status).toBe('completed');
    const start = r.events.find((e) => e.type === 'start');
    expect(start && start.type === 'start' ? start.instruct : undefined).toMatchObject({ format: 'prompt-completion', trainOn: 'all', examples: 4, skipped: 0 });
    expect(start).not.toHaveProperty('numLabels');
    // The same file as plain text (format 'text'): packed blocks, no instruction summary.
    const text = await train({ ...config, chat: { format: 'text' } });
    expect(text.status).toBe('completed');
    const start2 = text.events.find((e) => e.type === 'start');
    expect(start2 && start2.type === 'start' ? start2.instruct : 'none').toBeUndefined();
  }, 120_000);

  it('runs.estimate: estimateRun\'s numbers for the folder\'s spec, and the machine\'s memory beside them', () => {
    const spec = loadModelSpec(model);
    const p = { model, method: 'lora' as const, baseDtype: 'int8' as const, batchSize: 4, maxLength: 48, lora: { r: 4, targets: ['c_attn'] }, gradientCheckpointing: true };
    const got = estimateForRun(p, () => ({ totalMb: 1000, availableMb: 500 }));
    const want = estimateRun({ spec, method: 'lora', baseDtype: 'int8', batchSize: 4, maxLength: 48, loraR: 4, loraTargets: ['c_attn'], gradientCheckpointing: true });
    expect(got).toMatchObject({ ...want, totalMemoryMb: 1000, availableMemoryMb: 500 });
    expect(got.fits).toBe(want.peakRssMb <= 500);
    expect(estimateForRun(p, () => ({ totalMb: 1, availableMb: want.peakRssMb - 1 })).fits).toBe(false);
    // Longer than the model's context: the trainer's length (64 positions) is what is estimated.
    const long = estimateForRun({ ...p, maxLength: 4096 });
    expect(long.activationsMb).toBe(estimateRun({ spec, method: 'lora', baseDtype: 'int8', batchSize: 4, maxLength: 64, loraR: 4, loraTargets: ['c_attn'], gradientCheckpointing: true }).activationsMb);
    expect(long.totalMemoryMb).toBeGreaterThan(0);
    // A classifier: no vocabulary logits, so far less memory for activations.
    const cls = estimateForRun({ ...p, task: 'seq-cls' });
    expect(cls.activationsMb).toBeLessThan(got.activationsMb / 2);
    expect(cls.activationsMb).toBe(estimateRun({ spec: { ...spec, lmHead: null, lmHeadShapes: [] }, method: 'lora', baseDtype: 'int8', batchSize: 4, maxLength: 48, loraR: 4, loraTargets: ['c_attn'], gradientCheckpointing: true }).activationsMb);
    expect(long.availableMemoryMb).toBeLessThanOrEqual(long.totalMemoryMb);
  });

  it('the engine process answers runs.estimate (validated params) and app.info lists its devices', async () => {
    const h = createEngineHandlers({ emit: () => {} });
    const p = { model, method: 'full' as const, batchSize: 2, maxLength: 32 };
    const got = (await h.handle('runs.estimate', p)) as Record<string, number | boolean>;
    // Timed against this machine's own calibration step (measured once per process).
    const want = estimateRun({ spec: loadModelSpec(model), method: 'full', batchSize: 2, maxLength: 32, machine: await calibratedMachine() });
    expect(got).toMatchObject(want);
    expect(got.fits).toBe(want.peakRssMb <= (got.availableMemoryMb as number));
    await expect(h.handle('runs.estimate', { ...p, batchSize: 0 })).rejects.toThrow(/batchSize/);
    const info = (await h.handle('app.info', {})) as { devices: string[] };
    expect(info.devices[0]).toBe('cpu');
    expect(info.devices.every((d) => ['cpu', 'webgpu', 'cuda'].includes(d))).toBe(true);
    if (!hasWebGpuDriver()) expect(info.devices).not.toContain('webgpu');
    // WebGPU on Linux needs a Vulkan loader; macOS and Windows bring their own APIs.
    expect(hasWebGpuDriver('linux', () => false)).toBe(false);
    expect(hasWebGpuDriver('linux', (f) => f.endsWith('libvulkan.so.1'))).toBe(true);
    expect(hasWebGpuDriver('darwin', () => false)).toBe(true);
  });
});

// The Datasets view's instruction column mapping (DatasetSpec.chatColumns, `train --columns`'s
// semantics): a CSV of question/answer rows previews and trains as prompt/completion pairs, one
// example per row with only the answers in the loss; a mapped column the file lacks is one line.
describe('a RunConfig with an instruction column mapping (models/demo-llama)', () => {
  const demo = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-llama');
  const root = tempDir('run-columns-');
  const data = path.join(root, 'qa.csv');
  const qa = [['What goes in guacamole?', 'Avocado and lime.'], ['How long do eggs boil?', 'Eight minutes.'], ['What makes bread rise?', 'Yeast.'], ['Can soup be frozen?', 'Yes, for months.'], ['Is rice gluten free?', 'Yes.']];
  writeFileSync(data, `question,answer\n${qa.map(([q, a]) => `"${q} ",${a}`).join('\n')}\n`);
  const chatColumns = { prompt: 'question', completion: 'answer' };
  const config = (over: Partial<RunConfig> = {}): RunConfig =>
    base(demo, { lora: { ...DEFAULT_TRAINING.lora, r: 2, targets: [] }, dataset: { path: data, chatColumns }, chat: { format: 'prompt-completion' }, ...over });

  it('the preview reads the mapped columns as prompt/completion, the answer trained', async () => {
    for (const chatFormat of ['prompt-completion', 'auto'] as const) {
      const p = await previewDataset({ dataset: { path: data, chatColumns }, chatFormat, model: demo, maxLength: 32 });
      expect(p.instruct).toMatchObject({ format: 'prompt-completion', fields: ['question', 'answer'], trainOn: 'completions' });
      expect(p.examples).toBe(qa.length);
      expect(p.columns).toEqual(['question', 'answer']);
      const trained = p.instruct!.examples[0]!.segments.filter((g) => g.trained).map((g) => g.text).join('');
      expect(trained).toContain('Avocado and lime.');
      expect(trained).not.toContain('guacamole');
    }
    // Unmapped, the same file is plain CSV text (no instruction fields).
    expect((await previewDataset({ dataset: { path: data } })).instruct).toBeUndefined();
  });

  it('trains one example per row with completion-only loss', async () => {
    const c = config();
    expect(toTrainOptions(c, data)).toMatchObject({ format: 'prompt-completion', chatColumns, data });
    const r = await train(c);
    expect(r.error).toBeNull();
    expect(r.status).toBe('completed');
    const start = r.events.find((e) => e.type === 'start');
    const ins = start && start.type === 'start' ? start.instruct : undefined;
    expect(ins).toMatchObject({ format: 'prompt-completion', trainOn: 'completions', examples: qa.length, skipped: 0 });
    expect(ins!.trainedShare).toBeGreaterThan(0);
    expect(ins!.trainedShare).toBeLessThan(1);
    expect(r.events.filter((e) => e.type === 'step')).toHaveLength(2);
  }, 120_000);

  it('a mapped column the file lacks: one line naming the file and the column, in the preview and the run', async () => {
    const wrong = { dataset: { path: data, chatColumns: { prompt: 'query', completion: 'answer' } } };
    const line = `${data}: missing field "query", mapped to prompt (the prompt-completion format needs it; the fields are "question", "answer")`;
    await expect(previewDataset({ ...wrong, chatFormat: 'prompt-completion', model: demo })).rejects.toThrow(line);
    await expect(previewDataset({ ...wrong, chatFormat: 'prompt-completion' })).rejects.toThrow(line);
    // auto: the mapping does not make instruction data; it is not read as plain text instead.
    await expect(previewDataset(wrong)).rejects.toThrow(`${data}: the mapped columns prompt=query, completion=answer do not make instruction data: the fields are "question", "answer"`);
    const r = await train(config(wrong));
    expect(r.status).toBe('failed');
    expect(r.error).toBe(line);
  }, 60_000);
});
