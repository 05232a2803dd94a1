// PEFT's merge_and_unload, and the result as a plain Hugging Face model folder: config.json,
// model.safetensors (F32, HF names) and the tokenizer files, loadable without PEFT.

import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { type LoadedGPT2, gpt2ParamShapes, loadGPT2 } from '../models/gpt2.ts';
import { writeJsonAtomic } from '../store/atomic.ts';
import { writeSafetensors } from '../store/safetensors.ts';
import { mergeAdapter } from './apply.ts';
import { exportDecoderOnnx } from '../generate/onnx-export.ts';
import { type SeqClsModel, loadSeqClsModel, modelType } from '../models/seq-cls.ts';
import { loadAdapter, readAdapterHeader } from '../store/adapter.ts';
import { FormatError } from '../store/errors.ts';
import { type LoraConfig, effectiveRank, loraScaling } from './config.ts';
import { LoraLayer } from './layer.ts';
import { DEFAULT_TARGETS, type Plan } from './peft-model.ts';
import { selectTargets } from './targets.ts';

/** Tokenizer and generation files copied next to the weights when present. */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json', 'vocab.txt',
  'added_tokens.json', 'generation_config.json',
];

export interface MergeResult {
  out: string;
  mergedLayers: number;
  files: string[];
}

/** A GPT-2 with the adapter folded into its weights (the adapter's trained biases too). */
export function mergeAndUnload(modelDir: string, adapterDir: string): { model: LoadedGPT2; mergedLayers: number } {
  const model = loadGPT2(modelDir);
  const applied = mergeAdapter(model, adapterDir);
  return { model, mergedLayers: applied.plan.layers.length };
}

/** Writes an HF GPT-2 folder (tied head: no lm_head.weight, as save_pretrained does). */
export function exportGPT2Folder(model: LoadedGPT2, out: string, srcDir: string = model.dir): string[] {
  if (existsSync(out) && readdirSync(out).length > 0 && path.resolve(out) === path.resolve(srcDir)) {
    throw new Error(`${out}: refusing to overwrite the base model's own folder`);
  }
  mkdirSync(out, { recursive: true });
  const cfg: Record<string, unknown> = { ...model.config.raw };
  cfg.torch_dtype = 'float32';
  if (!Array.isArray(cfg.architectures) || cfg.architectures.length === 0) cfg.architectures = ['GPT2LMHeadModel'];
  writeSafetensors(path.join(out, 'model.safetensors'), gpt2ParamShapes(model.config).map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape, data: model.weights.get(name)!.data,
  })), { format: 'pt' });
  writeJsonAtomic(path.join(out, 'config.json'), cfg);
  const files = ['config.json', 'model.safetensors'];
  for (const f of TOKENIZER_FILES) {
    const src = path.join(srcDir, f);
    if (existsSync(src)) { copyFileSync(src, path.join(out, f)); files.push(f); }
  }
  return files;
}

/** `lora-studio merge`: base folder + PEFT adapter -> merged HF folder. */
export function mergeToFolder(modelDir: string, adapterDir: string, out: string): MergeResult {
  if (path.resolve(out) === path.resolve(modelDir)) throw new Error(`--out must differ from --model (${out}): the base model is never overwritten`);
  const { model, mergedLayers } = mergeAndUnload(modelDir, adapterDir);
  const files = exportGPT2Folder(model, out, modelDir);
  return { out, mergedLayers, files };
}

// ---------------------------------------------------------------- sequence classification

/** LoRA layers over a classifier's linear layers; its heads train whole (modules_to_save). */
export function seqClsPlan(m: SeqClsModel, lc: LoraConfig): Plan {
  const targets = lc.targetModules.length === 0 ? DEFAULT_TARGETS[m.arch] : lc.targetModules;
  const mods = selectTargets(m.linearModules, targets);
  const layers = mods.map((mod) => new LoraLayer(mod, effectiveRank(lc, mod.name), loraScaling(lc, mod.name), lc.loraDropout));
  const targetBiases = new Set(mods.map((x) => x.bias));
  const biases = m.paramShapes
    .filter(([n]) => !m.headTensors.includes(n) && ((lc.bias === 'all' && n.endsWith('.bias')) || (lc.bias === 'lora_only' && targetBiases.has(n))))
    .map(([n]) => n);
  const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const shapeOf = new Map(m.paramShapes);
  const base = m.paramShapes.reduce((s, [, sh]) => s + count(sh), 0);
  const loraParams = layers.reduce((s, l) => s + l.numParams, 0);
  const trainableBase = [...biases, ...m.headTensors];
  const baseTrainable = trainableBase.reduce((s, n) => s + count(shapeOf.get(n)!), 0);
  return { layers, trainableBase, trainableParams: loraParams + baseTrainable, allParams: base + loraParams };
}

/** W += B A · scaling for an nn.Linear weight stored [out, in]. */
export function mergeLinearInto(l: LoraLayer, W: Float32Array): void {
  const { inFeatures: nIn, outFeatures: nOut } = l.module;
  const r = l.r, s = l.scaling;
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += l.B[o * r + k] * l.A[k * nIn + i];
      W[o * nIn + i] += acc * s;
    }
  }
}

/**
 * Reads a PEFT SEQ_CLS adapter into a classifier: LoRA layers (returned, unmerged unless
 * `merge`), and its modules_to_save heads and trained biases written into the model's weights.
 */
export function readSeqClsAdapter(m: SeqClsModel, dir: string, o: { merge?: boolean } = {}): { config: LoraConfig; plan: Plan } {
  const ad = loadAdapter(dir);
  const plan = seqClsPlan(m, ad.config);
  const used = new Set<string>();
  const take = (name: string, shape: number[], into: Float32Array) => {
    const t = ad.tensors.get(name);
    if (!t) throw new FormatError(ad.file, `missing tensor ${name} (the adapter config targets ${JSON.stringify(ad.config.targetModules)})`);
    if (t.shape.join(',') !== shape.join(',')) {
      throw new FormatError(ad.file, `tensor ${name} has shape [${t.shape.join(', ')}] but the model needs [${shape.join(', ')}]: this adapter was trained for another model (or another number of labels)`);
    }
    into.set(t.data);
    used.add(name);
  };
  for (const l of plan.layers) { take(l.aName, l.aShape, l.A); take(l.bName, l.bShape, l.B); }
  for (const [name] of ad.tensors) {
    if (used.has(name) || /\.lora_[AB]\.weight$/.test(name)) continue;
    const w = m.weights.get(name);
    if (!w) throw new FormatError(ad.file, `tensor ${name} matches no parameter of this ${m.arch} classifier`);
    take(name, w.shape, w.data);
  }
  const missingHeads = m.headTensors.filter((n) => !used.has(n));
  if (missingHeads.length && !m.headsLoaded) {
    throw new FormatError(ad.file, `the adapter has no trained head (${missingHeads.join(', ')}); save the heads as modules_to_save (${m.headModules.join(', ')})`);
  }
  if (o.merge) {
    for (const l of plan.layers) {
      const W = m.weights.get(l.module.weight)!.data;
      if (m.layout === 'linear') mergeLinearInto(l, W); else l.mergeInto(W);
    }
  }
  return { config: ad.config, plan };
}

/** A merged classifier as an HF folder (…ForSequenceClassification, heads included). */
export function exportSeqClsFolder(m: SeqClsModel, out: string): string[] {
  if (path.resolve(out) === path.resolve(m.dir)) throw new Error(`--out must differ from --model (${out}): the base model is never overwritten`);
  mkdirSync(out, { recursive: true });
  writeSafetensors(path.join(out, 'model.safetensors'), m.paramShapes.map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape, data: m.weights.get(name)!.data,
  })), { format: 'pt' });
  writeJsonAtomic(path.join(out, 'config.json'), m.exportConfig);
  const files = ['config.json', 'model.safetensors'];
  for (const f of TOKENIZER_FILES) {
    const src = path.join(m.dir, f);
    if (existsSync(src)) { copyFileSync(src, path.join(out, f)); files.push(f); }
  }
  return files;
}

/**
 * `lora-studio merge` for any supported pair: a GPT-2 LM adapter gives a GPT2LMHeadModel folder;
 * a SEQ_CLS adapter (DistilBERT, or GPT-2 with a `score` head) gives a …ForSequenceClassification
 * folder with the trained heads.
 */
export function mergeAnyToFolder(modelDir: string, adapterDir: string, out: string, o: { onnx?: boolean } = {}): MergeResult & { arch: string; task: 'causal-lm' | 'seq-cls' } {
  if (path.resolve(out) === path.resolve(modelDir)) throw new Error(`--out must differ from --model (${out}): the base model is never overwritten`);
  const header = readAdapterHeader(adapterDir);
  const hasHead = header.tensors.some((t) => /^(score|classifier)\.weight$/.test(t.normalized));
  const type = modelType(modelDir);
  if (type === 'distilbert' || header.config.taskType === 'SEQ_CLS' || hasHead) {
    const head = header.tensors.find((t) => t.normalized === 'classifier.weight' || t.normalized === 'score.weight');
    const m = loadSeqClsModel(modelDir, { numLabels: head?.shape[0] });
    if (o.onnx) throw new Error('--onnx exports causal-LM decoders (GPT-2 with past key/values); this is a classification adapter');
    const { plan } = readSeqClsAdapter(m, adapterDir, { merge: true });
    return { out, mergedLayers: plan.layers.length, files: exportSeqClsFolder(m, out), arch: m.arch, task: 'seq-cls' };
  }
  const { model, mergedLayers } = mergeAndUnload(modelDir, adapterDir);
  const files = exportGPT2Folder(model, out, modelDir);
  if (o.onnx) {
    exportDecoderOnnx(model, out);
    files.push('onnx/model.onnx');
  }
  return { out, mergedLayers, files, arch: 'gpt2', task: 'causal-lm' };
}
