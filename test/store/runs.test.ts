// The run store without training: run.json and status, interrupted detection, logs, checkpoints
// (atomic folders, keep-last-K), and SIGKILL during writes never leaving a torn file.
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createProject } from '../../engine/store/project.ts';
import {
  RunWriter, cleanupLeftovers, deleteRun, effectiveStatus, latestCheckpoint, listCheckpoints, listRuns, readCheckpoint,
  readDocuments, readJsonl, readMetrics, readRun, readRunRecord, recordEval, writerAlive, type RunRecord,
} from '../../engine/store/runs.ts';
import { DEFAULT_TRAIN, type Checkpoint } from '../../engine/train/types.ts';
import { readEventFile, scalarsByTag } from './tb-reader.ts';

const root = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-runs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshProject = () => {
  const dir = path.join(tmp, `p${n++}`);
  createProject(dir);
  return dir;
};

const CONFIG = { ...DEFAULT_TRAIN, model: '/models/gpt2' };
const META = {
  elapsedS: 1,
  optimizer: { type: 'AdamW' as const, step: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
  data: { microBatches: 0, epoch: 0, batchInEpoch: 0, batchesPerEpoch: 4, examples: 8 },
  rng: { seed: 42, shuffle: 's', dropout: 'd', loraInit: 'i' },
};
const ck = (step: number, size = 6): Checkpoint => ({
  step, loss: 1 / step,
  tensors: [
    { name: 'a.lora_A.weight', shape: [2, size / 2], data: new Float32Array(size).fill(step), m: new Float32Array(size).fill(step + 0.5), v: new Float32Array(size).fill(step + 0.25) },
    { name: 'a.lora_B.weight', shape: [size, 1], data: new Float32Array(size).fill(-step), m: new Float32Array(size), v: new Float32Array(size) },
  ],
});

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('run folders', () => {
  it('create → log → checkpoint → finish; list and show read it back', () => {
    const project = freshProject();
    const w = RunWriter.create(project, { id: 'r1', name: 'first', config: CONFIG, documents: [[1, 2, 3], [], [4, 5]] });
    expect(fs.existsSync(path.join(w.dir, 'run.lock'))).toBe(true);
    w.start();
    w.logStep({ step: 1, epoch: 0.25, loss: 3, lr: 1e-3, gradNorm: 2, tokensPerS: 100, elapsedS: 1, etaS: 3 });
    w.logStep({ step: 2, epoch: 0.5, loss: NaN, lr: 1e-3, gradNorm: 1, tokensPerS: 110, elapsedS: 2, etaS: 2 });
    w.logEval({ step: 2, evalLoss: 2.5, evalPerplexity: Math.exp(2.5), tokens: 64 });
    w.logSample({ step: 2, prompt: 'Whisk', text: 'Whisk two eggs' });
    w.checkpoint(ck(2), META, 3);
    w.finish('completed');
    w.release();
    expect(fs.existsSync(path.join(w.dir, 'run.lock'))).toBe(false);

    const info = readRun(project, 'r1');
    expect(info).toMatchObject({ id: 'r1', name: 'first', status: 'completed', effectiveStatus: 'completed', step: 2, lastLoss: null, lastCheckpoint: 2, process: null });
    expect(info.config.data).toMatchObject({ kind: 'documents', file: 'documents.safetensors', count: 3, tokens: 5 });
    expect(readDocuments(info.dir, info.config.data as never)).toEqual([[1, 2, 3], [], [4, 5]]);
    const { steps, evals } = readMetrics(info.dir);
    expect(steps.map((p) => p.step)).toEqual([1, 2]);
    expect(Number.isNaN(steps[1]!.loss)).toBe(true);
    expect(evals).toMatchObject([{ step: 2, evalLoss: 2.5, tokens: 64 }]);
    expect(readJsonl(path.join(info.dir, 'samples.jsonl'))).toMatchObject([{ step: 2, prompt: 'Whisk', text: 'Whisk two eggs' }]);
    const tb = fs.readdirSync(info.dir).filter((f) => f.startsWith('events.out.tfevents.'));
    expect(tb).toHaveLength(1);
    const scalars = scalarsByTag(readEventFile(path.join(info.dir, tb[0]!)).events);
    expect(scalars.get('train/loss')).toEqual([[1, 3]]); // NaN is not written
    expect(scalars.get('eval/loss')).toEqual([[2, 2.5]]);
    expect(scalars.get('train/grad_norm')).toEqual([[1, 2], [2, 1]]);
    expect(listRuns(project).runs.map((r) => r.id)).toEqual(['r1']);
  });

  it('a run id that exists is refused; ids are checked', () => {
    const project = freshProject();
    RunWriter.create(project, { id: 'same', config: CONFIG, documents: [[1]] }).release();
    expect(() => RunWriter.create(project, { id: 'same', config: CONFIG, documents: [[1]] })).toThrow(/a run "same" already exists/);
    expect(() => RunWriter.create(project, { id: '../escape', config: CONFIG, documents: [[1]] })).toThrow(/invalid run id/);
    const a = RunWriter.create(project, { config: CONFIG, documents: [[1]] });
    expect(a.id).toMatch(/^run-\d{8}-\d{6}-[0-9a-f]{4}$/);
    a.release();
  });

  it('a run whose process died shows as interrupted (pid on this host, heartbeat elsewhere)', () => {
    const project = freshProject();
    const w = RunWriter.create(project, { id: 'live', config: CONFIG, documents: [[1]] });
    expect(readRun(project, 'live').effectiveStatus).toBe('running');
    expect(() => RunWriter.reopen(project, 'live')).toThrow(/run live is in use by process/);
    w.release();
    // Rewrite the writer's pid to one that has exited.
    const file = path.join(w.dir, 'run.json');
    const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
    rec.process.pid = deadPid();
    fs.writeFileSync(file, JSON.stringify(rec));
    expect(readRun(project, 'live').effectiveStatus).toBe('interrupted');
    expect(listRuns(project).runs[0]!.effectiveStatus).toBe('interrupted');

    const now = Date.parse('2030-01-01T00:00:00Z');
    const other = (ageMs: number) => ({ pid: 1, host: 'another-machine', startedAt: '', heartbeatAt: new Date(now - ageMs).toISOString() });
    expect(writerAlive(other(30_000), now)).toBe(true);
    expect(writerAlive(other(11 * 60_000), now)).toBe(false);
    expect(writerAlive(null, now)).toBe(false);
    expect(effectiveStatus({ status: 'running', process: other(11 * 60_000) } as RunRecord, now)).toBe('interrupted');
    expect(effectiveStatus({ status: 'cancelled', process: null } as RunRecord, now)).toBe('cancelled');
  });

  it('a held lock refuses a second writer; a dead holder\'s lock is taken over', () => {
    const project = freshProject();
    const w = RunWriter.create(project, { id: 'locked', config: CONFIG, documents: [[1]] });
    w.finish('cancelled');
    expect(() => RunWriter.reopen(project, 'locked')).toThrow(/run locked is in use by process \d+/);
    w.release();
    fs.writeFileSync(path.join(w.dir, 'run.lock'), JSON.stringify({ pid: deadPid(), host: os.hostname() }));
    const again = RunWriter.reopen(project, 'locked');
    again.release();
  });

  it('checkpoints: complete folders only, last K kept, leftovers cleaned, damaged newest skipped', () => {
    const project = freshProject();
    const w = RunWriter.create(project, { id: 'ck', config: CONFIG, documents: [[1]] });
    for (const s of [2, 4, 6, 8]) w.checkpoint(ck(s), { ...META, optimizer: { ...META.optimizer, step: s } }, 2);
    expect(listCheckpoints(w.dir).map((c) => c.step)).toEqual([6, 8]);
    expect(fs.readdirSync(path.join(w.dir, 'checkpoints')).sort()).toEqual(['step-6', 'step-8']);
    expect(fs.readdirSync(path.join(w.dir, 'checkpoints', 'step-8')).sort()).toEqual(['optimizer.safetensors', 'trainable.safetensors', 'trainer_state.json']);
    const back = readCheckpoint(path.join(w.dir, 'checkpoints', 'step-8'));
    expect(back.meta).toMatchObject({ step: 8, loss: 1 / 8, data: META.data, rng: META.rng, optimizer: { type: 'AdamW', step: 8 } });
    expect(back.checkpoint.tensors.map((t) => [t.name, t.shape, t.data[0], t.m[0], t.v[0]])).toEqual([
      ['a.lora_A.weight', [2, 3], 8, 8.5, 8.25], ['a.lora_B.weight', [6, 1], -8, 0, 0],
    ]);
    // What a killed writer leaves: a half-written temp folder and a renamed-away old one.
    fs.mkdirSync(path.join(w.dir, 'checkpoints', '.tmp-step-10-abcd'));
    fs.writeFileSync(path.join(w.dir, 'checkpoints', '.tmp-step-10-abcd', 'trainable.safetensors'), 'partial');
    fs.mkdirSync(path.join(w.dir, 'checkpoints', '.trash-step-4-abcd'));
    expect(listCheckpoints(w.dir).map((c) => c.step)).toEqual([6, 8]);
    cleanupLeftovers(w.dir);
    expect(fs.readdirSync(path.join(w.dir, 'checkpoints')).sort()).toEqual(['step-6', 'step-8']);
    // A damaged newest checkpoint (disk error) falls back to the one before, with a warning.
    fs.truncateSync(path.join(w.dir, 'checkpoints', 'step-8', 'optimizer.safetensors'), 50);
    const skipped: string[] = [];
    expect(latestCheckpoint(w.dir, (d, e) => skipped.push(`${path.basename(d)}: ${e}`))!.meta.step).toBe(6);
    expect(skipped[0]).toMatch(/^step-8: .*optimizer\.safetensors/);
    w.release();
  });

  it('recordEval appends to a finished run; deleteRun removes it, refusing a live one', () => {
    const project = freshProject();
    const w = RunWriter.create(project, { id: 'ev', config: CONFIG, documents: [[1]] });
    w.start();
    w.logStep({ step: 3, epoch: 1, loss: 2, lr: 0, gradNorm: 1, tokensPerS: 1, elapsedS: 1, etaS: 0 });
    expect(() => deleteRun(project, 'ev')).toThrow(/run ev is running/);
    w.finish('completed');
    w.release();
    recordEval(project, 'ev', { loss: 1.75, perplexity: Math.exp(1.75), tokens: 99 });
    expect(readMetrics(w.dir).evals).toMatchObject([{ step: 3, evalLoss: 1.75, tokens: 99 }]);
    const tb = fs.readdirSync(w.dir).find((f) => f.startsWith('events.out'))!;
    expect(scalarsByTag(readEventFile(path.join(w.dir, tb)).events).get('eval/loss')).toEqual([[3, 1.75]]);
    deleteRun(project, 'ev');
    expect(fs.readdirSync(path.join(project, 'runs'))).toEqual([]);
    expect(() => deleteRun(project, 'ev')).toThrow(/no run "ev"/);
  });

  it('a torn last line (power cut) is skipped by readers', () => {
    const project = freshProject();
    const w = RunWriter.create(project, { id: 'torn-line', config: CONFIG, documents: [[1]] });
    w.logStep({ step: 1, epoch: 1, loss: 2, lr: 0, gradNorm: 1, tokensPerS: 1, elapsedS: 1, etaS: 0 });
    fs.appendFileSync(path.join(w.dir, 'metrics.jsonl'), '{"step":2,"epo');
    expect(readMetrics(w.dir).steps.map((p) => p.step)).toEqual([1]);
    w.release();
  });
});

// ---------------------------------------------------------------------------------------------

/** Kill delays after the writer's first whole step (ms): spread over the next step/checkpoint cycles, the same every run. */
const KILL_SWEEP_MS = [0, 150, 400];
let children = 0;

/** Runs a TypeScript snippet in a child Node; with `killAfterMs`, kills it that long after it prints "writing". */
function runChild(source: string, killAfterMs?: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const script = path.join(tmp, `child-${++children}.ts`);
  fs.writeFileSync(script, source);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    let armed = killAfterMs !== undefined;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (armed && stdout.includes('writing')) {
        armed = false;
        setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('kill -9 during writes', () => {
  it('never leaves a torn run.json, checkpoint, metrics line or TensorBoard record', async () => {
    const project = freshProject();
    const runsModule = JSON.stringify(path.join(root, 'engine/store/runs.ts'));
    const typesModule = JSON.stringify(path.join(root, 'engine/train/types.ts'));
    const dir = path.join(project, 'runs', 'torn');
    for (const killAfterMs of KILL_SWEEP_MS) {
      const { signal, stderr } = await runChild(`
        import fs from 'node:fs';
        import { RunWriter } from ${runsModule};
        import { DEFAULT_TRAIN } from ${typesModule};
        const project = ${JSON.stringify(project)};
        const w = fs.existsSync(${JSON.stringify(dir)}) ? RunWriter.reopen(project, 'torn')
          : RunWriter.create(project, { id: 'torn', config: { ...DEFAULT_TRAIN, model: '/m' }, documents: [[1, 2]] });
        const start = w.record.lastCheckpoint ?? 0;
        w.beginSegment(start, 0);
        w.start();
        const size = 1 << 19;
        for (let s = start + 1; ; s++) {
          w.logStep({ step: s, epoch: s, loss: s, lr: 1, gradNorm: 1, tokensPerS: 1, elapsedS: s, etaS: 0 });
          w.logSample({ step: s, prompt: 'p', text: 'x'.repeat(s % 5000) });
          const t = (x) => new Float32Array(size).fill(x);
          w.checkpoint({ step: s, loss: s, tensors: [{ name: 'w', shape: [size], data: t(s), m: t(s + 0.5), v: t(s + 0.25) }] },
            { elapsedS: s, optimizer: { type: 'AdamW', step: s, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
              data: { microBatches: s, epoch: 0, batchInEpoch: s, batchesPerEpoch: null, examples: null },
              rng: { seed: 1, shuffle: '', dropout: '', loraInit: '' } }, 2);
          if (s === start + 1) process.stdout.write('writing\\n'); // one whole step is on disk
        }
      `, killAfterMs);
      expect(stderr).toBe('');
      expect(signal).toBe('SIGKILL');

      const rec = readRunRecord(dir); // parses: never torn
      expect(rec.status).toBe('running');
      expect(readRun(project, 'torn').effectiveStatus).toBe('interrupted');
      const cks = listCheckpoints(dir);
      expect(cks.length).toBeGreaterThanOrEqual(1);
      expect(cks.length).toBeLessThanOrEqual(3); // keep 2, plus one written just before pruning
      for (const c of cks) {
        const back = readCheckpoint(c.dir); // every visible checkpoint is whole
        const t = back.checkpoint.tensors[0]!;
        expect(t.data.every((x) => x === c.step)).toBe(true);
        expect(t.m.every((x) => x === c.step + 0.5)).toBe(true);
        expect(t.v.every((x) => x === c.step + 0.25)).toBe(true);
      }
      const text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      for (const line of text.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
      const samples = fs.readFileSync(path.join(dir, 'samples.jsonl'), 'utf8');
      for (const line of samples.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
      const tb = fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
      expect(tb).toHaveLength(1);
      const events = readEventFile(path.join(dir, tb[0]!));
      expect(events.truncatedTail).toBe(false);
      // The steps in the event file go 1, 2, 3, ... with no gap or repeat across the kills.
      const losses = scalarsByTag(events.events).get('train/loss')!.map(([s]) => s);
      expect(losses).toEqual(losses.map((_, i) => i + 1));
    }
    // The next writer cleans up whatever the killed ones left.
    const w = RunWriter.reopen(project, 'torn');
    w.release();
    expect(fs.readdirSync(path.join(dir, 'checkpoints')).every((f) => /^step-\d+$/.test(f))).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
