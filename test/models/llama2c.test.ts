// llama2.c import: stories260K (a really trained TinyStories Llama, ../shared/data) converted to
// an HF folder must behave like run.c: BOS prepended, run.c's tokenization, the reference greedy
// tokens of every case, and LoRA fine-tuning that lowers a text's perplexity.
import { existsSync, mkdtempSync, readFileSync, truncateSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { Generator } from '../../engine/generate/generator.ts';
import { convertLlama2c, permuteRotary } from '../../engine/models/llama2c.ts';
import { frozenParams } from '../../engine/models/params.ts';
import { lmLogits, loadModel } from '../../engine/models/registry.ts';
import { Graph } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { perplexity } from '../../engine/train/eval.ts';
import { train } from '../../engine/train/trainer.ts';
import { SHARED } from '../helpers/tiny-model.ts';

const SRC = path.join(SHARED, 'stories260K');
const have = existsSync(path.join(SRC, 'stories260K.bin'));
if (!have) console.warn(`skipping llama2.c tests: ${SRC} is absent`);
const d = have ? describe : describe.skip;

interface Case { prompt: string; steps: number; prompt_token_ids_with_bos: number[]; all_token_ids: number[]; greedy_text: string; logits_pos0_first16: number[]; logits_last_prompt_pos_first16: number[] }

/** run.c's encode(): dummy-prefix " ", codepoints (else bytes + 3), then merge the best-scoring pair, leftmost first. */
function runcEncode(text: string, tokBin: Buffer, V: number): number[] {
  const dv = new DataView(tokBin.buffer, tokBin.byteOffset, tokBin.byteLength);
  const vocab: string[] = [], scores: number[] = [];
  let off = 4;
  for (let i = 0; i < V; i++) {
    scores.push(dv.getFloat32(off, true));
    const len = dv.getInt32(off + 4, true);
    vocab.push(tokBin.subarray(off + 8, off + 8 + len).toString('utf8'));
    off += 8 + len;
  }
  const lookup = new Map<string, number>();
  vocab.forEach((s, i) => { if (!lookup.has(s)) lookup.set(s, i); });
  const tokens: number[] = [1];
  const src = text === '' ? '' : ` ${text}`;
  for (const ch of src) {
    const id = lookup.get(ch);
    if (id !== undefined) tokens.push(id);
    else for (const b of Buffer.from(ch, 'utf8')) tokens.push(b + 3);
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 1; i < tokens.length - 1; i++) {
      const id = lookup.get(vocab[tokens[i]] + vocab[tokens[i + 1]]);
      if (id !== undefined && scores[id] > best) { best = scores[id]; bestId = id; bestIdx = i; }
    }
    if (bestIdx < 0) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return tokens;
}

d('llama2.c import (stories260K)', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'llama2c-'));
  const ref = have ? JSON.parse(readFileSync(path.join(SRC, 'reference_outputs.json'), 'utf8')) as { cases: Case[] } : { cases: [] };
  const converted = have ? convertLlama2c(path.join(SRC, 'stories260K.bin'), path.join(SRC, 'tok512.bin'), out) : null;

  it('writes an HF LlamaForCausalLM folder with the model\'s 260,032 parameters (tied classifier)', () => {
    expect(converted!.params).toBe(260032);
    const m = loadModel(out);
    expect(m.spec.family.name).toBe('llama');
    expect(m.spec.cache).toEqual({ layers: 5, heads: 4, headDim: 8 });
    expect(m.spec.lmHead).toBe('model.embed_tokens.weight');
    expect(m.spec.maxPositions).toBe(512);
  });

  it('the tokenizer prepends BOS and tokenizes as run.c does', async () => {
    const tok = await loadTokenizer(out);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
    for (const c of ref.cases) expect(tok.encode(c.prompt)).toEqual(c.prompt_token_ids_with_bos);
    const bin = readFileSync(path.join(SRC, 'tok512.bin'));
    const texts = [
      ...ref.cases.map((c) => c.greedy_text),
      'Tim and Sue went to the zoo. They saw a big lion! "Wow," said Tim.',
      '  leading spaces, tabs\tand\nnewlines\n\n', 'Ünïcödé ™ 日本語 🙂 <s> </s>'.replace(/<\/?s>/g, 'x'), 'a', ' ',
    ];
    for (const t of texts) expect(tok.encode(t)).toEqual(runcEncode(t, bin, 512));
    expect(tok.decode(tok.encode(ref.cases[1].greedy_text), { skipSpecialTokens: true })).toBe(ref.cases[1].greedy_text);
  });

  it('logits at the first and last prompt positions match the run.c port (first 16)', async () => {
    const m = loadModel(out);
    for (const c of ref.cases) {
      const ids = c.prompt_token_ids_with_bos, T = ids.length;
      const g = new Graph();
      const idsV = g.input('ids', 'int64', [1, T]);
      const bias = g.input('bias', 'float32', [1, 1, T, T]);
      g.output(lmLogits(g, m.spec, frozenParams(g, m.weights), { ids: idsV, attnBias: bias }).logits, 'logits');
      const s = await Session.create(g.toModel());
      const causal = new Float32Array(T * T).map((_, i) => (i % T <= Math.floor(i / T) ? 0 : -1e9));
      const r = await s.run({ ids: { dtype: 'int64', shape: [1, T], data: BigInt64Array.from(ids.map(BigInt)) }, bias: { dtype: 'float32', shape: [1, 1, T, T], data: causal } });
      const logits = r.logits.data as Float32Array;
      for (let j = 0; j < 16; j++) {
        expect(Math.abs(logits[j] - c.logits_pos0_first16[j])).toBeLessThan(1e-4);
        expect(Math.abs(logits[(T - 1) * 512 + j] - c.logits_last_prompt_pos_first16[j])).toBeLessThan(1e-4);
      }
      await s.release();
    }
  });

  it('greedy generation (KV cache) reproduces every reference case token for token', async () => {
    const gen = await Generator.create(loadModel(out));
    const tok = await loadTokenizer(out);
    for (const c of ref.cases) {
      const prompt = tok.encode(c.prompt);
      const want = c.all_token_ids.slice(prompt.length);
      const r = await gen.generate(prompt, { doSample: false, maxNewTokens: want.length, eosTokenId: null }, tok);
      expect(r.tokens[0]).toEqual(want);
      expect(c.prompt + r.outputs[0]).toBe(c.greedy_text); // the new text keeps its leading space
      expect(tok.decode(c.all_token_ids, { skipSpecialTokens: true })).toBe(c.greedy_text);
    }
    await gen.release();
  });

  it('LoRA fine-tuning on a short text lowers that text\'s perplexity', async () => {
    const text = path.join(out, 'story.txt');
    writeFileSync(text, 'The purple dragon named Bob sang songs to the moon every night. The moon smiled and sang back to Bob.\n');
    const before = await perplexity({ model: out, text });
    const run = path.join(out, 'run');
    await train({ model: out, data: text, out: run, method: 'lora', lr: 1e-2, maxSteps: 30, batchSize: 1, maxLength: 64, valRatio: 0, logEvery: 100, evalEvery: 0,
      lora: { r: 8, alpha: 16, dropout: 0, bias: 'none', targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], useRslora: false, init: 'kaiming' } });
    const adapter = existsSync(path.join(run, 'adapter_config.json')) ? run : path.join(run, 'adapter');
    const cfg = JSON.parse(readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8'));
    expect(cfg.target_modules.sort()).toEqual(['k_proj', 'o_proj', 'q_proj', 'v_proj']);
    const after = await perplexity({ model: out, adapter, text });
    expect(before.tokens).toBe(after.tokens);
    expect(after.perplexity).toBeLessThan(before.perplexity * 0.7);
  }, 120_000);

  it('refuses a model whose size disagrees with its header, and a tokenizer of the wrong vocabulary, in one line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'llama2c-bad-'));
    const bad = path.join(dir, 'short.bin');
    copyFileSync(path.join(SRC, 'stories260K.bin'), bad);
    truncateSync(bad, 1_000_000);
    expect(() => convertLlama2c(bad, path.join(SRC, 'tok512.bin'), path.join(dir, 'o1'))).toThrow(/short\.bin: is 1000000 bytes, but its header \(dim 64, .*\) implies 1056540$/);
    const tok = path.join(dir, 'tok.bin');
    copyFileSync(path.join(SRC, 'tok512.bin'), tok);
    truncateSync(tok, 3000);
    expect(() => convertLlama2c(path.join(SRC, 'stories260K.bin'), tok, path.join(dir, 'o2'))).toThrow(/tok\.bin: (ends at token \d+|token \d+ has length)/);
    try { convertLlama2c(bad, tok, path.join(dir, 'o3')); } catch (e) { expect((e as Error).message).not.toContain('\n'); }
  });

  it('permutes q/k rows from interleaved pairs to rotate_half halves (HF convert_llama_weights_to_hf.py)', () => {
    // one head of 4 rows x 1 column: rows (0,1),(2,3) are pairs -> halves [0,2 | 1,3]
    expect(Array.from(permuteRotary(Float32Array.from([0, 1, 2, 3]), 1, 4, 1))).toEqual([0, 2, 1, 3]);
    expect(Array.from(permuteRotary(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 2, 8, 1))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });
});
