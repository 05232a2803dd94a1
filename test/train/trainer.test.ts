import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { perplexity, windowsNll } from '../../engine/train/eval.ts';
import { mergeAdapter } from '../../engine/lora/apply.ts';
import { train } from '../../engine/train/trainer.ts';
import { holdOutSplit, loadBlocks } from '../../engine/data/pipeline.ts';
import type { Checkpoint, TrainEvent } from '../../engine/train/types.ts';
import { SAMPLE_TEXT, hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

const d = hasSharedData ? describe : describe.skip;

/** A temp folder with a tiny GPT-2 (real tokenizer) and a small text to train on. */
function setup() {
  // Skipped suites still run their bodies while vitest collects them: build nothing then.
  if (!hasSharedData) return { root: '', model: '', data: '' };
  const root = tempDir();
  const model = makeTinyGPT2(path.join(root, 'model'));
  const data = path.join(root, 'recipes.txt');
  writeFileSync(data, SAMPLE_TEXT);
  return { root, model, data };
}
if (!hasSharedData) console.warn('skipping trainer tests: ../shared/data/gpt2-tokenizer is absent');

d('trainer (tiny random GPT-2 with the GPT-2 tokenizer)', () => {
  const { root, model, data } = setup();

  it('LoRA: the loss goes down, events carry the fields, the adapter is in PEFT layout', async () => {
    const events: TrainEvent[] = [];
    const out = path.join(root, 'adapter');
    const r = await train({
      model, data, method: 'lora', out, maxSteps: 40, batchSize: 4, maxLength: 32, lr: 5e-2, logEvery: 5, schedule: 'constant',
      lora: { r: 4, alpha: 32, dropout: 0.1, bias: 'none', targets: ['c_attn', 'c_proj'], useRslora: false, init: 'kaiming' },
    }, { onEvent: (e) => events.push(e) });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.length).toBeGreaterThan(5);
    const first = steps[0], last = steps.at(-1)!;
    if (first.type !== 'step' || last.type !== 'step') throw new Error('unreachable');
    expect(last.loss).toBeLessThan(first.loss - 0.5);
    for (const k of ['step', 'epoch', 'loss', 'lr', 'gradNorm', 'tokensPerS', 'elapsedS', 'etaS'] as const) expect(Number.isFinite(last[k])).toBe(true);
    expect(r.steps).toBe(40);
    expect(r.trainableParams).toBe(2 * (4 * (16 + 48) + 4 * (16 + 16) + 4 * (64 + 16)));

    const cfg = JSON.parse(readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 32, target_modules: ['c_attn', 'c_proj'], task_type: 'CAUSAL_LM' });
    const st = openSafetensors(path.join(out, 'adapter_model.safetensors'));
    expect(st.tensors.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')?.shape).toEqual([4, 16]);
    expect(st.tensors.get('base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight')?.shape).toEqual([16, 4]);
    expect(st.metadata.format).toBe('pt');

    // The adapter lowers perplexity on the text it learned.
    const before = await perplexity({ model, text: data, maxLength: 32 });
    const after = await perplexity({ model, adapter: out, text: data, maxLength: 32 });
    expect(after.perplexity).toBeLessThan(before.perplexity * 0.7);
  });

  it('full fine-tuning through the same loop writes a loadable HF folder', async () => {
    const out = path.join(root, 'full');
    const r = await train({ model, data, method: 'full', out, maxSteps: 15, batchSize: 4, maxLength: 32, lr: 3e-3, schedule: 'cosine', warmupSteps: 2 });
    expect(r.trainableParams).toBe(r.allParams);
    const m = loadGPT2(out);
    expect(existsSync(path.join(out, 'tokenizer.json'))).toBe(true);
    const base = await perplexity({ model, text: data, maxLength: 32 });
    const tuned = await perplexity({ model: out, text: data, maxLength: 32 });
    expect(tuned.perplexity).toBeLessThan(base.perplexity);
    expect(m.config.nEmbd).toBe(16);
  });

  it('gradient accumulation: batch 2 equals batch 1 x 2 micro-batches', async () => {
    const run = (batchSize: number, gradAccum: number) => train({
      model, data, method: 'lora', out: path.join(root, `acc-${batchSize}`), maxSteps: 3, batchSize, gradAccum, maxLength: 32, lr: 1e-2,
      lora: { r: 2, alpha: 4, dropout: 0, bias: 'none', targets: ['c_attn'], useRslora: false, init: 'kaiming' },
    });
    const a = await run(2, 1), b = await run(1, 2);
    expect(b.finalLoss).toBeCloseTo(a.finalLoss, 5);
    const ta = openSafetensors(path.join(root, 'acc-2', 'adapter_model.safetensors'));
    const tb = openSafetensors(path.join(root, 'acc-1', 'adapter_model.safetensors'));
    for (const name of ta.tensors.keys()) {
      const x = ta.readFloat32(name), y = tb.readFloat32(name);
      expect(Math.max(...x.map((v, i) => Math.abs(v - y[i])))).toBeLessThan(1e-5);
    }
  });

  it('the same seed gives the same run; cancellation stops between steps', async () => {
    const opts = { model, data, method: 'lora' as const, maxSteps: 4, batchSize: 2, maxLength: 32, lr: 1e-2, seed: 7 };
    const a = await train(opts), b = await train(opts);
    expect(a.finalLoss).toBe(b.finalLoss);
    const ac = new AbortController();
    const r = await train({ ...opts, maxSteps: 50, logEvery: 1 }, { signal: ac.signal, onEvent: (e) => { if (e.type === 'step' && e.step === 2) ac.abort(); } });
    expect(r.stopped).toBe('cancelled');
    expect(r.steps).toBe(2);
  });

  it('model dropout (HF\'s *_pdrop) is seeded: same seed same run, and it changes the run', async () => {
    const opts = { model, data, method: 'full' as const, maxSteps: 3, batchSize: 2, maxLength: 32, lr: 1e-3, seed: 5 };
    const a = await train({ ...opts, modelDropout: true }), b = await train({ ...opts, modelDropout: true });
    const c = await train(opts);
    expect(a.finalLoss).toBe(b.finalLoss);
    expect(Math.abs(a.finalLoss - c.finalLoss)).toBeGreaterThan(1e-4);
  });

  it('trains on any dataset format: the bundled recipes JSONL through the importers and the token cache', async () => {
    const recipes = path.resolve(import.meta.dirname, '..', '..', 'samples', 'recipes.jsonl');
    const cacheDir = path.join(root, 'cache');
    const opts = { model, data: recipes, method: 'lora' as const, maxSteps: 2, batchSize: 2, maxLength: 64, cacheDir };
    const events: TrainEvent[] = [];
    const r = await train(opts, { onEvent: (e) => events.push(e) });
    expect(r.steps).toBe(2);
    const start = events.find((e) => e.type === 'start');
    expect(start?.type === 'start' && start.examples).toBeGreaterThan(50); // 86 recipes -> many 64-token blocks
    expect(readdirSync(cacheDir).length).toBeGreaterThan(0);
  });

  it('a NaN loss stops the run with a clear message', async () => {
    // Finite but huge weights (NaN weights are refused when the model loads): the logits overflow.
    const bad = makeTinyGPT2(path.join(root, 'nan-model'));
    const st = openSafetensors(path.join(bad, 'model.safetensors'));
    const info = st.tensors.get('transformer.ln_f.weight')!;
    st.close();
    const buf = readFileSync(path.join(bad, 'model.safetensors'));
    const headerLen = Number(buf.readBigUInt64LE(0));
    for (let o = info.begin; o < info.end; o += 4) buf.writeFloatLE(3e38, 8 + headerLen + o);
    writeFileSync(path.join(bad, 'model.safetensors'), buf);
    await expect(train({ model: bad, data, method: 'lora', maxSteps: 3, batchSize: 2, maxLength: 16 })).rejects.toThrow(/diverged: the loss is (NaN|Infinity) at step 1/);
  });

  it('rejects a text with fewer than 2 tokens and impossible options', async () => {
    const tiny = path.join(root, 'one.txt');
    writeFileSync(tiny, 'Hi');
    await expect(train({ model, data: tiny, method: 'lora', maxSteps: 1 })).rejects.toThrow(/one\.txt: fewer than 2 tokens/);
    await expect(perplexity({ model, text: tiny })).rejects.toThrow(/one\.txt: fewer than 2 tokens/);
    await expect(train({ model, data, method: 'lora', lr: -1 })).rejects.toThrow(/lr must be > 0/);
    await expect(train({ model, data, method: 'lora', lora: { r: 8, alpha: 16, dropout: 0, bias: 'none', targets: ['q_proj'], useRslora: false, init: 'kaiming' } })).rejects.toThrow(/match no layer/);
  });
});

d('checkpoints and resume', () => {
  const { root, model, data } = setup();

  it('N steps straight == N/2, stop, resume from the checkpoint (same weights to 1e-6)', async () => {
    const opts = {
      model, data, method: 'lora' as const, maxSteps: 8, batchSize: 2, maxLength: 32, lr: 2e-2, warmupSteps: 2, schedule: 'cosine' as const,
      lora: { r: 4, alpha: 8, dropout: 0.1, bias: 'all' as const, targets: ['c_attn'], useRslora: false, init: 'kaiming' as const },
    };
    await train({ ...opts, out: path.join(root, 'straight') });
    const saved: Checkpoint[] = [];
    const ac = new AbortController();
    await train({ ...opts, out: path.join(root, 'half') }, {
      checkpointEvery: 4, onCheckpoint: (ck) => { saved.push(ck); ac.abort(); }, signal: ac.signal,
    });
    expect(saved.map((c) => c.step)).toEqual([4]);
    const r = await train({ ...opts, out: path.join(root, 'resumed') }, { resume: saved[0] });
    expect(r.steps).toBe(8);
    const a = openSafetensors(path.join(root, 'straight', 'adapter_model.safetensors'));
    const b = openSafetensors(path.join(root, 'resumed', 'adapter_model.safetensors'));
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const name of a.tensors.keys()) {
      const x = a.readFloat32(name), y = b.readFloat32(name);
      expect(Math.max(...x.map((v, i) => Math.abs(v - y[i])))).toBeLessThan(1e-6);
    }
  });

  it('a checkpoint from other options is refused', async () => {
    const ck: Checkpoint = { step: 1, loss: 1, tensors: [{ name: 'x', shape: [1], data: new Float32Array(1), m: new Float32Array(1), v: new Float32Array(1) }] };
    await expect(train({ model, data, method: 'lora', maxSteps: 2, batchSize: 2, maxLength: 16 }, { resume: ck })).rejects.toThrow(/checkpoint has no tensor transformer\.h\.0\.attn\.c_attn\.lora_A\.weight/);
  });
});

d('validation during training', () => {
  const { root, model, data } = setup();

  it('eval events every N steps; the final eval loss is the adapted model\'s NLL on the held-out blocks', async () => {
    const opts = { model, data, method: 'lora' as const, out: path.join(root, 'a'), maxSteps: 6, batchSize: 2, maxLength: 32, lr: 3e-2, valRatio: 0.25, evalEvery: 2, seed: 3 };
    const events: TrainEvent[] = [];
    const r = await train(opts, { onEvent: (e) => events.push(e) });
    const evals = events.filter((e) => e.type === 'eval');
    expect(evals.map((e) => e.type === 'eval' && e.step)).toEqual([2, 4, 6]);
    const blocks = await loadBlocks(data, 32, model);
    const { val, train: rest } = holdOutSplit(blocks, 0.25, 3);
    expect(val.length + rest.length).toBe(blocks.length);
    const m = loadGPT2(model);
    mergeAdapter(m, opts.out);
    const { sum, count } = await windowsNll(m, val.map((b) => Array.from(b)));
    expect(r.evalLoss).toBeCloseTo(sum / count, 4);
  });
});
