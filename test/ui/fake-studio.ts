// A scripted StudioApi for the component tests: answers from a table, records the calls, and
// emits events on demand (what window.studio would do).
import type { AppInfo, MethodName, ModelInfo, Params, Result, StudioApi, StudioEvent } from '../../engine/api.ts';
import { ApiError, parseParams, parseResult } from '../../engine/api.ts';
import type { Connection } from '../../renderer/src/lib/studio.ts';

type Handler<M extends MethodName> = (p: Params<M>) => Result<M> | Promise<Result<M>>;
export type Handlers = { [M in MethodName]?: Handler<M> };

export const INFO: AppInfo = {
  version: '0.1.0',
  node: '20',
  platform: 'linux-x64',
  shell: 'test',
  features: { dialogs: false },
  project: null,
  defaultOutDir: '/tmp/runs',
};

const modules = [0, 1].flatMap((b) => [
  { name: `transformer.h.${b}.attn.c_attn`, inFeatures: 32, outFeatures: 96 },
  { name: `transformer.h.${b}.attn.c_proj`, inFeatures: 32, outFeatures: 32 },
  { name: `transformer.h.${b}.mlp.c_fc`, inFeatures: 32, outFeatures: 128 },
  { name: `transformer.h.${b}.mlp.c_proj`, inFeatures: 128, outFeatures: 32 },
]);

/** A GPT-2-shaped model whose counts follow the LoRA settings (enough for the views). */
export function modelInfo(p: Params<'models.inspect'>): ModelInfo {
  const base = 10_000;
  const r = p.lora?.r ?? 8;
  const t = p.lora?.targets ?? [];
  const hit = modules.filter((m) => (typeof t === 'string' ? true : t.length === 0 ? m.name.endsWith('c_attn') : t.some((x) => m.name === x || m.name.endsWith(`.${x}`))));
  const lora = hit.reduce((s, m) => s + r * (m.inFeatures + m.outFeatures), 0);
  const full = p.method === 'full';
  const trainable = full ? base : lora;
  const all = full ? base : base + lora;
  return {
    dir: p.dir,
    architecture: 'GPT2LMHeadModel',
    config: { n_layer: 2, n_embd: 32, n_head: 4, n_positions: 32, vocab_size: 128 },
    linearModules: modules,
    defaultTargets: ['c_attn'],
    method: full ? 'full' : 'lora',
    trainableParams: trainable,
    allParams: all,
    line: `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / all).toFixed(4)}`,
    tokenizer: 'tokenizer.json',
  };
}

export class FakeStudio implements StudioApi {
  readonly shell = 'browser' as const;
  readonly calls: { method: MethodName; params: unknown }[] = [];
  private listeners = new Set<(e: StudioEvent) => void>();
  handlers: Handlers;

  constructor(handlers: Handlers = {}) {
    this.handlers = {
      'app.info': () => INFO,
      'projects.current': () => ({ project: null }),
      'runs.list': () => ({ runs: [] }),
      'models.inspect': modelInfo,
      'runs.estimate': (p) => ({ peakRssMb: 200 + p.batchSize * p.maxLength * 0.1, stepS: 0.05, weightsMb: 150, activationsMb: p.batchSize * p.maxLength * 0.1, totalMemoryMb: 16_384, availableMemoryMb: 8192, fits: true }),
      ...handlers,
    };
  }

  async invoke<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    const checked = parseParams(method, params); // the renderer must send valid params
    this.calls.push({ method, params: checked });
    const h = this.handlers[method] as Handler<M> | undefined;
    if (!h) throw new ApiError('unavailable', `${method} is not scripted in this test`);
    return parseResult(method, await h(checked));
  }

  on(listener: (e: StudioEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: StudioEvent): void {
    for (const l of this.listeners) l(e);
  }

  callsOf(method: MethodName): unknown[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }

  connection(): Connection {
    return { api: this, onConnection: (l) => (l('open'), () => {}) };
  }
}
