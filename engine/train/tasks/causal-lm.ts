// Causal language modelling: token blocks (HF's group_texts) or, for instruction data, one example
// per row with only its answers labelled (engine/data/instruct.ts); next-token cross-entropy averaged
// over the predicted tokens, validation loss and perplexity on held-out blocks.

import { loadCausalRows } from '../../data/instruct.ts';
import { holdOutSplit } from '../../data/pipeline.ts';
import { toLoraConfig, lmTarget } from '../../lora/peft-model.ts';
import { saveChatTemplate, writeModelFolder } from '../../export/hf-folder.ts';
import { loadModel, lmLogits } from '../../models/registry.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { Generator } from '../../generate/generator.ts';
import { saveAdapter } from '../../store/adapter.ts';
import { adapterTensors } from '../../lora/peft-model.ts';
import { type Batch, batchFeeds, makeLabelledBatch } from '../batch.ts';
import { tokenNll, weightedLoss } from '../loss.ts';
import { evaluateLoss, type TaskBatch } from '../step.ts';
import type { LossBuilder } from '../step-graph.ts';
import type { Task } from '../task.ts';
import type { ModelSpec } from '../../models/types.ts';
import type { TrainOptions } from '../types.ts';

export const asTaskBatch = (b: Batch): TaskBatch => ({ feeds: batchFeeds(b), tokens: b.tokens, rows: b.B, count: b.predicted });

/** Next-token cross-entropy over [B, T] blocks, averaged over the predicted tokens. */
export function lmLoss(spec: ModelSpec, B: number, T: number): LossBuilder {
  return (g, param, hook, dropout) => {
    const ids = g.input('ids', 'int64', [B, T]);
    const attnBias = g.input('attn_bias', 'float32', [B, 1, T, T]);
    const targets = g.input('targets', 'int64', [B, T]);
    const lossWeights = g.input('loss_weights', 'float32', [B, T]);
    const { logits } = lmLogits(g, spec, param, { ids, attnBias, dropout }, hook);
    return { loss: weightedLoss(g, tokenNll(g, logits, targets), lossWeights) };
  };
}

export async function causalLmTask(o: TrainOptions): Promise<Task> {
  // A low-precision base packs each frozen tensor as it is bound: read them one at a time.
  const model = loadModel(o.model, { lazy: (o.baseDtype ?? 'f32') !== 'f32' && o.method === 'lora' });
  const { spec } = model;
  const T = Math.min(o.maxLength, spec.maxPositions);
  const B = o.batchSize;
  // Packed blocks, or (instruction data) one example per row with only its answers labelled.
  const { rows: all, instruct, chatTemplate } = await loadCausalRows(o as Parameters<typeof loadCausalRows>[0], T);
  const { train: blocks, val } = holdOutSplit(all, o.valRatio, o.seed);
  const valBatches = Array.from({ length: Math.ceil(val.length / B) }, (_, i) => asTaskBatch(makeLabelledBatch(val.slice(i * B, (i + 1) * B), B, T)));
  return {
    kind: 'causal-lm', model, family: spec.family, target: lmTarget(spec), B, T, size: blocks.length,
    startInfo: { examples: blocks.length, tokensPerStep: B * T * o.gradAccum, ...(instruct ? { instruct } : {}) },
    loraConfig: (lora) => toLoraConfig(lora, spec, { baseModel: model.dir }),
    loss: lmLoss(spec, B, T),
    batch: (idx) => asTaskBatch(makeLabelledBatch(idx.map((j) => blocks[j]), B, T)),
    async evaluate(sg, step) {
      if (valBatches.length === 0) return undefined;
      const r = await evaluateLoss(sg, valBatches);
      return { event: { type: 'eval', step, evalLoss: r.loss, perplexity: Math.exp(r.loss), tokens: r.count } };
    },
    async sampler(plan, so) {
      const tok = await loadTokenizer(model.dir);
      const prompt = tok.encode(so.prompt);
      const gen = await Generator.create(model, { live: plan, device: o.device, threads: o.threads });
      return {
        sample: async () => (await gen.generate(prompt, { doSample: false, maxNewTokens: so.maxNewTokens ?? 40 }, tok)).outputs[0],
        release: () => gen.release(),
      };
    },
    save(out, plan, lora) {
      if (lora) saveAdapter(out, lora, adapterTensors(plan, model));
      else writeModelFolder(model, out);
      // Instruction data: the chat template it was rendered with goes with the output (HF-style).
      if (chatTemplate !== undefined) saveChatTemplate(out, chatTemplate);
    },
  };
}
