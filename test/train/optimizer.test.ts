// The parallel AdamW (worker threads, WebAssembly kernel over shared moments) against the
// single-thread JavaScript kernel: bit-identical parameters and moments, and the main thread's
// event loop keeps running during an update.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fullPlan } from '../../engine/lora/peft-model.ts';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { fromArrays } from '../../engine/train/batch.ts';
import { AdamW, clipScale, globalNorm, globalNormYielding } from '../../engine/train/optimizer.ts';
import { buildStepGraph } from '../../engine/train/step-graph.ts';
import { runMicroBatch } from '../../engine/train/step.ts';
import { asTaskBatch, lmLoss } from '../../engine/train/tasks/causal-lm.ts';
import { Rng } from '../../engine/util/rng.ts';

const CFG = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

function tensors(sizes: number[], seed: number) {
  const rng = new Rng(seed);
  return sizes.map((n, i) => {
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) data[j] = (rng.next() - 0.5) * 0.2;
    return { name: `t${i}`, shape: [n], data, decay: i % 3 !== 1 };
  });
}

function randomGrads(sizes: number[], rng: Rng): Float32Array[] {
  return sizes.map((n) => {
    const g = new Float32Array(n);
    // Mixed magnitudes (and some exact zeros and subnormals) so every branch of rounding shows.
    for (let j = 0; j < n; j++) { const u = rng.next(); g[j] = u < 0.01 ? 0 : u < 0.02 ? 1e-40 : (rng.next() - 0.5) * 10 ** (-6 * rng.next()); }
    return g;
  });
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const sameBits = (a: Float32Array, b: Float32Array) => {
  const x = bits(a), y = bits(b);
  let diff = 0;
  for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) diff++;
  return diff;
};

describe('AdamW in worker threads', () => {
  it('equals the single-thread kernel bit for bit over 3 steps (odd sizes, small tensors, chunk seams, decay on and off)', async () => {
    const sizes = [70001, 3, 4096 * 5 + 1, 12345, 1 << 16, 7];
    const ref = new AdamW(tensors(sizes, 1), CFG, { threads: 0 });
    const par = new AdamW(tensors(sizes, 1), CFG, { minParallel: 0, minTensor: 1000, chunk: 4096, threads: 2 });
    expect(ref.threaded).toBe(false);
    expect(par.threaded).toBe(true);
    const rng = new Rng(7);
    for (const [lr, scale] of [[1e-3, 1], [5e-4, 0.37], [2e-3, 1e-3]]) {
      const g = randomGrads(sizes, rng);
      const before = par.params.map((p) => p.data.slice());
      await ref.update(g, lr, scale);
      await par.update(g, lr, scale);
      par.params.forEach((p, i) => {
        expect(sameBits(p.data, before[i]), `${p.name} changed`).toBeGreaterThan(0);
        expect(sameBits(p.data, ref.params[i].data), `${p.name} values`).toBe(0);
        expect(sameBits(p.m, ref.params[i].m), `${p.name} first moments`).toBe(0);
        expect(sameBits(p.v, ref.params[i].v), `${p.name} second moments`).toBe(0);
      });
    }
    expect(par.step).toBe(3);
  });

  it('leaves the event loop free during a large update, and keeps small (LoRA-sized) runs on the main thread, done on return', async () => {
    const sizes = [1 << 22, 1 << 22];
    const par = new AdamW(tensors(sizes, 2), CFG, { minParallel: 1 << 20, threads: 2 });
    expect(par.threaded).toBe(true);
    const g = randomGrads(sizes, new Rng(3));
    await par.update(g, 1e-3); // warm the workers and the kernel
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    await par.update(g, 1e-3);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);

    const lora = new AdamW(tensors([8 * 768, 768 * 8], 3), CFG);
    expect(lora.threaded).toBe(false);
    const before = lora.params[0].data.slice();
    void lora.update(randomGrads([8 * 768, 768 * 8], new Rng(4)), 1e-3);
    expect(sameBits(lora.params[0].data, before)).toBeGreaterThan(0);
  });

  it('the gradient norm yields to the event loop between slices and gives the same bits as the one-pass sum', async () => {
    const sizes = [10_007, 3, 65_536, 1];
    const g = randomGrads(sizes, new Rng(9));
    let ticks = 0;
    setImmediate(() => ticks++);
    const sliced = await globalNormYielding(g, 4096);
    expect(ticks).toBe(1); // the callback queued before ran while the sum was paused
    expect(sliced).toBe(globalNorm(g));
    expect(await globalNormYielding(g)).toBe(globalNorm(g)); // one slice: no pause
  });

  it('refuses an overlapping update and keeps moments checkpointable (plain copies)', async () => {
    const sizes = [50000];
    const par = new AdamW(tensors(sizes, 5), CFG, { minParallel: 0, minTensor: 1, threads: 1 });
    const g = randomGrads(sizes, new Rng(6));
    const first = par.update(g, 1e-3);
    expect(() => par.update(g, 1e-3)).toThrow(/still running/);
    await first;
    const m = par.params[0].m.slice();
    expect(m.buffer).toBeInstanceOf(ArrayBuffer);
    expect(m.some((x) => x !== 0)).toBe(true);
  });

  it('full fine-tuning with the threaded optimizer matches PyTorch after 3 steps (as step-vs-torch does single-threaded)', async () => {
    const FIX = path.join(import.meta.dirname, '..', 'fixtures');
    const model = loadGPT2(path.join(FIX, 'gpt2-tiny-f32'));
    const r = openSafetensors(path.join(FIX, 'gpt2-tiny-reference.safetensors'));
    const batch = asTaskBatch(fromArrays(r.readInt64('input_ids'), Array.from(r.readInt64('attention_mask'), Number), Array.from(r.readInt64('labels'), Number), 2, 16));
    const ref = openSafetensors(path.join(FIX, 'full-train-reference.safetensors'));
    const sg = await buildStepGraph(model.weights, fullPlan(model.spec), model.spec.family.isNoDecay, lmLoss(model.spec, 2, 16));
    const opt = new AdamW(sg.trainables, CFG, { minParallel: 0, minTensor: 64, chunk: 1000, threads: 2 });
    expect(opt.threaded).toBe(true);
    let g1: Float32Array[] = [];
    for (let s = 0; s < 3; s++) {
      const { grads } = await runMicroBatch(sg, batch);
      if (s === 0) g1 = grads.map((g) => g.slice());
      await opt.update(grads, 1e-3, clipScale(globalNorm(grads), 1.0));
    }
    await sg.session.release();
    sg.trainables.forEach((t, i) => {
      const want = ref.readFloat32(`after3.${t.name}`);
      // As in step-vs-torch: where the true gradient is ~0, rounding noise decides Adam's step sign.
      let worst = 0;
      for (let j = 0; j < want.length; j++) {
        if (Math.abs(g1[i][j]) < 1e-5 || (t.name.endsWith('c_attn.bias') && j >= 32 && j < 64)) continue;
        worst = Math.max(worst, Math.abs(t.data[j] - want[j]));
      }
      expect(worst, t.name).toBeLessThan(1e-5);
    });
  });
});
