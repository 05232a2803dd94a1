import { describe, expect, it } from 'vitest';
import {
  datasetStats,
  IGNORE_INDEX,
  lengthHistogram,
  packForCausalLM,
  padBatch,
  shuffled,
  holdOutSplit,
  truncate,
} from '../../engine/data/index.ts';
import { planLabels } from '../../engine/data/labels.ts';
import { compileTemplate } from '../../engine/data/template.ts';

describe('packForCausalLM', () => {
  it('puts EOS between documents and cuts blocks, keeping the last partial block', () => {
    const blocks = packForCausalLM([[1, 2, 3], [4, 5], [6]], 3, 99);
    expect(blocks.map((b) => Array.from(b))).toEqual([
      [1, 2, 3],
      [99, 4, 5],
      [99, 6],
    ]);
    expect(blocks[0]).toBeInstanceOf(Int32Array);
  });

  it('drops the last partial block only when asked', () => {
    const blocks = packForCausalLM([[1, 2, 3], [4, 5], [6]], 3, 99, { dropLast: true });
    expect(blocks.map((b) => Array.from(b))).toEqual([
      [1, 2, 3],
      [99, 4, 5],
    ]);
  });

  it('without EOS it concatenates; empty documents add nothing', () => {
    expect(packForCausalLM([[1, 2], [], [3, 4, 5]], 2, null).map((b) => Array.from(b))).toEqual([[1, 2], [3, 4], [5]]);
    expect(packForCausalLM([[1], [], [2]], 4, 0).map((b) => Array.from(b))).toEqual([[1, 0, 2]]);
    expect(packForCausalLM([], 4, 0)).toEqual([]);
  });

  it('refuses a bad block size', () => {
    expect(() => packForCausalLM([[1]], 0, null)).toThrow(/blockSize/);
  });
});

describe('padBatch', () => {
  it('truncates, pads right, masks and sets labels to -100 on padding', () => {
    const b = padBatch([[5, 6, 7, 8, 9], [1, 2]], 4, 0);
    expect(Array.from(b.inputIds)).toEqual([5, 6, 7, 8, 1, 2, 0, 0]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    expect(Array.from(b.labels)).toEqual([5, 6, 7, 8, 1, 2, IGNORE_INDEX, IGNORE_INDEX]);
    expect(IGNORE_INDEX).toBe(-100);
  });

  it('pads with the pad id even when it is a real token (GPT-2 pad = EOS) and masks it out', () => {
    const b = padBatch([[50256, 3]], 4, 50256);
    expect(Array.from(b.inputIds)).toEqual([50256, 3, 50256, 50256]);
    expect(Array.from(b.labels)).toEqual([50256, 3, -100, -100]);
  });

  it('left padding and left truncation', () => {
    const b = padBatch([[1, 2, 3, 4], [7]], 3, 0, { side: 'left', truncation: 'left' });
    expect(Array.from(b.inputIds)).toEqual([2, 3, 4, 0, 0, 7]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 0, 0, 1]);
  });

  it('takes typed arrays too', () => {
    const b = padBatch([Int32Array.of(4, 5)], 3, 0);
    expect(Array.from(b.inputIds)).toEqual([4, 5, 0]);
  });

  it('truncate keeps a trailing [SEP]', () => {
    expect(truncate([101, 1, 2, 3, 102], 4, 102)).toEqual([101, 1, 2, 102]);
    expect(truncate([1, 2, 3], 2)).toEqual([1, 2]);
  });
});

describe('seeded split (holdOutSplit, the one rule of every task)', () => {
  const items = Array.from({ length: 100 }, (_, i) => ({ id: i, label: i % 4 === 0 ? 1 : 0 }));

  it('is deterministic for a seed, differs across seeds, partitions the data and keeps the order', () => {
    const a = holdOutSplit(items, 0.2, 7);
    const b = holdOutSplit(items, 0.2, 7);
    const c = holdOutSplit(items, 0.2, 8);
    expect(a).toEqual(b);
    expect(a.val.map((x) => x.id)).not.toEqual(c.val.map((x) => x.id));
    expect(a.val).toHaveLength(20);
    expect(a.train).toHaveLength(80);
    expect(new Set([...a.train, ...a.val].map((x) => x.id)).size).toBe(100);
    const ids = a.val.map((x) => x.id);
    expect(ids).toEqual([...ids].sort((p, q) => p - q));
  });

  it('stratifies by label when asked, drawing from the same seeded stream', () => {
    const s = holdOutSplit(items, 0.2, 1, { stratify: (x) => x.label });
    expect(s.val.filter((x) => x.label === 1)).toHaveLength(5);
    expect(s.val.filter((x) => x.label === 0)).toHaveLength(15);
    expect(holdOutSplit(items, 0.2, 1, { stratify: (x) => x.label })).toEqual(s);
    // one class: the same items as the plain split
    expect(holdOutSplit(items, 0.2, 1, { stratify: () => 'all' })).toEqual(holdOutSplit(items, 0.2, 1));
  });

  it('keeps at least one item on each side; ratio 0 or a single item holds out nothing', () => {
    const s = holdOutSplit([1, 2], 0.01, 3);
    expect(s.train).toHaveLength(1);
    expect(s.val).toHaveLength(1);
    expect(holdOutSplit([1, 2, 3], 0.99, 3).train).toHaveLength(1);
    expect(holdOutSplit([1, 2, 3], 0, 3)).toEqual({ train: [1, 2, 3], val: [] });
    expect(holdOutSplit([1], 0.5, 3)).toEqual({ train: [1], val: [] });
    const tiny = holdOutSplit([{ l: 'a' }, { l: 'b' }, { l: 'c' }], 0.01, 2, { stratify: (x) => x.l });
    expect([tiny.train.length, tiny.val.length]).toEqual([2, 1]);
    const all = holdOutSplit([{ l: 'a' }, { l: 'b' }], 0.99, 2, { stratify: (x) => x.l });
    expect([all.train.length, all.val.length]).toEqual([1, 1]);
  });

  it('shuffled is a seeded permutation', () => {
    const xs = Array.from({ length: 10 }, (_, i) => i);
    expect(shuffled(xs, 3)).toEqual(shuffled(xs, 3));
    expect([...shuffled(xs, 3)].sort((a, b) => a - b)).toEqual(xs);
  });
});

describe('statistics', () => {
  it('examples, label balance, token stats and a histogram', () => {
    const ex = [
      { text: 'aa', label: 0 },
      { text: 'bbb', label: 1 },
      { text: 'c', label: 1 },
      { text: 'dddd', label: 1 },
    ];
    const st = datasetStats(ex, { labelNames: ['neg', 'pos'], tokenLengths: [2, 10, 1, 7], maxLength: 5, bins: 4 });
    expect(st.examples).toBe(4);
    expect(st.characters).toBe(10);
    expect(st.labels).toEqual({ neg: 1, pos: 3 });
    expect(st.tokens).toBe(20);
    expect(st.maxTokens).toBe(10);
    expect(st.minTokens).toBe(1);
    expect(st.meanTokens).toBe(5);
    expect(st.truncated).toBe(2);
    expect(st.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(4);
  });

  it('histogram bins cover the maximum', () => {
    const h = lengthHistogram([0, 5, 9, 10], 2);
    expect(h.edges).toEqual([0, 6, 12]);
    expect(h.counts).toEqual([2, 2]);
  });
});

describe('labels', () => {
  it('known vocabularies fix the class order', () => {
    expect(planLabels(new Map([['pos', 3], ['neg', 2]])).names).toEqual(['neg', 'pos']);
    expect(planLabels(new Map([['spam', 1], ['ham', 9]])).names).toEqual(['ham', 'spam']);
    expect(planLabels(new Map([['positive', 1]])).names).toEqual(['negative', 'positive']);
    expect(planLabels(new Map([['true', 1], ['false', 1]])).names).toEqual(['false', 'true']);
  });

  it('stray values next to a known vocabulary are unknown', () => {
    const p = planLabels(new Map([['pos', 50], ['neg', 50], ['maybe', 1]]));
    expect(p.names).toEqual(['neg', 'pos']);
    expect([...p.unknown.keys()]).toEqual(['maybe']);
  });

  it('integers sort numerically; 0..K-1 keep their value', () => {
    const p = planLabels(new Map([['2', 1], ['0', 1], ['1', 1]]));
    expect(p.names).toEqual(['0', '1', '2']);
    expect(p.index.get('2')).toBe(2);
    const r = planLabels(new Map([['10', 1], ['7', 1], ['1', 1]]));
    expect(r.names).toEqual(['1', '7', '10']);
    expect(r.index.get('10')).toBe(2);
  });

  it('given names map names and indices; others are unknown', () => {
    const p = planLabels(new Map([['neg', 1], ['1', 1], ['x', 1]]), { labelNames: ['neg', 'pos'] });
    expect(p.index.get('neg')).toBe(0);
    expect(p.index.get('1')).toBe(1);
    expect([...p.unknown.keys()]).toEqual(['x']);
  });
});

describe('templates', () => {
  it('renders fields, list styles, nested fields and literal braces', () => {
    const t = compileTemplate('{{{title}}} {meta.by}\n{items}\n{items:numbered}\n{items:inline}');
    const out = t.render({ title: 'T', meta: { by: 'me' }, items: ['a', 'b'] });
    expect(out).toEqual({ text: '{T} me\n- a\n- b\n1. a\n2. b\na, b' });
    expect(t.render({ title: 'T', items: [] })).toEqual({ missing: 'meta.by' });
  });

  it('reports template mistakes', () => {
    expect(() => compileTemplate('no fields')).toThrow(/no \{field\}/);
    expect(() => compileTemplate('{x:shout}')).toThrow(/unknown style/);
    expect(() => compileTemplate('x}')).toThrow(/stray/);
  });
});
