// The generic workflows on a Llama-family model: info's PEFT line, sequence classification against
// PyTorch, merge into an HF folder, the ONNX decoder export with a GQA cache, seq-cls training
// with the score head as modules_to_save, and the BOS/EOS rules of Llama tokenizers.
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { sentencePieceTokenizerJson } from '../../engine/data/sentencepiece-bpe.ts';
import { mergeToFolder } from '../../engine/export/hf-folder.ts';
import { causalAttentionBias } from '../../engine/models/attention.ts';
import { inspectModel } from '../../engine/models/inspect.ts';
import { frozenParams } from '../../engine/models/params.ts';
import { lmLogits, loadModel } from '../../engine/models/registry.ts';
import { loadSeqClsModel } from '../../engine/models/seq-cls.ts';
import { lmParamShapes, numel } from '../../engine/models/types.ts';
import { Graph } from '../../engine/onnx/graph.ts';
import { Session } from '../../engine/onnx/runtime.ts';
import { openSafetensors } from '../../engine/store/safetensors.ts';
import { ClassifierSession } from '../../engine/train/classify.ts';
import { windowsNll } from '../../engine/train/eval.ts';
import { train } from '../../engine/train/trainer.ts';

const FIX = path.join(import.meta.dirname, '..', 'fixtures');
const LLAMA = path.join(FIX, 'llama-tiny-f32');
const ref = openSafetensors(path.join(FIX, 'llama-reference.safetensors'));
const ids = ref.readInt64('input_ids');
const mask = Array.from(ref.readInt64('attention_mask'), Number);
const [B, T, V] = [2, 16, 96];
const rows = [0, 1].map((b) => Array.from(ids.subarray(b * T, (b + 1) * T), Number).filter((_, j) => mask[b * T + j]));
const tmp = () => mkdtempSync(path.join(tmpdir(), 'llama-wf-'));

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('Llama family through the generic workflows', () => {
  it('info: PEFT\'s trainable-params line for the default targets (q_proj, v_proj, r=8)', () => {
    const info = inspectModel(LLAMA);
    const base = loadModel(LLAMA);
    const all = lmParamShapes(base.spec).reduce((a, [, s]) => a + numel(s), 0);
    // per layer: q 8·(32 + 48) + v 8·(32 + 24)
    const trainable = 2 * (8 * (32 + 48) + 8 * (32 + 24));
    expect(info.trainableParams).toBe(trainable);
    expect(info.allParams).toBe(all + trainable);
    expect(info.line).toBe(`trainable params: ${trainable.toLocaleString('en-US')} || all params: ${(all + trainable).toLocaleString('en-US')} || trainable%: ${((100 * trainable) / (all + trainable)).toFixed(4)}`);
    expect(info.storedDtype).toBe('F32');
  });

  it('LlamaForSequenceClassification: the score head at the last non-padding token equals PyTorch', async () => {
    const m = loadSeqClsModel(LLAMA, { numLabels: 3 });
    expect(m.head.architecture).toBe('LlamaForSequenceClassification');
    expect(m.headModules).toEqual(['score']);
    m.weights.get('score.weight')!.data.set(ref.readFloat32('seqcls.score.weight'));
    const s = await ClassifierSession.create(m, B, T, { threads: 1 });
    const logits = (await s.logits(rows)).flatMap((x) => [...x]);
    await s.release();
    expect(maxAbs(logits, ref.readFloat32('seqcls.logits'))).toBeLessThan(1e-4);
  });

  it('merge: the adapter folded into an HF folder (lm_head kept, untied) scores the reference perplexity', async () => {
    const out = path.join(tmp(), 'merged');
    const r = mergeToFolder(LLAMA, path.join(FIX, 'llama-lora-all'), out, { onnx: true });
    expect(r.mergedLayers).toBe(14);
    expect(r.arch).toBe('llama');
    const cfg = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.architectures).toEqual(['LlamaForCausalLM']);
    const st = openSafetensors(path.join(out, 'model.safetensors'));
    expect(st.tensors.has('lm_head.weight')).toBe(true);
    expect([...st.tensors.keys()].some((n) => n.includes('lora'))).toBe(false);
    st.close();
    const { sum, count } = await windowsNll(loadModel(out), rows);
    const want = ref.readFloat32('ppl_nll.adapter')[0];
    expect(Math.abs(sum / count - want) / want).toBeLessThan(1e-5);

    // The ONNX decoder (Optimum's layout): prefill, then one token with the GQA past, equals the engine.
    const onnx = await Session.create(readFileSync(path.join(out, 'onnx', 'model.onnx')));
    const seq = rows[0], P = 10;
    const feeds = (from: number, to: number, past: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }>) => ({
      input_ids: { dtype: 'int64' as const, shape: [1, to - from], data: BigInt64Array.from(seq.slice(from, to).map(BigInt)) },
      attention_mask: { dtype: 'int64' as const, shape: [1, to], data: new BigInt64Array(to).fill(1n) },
      position_ids: { dtype: 'int64' as const, shape: [1, to - from], data: BigInt64Array.from({ length: to - from }, (_, i) => BigInt(from + i)) },
      ...past,
    });
    const empty = Object.fromEntries([0, 1].flatMap((i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, { dtype: 'float32' as const, shape: [1, 2, 0, 12], data: new Float32Array(0) }])));
    const pre = await onnx.run(feeds(0, P, empty));
    expect(pre['present.0.key'].dims).toEqual([1, 2, P, 12]);
    const past = Object.fromEntries([0, 1].flatMap((i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, { dtype: 'float32' as const, shape: [1, 2, P, 12], data: pre[`present.${i}.${kv}`].data as Float32Array }])));
    const step = await onnx.run(feeds(P, P + 1, past));
    await onnx.release();
    // the engine's own forward over the P + 1 tokens
    const model = loadModel(out);
    const g = new Graph();
    const idsV = g.input('ids', 'int64', [1, P + 1]);
    const bias = g.input('bias', 'float32', [1, 1, P + 1, P + 1]);
    g.output(lmLogits(g, model.spec, frozenParams(g, model.weights), { ids: idsV, attnBias: bias }).logits, 'logits');
    const s = await Session.create(g.toModel());
    const full = (await s.run({ ids: { dtype: 'int64', shape: [1, P + 1], data: BigInt64Array.from(seq.slice(0, P + 1).map(BigInt)) }, bias: { dtype: 'float32', shape: [1, 1, P + 1, P + 1], data: causalAttentionBias(new Array(P + 1).fill(1), 1, P + 1) } })).logits.data as Float32Array;
    await s.release();
    expect(maxAbs(pre.logits.data as Float32Array, full.subarray(0, P * V))).toBeLessThan(1e-4);
    expect(maxAbs(step.logits.data as Float32Array, full.subarray(P * V))).toBeLessThan(1e-4);
  });

  it('seq-cls training with LoRA saves the score head as modules_to_save in PEFT\'s layout', async () => {
    const dir = tmp();
    const model = path.join(dir, 'model');
    mkdirSync(model);
    for (const f of ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) copyFileSync(path.join(LLAMA, f), path.join(model, f));
    writeFileSync(path.join(model, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(path.join(LLAMA, 'config.json'), 'utf8')), pad_token_id: 0 }));
    const texts = Array.from({ length: 8 }, (_, i) => rows[i % 2].slice(0, 6 + i).map((t) => t));
    const out = path.join(dir, 'run');
    // labelled texts need a tokenizer: a small SentencePiece-style one over the model's 96 ids
    const tok = sentencePieceTokenizerJson(
      Array.from({ length: V }, (_, i) => ({ piece: i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : i < 3 + 26 ? String.fromCharCode(97 + i - 3) : `▁w${i}`, score: -i })),
      { unk: 0, bos: 1, eos: 2 });
    writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tok));
    writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
    const data = { texts: texts.map((r) => r.map((t) => String.fromCharCode(97 + (t % 26))).join('')), labels: texts.map((_, i) => i % 2) };
    const r = await train({ model, data, task: 'seq-cls', out, method: 'lora', lr: 1e-2, maxSteps: 4, batchSize: 4, maxLength: 16, valRatio: 0, logEvery: 100, evalEvery: 0,
      lora: { r: 4, alpha: 8, dropout: 0, bias: 'none', targets: [], useRslora: false, init: 'kaiming' } });
    expect(r).toBeTruthy();
    const adapterDir = existsSync(path.join(out, 'adapter_config.json')) ? out : path.join(out, 'adapter');
    const cfg = JSON.parse(readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
    expect(cfg.task_type).toBe('SEQ_CLS');
    expect(cfg.modules_to_save).toContain('score');
    expect(cfg.target_modules).toBeNull(); // PEFT's convention: the model type's defaults (q_proj, v_proj)
    const st = openSafetensors(path.join(adapterDir, 'adapter_model.safetensors'));
    const names = [...st.tensors.keys()];
    expect(names).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(st.tensors.get('base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight')!.shape).toEqual([24, 4]);
    expect(names.some((n) => n.includes('k_proj') || n.includes('mlp'))).toBe(false);
    expect(names.some((n) => /^base_model\.model\.score\.(modules_to_save\.default\.)?weight$/.test(n))).toBe(true);
    st.close();
  }, 60_000);
});

describe('Llama tokenizers: BOS/EOS from the configs, special tokens never split', () => {
  function folder(json: Record<string, unknown>, config: Record<string, unknown>): string {
    const d = tmp();
    writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(path.join(d, 'tokenizer_config.json'), JSON.stringify(config));
    return d;
  }
  const pieces = ['<unk>', '<s>', '</s>', '▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', 'he', 'll', '▁he', '▁hell', 'llo', '▁hello', 'or', '▁w', '▁wor', '▁world', 'ld']
    .map((piece, i) => ({ piece, score: i < 11 ? 0 : -i }));
  const spm = sentencePieceTokenizerJson(pieces, { unk: 0, bos: 1, eos: 2 });
  const id = (p: string) => pieces.findIndex((x) => x.piece === p);

  it('SentencePiece BPE: BOS by default (LlamaTokenizer), add_bos_token false / add_eos_token true as configured', async () => {
    const base = { tokenizer_class: 'LlamaTokenizerFast', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' };
    const t1 = await loadTokenizer(folder(spm, base));
    expect(t1.encode('hello world')).toEqual([1, id('▁hello'), id('▁world')]);
    expect(t1.encode('hello world', { addSpecialTokens: false })).toEqual([id('▁hello'), id('▁world')]);
    expect(t1.decode(t1.encode('hello world'), { skipSpecialTokens: true })).toBe('hello world');
    // special tokens are never split, and unknown characters fall back to bytes (none here: <unk>)
    expect(t1.encode('hello</s>')).toEqual([1, id('▁hello'), 2]);
    const t2 = await loadTokenizer(folder(spm, { ...base, add_bos_token: false, add_eos_token: true }));
    expect(t2.encode('hello world')).toEqual([id('▁hello'), id('▁world'), 2]);
  });

  it('byte-level BPE with a BOS template (Llama 3) adds BOS; GPT-2-style byte-level adds nothing', async () => {
    const bytes = Array.from({ length: 256 }, (_, b) => b);
    // GPT-2's bytes_to_unicode
    const printable = new Set([...Array(94).keys()].map((i) => i + 33).concat([...Array(12).keys()].map((i) => i + 161), [...Array(82).keys()].map((i) => i + 174)));
    let n = 0;
    const sym = bytes.map((b) => String.fromCharCode(printable.has(b) ? b : 256 + n++));
    const vocab: Record<string, number> = {};
    sym.forEach((s, i) => { vocab[s] = i; });
    vocab.he = 256; vocab['Ġw'] = 257;
    const added = [{ id: 258, content: '<|begin_of_text|>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }, { id: 259, content: '<|eot_id|>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }];
    const json = (post: unknown) => ({
      version: '1.0', added_tokens: added, normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: post, decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: ['h e', 'Ġ w'] },
    });
    const llama3 = { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }, { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [258], tokens: ['<|begin_of_text|>'] } } }] };
    const cfg = { tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' };
    const t3 = await loadTokenizer(folder(json(llama3), cfg));
    expect(t3.encode('he w')).toEqual([258, 256, 257]);
    expect(t3.encode('he w<|eot_id|>', { addSpecialTokens: false })).toEqual([256, 257, 259]);
    const gpt2ish = await loadTokenizer(folder(json({ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }), { bos_token: '<|eot_id|>', eos_token: '<|eot_id|>' }));
    expect(gpt2ish.encode('he w')).toEqual([256, 257]);
  });
});
