// merge_and_unload: the merged folder's perplexity equals the base model + adapter computed with
// the LoRA update kept separate in the graph (W x + B A x · s), to 1e-5.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { readAdapterInto } from '../../engine/lora/apply.ts';
import { gpt2Forward, loadGPT2 } from '../../engine/models/gpt2.ts';
import { Graph, type Value } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { batchFeeds, makeBatch } from '../../engine/train/batch.ts';
import { perplexity, splitWindows } from '../../engine/train/eval.ts';
import { tokenNll } from '../../engine/train/loss.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';
import { makeRandomAdapter } from './random-adapter.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');

/** Perplexity with the adapter unmerged: every adapted layer adds (x Aᵀ) Bᵀ · scaling in the graph. */
async function unmergedPerplexity(modelDir: string, adapterDir: string, textFile: string, T: number): Promise<number> {
  const model = loadGPT2(modelDir);
  const { plan } = readAdapterInto(model, adapterDir);
  const tok = await loadTokenizer(modelDir);
  const { readFileSync } = await import('node:fs');
  const windows = splitWindows(tok.encode(readFileSync(textFile, 'utf8')), T);
  const Tm = Math.max(...windows.map((w) => w.length));
  const g = new Graph();
  const ids = g.input('ids', 'int64', [1, Tm]);
  const attnBias = g.input('attn_bias', 'float32', [1, 1, Tm, Tm]);
  const targets = g.input('targets', 'int64', [1, Tm]);
  g.input('loss_weights', 'float32', [1, Tm]);
  const cache = new Map<string, Value>();
  const param = (n: string) => cache.get(n) ?? (cache.set(n, g.initializer(n, 'float32', model.weights.get(n)!.shape, model.weights.get(n)!.data)), cache.get(n)!);
  const byModule = new Map(plan.layers.map((l) => [l.module.name, l]));
  const hook = (mod: string, x: Value, y: Value) => {
    const l = byModule.get(mod);
    if (!l) return y;
    return g.add(y, l.delta(g, x, g.initializer(l.aName, 'float32', l.aShape, l.A), g.initializer(l.bName, 'float32', l.bShape, l.B)));
  };
  g.output(tokenNll(g, gpt2Forward(g, model.config, param, { ids, attnBias }, hook), targets), 'nll');
  const s = await Session.create(g.toModel(), { threads: 1 });
  let sum = 0, count = 0;
  for (const w of windows) {
    const b = makeBatch([w], 1, Tm);
    const nll = (await s.run(batchFeeds(b), ['nll'])).nll.data as Float32Array;
    for (let j = 0; j < nll.length; j++) if (b.lossWeights[j] > 0) { sum += nll[j]; count++; }
  }
  await s.release();
  return Math.exp(sum / count);
}

describe.skipIf(!hasSharedData)('merge', () => {
  let root: string, model: string, adapter: string, text: string;
  beforeAll(() => {
    root = tempDir('ls-merge-');
    model = makeTinyGPT2(path.join(root, 'base'), { nPositions: 32, nEmbd: 16, nLayer: 2 });
    adapter = makeRandomAdapter(path.join(root, 'adapter'), model, { targets: ['c_attn', 'c_proj', 'c_fc'] });
    text = path.join(root, 'text.txt');
    writeFileSync(text, SAMPLE_TEXT.slice(0, 600));
  });

  it('lora-studio merge writes an HF folder whose perplexity equals base + unmerged adapter to 1e-5', async () => {
    const out = path.join(root, 'merged');
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'merge', '--model', model, '--adapter', adapter, '--out', out, '--onnx', '--json']);
    const r = JSON.parse(stdout);
    expect(r.merged_layers).toBe(2 * 4); // c_attn, attn.c_proj, c_fc, mlp.c_proj (suffix match) in 2 blocks
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'vocab.json', 'merges.txt', 'onnx/model.onnx']) expect(existsSync(path.join(out, f))).toBe(true);
    const merged = (await perplexity({ model: out, text, maxLength: 32, batchSize: 1 })).perplexity;
    const viaAdapter = (await perplexity({ model, adapter, text, maxLength: 32, batchSize: 1 })).perplexity;
    const unmerged = await unmergedPerplexity(model, adapter, text, 32);
    const base = (await perplexity({ model, text, maxLength: 32, batchSize: 1 })).perplexity;
    expect(Math.abs(merged - base) / base).toBeGreaterThan(1e-2); // the adapter matters
    expect(Math.abs(merged - unmerged) / unmerged).toBeLessThan(1e-5);
    expect(Math.abs(merged - viaAdapter) / viaAdapter).toBeLessThan(1e-5);
  }, 60_000);

  it('refuses to write over the base model', async () => {
    await expect(promisify(execFile)(process.execPath, [BIN, 'merge', '--model', model, '--adapter', adapter, '--out', model])).rejects.toThrow(/must differ/);
  });
});
