// A model as a plain Hugging Face folder — config.json, model.safetensors (F32, HF names) and the
// tokenizer files — loadable by `transformers` without PEFT; and `lora-studio merge`: PEFT's
// merge_and_unload written out as such a folder.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { mergeAdapter } from '../lora/apply.ts';
import { loadModel, loadModelSpec } from '../models/registry.ts';
import { type SeqClsModel, loadSeqClsModel } from '../models/seq-cls.ts';
import { type LoadedModel, lmParamShapes } from '../models/types.ts';
import { readAdapterHeader } from '../store/adapter.ts';
import { writeFileAtomic, writeJsonAtomic } from '../store/atomic.ts';
import { writeSafetensors } from '../store/safetensors.ts';
import { exportDecoderOnnx } from './onnx-decoder.ts';

/** Tokenizer and generation files copied next to the weights when present. */
export const MODEL_SIDE_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json', 'vocab.txt',
  'added_tokens.json', 'tokenizer.model', 'chat_template.jinja', 'generation_config.json',
];

const isClassifier = (m: LoadedModel | SeqClsModel): m is SeqClsModel => 'headTensors' in m;

/** Writes the model's folder (a tied LM head is not written, as save_pretrained does); returns the files. */
export function writeModelFolder(model: LoadedModel | SeqClsModel, out: string, srcDir: string = model.dir): string[] {
  if (path.resolve(out) === path.resolve(srcDir) && existsSync(out) && readdirSync(out).length > 0) {
    throw new Error(`${out}: refusing to overwrite the base model's own folder`);
  }
  mkdirSync(out, { recursive: true });
  const shapes = isClassifier(model) ? model.paramShapes : lmParamShapes(model.spec);
  const cfg: Record<string, unknown> = isClassifier(model) ? model.exportConfig : { ...model.spec.raw, torch_dtype: 'float32' };
  if (!Array.isArray(cfg.architectures) || cfg.architectures.length === 0) cfg.architectures = [model.spec.architecture];
  writeSafetensors(path.join(out, 'model.safetensors'), shapes.map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape, data: model.weights.get(name)!.data,
  })), { format: 'pt' });
  writeJsonAtomic(path.join(out, 'config.json'), cfg);
  const files = ['config.json', 'model.safetensors'];
  for (const f of MODEL_SIDE_FILES) {
    const src = path.join(srcDir, f);
    if (existsSync(src)) { copyFileSync(src, path.join(out, f)); files.push(f); }
  }
  return files;
}

/**
 * Saves the chat template a run trained with next to its output, as transformers does:
 * chat_template.jinja, and `chat_template` in the folder's tokenizer_config.json when it has one
 * (so every reader — transformers, GGUF export, Ollama's Modelfile — sees the same template).
 */
export function saveChatTemplate(dir: string, template: string): string[] {
  writeFileAtomic(path.join(dir, 'chat_template.jinja'), template);
  const files = ['chat_template.jinja'];
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  if (existsSync(cfgFile)) {
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    writeJsonAtomic(cfgFile, { ...cfg, chat_template: template });
    files.push('tokenizer_config.json');
  }
  return files;
}

/** The chat template saved with a run's adapter or model folder (chat_template.jinja), or null. */
export function savedChatTemplate(dir: string): string | null {
  const f = path.join(dir, 'chat_template.jinja');
  return existsSync(f) ? readFileSync(f, 'utf8') : null;
}

export interface MergeResult {
  out: string;
  mergedLayers: number;
  files: string[];
  arch: string;
  task: 'causal-lm' | 'seq-cls';
}

/** A causal LM with the adapter folded into its weights (the adapter's trained biases too). */
export function mergeAndUnload(modelDir: string, adapterDir: string): { model: LoadedModel; mergedLayers: number } {
  const model = loadModel(modelDir);
  return { model, mergedLayers: mergeAdapter(model, adapterDir).plan.layers.length };
}

/**
 * `lora-studio merge`: a causal-LM adapter gives the LM's folder; a SEQ_CLS adapter (or one with
 * a trained head, or an encoder base) gives a …ForSequenceClassification folder with the heads.
 */
export function mergeToFolder(modelDir: string, adapterDir: string, out: string, o: { onnx?: boolean } = {}): MergeResult {
  if (path.resolve(out) === path.resolve(modelDir)) throw new Error(`--out must differ from --model (${out}): the base model is never overwritten`);
  const header = readAdapterHeader(adapterDir);
  const head = header.tensors.find((t) => /^(score|classifier)\.weight$/.test(t.normalized));
  const classifier = header.config.taskType === 'SEQ_CLS' || head !== undefined || !loadModelSpec(modelDir).family.causalLM;
  const m = classifier ? loadSeqClsModel(modelDir, { numLabels: head?.shape[0] }) : loadModel(modelDir);
  if (o.onnx && isClassifier(m)) throw new Error('--onnx exports causal-LM decoders (with past key/values); this is a classification adapter');
  const { plan } = mergeAdapter(m, adapterDir);
  const files = writeModelFolder(m, out, modelDir);
  // The run's chat template, saved with its adapter, replaces the base's.
  const template = savedChatTemplate(adapterDir);
  if (template !== null) for (const f of saveChatTemplate(out, template)) if (!files.includes(f)) files.push(f);
  if (o.onnx) {
    exportDecoderOnnx(m, out);
    files.push('onnx/model.onnx');
  }
  return { out, mergedLayers: plan.layers.length, files, arch: m.spec.family.name, task: isClassifier(m) ? 'seq-cls' : 'causal-lm' };
}
