// Training inside a project: the run folder, checkpoints, the PEFT adapter, TensorBoard; resume
// after a cancel and after SIGKILL gives the same weights as a straight run (to 1e-6).
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { readAdapterInto } from '../../engine/lora/apply.ts';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { openProject } from '../../engine/store/project.ts';
import { resumeRun, trainInProject } from '../../engine/store/run-training.ts';
import { listCheckpoints, listRuns, readCheckpoint, readMetrics, readRun } from '../../engine/store/runs.ts';
import type { TrainEvent, TrainOptions } from '../../engine/train/types.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';
import { readEventFile, scalarsByTag } from './tb-reader.ts';

const repo = path.resolve(import.meta.dirname, '../..');
const root = tempDir('ls-rt-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const model = makeTinyGPT2(path.join(root, 'model'), { tokenizer: false });
const project = path.join(root, 'project');

// Pre-tokenized documents (no tokenizer needed): 10 blocks of 16 tokens, 5 batches per epoch, so
// 8 steps cross an epoch boundary (a new shuffle) — resume must get the data order right.
const documents = Array.from({ length: 4 }, (_, d) => Array.from({ length: 40 }, (_, i) => 100 + ((i * 7 + d * 13) % 50)));
const OPTS = {
  model, data: { documents }, method: 'lora' as const, maxSteps: 8, batchSize: 2, maxLength: 16, lr: 2e-2, warmupSteps: 2,
  schedule: 'cosine' as const, logEvery: 1,
  lora: { r: 4, alpha: 8, dropout: 0.1, bias: 'all' as const, targets: ['c_attn'], useRslora: false, init: 'kaiming' as const },
} satisfies Partial<TrainOptions>;

const runDirOf = (id: string) => path.join(project, 'runs', id);
const adapterFile = (id: string) => path.join(runDirOf(id), 'adapter', 'adapter_model.safetensors');

function maxAbsDiff(fileA: string, fileB: string): number {
  const a = openSafetensors(fileA);
  const b = openSafetensors(fileB);
  try {
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    let worst = 0;
    for (const name of a.tensors.keys()) {
      const x = a.readFloat32(name);
      const y = b.readFloat32(name);
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    }
    return worst;
  } finally {
    a.close();
    b.close();
  }
}

function tbScalars(dir: string): Map<string, [number, number][]> {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  expect(files).toHaveLength(1);
  const { events, truncatedTail } = readEventFile(path.join(dir, files[0]!));
  expect(truncatedTail).toBe(false);
  expect(events[0]!.fileVersion).toBe('brain.Event:2');
  return scalarsByTag(events);
}

describe('trainInProject', () => {
  let straightLosses: number[] = [];

  it('writes a run folder: run.json, metrics.jsonl, TensorBoard, checkpoints (last K), a PEFT adapter', async () => {
    const events: TrainEvent[] = [];
    const seen: { id: string; dir: string }[] = [];
    const { runId, runDir, result } = await trainInProject(project, OPTS, {
      runId: 'straight', name: 'reference', checkpointEvery: 2, keepCheckpoints: 2, onEvent: (e) => events.push(e), onRun: (r) => seen.push(r),
    });
    expect(runId).toBe('straight');
    expect(seen).toEqual([{ id: 'straight', dir: runDir }]);
    expect(result).toMatchObject({ steps: 8, stopped: 'completed', out: path.join(runDir, 'adapter') });
    expect(events.map((e) => e.type)).toEqual(['start', ...Array(8).fill('step'), 'done']);

    const run = readRun(project, 'straight');
    expect(run).toMatchObject({
      status: 'completed', effectiveStatus: 'completed', name: 'reference', step: 8, totalSteps: 8, lastCheckpoint: 6, output: 'adapter',
      process: null, error: null, checkpointEvery: 2, keepCheckpoints: 2,
    });
    expect(run.config).toMatchObject({ model, method: 'lora', lr: 2e-2, maxSteps: 8, seed: 42, lora: OPTS.lora, data: { kind: 'documents', count: 4, tokens: 160 } });
    expect(run.config).not.toHaveProperty('out');
    expect(run.segments).toHaveLength(1);
    expect(run.result!.finalLoss).toBe(result.finalLoss);

    const { steps } = readMetrics(runDir);
    expect(steps.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    straightLosses = steps.map((p) => p.loss);
    const stepEvents = events.filter((e): e is Extract<TrainEvent, { type: 'step' }> => e.type === 'step');
    expect(straightLosses).toEqual(stepEvents.map((e) => e.loss));
    expect(steps[7]!.lr).toBe(stepEvents[7]!.lr);

    const tb = tbScalars(runDir);
    expect([...tb.keys()].sort()).toEqual(['train/grad_norm', 'train/learning_rate', 'train/loss', 'train/tokens_per_s']);
    expect(tb.get('train/loss')!.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    tb.get('train/loss')!.forEach(([, v], i) => expect(v).toBe(Math.fround(straightLosses[i]!)));

    expect(listCheckpoints(runDir).map((c) => c.step)).toEqual([4, 6]);
    const ck = readCheckpoint(path.join(runDir, 'checkpoints', 'step-6'));
    expect(ck.meta).toMatchObject({ step: 6, loss: straightLosses[5], data: { microBatches: 6, epoch: 1, batchInEpoch: 1, batchesPerEpoch: 5, examples: 10 }, rng: { seed: 42 } });
    // LoRA A/B of both layers, plus the biases (bias = all).
    expect(ck.checkpoint.tensors.map((t) => t.name)).toContain('transformer.h.1.attn.c_attn.lora_B.weight');
    expect(ck.checkpoint.tensors.map((t) => t.name)).toContain('transformer.ln_f.bias');

    // adapter/: PEFT layout, loadable onto the base model.
    const adapterDir = path.join(runDir, 'adapter');
    expect(fs.readdirSync(adapterDir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
    expect(Object.keys(cfg)).toEqual(Object.keys(cfg).sort());
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, bias: 'all', target_modules: ['c_attn'] });
    const st = openSafetensors(adapterFile('straight'));
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.keys()]).toContain('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight');
    // It trained: B moved away from its zero init (so comparing adapters below means something).
    expect(Math.max(...st.readFloat32('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight').map(Math.abs))).toBeGreaterThan(1e-3);
    st.close();
    expect(readAdapterInto(loadGPT2(model), adapterDir).plan.layers).toHaveLength(2);

    // project.json records the model; nothing is left behind in the run folder.
    expect(openProject(project).models.map((m) => m.path)).toEqual([model]);
    expect(fs.readdirSync(runDir).filter((f) => f.startsWith('.') || f === 'run.lock')).toEqual([]);
  });

  it('cancel, then resume: the curve continues and the adapter equals the straight run\'s', async () => {
    const ac = new AbortController();
    const first = await trainInProject(project, OPTS, {
      runId: 'cancelled', checkpointEvery: 3, signal: ac.signal, onCheckpoint: (c) => { if (c.step === 3) ac.abort(); },
    });
    expect(first.result).toMatchObject({ stopped: 'cancelled', steps: 3 });
    expect(readRun(project, 'cancelled')).toMatchObject({ status: 'cancelled', effectiveStatus: 'cancelled', step: 3, lastCheckpoint: 3 });

    const events: TrainEvent[] = [];
    const second = await resumeRun(project, 'cancelled', { onEvent: (e) => events.push(e) });
    expect(second.result).toMatchObject({ stopped: 'completed', steps: 8 });
    expect(events.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step)).toEqual([4, 5, 6, 7, 8]);
    expect(maxAbsDiff(adapterFile('straight'), adapterFile('cancelled'))).toBeLessThan(1e-6);

    const run = readRun(project, 'cancelled');
    expect(run).toMatchObject({ status: 'completed', step: 8, output: 'adapter' });
    expect(run.segments.map((s) => s.fromStep)).toEqual([0, 3]);
    const { steps } = readMetrics(run.dir);
    expect(steps.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    steps.forEach((p, i) => expect(Math.abs(p.loss - straightLosses[i]!)).toBeLessThan(1e-5));
    // Elapsed time continues across segments.
    expect(steps[3]!.elapsedS).toBeGreaterThan(steps[2]!.elapsedS);
    expect(tbScalars(run.dir).get('train/loss')!.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('SIGKILL after the first checkpoint, then resume: same final weights as the straight run (1e-6)', async () => {
    const optsFile = path.join(root, 'kill-opts.json');
    fs.writeFileSync(optsFile, JSON.stringify(OPTS));
    const script = path.join(root, 'kill-child.mts');
    fs.writeFileSync(script, `
      import fs from 'node:fs';
      import { trainInProject } from ${JSON.stringify(path.join(repo, 'engine/store/run-training.ts'))};
      const opts = JSON.parse(fs.readFileSync(${JSON.stringify(optsFile)}, 'utf8'));
      const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      // Steps after the checkpoint go slowly, so the parent's kill lands mid-run.
      await trainInProject(${JSON.stringify(project)}, opts, { runId: 'killed', checkpointEvery: 4, onEvent: (e) => { if (e.type === 'step' && e.step > 4) pause(500); } });
      process.stdout.write('finished\\n');
    `);
    const ckDir = path.join(runDirOf('killed'), 'checkpoints', 'step-4');
    const { signal, stdout, stderr } = await new Promise<{ signal: string | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const poll = setInterval(() => {
        if (fs.existsSync(ckDir)) {
          clearInterval(poll);
          child.kill('SIGKILL');
        }
      }, 20);
      child.on('error', reject);
      child.on('exit', (_code, sig) => {
        clearInterval(poll);
        resolve({ signal: sig, stdout: out, stderr: err });
      });
    });
    expect(stdout, stderr).not.toContain('finished');
    expect(signal, stderr).toBe('SIGKILL');

    const before = readRun(project, 'killed');
    expect(before.status).toBe('running'); // as the dead process left it
    expect(before.effectiveStatus).toBe('interrupted');
    expect(listRuns(project).runs.find((r) => r.id === 'killed')!.effectiveStatus).toBe('interrupted');
    expect(before.output).toBeNull();
    expect(fs.existsSync(path.join(before.dir, 'run.lock'))).toBe(true); // left by the dead process

    const { result } = await resumeRun(project, 'killed');
    expect(result).toMatchObject({ steps: 8, stopped: 'completed' });
    expect(maxAbsDiff(adapterFile('straight'), adapterFile('killed'))).toBeLessThan(1e-6);
    const after = readRun(project, 'killed');
    expect(after).toMatchObject({ status: 'completed', effectiveStatus: 'completed' });
    expect(after.segments.map((s) => s.fromStep)).toEqual([0, 4]);
    expect(readMetrics(after.dir).steps.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(tbScalars(after.dir).get('train/loss')!.map(([s]) => s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(fs.readdirSync(after.dir).filter((f) => f.startsWith('.') || f === 'run.lock')).toEqual([]);
  });

  it('refuses to resume a completed run', async () => {
    await expect(resumeRun(project, 'straight')).rejects.toThrow(/run straight already completed \(8 steps\)/);
    await expect(resumeRun(project, 'no-such-run')).rejects.toThrow(/no run "no-such-run"/);
  });

  it('full fine-tuning writes model/ (HF folder) and a copy to out; checkpoints hold every weight', async () => {
    const out = path.join(root, 'exported');
    const { runDir, result } = await trainInProject(project, { ...OPTS, method: 'full', maxSteps: 2, lr: 1e-3, out }, { runId: 'full', checkpointEvery: 1 });
    expect(result.out).toBe(path.join(runDir, 'model'));
    expect(fs.readdirSync(path.join(runDir, 'model')).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(maxAbsDiff(path.join(runDir, 'model', 'model.safetensors'), path.join(out, 'model.safetensors'))).toBe(0);
    expect(readRun(project, 'full')).toMatchObject({ output: 'model', exportTo: out, status: 'completed' });
    const ck = readCheckpoint(listCheckpoints(runDir)[0]!.dir);
    expect(ck.checkpoint.tensors.map((t) => t.name)).toContain('transformer.wte.weight');
  });

  it('a failure marks the run failed with the error', async () => {
    await expect(trainInProject(project, { ...OPTS, data: { documents: [[7]] } }, { runId: 'fails' })).rejects.toThrow(/fewer than 2 tokens/);
    const run = readRun(project, 'fails');
    expect(run).toMatchObject({ status: 'failed', effectiveStatus: 'failed', output: null });
    expect(run.error).toMatch(/fewer than 2 tokens/);
    expect(fs.readdirSync(run.dir).filter((f) => f.startsWith('.') || f === 'run.lock')).toEqual([]);
    // Bad paths are refused before a run folder is made.
    await expect(trainInProject(project, { ...OPTS, model: path.join(root, 'nope') })).rejects.toThrow(/model folder not found/);
    await expect(trainInProject(project, { ...OPTS, data: path.join(root, 'nope.txt') })).rejects.toThrow(/data file not found/);
  });

  it.skipIf(!hasSharedData)('text data: the file is hashed, and a changed file refuses resume', async () => {
    const textModel = makeTinyGPT2(path.join(root, 'text-model'));
    const data = path.join(root, 'recipes.txt');
    fs.writeFileSync(data, SAMPLE_TEXT);
    const ac = new AbortController();
    await trainInProject(project, { ...OPTS, model: textModel, data, maxSteps: 3, maxLength: 32 }, {
      runId: 'text', checkpointEvery: 1, signal: ac.signal, onCheckpoint: () => ac.abort(),
    });
    const run = readRun(project, 'text');
    expect(run.config.data).toMatchObject({ kind: 'file', path: data, bytes: Buffer.byteLength(SAMPLE_TEXT) });
    expect(run.status).toBe('cancelled');
    expect(openProject(project).datasets.map((d) => [d.path, d.format])).toEqual([[data, 'txt']]);
    fs.appendFileSync(data, '\nOne more line.');
    await expect(resumeRun(project, 'text')).rejects.toThrow(/recipes\.txt changed since the run started/);
    expect(readRun(project, 'text').status).toBe('cancelled'); // untouched
    fs.writeFileSync(data, SAMPLE_TEXT);
    const { result } = await resumeRun(project, 'text');
    expect(result).toMatchObject({ steps: 3, stopped: 'completed' });
  });
});
