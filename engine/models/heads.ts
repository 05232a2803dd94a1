// The sequence-classification head decoders share (GPT2/Llama/Qwen2/MistralForSequenceClassification):
// a bias-free `score` [num_labels, hidden] on every position, pooled at the last non-padding token.

import type { Graph, Value } from '../onnx/graph.ts';
import type { LinearHook, ParamFn, SeqClsHead } from './types.ts';

export function scoreHead(architecture: string, hidden: number): SeqClsHead {
  return {
    architecture,
    shapes: (numLabels) => [['score.weight', [numLabels, hidden]]],
    modules: ['score'],
    pool: 'last',
    classify(g: Graph, param: ParamFn, h: Value, pool: Value, _hook?: LinearHook): Value {
      const [B] = h.shape as number[];
      const score = param('score.weight');
      const all = g.matmulT(h, score, false, true); // [B, T, C]
      return g.reshape(g.matmul(pool, all), [B, score.shape[0] as number]);
    },
  };
}
