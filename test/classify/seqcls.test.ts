// Sequence classification against the PyTorch fixtures (make_distilbert_fixtures.py): DistilBERT
// with a PEFT LoRA adapter and trained heads, GPT2ForSequenceClassification pooling, metrics.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { readAdapterInto } from '../../engine/lora/apply.ts';
import { buildStepGraph } from '../../engine/train/step-graph.ts';
import { seqClsLoss } from '../../engine/train/tasks/seq-cls.ts';
import { loadSeqClsModel, seqClsFeeds, seqClsForward, attnBiasShape } from '../../engine/models/seq-cls.ts';
import { Graph, type Value } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { ClassifierSession, encodeForClassification, loadClassifier } from '../../engine/train/classify.ts';
import { classificationMetrics } from '../../engine/train/metrics.ts';
import { FIXTURES } from '../helpers/tiny-model.ts';

const DB = path.join(FIXTURES, 'distilbert-tiny');
const ADAPTER = path.join(FIXTURES, 'distilbert-lora');
const TEXTS = ['I really loved this movie!', 'The plot was boring and the acting awful.', 'Not bad, ok.'];

function reference(file: string) {
  const st = openSafetensors(path.join(FIXTURES, file));
  const ids = st.readInt64('input_ids'), mask = st.readInt64('attention_mask');
  const [B, T] = st.tensors.get('input_ids')!.shape;
  const rows = Array.from({ length: B }, (_, b) => {
    const r: number[] = [];
    for (let t = 0; t < T; t++) if (mask[b * T + t]) r.push(Number(ids[b * T + t]));
    return r;
  });
  const get = (n: string) => st.readFloat32(n);
  return { rows, B, T, get, has: (n: string) => st.tensors.has(n) };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));

describe('DistilBERT for sequence classification', () => {
  it('the WordPiece tokenizer gives the fixture ids', async () => {
    const ref = reference('distilbert-reference.safetensors');
    const tok = await loadTokenizer(DB);
    expect(TEXTS.map((t) => encodeForClassification(tok, t, 32))).toEqual(ref.rows);
  });

  it('merged LoRA + trained heads give PyTorch logits', async () => {
    const ref = reference('distilbert-reference.safetensors');
    const m = loadClassifier(DB, ADAPTER);
    expect(m.numLabels).toBe(2);
    const s = await ClassifierSession.create(m, ref.B, ref.T, { threads: 1 });
    const logits = (await s.logits(ref.rows)).flatMap((x) => [...x]);
    await s.release();
    expect(maxDiff(logits, ref.get('logits'))).toBeLessThan(1e-4);
  });

  it('unmerged LoRA (the training graph) gives the same logits; heads without LoRA differ', async () => {
    const ref = reference('distilbert-reference.safetensors');
    const m = loadSeqClsModel(DB);
    const { plan } = readAdapterInto(m, ADAPTER);
    const g = new Graph();
    const { B, T } = ref;
    const ids = g.input('ids', 'int64', [B, T]), attnBias = g.input('attn_bias', 'float32', attnBiasShape(m, B, T)), pool = g.input('pool', 'float32', [B, 1, T]);
    const cache = new Map<string, Value>();
    const param = (n: string) => cache.get(n) ?? (cache.set(n, g.initializer(n, 'float32', m.weights.get(n)!.shape, m.weights.get(n)!.data)), cache.get(n)!);
    const byMod = new Map(plan.layers.map((l) => [l.module.name, l]));
    const hook = (mod: string, x: Value, y: Value) => {
      const l = byMod.get(mod);
      return l ? g.add(y, l.delta(g, x, g.initializer(l.aName, 'float32', l.aShape, l.A), g.initializer(l.bName, 'float32', l.bShape, l.B))) : y;
    };
    g.output(seqClsForward(g, m, param, { ids, attnBias, pool }, hook), 'logits');
    const s = await Session.create(g.toModel(), { threads: 1 });
    const f = seqClsFeeds(m, ref.rows, B, T);
    const feeds = {
      ids: { dtype: 'int64' as const, shape: [B, T], data: f.ids },
      attn_bias: { dtype: 'float32' as const, shape: attnBiasShape(m, B, T), data: f.attnBias },
      pool: { dtype: 'float32' as const, shape: [B, 1, T], data: f.pool },
    };
    const logits = (await s.run(feeds)).logits.data as Float32Array;
    await s.release();
    expect(maxDiff(logits, ref.get('logits'))).toBeLessThan(1e-4);
    expect(maxDiff(ref.get('logits_heads_only'), ref.get('logits'))).toBeGreaterThan(1e-2);
  });
});

describe('GPT-2 for sequence classification', () => {
  it('pools the score head at the last non-padding token, as GPT2ForSequenceClassification', async () => {
    const ref = reference('gpt2-seqcls-reference.safetensors');
    const m = loadSeqClsModel(path.join(FIXTURES, 'gpt2-tiny-f32'), { numLabels: 3 });
    expect(m.spec.family.name).toBe('gpt2');
    m.weights.get('score.weight')!.data.set(ref.get('score.weight'));
    const s = await ClassifierSession.create(m, ref.B, ref.T, { threads: 1 });
    const logits = (await s.logits(ref.rows)).flatMap((x) => [...x]);
    await s.release();
    expect(maxDiff(logits, ref.get('logits'))).toBeLessThan(1e-4);
  });
});

describe('classification metrics', () => {
  it('accuracy, binary precision/recall/F1 and the confusion matrix as scikit-learn', () => {
    const y = [1, 1, 1, 0, 0, 0, 1, 0], p = [1, 0, 1, 0, 1, 0, 1, 0];
    const r = classificationMetrics(y, p, 2);
    expect(r.confusion).toEqual([[3, 1], [1, 3]]);
    expect(r.accuracy).toBe(0.75);
    expect(r.precision).toBe(0.75);
    expect(r.recall).toBe(0.75);
    expect(r.f1).toBeCloseTo(0.75, 12);
    const m = classificationMetrics([0, 1, 2, 2], [0, 2, 2, 2], 3);
    expect(m.perClass[1]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(m.f1).toBeCloseTo((1 + 0 + 0.8) / 3, 12);
  });
});

describe('DistilBERT classifier training step', () => {
  it('loss and gradients (LoRA A/B unmerged, heads) equal PyTorch', async () => {
    const ref = reference('distilbert-reference.safetensors');
    const m = loadSeqClsModel(DB);
    const { plan } = readAdapterInto(m, ADAPTER);
    const { B, T } = ref;
    const sg = await buildStepGraph(m.weights, plan, m.spec.family.isNoDecay, seqClsLoss(m, B, T), { threads: 1 });
    const f = seqClsFeeds(m, ref.rows, B, T);
    const feeds: Parameters<Session['run']>[0] = {
      ids: { dtype: 'int64', shape: [B, T], data: f.ids },
      attn_bias: { dtype: 'float32', shape: attnBiasShape(m, B, T), data: f.attnBias },
      pool: { dtype: 'float32', shape: [B, 1, T], data: f.pool },
      labels: { dtype: 'int64', shape: [B], data: BigInt64Array.from([1n, 0n, 1n]) },
      row_weights: { dtype: 'float32', shape: [B], data: new Float32Array(B).fill(1 / B) },
    };
    for (const t of sg.trainables) feeds[t.name] = { dtype: 'float32', shape: t.shape, data: t.data };
    for (const d of sg.dropouts) feeds[d.name] = { dtype: 'float32', shape: d.shape, data: new Float32Array(d.shape.reduce((a, b) => a * b, 1)).fill(1) };
    const out = await sg.session.run(feeds);
    await sg.session.release();
    expect(Math.abs((out.loss.data[0] as number) - ref.get('loss')[0])).toBeLessThan(1e-5);
    expect(sg.trainables.map((t) => t.name).sort()).toHaveLength(4 * 2 + 4);
    for (const t of sg.trainables) {
      const want = ref.get(`grad.${t.name}`);
      const got = out[`grad:${t.name}`].data as Float32Array;
      const scale = Math.max(...want.map(Math.abs));
      expect(maxDiff(got, want) / scale, t.name).toBeLessThan(1e-4);
    }
  });
});
