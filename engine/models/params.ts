// Weights as graph values: frozen ones become initializers (loaded into the session once),
// trainable ones graph inputs fed every step. The one place a graph binds parameter names.

import type { Graph, Value } from '../onnx/graph.ts';
import type { ParamFn, Tensor, Weights } from './types.ts';

export interface BindOptions {
  /** Names that become inputs instead of initializers. */
  trainable?: ReadonlySet<string>;
  /** Called once per trainable tensor, when the graph first uses it. */
  onTrainable?: (name: string, value: Value, tensor: Tensor) => void;
}

export function bindParams(g: Graph, weights: Weights, o: BindOptions = {}): ParamFn & { values: Map<string, Value> } {
  const values = new Map<string, Value>();
  const param = (name: string): Value => {
    let v = values.get(name);
    if (v) return v;
    const w = weights.get(name);
    if (!w) throw new Error(`model has no tensor ${name}`);
    if (o.trainable?.has(name)) {
      v = g.input(name, 'float32', w.shape);
      o.onTrainable?.(name, v, w);
    } else {
      v = g.initializer(name, 'float32', w.shape, w.data);
    }
    values.set(name, v);
    return v;
  };
  return Object.assign(param, { values });
}

export const frozenParams = (g: Graph, weights: Weights): ParamFn => bindParams(g, weights);
