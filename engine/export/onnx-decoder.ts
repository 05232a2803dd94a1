// A causal LM's decoder with past key/values as a standalone ONNX file, laid out the way Optimum's
// "text-generation-with-past" export is (what transformers.js v3 loads from onnx/model.onnx):
//   inputs  input_ids [B, T] int64, attention_mask [B, P+T] int64, position_ids [B, T] int64,
//           past_key_values.{i}.key / .value [B, kv_heads, P, head_dim] float32
//   outputs logits [B, T, vocab], present.{i}.key / .value [B, H, P+T, head_dim]
// The causal + padding attention bias is computed inside the graph from attention_mask.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lmLogits } from '../models/registry.ts';
import type { LoadedModel } from '../models/types.ts';
import { Graph, type Value } from '../onnx/graph.ts';
import { frozenParams } from '../models/params.ts';

export function decoderWithPast(model: LoadedModel): Graph {
  const { layers, heads: H, headDim: hd } = model.spec.cache;
  const g = new Graph();
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  const past = Array.from({ length: layers }, (_, i) => ({
    k: g.input(`past_key_values.${i}.key`, 'float32', ['batch_size', H, 'past_sequence_length', hd]),
    v: g.input(`past_key_values.${i}.value`, 'float32', ['batch_size', H, 'past_sequence_length', hd]),
  }));

  // bias[b, 0, t, s] = 0 where s <= P + t and attention_mask[b, s] = 1, else -1e9.
  const scalarInt = (v: Value, idx: number): Value => {
    const shape = g.node('Shape', [v], [{ dtype: 'int64', shape: [v.shape.length] }])[0];
    return g.gather(shape, g.constant('int64', [], [idx]), 0);
  };
  const S = scalarInt(mask, 1), T = scalarInt(ids, 1);
  const P = g.sub(S, T);
  const one = g.constant('int64', [], [1]), zero = g.constant('int64', [], [0]);
  const rows = g.node('Range', [P, S, one], [{ dtype: 'int64', shape: ['sequence_length'] }])[0];
  const cols = g.node('Range', [zero, S, one], [{ dtype: 'int64', shape: ['total_sequence_length'] }])[0];
  const causal = g.compare('LessOrEqual', g.unsqueeze(cols, [0]), g.unsqueeze(rows, [1])); // [T, S]
  const keep = g.compare('Equal', g.unsqueeze(mask, [1, 2]), g.constant('int64', [], [1])); // [B, 1, 1, S]
  const allowed = g.node('And', [keep, causal], [{ dtype: 'bool', shape: ['batch_size', 1, 'sequence_length', 'total_sequence_length'] }])[0];
  const attnBias = g.where(allowed, g.scalar(0), g.scalar(-1e9));

  const out = lmLogits(g, model.spec, frozenParams(g, model.weights), { ids, positionIds, attnBias, past });
  g.output(out.logits, 'logits');
  out.present.forEach((p, i) => { g.output(p.k, `present.${i}.key`); g.output(p.v, `present.${i}.value`); });
  return g;
}

/** Writes <out>/onnx/model.onnx; returns its path. */
export function exportDecoderOnnx(model: LoadedModel, out: string): string {
  const dir = path.join(out, 'onnx');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  writeFileSync(file, decoderWithPast(model).toModel({ producer: 'lora-studio' }));
  return file;
}
