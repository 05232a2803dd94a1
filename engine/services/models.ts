// The models service: what a model folder is (architecture, LoRA-targetable modules, PEFT's
// trainable-parameters line) and which tokenizer files it has.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelInfo, Params } from '../api.ts';
import { TOKENIZER_FILES } from '../data/tokenizer.ts';
import { ENGINE, type EngineFunctions } from './engine.ts';
import { requireDir } from './files.ts';

/** A model folder in full (family, config summary, stored dtype…): `lora-studio info`. */
export { inspectModel } from '../models/inspect.ts';

/** Which of the tokenizer file sets the folder has ('tokenizer.json', 'vocab.json + merges.txt', 'vocab.txt'), or null. */
export function tokenizerFiles(dir: string): string | null {
  return TOKENIZER_FILES.find((set) => set.split(' + ').every((f) => existsSync(join(dir, f)))) ?? null;
}

/** The config's plain values (numbers, strings, booleans, null): what the contract carries. */
function plainConfig(config: Record<string, unknown>): ModelInfo['config'] {
  const out: ModelInfo['config'] = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = v;
  }
  return out;
}

/** models.inspect: a model folder as the contract describes it. */
export async function modelInfo(p: Params<'models.inspect'>, fns: EngineFunctions = ENGINE): Promise<ModelInfo> {
  const dir = requireDir(p.dir, 'model folder');
  const i = await fns.inspectModel(dir, { method: p.method, lora: p.lora });
  return {
    dir: i.dir, architecture: i.architecture, config: plainConfig(i.config),
    linearModules: i.linearModules.map(({ name, inFeatures, outFeatures }) => ({ name, inFeatures, outFeatures })), defaultTargets: i.defaultTargets,
    method: i.method, trainableParams: i.trainableParams, allParams: i.allParams, line: i.line, tokenizer: tokenizerFiles(dir),
  };
}
