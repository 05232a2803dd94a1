// The CLI contract other tools depend on: command names, flags, JSON fields, exit codes.
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { FIXTURES, SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const run = runCli;

describe('lora-studio CLI', () => {
  const root = tempDir();

  it('--help lists the commands; an unknown command fails with usage', async () => {
    const h = await run('--help');
    expect(h.code).toBe(0);
    for (const c of ['info', 'train', 'eval']) expect(h.stdout).toContain(`  ${c} `);
    const u = await run('frobnicate');
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('unknown command "frobnicate"');
  });

  it('info: PEFT\'s line for GPT-2 small (config only), text and --json', async () => {
    const dir = path.join(root, 'gpt2-small');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 }));
    const t = await run('info', '--model', dir, '--r', '8');
    expect(t.stdout).toContain('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    const j = JSON.parse((await run('info', '--model', dir, '--method', 'full', '--json')).stdout);
    expect(j.trainable_params).toBe(124_439_808);
    expect(j.line).toBe('trainable params: 124,439,808 || all params: 124,439,808 || trainable%: 100.0000');
    const all = JSON.parse((await run('info', '--model', dir, '--targets', 'all-linear', '--r', '4', '--json')).stdout);
    expect(all.trainable_params).toBe(12 * 4 * (768 + 2304 + 768 + 768 + 768 + 3072 + 3072 + 768));
  });

  it('bad flags and bad folders: one clear line, non-zero exit', async () => {
    const a = await run('info', '--model', path.join(root, 'nope'));
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/nope.*config\.json: model config not found/);
    const b = await run('train', '--model', FIXTURES, '--data', 'x', '--method', 'half', '--out', root);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--method must be lora or full');
    const c = await run('info', '--model', root, '--r', 'eight');
    expect(c.stderr).toContain('--r: "eight" is not a valid value');
  });

  (hasSharedData ? it : it.skip)('train --json then eval --json, with and without the adapter', async () => {
    const model = makeTinyGPT2(path.join(root, 'tiny'));
    const data = path.join(root, 'text.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const out = path.join(root, 'adapter');
    const t = await run('train', '--model', model, '--data', data, '--method', 'lora', '--out', out, '--max-steps', '6', '--batch-size', '2',
      '--max-length', '32', '--lr', '0.05', '--targets', 'c_attn,c_proj', '--alpha', '32', '--json');
    expect(t.code).toBe(0);
    const r = JSON.parse(t.stdout.trim().split('\n').at(-1)!);
    for (const k of ['steps', 'final_loss', 'trainable_params', 'tokens_per_s', 'peak_rss_mb', 'wall_s']) expect(typeof r[k]).toBe('number');
    expect(r.steps).toBe(6);
    const base = JSON.parse((await run('eval', '--model', model, '--text', data, '--max-length', '32', '--json')).stdout);
    const tuned = JSON.parse((await run('eval', '--model', model, '--adapter', out, '--text', data, '--max-length', '32', '--json')).stdout);
    expect(Object.keys(base).sort()).toEqual(['mean_nll', 'perplexity', 'tokens', 'windows']);
    expect(base.perplexity).toBeCloseTo(Math.exp(base.mean_nll), 6);
    expect(tuned.tokens).toBe(base.tokens);
    expect(tuned.perplexity).toBeLessThan(base.perplexity);
  });

  (hasSharedData ? it : it.skip)('train --out into a folder with files in it is refused unless --force', async () => {
    const model = makeTinyGPT2(path.join(root, 'tiny-force'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(root, 'force.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const out = path.join(root, 'kept');
    mkdirSync(out);
    writeFileSync(path.join(out, 'notes.txt'), 'my notes');
    const args = ['train', '--model', model, '--data', data, '--out', out, '--max-steps', '1', '--batch-size', '2', '--max-length', '16', '--threads', '1', '--json'];
    const refused = await run(...args);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(/^lora-studio train: out: .*kept already has files in it; .*--force\)$/);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(out)).toEqual(['notes.txt']);
    const forced = await run(...args, '--force');
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout.trim().split('\n').at(-1)!)).toMatchObject({ steps: 1, out });
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'notes.txt']);
  });

  (hasSharedData ? it : it.skip)('train --task seq-cls is a run of --project like any training (it used to ignore --project)', async () => {
    const project = path.join(root, 'cls-project');
    const csv = path.join(root, 'reviews.csv');
    writeFileSync(csv, 'text,label\n' + Array.from({ length: 8 }, (_, i) => (i % 2 ? `good fun film ${i},pos` : `bad boring film ${i},neg`)).join('\n') + '\n');
    const r = await run('train', '--task', 'seq-cls', '--model', path.join(FIXTURES, 'distilbert-tiny'), '--data', csv, '--project', project,
      '--max-steps', '2', '--batch-size', '4', '--threads', '1', '--model-dropout', '--run-name', 'cls', '--json');
    expect(r.code).toBe(0);
    const id = /^run (\S+): /m.exec(r.stderr)![1]!;
    const saved = JSON.parse(readFileSync(path.join(project, 'runs', id, 'run.json'), 'utf8'));
    expect(saved).toMatchObject({ name: 'cls', status: 'completed', config: { task: 'seq-cls', modelDropout: true, lr: 1e-3, batchSize: 4 } });
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).out).toBe(path.join(project, 'runs', id, 'adapter'));
  });

  it('train --base-dtype int8: checkpointing on by default (same loss as off), saved in the run; refused for full fine-tuning', async () => {
    const project = path.join(root, 'int8-project');
    const common = ['train', '--model', 'models/demo-llama', '--data', 'samples/recipes.jsonl', '--max-steps', '2', '--batch-size', '2',
      '--max-length', '64', '--threads', '1', '--base-dtype', 'int8', '--json'];
    const on = await run(...common, '--project', project, '--run-name', 'q8');
    expect(on.code).toBe(0);
    expect(on.stderr).toContain('frozen base in int8, gradient checkpointing on');
    const id = /^run (\S+): /m.exec(on.stderr)![1]!;
    expect(JSON.parse(readFileSync(path.join(project, 'runs', id, 'run.json'), 'utf8')).config).toMatchObject({ baseDtype: 'int8' });
    const off = await run(...common, '--out', path.join(root, 'q8-off'), '--no-gradient-checkpointing');
    expect(off.stderr).toContain('gradient checkpointing off');
    // Recomputing the blocks changes what is kept, not what is computed.
    expect(JSON.parse(off.stdout.trim().split('\n').at(-1)!).final_loss).toBe(JSON.parse(on.stdout.trim().split('\n').at(-1)!).final_loss);
    const full = await run('train', '--model', 'models/demo-llama', '--data', 'samples/recipes.jsonl', '--method', 'full', '--base-dtype', 'int4', '--out', root);
    expect(full.code).toBe(2);
    expect(full.stderr.split('\n')[0]).toBe('lora-studio train: --base-dtype int4 needs --method lora (full fine-tuning trains every weight in float32)');
  });

  (hasSharedData ? it : it.skip)('eval --run in a project it cannot write to: the result is printed, then a warning that it was not recorded', async () => {
    const model = makeTinyGPT2(path.join(root, 'tiny-ro'), { nEmbd: 16, nLayer: 1, nHead: 2, nPositions: 32 });
    const data = path.join(root, 'ro.txt');
    writeFileSync(data, SAMPLE_TEXT);
    const project = path.join(root, 'ro-project');
    const t = await run('train', '--model', model, '--data', data, '--project', project, '--max-steps', '1', '--batch-size', '2', '--max-length', '16', '--threads', '1', '--json');
    expect(t.code).toBe(0);
    const id = /^run (\S+): /m.exec(t.stderr)![1]!;
    const runDir = path.join(project, 'runs', id);
    // Make the run unwritable: a read-only folder (as root, which writes anyway, metrics.jsonl becomes a folder).
    if (process.getuid?.() === 0) {
      rmSync(path.join(runDir, 'metrics.jsonl'));
      mkdirSync(path.join(runDir, 'metrics.jsonl'));
    } else chmodSync(runDir, 0o555);
    try {
      const e = await run('eval', '--run', id, '--project', project, '--text', data, '--max-length', '16', '--json');
      expect(e.code).toBe(0);
      expect(JSON.parse(e.stdout)).toMatchObject({ perplexity: expect.any(Number), tokens: expect.any(Number) });
      expect(e.stderr.trim()).toMatch(new RegExp(`^lora-studio eval: warning: the evaluation could not be recorded in run ${id}: `));
      expect(e.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      chmodSync(runDir, 0o755);
    }
  });
});
