// runs.export and samples during training, through the bridge and the engine (in-process), on a
// real tiny run of the tiny GPT-2 of ../shared/data: the run writes samples.jsonl and TensorBoard
// text summaries; the merged folder loads and generates what base + adapter generate; the adapter
// export is a byte copy; GGUF files start with the GGUF magic; an existing output is refused
// unless replaced; a run paused and then stopped keeps its adapter and exports it.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { RunConfig, StudioEvent } from '../../engine/api.ts';
import { sampleText } from '../../engine/store/run-logs.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { EngineBridge } from '../../host/bridge.ts';
import { inProcessEngine } from '../../host/engine-process.ts';
import { tinyRunConfig } from '../e2e/run-config.ts';
import { readEventFile } from '../store/tb-reader.ts';

const SHARED = join(process.cwd(), '..', 'shared', 'data');
const haveShared = existsSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2')) && existsSync(join(SHARED, 'gpt2-tokenizer'));
if (!haveShared) console.warn('run-export tests skipped: ../shared/data (tiny-gpt2/fake_gpt2 + gpt2-tokenizer) is missing');

let dir: string;
let model: string;
let text: string;
let project: string;
let bridge: EngineBridge;
const events: StudioEvent[] = [];
let runId: string;
let runFolder: string;
const PROMPT = 'The cat sat';

const config = (over: Partial<RunConfig> = {}): RunConfig =>
  tinyRunConfig(model, text, { lora: { r: 4, alpha: 8, dropout: 0, bias: 'none', targets: [], useRslora: false, init: 'kaiming' }, lr: 5e-2, maxSteps: 4, ...over });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'run-export-'));
  if (!haveShared) return;
  model = join(dir, 'tiny-gpt2');
  cpSync(join(SHARED, 'tiny-gpt2', 'fake_gpt2'), model, { recursive: true });
  for (const f of readdirSync(join(SHARED, 'gpt2-tokenizer'))) cpSync(join(SHARED, 'gpt2-tokenizer', f), join(model, f));
  text = join(dir, 'story.txt');
  writeFileSync(text, Array.from({ length: 80 }, (_, i) => `Line ${i}: the cat sat on the mat and looked at the ${i % 7} birds.`).join('\n'));
  project = join(dir, 'project');
  mkdirSync(project);
  bridge = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'test', project, onEvent: (e) => events.push(e), log: () => {} });
  bridge.start();
  ({ runId } = await bridge.invoke('runs.start', { config: config({ sample: { prompt: PROMPT, every: 2, maxNewTokens: 6 }, name: 'export me' }) }));
  await vi.waitFor(() => expect(bridge.runs.get(runId).run.status).toBe('completed'), { timeout: 90_000 });
  runFolder = join(project, 'runs', runId);
}, 120_000);
afterAll(async () => {
  await bridge?.close();
  rmSync(dir, { recursive: true, force: true });
});

const gen = (m: string, adapter?: string) =>
  bridge.invoke('generate.text', { model: m, ...(adapter ? { adapter } : {}), prompt: PROMPT, maxNewTokens: 16, temperature: 0, topK: 0, topP: 1 });

describe.skipIf(!haveShared)('samples during training', () => {
  test('samples.jsonl, a TensorBoard text summary per sample, the sample events and runs.get agree', async () => {
    const lines = readFileSync(join(runFolder, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.step, l.prompt])).toEqual([[2, PROMPT], [4, PROMPT]]);
    for (const l of lines) expect(typeof l.text === 'string' && typeof l.time === 'string').toBe(true);
    const sent = events.filter((e) => e.type === 'run.event' && e.runId === runId && e.event.type === 'sample').map((e) => (e as { event: { step: number; text: string } }).event);
    expect(sent.map((e) => [e.step, e.text])).toEqual(lines.map((l) => [l.step, l.text]));

    const files = readdirSync(runFolder).filter((f) => f.startsWith('events.out.tfevents.'));
    expect(files).toHaveLength(1);
    const texts = readEventFile(join(runFolder, files[0]!)).events.flatMap((e) => (e.texts ?? []).map((t) => ({ step: e.step, ...t })));
    expect(texts.map((t) => [t.step, t.tag, t.plugin, t.dtype])).toEqual([[2, 'train/sample', 'text', 7], [4, 'train/sample', 'text', 7]]);
    for (const [i, t] of texts.entries()) {
      expect(t.text).toContain(`> ${PROMPT}`);
      expect(t.text).toBe(sampleText(lines[i]).text);
    }

    const live = await bridge.invoke('runs.get', { runId });
    expect(live.samples).toEqual(lines.map(({ step, prompt, text: t }) => ({ step, prompt, text: t })));
  });
});

describe.skipIf(!haveShared)('runs.export on a finished LoRA run', () => {
  test('merged: a Hugging Face folder in <run>/export/merged that generates what base + adapter generate', async () => {
    const r = await bridge.invoke('runs.export', { runId, kind: 'merged' });
    const out = join(runFolder, 'export', 'merged');
    expect(r.out).toBe(out);
    expect(r.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    expect(r.bytes).toBe(r.files.reduce((a, f) => a + statSync(join(out, f)).size, 0));
    expect(readdirSync(join(runFolder, 'export')).filter((f) => f.startsWith('.'))).toEqual([]); // no temp folder left

    // The merge changed the attention weights, and the merged model generates what base + adapter do.
    const merged = openSafetensors(join(out, 'model.safetensors'));
    const base = openSafetensors(join(model, 'model.safetensors'));
    try {
      const name = [...merged.tensors.keys()].find((k) => k.endsWith('attn.c_attn.weight'))!;
      const a = merged.readFloat32(name);
      const b = base.readFloat32([...base.tensors.keys()].find((k) => k.endsWith('attn.c_attn.weight'))!);
      expect(Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))).toBeGreaterThan(1e-4);
    } finally {
      merged.close();
      base.close();
    }
    const withAdapter = await gen(model, join(runFolder, 'adapter'));
    const fromMerged = await gen(out);
    expect(fromMerged.text).toBe(withAdapter.text);
    expect(fromMerged.tokens).toBe(16);
  });

  test('adapter: a byte copy of the run\'s PEFT adapter; an existing export is refused unless replaced', async () => {
    const r = await bridge.invoke('runs.export', { runId, kind: 'adapter' });
    expect(r.out).toBe(join(runFolder, 'export', 'adapter'));
    expect(r.files).toEqual(readdirSync(join(runFolder, 'adapter')).sort());
    expect(r.files).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']));
    for (const f of r.files) expect(readFileSync(join(r.out, f)).equals(readFileSync(join(runFolder, 'adapter', f)))).toBe(true);
    await expect(bridge.invoke('runs.export', { runId, kind: 'adapter' })).rejects.toThrow(`${r.out} exists already`);
    const again = await bridge.invoke('runs.export', { runId, kind: 'adapter', overwrite: true });
    expect(again.bytes).toBe(r.bytes);
  });

  test('gguf: merged (f16 by default, q8_0 when asked) and the adapter alone, each with the GGUF magic and its Modelfile', async () => {
    const f16 = await bridge.invoke('runs.export', { runId, kind: 'gguf' });
    expect(f16.out).toBe(join(runFolder, 'export', 'model-f16.gguf'));
    const custom = join(dir, 'elsewhere', 'tiny-q8.gguf');
    const q8 = await bridge.invoke('runs.export', { runId, kind: 'gguf', ggufType: 'q8_0', out: custom });
    const lora = await bridge.invoke('runs.export', { runId, kind: 'gguf', loraOnly: true, ggufType: 'f32' });
    expect(q8.out).toBe(custom);
    expect(lora.out).toBe(join(runFolder, 'export', 'adapter-f32.gguf'));
    for (const r of [f16, q8, lora]) {
      const bytes = readFileSync(r.out);
      expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
      expect(bytes.readUInt32LE(4)).toBe(3); // GGUF version 3
      expect(r.bytes).toBe(bytes.length);
      expect(r.files[0]).toBe(r.out);
      expect(existsSync(r.files[1]!)).toBe(true); // the Ollama Modelfile
    }
    expect(lora.bytes).toBeLessThan(f16.bytes); // the adapter alone is far smaller than the model
    await expect(bridge.invoke('runs.export', { runId, kind: 'gguf' })).rejects.toThrow(/exists already/);
  });

  test('errors name the run or the path: unknown run, a path inside the run\'s adapter', async () => {
    await expect(bridge.invoke('runs.export', { runId: 'no-such-run', kind: 'merged' })).rejects.toThrow(/no-such-run/);
    await expect(bridge.invoke('runs.export', { runId, kind: 'merged', out: join(runFolder, 'adapter', 'x') })).rejects.toThrow(/would overwrite the run's own adapter folder/);
  });
});

describe.skipIf(!haveShared)('a run paused, then stopped', () => {
  test('keeps its adapter: the paused status carries it, runs.get and runs.list show it, and it exports', async () => {
    const { runId: id } = await bridge.invoke('runs.start', { config: config({ maxSteps: 400, lr: 1e-3, logEvery: 1 }) });
    await vi.waitFor(() => expect(bridge.runs.get(id).run.step).toBeGreaterThanOrEqual(2), { timeout: 60_000 });
    expect(await bridge.invoke('runs.pause', { runId: id })).toEqual({ pausing: true });
    await vi.waitFor(() => expect(bridge.runs.get(id).run.status).toBe('paused'), { timeout: 60_000 });
    const adapter = join(project, 'runs', id, 'adapter');
    const paused = events.find((e) => e.type === 'run.status' && e.runId === id && e.status === 'paused');
    expect(paused).toMatchObject({ out: adapter });
    expect(existsSync(join(adapter, 'adapter_model.safetensors'))).toBe(true);
    expect(await bridge.invoke('runs.stop', { runId: id })).toEqual({ stopping: true });
    const d = await bridge.invoke('runs.get', { runId: id });
    expect(d.run).toMatchObject({ status: 'cancelled', out: adapter });
    expect((await bridge.invoke('runs.list', {})).runs.find((r) => r.runId === id)).toMatchObject({ out: adapter });
    const r = await bridge.invoke('runs.export', { runId: id, kind: 'adapter' });
    expect(readFileSync(join(r.out, 'adapter_model.safetensors')).equals(readFileSync(join(adapter, 'adapter_model.safetensors')))).toBe(true);
  });
});

describe.skipIf(!haveShared)('other runs', () => {
  test('a full fine-tuning run exports its model folder and GGUF; it has no adapter', async () => {
    const { runId: id } = await bridge.invoke('runs.start', { config: config({ method: 'full', maxSteps: 2, lr: 1e-3 }) });
    await vi.waitFor(() => expect(bridge.runs.get(id).run.status).toBe('completed'), { timeout: 60_000 });
    const modelDir = join(project, 'runs', id, 'model');
    const r = await bridge.invoke('runs.export', { runId: id, kind: 'merged' });
    expect(r.out).toBe(join(project, 'runs', id, 'export', 'merged'));
    expect(r.files).toEqual(readdirSync(modelDir).sort());
    for (const f of r.files) expect(readFileSync(join(r.out, f)).equals(readFileSync(join(modelDir, f)))).toBe(true);
    const g = await bridge.invoke('runs.export', { runId: id, kind: 'gguf', ggufType: 'f32' });
    expect(readFileSync(g.out).subarray(0, 4).toString('latin1')).toBe('GGUF');
    await expect(bridge.invoke('runs.export', { runId: id, kind: 'adapter' })).rejects.toThrow(/full fine-tuning run: it has no adapter/);
  });

  test('a run made with no project open exports next to its output folder, not into the temporary project', async () => {
    const b = new EngineBridge({ spawn: () => inProcessEngine(), shell: 'test', project: null, onEvent: () => {}, log: () => {} });
    b.start();
    try {
      const out = join(dir, 'session-out');
      const { runId: id } = await b.invoke('runs.start', { config: config({ maxSteps: 2, out }) });
      await vi.waitFor(() => expect(b.runs.get(id).run.status).toBe('completed'), { timeout: 60_000 });
      const r = await b.invoke('runs.export', { runId: id, kind: 'adapter' });
      expect(r.out).toBe(`${out}-export/adapter`);
      for (const f of r.files) expect(readFileSync(join(r.out, f)).equals(readFileSync(join(out, f)))).toBe(true);
    } finally {
      await b.close();
    }
  });
});
