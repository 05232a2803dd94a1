// The registry's one weight loader: shards, absurd configs, non-finite weights, unknown families.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectModel } from '../../engine/models/inspect.ts';
import { loadModel } from '../../engine/models/registry.ts';
import { openSafetensors, writeSafetensors } from '../../engine/store/safetensors.ts';
import { FIXTURES, tempDir } from '../helpers/tiny-model.ts';

const SRC = path.join(FIXTURES, 'gpt2-tiny-f32');

function copyModel(edit?: (cfg: Record<string, unknown>) => void): string {
  const dir = path.join(tempDir('ls-w-'), 'm');
  mkdirSync(dir);
  const cfg = JSON.parse(readFileSync(path.join(SRC, 'config.json'), 'utf8'));
  edit?.(cfg);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  return dir;
}

function tensorsOf(file: string) {
  const st = openSafetensors(file);
  try {
    return [...st.tensors.keys()].filter((name) => st.tensors.get(name)!.dtype === 'F32').map((name) => ({ name, dtype: 'F32' as const, shape: st.tensors.get(name)!.shape, data: st.readFloat32(name) }));
  } finally {
    st.close();
  }
}

describe('model weights', () => {
  it('a sharded checkpoint (model.safetensors.index.json) loads the same tensors as the single file', () => {
    const dir = copyModel();
    const all = tensorsOf(path.join(SRC, 'model.safetensors'));
    const half = Math.ceil(all.length / 2);
    const shards = [all.slice(0, half), all.slice(half)];
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    shards.forEach((t, i) => writeSafetensors(path.join(dir, names[i]), t));
    const weightMap = Object.fromEntries(shards.flatMap((t, i) => t.map((x) => [x.name, names[i]])));
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const a = loadModel(SRC), b = loadModel(dir);
    expect([...b.weights.keys()].sort()).toEqual([...a.weights.keys()].sort());
    for (const [k, t] of a.weights) expect(Array.from(b.weights.get(k)!.data)).toEqual(Array.from(t.data));
  });

  it('an index naming a missing shard is refused naming the index and the shard', () => {
    const dir = copyModel();
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'transformer.wte.weight': 'model-00001-of-00002.safetensors' } }));
    expect(() => loadModel(dir)).toThrow(/model\.safetensors\.index\.json: names shard "model-00001-of-00002\.safetensors", which is not in/);
  });

  it('absurd configs fail fast naming config.json and the field, before allocating', () => {
    const t0 = performance.now();
    const layers = copyModel((c) => { c.n_layer = 1e6; });
    copyFileSync(path.join(SRC, 'model.safetensors'), path.join(layers, 'model.safetensors'));
    expect(() => loadModel(layers)).toThrow(/config\.json: "n_layer" is 1000000; expected an integer from 1 to 4096/);
    expect(() => inspectModel(layers)).toThrow(/config\.json: "n_layer"/);
    const wide = copyModel((c) => { c.n_embd = 2 ** 20; c.n_head = 1; });
    copyFileSync(path.join(SRC, 'model.safetensors'), path.join(wide, 'model.safetensors'));
    expect(() => loadModel(wide)).toThrow(/config\.json: implies [\d,]+ parameters, but the weights hold only [\d,]+ bytes/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('a weight with NaN is refused naming the file and the tensor', () => {
    const dir = copyModel();
    // Written without the writer's own finite check: the bytes as a corrupt download would have them.
    const st = readFileSync(path.join(SRC, 'model.safetensors'));
    const n = Number(st.readBigUInt64LE(0));
    const header = JSON.parse(st.subarray(8, 8 + n).toString('utf8'));
    const entry = Object.entries(header).find(([k]) => k.endsWith('ln_f.weight'))![1] as { data_offsets: number[] };
    const bytes = Buffer.from(st);
    bytes.writeFloatLE(NaN, 8 + n + entry.data_offsets[0] + 12);
    writeFileSync(path.join(dir, 'model.safetensors'), bytes);
    expect(() => loadModel(dir)).toThrow(/model\.safetensors: .*ln_f\.weight.*(NaN|non-finite)/i);
  });

  it('an unknown architecture names the file and lists what this build loads', () => {
    const dir = copyModel((c) => { c.model_type = 'mamba'; c.architectures = ['MambaForCausalLM']; });
    expect(() => loadModel(dir)).toThrow(/config\.json: unsupported architecture "mamba" \(this build loads: gpt2, distilbert/);
  });
});

describe('info checks the weights, not only config.json', () => {
  it('a weights file that disagrees with config.json fails inspectModel without reading tensors', () => {
    const dir = copyModel((c) => { c.n_inner = 64; });
    copyFileSync(path.join(SRC, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expect(() => inspectModel(dir)).toThrow(/model\.safetensors: tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape/);
    expect(inspectModel(SRC).storedDtype).toBe('F32');
  });
});

describe('lazy loading (a low-precision base reads one tensor at a time)', () => {
  it('reads a tensor on first access, checks it then, and equals the eager load', () => {
    const eager = loadModel(SRC);
    const lazy = loadModel(SRC, { lazy: true });
    for (const [k, t] of eager.weights) expect(Array.from(lazy.weights.get(k)!.data)).toEqual(Array.from(t.data));
    // A NaN written after a lazy load fails at the first access, naming the file and the tensor.
    const dir = copyModel();
    copyFileSync(path.join(SRC, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const m = loadModel(dir, { lazy: true });
    const st = readFileSync(path.join(dir, 'model.safetensors'));
    const n = Number(st.readBigUInt64LE(0));
    const entry = Object.entries(JSON.parse(st.subarray(8, 8 + n).toString('utf8'))).find(([k]) => k.endsWith('ln_f.weight'))![1] as { data_offsets: number[] };
    st.writeFloatLE(NaN, 8 + n + entry.data_offsets[0]);
    writeFileSync(path.join(dir, 'model.safetensors'), st);
    const name = [...m.weights.keys()].find((k) => k.endsWith('ln_f.weight'))!;
    expect(() => m.weights.get(name)!.data).toThrow(/model\.safetensors: .*ln_f\.weight/);
  });

  it('an int8-base LoRA run (weights read lazily, one at a time) trains like the float32 run', async () => {
    const { train } = await import('../../engine/train/trainer.ts');
    const data = { documents: Array.from({ length: 6 }, (_, d) => Array.from({ length: 40 }, (_, i) => (d * 37 + i * 11) % 100)) };
    const run = async (baseDtype: 'f32' | 'int8') => {
      const losses: number[] = [];
      await train({ model: SRC, data, baseDtype, maxSteps: 3, batchSize: 2, maxLength: 16, lr: 1e-2, logEvery: 1, threads: 1 }, { onEvent: (e) => { if (e.type === 'step') losses.push(e.loss); } });
      return losses;
    };
    const f32 = await run('f32'), int8 = await run('int8');
    expect(int8).toHaveLength(3);
    int8.forEach((l, i) => expect(Math.abs(l / f32[i] - 1)).toBeLessThan(0.02));
  }, 60_000);
});
