// What the Models view and `lora-studio info` show about a model folder.

import { type LoraOptions, DEFAULT_LORA, type Method } from '../train/types.ts';
import { toLoraConfig } from '../train/trainer.ts';
import { DEFAULT_TARGETS, fullPlan, loraPlan, trainableLine } from '../lora/peft-model.ts';
import { gpt2LinearModules, loadGPT2Config } from './gpt2.ts';

export interface ModelInfo {
  dir: string;
  architecture: string;
  config: Record<string, number | string | boolean | null>;
  linearModules: { name: string; inFeatures: number; outFeatures: number }[];
  defaultTargets: string[];
  method: Method;
  trainableParams: number;
  allParams: number;
  line: string;
}

/** Reads only config.json: parameter counts follow from the architecture. */
export function inspectModel(dir: string, opts: { method?: Method; lora?: Partial<LoraOptions> } = {}): ModelInfo {
  const c = loadGPT2Config(dir);
  const method = opts.method ?? 'lora';
  const lora = { ...DEFAULT_LORA, ...opts.lora };
  const plan = method === 'full' ? fullPlan(c) : loraPlan(c, toLoraConfig(lora, dir));
  return {
    dir,
    architecture: 'GPT2LMHeadModel',
    config: {
      vocab_size: c.vocabSize, n_positions: c.nPositions, n_embd: c.nEmbd, n_layer: c.nLayer, n_head: c.nHead,
      n_inner: c.nInner, activation_function: c.activation, layer_norm_epsilon: c.layerNormEpsilon,
      tie_word_embeddings: c.tieWordEmbeddings, eos_token_id: c.eosTokenId,
    },
    linearModules: gpt2LinearModules(c).map(({ name, inFeatures, outFeatures }) => ({ name, inFeatures, outFeatures })),
    defaultTargets: DEFAULT_TARGETS.gpt2,
    method,
    trainableParams: plan.trainableParams,
    allParams: plan.allParams,
    line: trainableLine(plan.trainableParams, plan.allParams),
  };
}
