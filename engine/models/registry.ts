// The model families this build knows, and the one way to open a model folder. Adding a family
// is one file (its config, weights, linear modules, forward, heads) and one line here.

import path from 'node:path';
import type { Graph, Value } from '../onnx/graph.ts';
import { FormatError } from '../store/errors.ts';
import { type JsonObject, readJsonFile } from '../store/json.ts';
import { distilbertFamily } from './distilbert.ts';
import { gpt2Family } from './gpt2.ts';
import { llamaFamilies } from './llama.ts';
import { type ForwardInputs, type KV, type LinearHook, type LoadedModel, type ModelFamily, type ModelSpec, type ParamFn, lmParamShapes } from './types.ts';
import { type ReadMode, readWeights } from './weights.ts';
import { resolveModelRef } from '../hub/resolve.ts';

/** Every family, in match order. (A function: family files import this module too.) */
export const families = (): readonly ModelFamily<any>[] => [gpt2Family, distilbertFamily, ...Object.values(llamaFamilies)];

/** The family of a config.json, or a one-line error naming the file and the architecture. */
export function familyOf(json: JsonObject, file: string): ModelFamily {
  const f = families().find((x) => x.matches(json));
  if (f) return f;
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  const what = (typeof json.model_type === 'string' ? json.model_type : '') || archs[0] || 'no model_type or architectures';
  throw new FormatError(file, `unsupported architecture "${what}" (this build loads: ${families().map((x) => x.name).join(', ')})`);
}

/** config.json of a model folder (or a cached Hub repo id, ORG/NAME[@REV]), parsed by its family (no weights read). */
export function loadModelSpec(ref: string): ModelSpec {
  const file = path.join(resolveModelRef(ref), 'config.json');
  const json = readJsonFile(file, 'model config');
  return familyOf(json, file).parse(json, file);
}

export interface LoadModelOptions<C> {
  /** Require this family (a clear error otherwise). */
  family?: ModelFamily<C>;
}

/** A causal language model's folder: its spec and float32 weights (classification heads ignored). */
export function loadModel<C = unknown>(ref: string, o: LoadModelOptions<C> & ReadMode = {}): LoadedModel<C> {
  const dir = resolveModelRef(ref);
  const spec = loadModelSpec(dir) as ModelSpec<C>;
  const file = path.join(dir, 'config.json');
  if (o.family && spec.family !== o.family) throw new FormatError(file, `is a ${spec.family.name} model, expected ${o.family.name}`);
  if (!spec.family.causalLM) throw new FormatError(file, `${spec.family.name} is an encoder: it trains for sequence classification (--task seq-cls), not as a language model`);
  const heads = new Set(spec.seqCls?.shapes(1).map(([n]) => n) ?? []);
  const { weights, storedDtype } = readWeights(dir, spec, {
    expected: new Map(lmParamShapes(spec)),
    skip: (n) => heads.has(n),
    what: `a ${spec.family.name} model with ${spec.cache.layers} layers`,
    headersOnly: o.headersOnly,
    lazy: o.lazy,
  });
  return { dir, spec, config: spec.config, weights, storedDtype };
}

/** Checks a folder's weights against its config.json from the safetensors headers alone. */
export function checkModelWeights(dir: string): { storedDtype: string } {
  const spec = loadModelSpec(dir);
  if (!spec.family.causalLM) return { storedDtype: '' }; // encoders are checked when loaded as classifiers
  return { storedDtype: loadModel(dir, { headersOnly: true }).storedDtype };
}

/**
 * LM logits from a decoder's forward pass: every position [B, T, vocab], or only the last
 * [B, 1, vocab] (generation skips the head for the others).
 */
export function lmLogits(g: Graph, spec: ModelSpec, param: ParamFn, inp: ForwardInputs, hook?: LinearHook, o: { lastOnly?: boolean } = {}): { logits: Value; present: KV[] } {
  if (!spec.lmHead) throw new Error(`${spec.family.name} has no language-model head`);
  const out = spec.forward(g, param, inp, hook);
  const h = o.lastOnly ? g.slice(out.hidden, [-1], [2 ** 31 - 1], [1]) : out.hidden;
  return { logits: g.matmulT(h, param(spec.lmHead), false, true), present: out.present };
}
