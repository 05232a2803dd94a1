// AdamW's update for large tensors, off the main thread: a WebAssembly kernel (f64x2 SIMD) run by
// worker threads over a shared WebAssembly memory that holds the moments and staging slots.
//
// The kernel computes exactly what optimizer.ts's JavaScript kernel computes: each float32 value is
// widened to float64, every product, sum, square root and quotient is one IEEE float64 operation
// in the same order (WebAssembly has no fused multiply-add here and keeps subnormals), and the
// results are rounded to float32 on store. So its output is bit-identical to the JavaScript loop.
//
// The worker's code is a string run with `eval: true`, so it works the same under tsx, vitest and
// the bundled app (no separate file to locate at run time).

/** Bytes of the kernel module: `adamw(w, g, m, v, n, decay, c1, c2, b1, b2, stepSize, invBc2, eps)`
 * over `n` (even) float32 values at byte offsets w, g, m, v of the imported shared memory `env.mem`. */
export function kernelBytes(): Uint8Array {
  const u32 = (x: number): number[] => {
    const out: number[] = [];
    do {
      let b = x & 0x7f;
      x >>>= 7;
      if (x) b |= 0x80;
      out.push(b);
    } while (x);
    return out;
  };
  const str = (s: string) => [...u32(s.length), ...[...s].map((c) => c.charCodeAt(0))];
  const section = (id: number, body: number[]) => [id, ...u32(body.length), ...body];
  const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;
  // Parameters: 0 w, 1 g, 2 m, 3 v, 4 n (i32); 5 decay, 6 c1, 7 c2, 8 b1, 9 b2, 10 stepSize, 11 invBc2, 12 eps (f64).
  const params = [I32, I32, I32, I32, I32, F64, F64, F64, F64, F64, F64, F64, F64];
  // Locals: 13 j, 14 end (i32); 15..22 the splatted constants; 23 G, 24 M, 25 V (v128).
  const [J, END] = [13, 14];
  const [DECAY, C1, C2, B1, B2, STEP, INVBC2, EPS] = [15, 16, 17, 18, 19, 20, 21, 22];
  const [G, M, V] = [23, 24, 25];
  const get = (i: number) => [0x20, ...u32(i)], set = (i: number) => [0x21, ...u32(i)];
  const simd = (op: number) => [0xfd, ...u32(op)];
  const memarg = (align: number, offset = 0) => [...u32(align), ...u32(offset)];
  const addr = (base: number) => [...get(base), ...get(J), 0x6a]; // i32.add
  const load2 = (base: number) => [...addr(base), ...simd(0x5d), ...memarg(3), ...simd(0x5f)]; // v128.load64_zero, f64x2.promote_low_f32x4
  const store2 = (base: number, value: number[]) => [...addr(base), ...value, ...simd(0x5e), ...simd(0x5b), ...memarg(3), 0]; // f32x4.demote_f64x2_zero, v128.store64_lane 0
  const [ADD, SUB, MUL, DIV, SQRT] = [0xf0, 0xf1, 0xf2, 0xf3, 0xef].map(simd);
  const body: number[] = [
    // end = n * 4; constants splatted to both lanes.
    ...get(4), 0x41, 2, 0x74, ...set(END), // i32.const 2, i32.shl
    ...[5, 6, 7, 8, 9, 10, 11, 12].flatMap((p, k) => [...get(p), ...simd(0x14), ...set(DECAY + k)]), // f64x2.splat
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(J), ...get(END), 0x4f, 0x0d, 1, // i32.ge_u, br_if 1
    ...load2(1), ...set(G),
    // m' = b1 * m + c1 * g
    ...get(B1), ...load2(2), ...MUL, ...get(C1), ...get(G), ...MUL, ...ADD, ...set(M),
    // v' = b2 * v + (c2 * g) * g
    ...get(B2), ...load2(3), ...MUL, ...get(C2), ...get(G), ...MUL, ...get(G), ...MUL, ...ADD, ...set(V),
    ...store2(2, get(M)),
    ...store2(3, get(V)),
    // w' = w * decay - (stepSize * m') / (sqrt(v' * invBc2) + eps)
    ...store2(0, [...load2(0), ...get(DECAY), ...MUL, ...get(STEP), ...get(M), ...MUL, ...get(V), ...get(INVBC2), ...MUL, ...SQRT, ...get(EPS), ...ADD, ...DIV, ...SUB]),
    ...get(J), 0x41, 8, 0x6a, ...set(J), // j += 8
    0x0c, 0, 0x0b, 0x0b, // br 0, end loop, end block
    0x0b, // end function
  ];
  const locals = [2, ...u32(2), I32, ...u32(11), V128];
  const func = [...locals, ...body];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, ...u32(params.length), ...params, 0]),
    // env.mem: shared memory with a maximum (limits flag 3); the minimum is checked at instantiation.
    ...section(2, [1, ...str('env'), ...str('mem'), 0x02, 0x03, 1, ...u32(65536)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...str('adamw'), 0x00, 0]),
    ...section(10, [1, ...u32(func.length), ...func]),
  ];
  return new Uint8Array(bytes);
}

export interface KernelExports {
  adamw(w: number, g: number, m: number, v: number, n: number, decay: number, c1: number, c2: number,
    b1: number, b2: number, stepSize: number, invBc2: number, eps: number): void;
}

/** One chunk of work: byte offsets into the shared memory, `n` even. */
export interface ChunkTask {
  id: number;
  w: number; g: number; m: number; v: number; n: number;
  decay: number; c1: number; c2: number; b1: number; b2: number; stepSize: number; invBc2: number; eps: number;
}

export type WorkerMessage =
  | { type: 'begin'; module: WebAssembly.Module; memory: WebAssembly.Memory }
  | { type: 'end' }
  | ({ type: 'chunk' } & ChunkTask);

/** The worker: instantiates the kernel over the memory of one update, runs chunks, answers with the
 * chunk's id, and drops the memory at the end (so an optimizer's state is freed with the optimizer). */
export const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
let k = null;
parentPort.on('message', (t) => {
  if (t.type === 'begin') { k = new WebAssembly.Instance(t.module, { env: { mem: t.memory } }).exports; return; }
  if (t.type === 'end') { k = null; return; }
  k.adamw(t.w, t.g, t.m, t.v, t.n, t.decay, t.c1, t.c2, t.b1, t.b2, t.stepSize, t.invBc2, t.eps);
  parentPort.postMessage(t.id);
});
`;
