// Weights as graph values: frozen ones become initializers (loaded into the session once),
// trainable ones graph inputs fed every step. The one place a graph binds parameter names.
// A LoRA run may keep its frozen base in low precision (BindOptions.base, engine/quant): then
// each frozen product weight is packed (f16, bf16, int8 or int4) the moment the graph first uses
// it, and our float32 copy can be dropped right away.

import type { Graph, Value } from '../onnx/graph.ts';
import type { BaseDtype } from '../quant/formats.ts';
import { packWeight } from '../quant/packed.ts';
import type { Layout, ParamFn, Tensor, Weights } from './types.ts';

export interface BaseStorage {
  dtype: BaseDtype;
  /** How the model multiplies with each product weight (linear modules and the LM head). */
  layouts: ReadonlyMap<string, Layout>;
  /** Named in errors. */
  model: string;
  /** Delete each frozen tensor from `weights` once the graph holds it packed. */
  release?: boolean;
  /** Frozen float32 tensors as fed inputs instead of initializers (models over the 2 GB protobuf limit). */
  feedF32?: boolean;
}

export interface BindOptions {
  /** Names that become inputs instead of initializers. */
  trainable?: ReadonlySet<string>;
  /** Called once per trainable tensor, when the graph first uses it. */
  onTrainable?: (name: string, value: Value, tensor: Tensor) => void;
  /** How frozen weights are stored (default: float32 initializers). */
  base?: BaseStorage;
}

/** Frozen tensors this large with no product role (token embeddings) are stored as f16 in a low-precision base. */
const LARGE = 1 << 20;

export function bindParams(g: Graph, weights: Weights, o: BindOptions = {}): ParamFn & { values: Map<string, Value> } {
  const values = new Map<string, Value>();
  const base = o.base;
  const param = (name: string): Value => {
    let v = values.get(name);
    if (v) return v;
    const w = weights.get(name);
    if (!w) throw new Error(`model has no tensor ${name}`);
    if (o.trainable?.has(name)) {
      v = g.input(name, 'float32', w.shape);
      o.onTrainable?.(name, v, w);
    } else if (base && base.dtype !== 'f32' && (base.layouts.has(name) || (w.shape.length === 2 && w.data.length >= LARGE))) {
      const layer = name.replace(/\.weight$/, '');
      v = packWeight(g, name, w, base.dtype, base.layouts.get(name) ?? null, { model: base.model, layer });
      if (base.release) weights.delete(name);
    } else if (base?.feedF32) {
      v = g.feedInput(name, 'float32', w.shape, w.data);
    } else {
      v = g.initializer(name, 'float32', w.shape, w.data);
    }
    values.set(name, v);
    return v;
  };
  return Object.assign(param, { values });
}

export const frozenParams = (g: Graph, weights: Weights): ParamFn => bindParams(g, weights);
