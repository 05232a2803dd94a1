// A GPT-2 decoder with past key/values as a standalone ONNX file, laid out the way Optimum's
// "text-generation-with-past" export is (what transformers.js v3 loads from onnx/model.onnx):
//   inputs  input_ids [B, T] int64, attention_mask [B, P+T] int64, position_ids [B, T] int64,
//           past_key_values.{i}.key / .value [B, H, P, head_dim] float32
//   outputs logits [B, T, vocab], present.{i}.key / .value [B, H, P+T, head_dim]
// The causal + padding attention bias is computed inside the graph from attention_mask.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LoadedGPT2, gpt2ForwardCached } from '../models/gpt2.ts';
import { Graph, type Value } from '../onnx/graph.ts';

export function gpt2DecoderWithPast(model: LoadedGPT2): Graph {
  const c = model.config;
  const H = c.nHead, hd = c.nEmbd / c.nHead;
  const g = new Graph();
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  const past = Array.from({ length: c.nLayer }, (_, i) => ({
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

  const cache = new Map<string, Value>();
  const param = (name: string): Value => {
    let v = cache.get(name);
    if (!v) {
      const w = model.weights.get(name);
      if (!w) throw new Error(`model has no tensor ${name}`);
      v = g.initializer(name, 'float32', w.shape, w.data);
      cache.set(name, v);
    }
    return v;
  };
  const out = gpt2ForwardCached(g, c, param, { ids, positionIds, attnBias, past });
  g.output(out.logits, 'logits');
  out.present.forEach((p, i) => { g.output(p.k, `present.${i}.key`); g.output(p.v, `present.${i}.value`); });
  return g;
}

/** Writes <out>/onnx/model.onnx; returns its path. */
export function exportDecoderOnnx(model: LoadedGPT2, out: string): string {
  const dir = path.join(out, 'onnx');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'model.onnx');
  writeFileSync(file, gpt2DecoderWithPast(model).toModel({ producer: 'lora-studio' }));
  return file;
}
