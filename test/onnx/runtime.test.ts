import { describe, expect, it } from 'vitest';
import { Graph } from '../../engine/onnx/graph.ts';
import { Session, checkDevice } from '../../engine/onnx/runtime.ts';

describe('runtime devices', () => {
  it('cpu runs; an unknown device is refused by name', async () => {
    expect(() => checkDevice('tpu' as never)).toThrow(/unknown device "tpu": use one of cpu, webgpu, cuda/);
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 2]);
    g.output(g.matmul(a, a), 'y');
    const s = await Session.create(g.toModel());
    const y = await s.run({ a: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) } });
    expect(Array.from(y.y.data as Float32Array)).toEqual([7, 10, 15, 22]);
  });

  it('cuda without its execution provider names the missing library', () => {
    let msg = '';
    try { checkDevice('cuda'); } catch (e) { msg = (e as Error).message; }
    // Where the CUDA EP is installed this check passes; elsewhere it must say what is missing.
    if (msg) expect(msg).toMatch(/libonnxruntime_providers_cuda|onnxruntime_providers_cuda\.dll/);
  });

  it('webgpu either computes the CPU result or says which driver is missing', async () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [2, 2]);
    g.output(g.matmul(a, a), 'y');
    try {
      const s = await Session.create(g.toModel(), { device: 'webgpu' });
      const y = await s.run({ a: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) } });
      expect(Array.from(y.y.data as Float32Array)).toEqual([7, 10, 15, 22]);
    } catch (e) {
      expect((e as Error).message).toMatch(/device webgpu: .*Vulkan/);
    }
  });
});
