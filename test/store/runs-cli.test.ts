// `lora-studio runs list|show|resume|delete` and the --project helpers for train/eval.
import { describe, it, expect, afterAll, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { main } from '../../cli/main.ts';
import { runsCommand } from '../../cli/commands/runs.ts';
import { evalTarget, outFlag, recordEvalInProject, recordSamplesInProject, trainMaybeInProject } from '../../cli/commands/project-flags.ts';
import { UsageError } from '../../cli/args.ts';
import { createProject } from '../../engine/store/project.ts';
import { trainInProject } from '../../engine/store/run-training.ts';
import { RunWriter, readMetrics, readRun, readSamples } from '../../engine/store/runs.ts';
import { DEFAULT_TRAIN, type TrainOptions } from '../../engine/train/types.ts';
import { makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const tmp = tempDir('ls-runs-cli-');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const project = path.join(tmp, 'project');
createProject(project, { name: 'cli' });

async function run(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => { out += a.join(' ') + '\n'; });
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => { err += a.join(' ') + '\n'; });
  try {
    return { code: await fn(), out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}
const runs = (...argv: string[]) => run(() => runsCommand(argv));

// Two runs without training: one completed, one whose process died.
const config = { ...DEFAULT_TRAIN, model: '/models/gpt2' };
const done = RunWriter.create(project, { id: 'run-a', name: 'done one', config, documents: [[1, 2, 3]] });
done.logStep({ step: 5, epoch: 1, loss: 2.5, lr: 1e-4, gradNorm: 0.5, tokensPerS: 100, elapsedS: 3, etaS: 0 });
Object.assign(done.record, { totalSteps: 5 });
done.finish('completed');
done.release();
const dead = RunWriter.create(project, { id: 'run-b', name: 'killed one', config, documents: [[1, 2, 3]] });
dead.release();
{
  const file = path.join(dead.dir, 'run.json');
  const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
  rec.process.pid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
  rec.createdAt = '2099-01-01T00:00:00.000Z'; // newest
  fs.writeFileSync(file, JSON.stringify(rec));
}

describe('lora-studio runs', () => {
  it('list: a table, newest first, with interrupted runs marked', async () => {
    const { code, out, err } = await runs('list', '--project', project);
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^ID +STATUS +STEP +LOSS +METHOD +NAME$/);
    expect(lines[1]).toMatch(/^run-b +interrupted +0\/\? +- +lora +killed one$/);
    expect(lines[2]).toMatch(/^run-a +completed +5\/5 +2\.5000 +lora +done one$/);
  });

  it('list --json, and through the main command table', async () => {
    const { code, out } = await run(() => main(['runs', 'list', '--project', project, '--json']));
    expect(code).toBe(0);
    const j = JSON.parse(out);
    expect(j.project).toBe(project);
    expect(j.runs.map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([['run-b', 'interrupted'], ['run-a', 'completed']]);
    expect(j.runs[1]).toMatchObject({ step: 5, total_steps: 5, last_loss: 2.5, method: 'lora', dir: path.join(project, 'runs', 'run-a') });
  });

  it('show: text and JSON', async () => {
    const text = await runs('show', 'run-b', '--project', project);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^status +interrupted \(process \d+ on .* is gone; `lora-studio runs resume run-b` continues it\)$/m);
    expect(text.out).toMatch(/^data +1 documents \(3 tokens\) in documents\.safetensors$/m);
    const j = JSON.parse((await runs('show', 'run-a', '--project', project, '--json')).out);
    expect(j).toMatchObject({ id: 'run-a', status: 'completed', stored_status: 'completed', checkpoints: [], metrics: { points: 1, last: { step: 5, loss: 2.5 } } });
    expect(j.config).toMatchObject({ model: '/models/gpt2', method: 'lora', data: { kind: 'documents' } });
  });

  it('delete removes the folder', async () => {
    const extra = RunWriter.create(project, { id: 'run-c', config, documents: [[1]] });
    extra.finish('cancelled');
    extra.release();
    const { code, out } = await runs('delete', 'run-c', '--project', project);
    expect(code).toBe(0);
    expect(out).toBe('deleted run run-c\n');
    expect(fs.existsSync(extra.dir)).toBe(false);
  });

  it('errors: one line, exit 1; usage errors exit 2 with the help', async () => {
    for (const [argv, pattern] of [
      [['show', 'nope', '--project', project], /^lora-studio runs: .*no run "nope" in this project$/],
      [['show', 'run-a', '--project', path.join(tmp, 'elsewhere')], /not a LoRA Studio project/],
      [['resume', 'run-a', '--project', project], /run run-a already completed/],
    ] as const) {
      const { code, err } = await runs(...argv);
      expect(code).toBe(1);
      expect(err.trim()).toMatch(pattern);
      expect(err.trim().split('\n')).toHaveLength(1);
    }
    for (const argv of [[], ['frobnicate'], ['show', '--project', project], ['list', '--bogus']]) {
      const { code, err } = await runs(...argv);
      expect(code).toBe(2);
      expect(err).toMatch(/^lora-studio runs: .*\n\nUsage: lora-studio runs/);
    }
    expect((await runs('--help')).code).toBe(0);
  });
});

describe('resume and --project on train/eval', () => {
  const model = makeTinyGPT2(path.join(tmp, 'model'), { tokenizer: false });
  const opts: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'> = {
    model, data: { documents: [Array.from({ length: 80 }, (_, i) => 200 + (i % 23))] }, maxSteps: 4, batchSize: 2, maxLength: 16, logEvery: 1, lr: 1e-2,
  };

  it('runs resume finishes a cancelled run', async () => {
    const ac = new AbortController();
    await trainInProject(project, opts, { runId: 'to-resume', checkpointEvery: 2, signal: ac.signal, onCheckpoint: () => ac.abort() });
    expect(readRun(project, 'to-resume').status).toBe('cancelled');
    const { code, out, err } = await runs('resume', 'to-resume', '--project', project, '--json');
    expect(code).toBe(0);
    expect(err).toMatch(/^resuming run to-resume: 4 steps in all$/m);
    expect(err).toMatch(/^step 4\/4 /m);
    const j = JSON.parse(out);
    expect(j).toMatchObject({ id: 'to-resume', steps: 4, stopped: 'completed', out: path.join(project, 'runs', 'to-resume', 'adapter') });
  });

  it('train --project trains as a run (named, with checkpoint flags); --out becomes optional', async () => {
    expect(outFlag({ project, out: undefined })).toBeUndefined();
    expect(() => outFlag({})).toThrow(UsageError);
    expect(outFlag({ out: '/x' })).toBe('/x');
    await expect(trainMaybeInProject({ 'run-name': 'x' }, opts)).rejects.toThrow(/--run-name needs --project/);
    const { result, err } = await (async () => {
      let e = '';
      const spy = vi.spyOn(console, 'error').mockImplementation((...a) => { e += a.join(' ') + '\n'; });
      try {
        return { result: await trainMaybeInProject({ project, 'run-name': 'from cli', 'checkpoint-every': '3', 'keep-checkpoints': '1' }, { ...opts, maxSteps: 2 }), err: e };
      } finally {
        spy.mockRestore();
      }
    })();
    const id = /^run (\S+): /.exec(err)![1]!;
    const info = readRun(project, id);
    expect(info).toMatchObject({ name: 'from cli', checkpointEvery: 3, keepCheckpoints: 1, status: 'completed' });
    expect(result.out).toBe(path.join(info.dir, 'adapter'));

    // eval --run ID: the run's base model + adapter; the result is recorded in the run.
    expect(evalTarget({ project, run: id })).toEqual({ model, adapter: path.join(info.dir, 'adapter') });
    expect(evalTarget({ model: '/m', adapter: '/a' })).toEqual({ model: '/m', adapter: '/a' });
    expect(() => evalTarget({ project })).toThrow(/--project needs --run ID here/);
    expect(() => evalTarget({ project, run: id, adapter: '/a' })).toThrow(/give --run or --adapter, not both/);
    expect(() => evalTarget({ project, run: 'run-b' })).toThrow(/run run-b has no result yet \(status interrupted\)/);
    recordEvalInProject({ project, run: id }, { meanNll: 3.25, perplexity: Math.exp(3.25), tokens: 64 });
    expect(readMetrics(info.dir).evals).toMatchObject([{ step: 2, evalLoss: 3.25, tokens: 64 }]);
    recordEvalInProject({ model: '/m' }, { meanNll: 1, perplexity: 1, tokens: 1 }); // no --run: nothing to record
    // generate --run ID: the outputs go to samples.jsonl.
    recordSamplesInProject({ project, run: id }, 'Whisk', [' two eggs', ' the butter']);
    expect(readSamples(info.dir)).toMatchObject([{ step: 2, prompt: 'Whisk', text: ' two eggs' }, { step: 2, prompt: 'Whisk', text: ' the butter' }]);
  });
});
