// The causal-LM trainer: LoRA or full fine-tuning through the same loop. Data → fixed-size
// blocks → seeded shuffling per epoch → micro-batches → step graph → clipping → AdamW → events.

import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type LoraConfig, defaultLoraConfig } from '../lora/config.ts';
import { type Plan, fullPlan, loraPlan } from '../lora/peft-model.ts';
import { type LoadedGPT2, gpt2ParamShapes, loadGPT2 } from '../models/gpt2.ts';
import { holdOutSplit, loadBlocks } from '../data/pipeline.ts';
import { saveAdapter } from '../store/adapter.ts';
import { writeJsonAtomic } from '../store/atomic.ts';
import { writeSafetensors } from '../store/safetensors.ts';
import { Rng } from '../util/rng.ts';
import { makeBatch } from './batch.ts';
import { AdamW, clipScale, globalNorm } from './optimizer.ts';
import { lrAt, warmupSteps } from './schedule.ts';
import { evaluateLoss, runAccumulated } from './step.ts';
import { buildStepGraph } from './step-graph.ts';
import { type Checkpoint, DEFAULT_TRAIN, type LoraOptions, type TrainEvent, type TrainHooks, type TrainOptions, type TrainResult } from './types.ts';

export const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;

/** The PEFT config a run's LoRA options stand for. */
export function toLoraConfig(lora: LoraOptions, baseModel: string | null): LoraConfig {
  return defaultLoraConfig({
    r: lora.r,
    loraAlpha: lora.alpha,
    loraDropout: lora.dropout,
    bias: lora.bias,
    targetModules: lora.targets,
    useRslora: lora.useRslora,
    initLoraWeights: lora.init === 'gaussian' ? 'gaussian' : true,
    fanInFanOut: true, // GPT-2's Conv1D stores (in, out)
    taskType: 'CAUSAL_LM',
    baseModelNameOrPath: baseModel,
  });
}

export function makePlan(o: TrainOptions, model: LoadedGPT2): { plan: Plan; lora: LoraConfig | null } {
  if (o.method === 'full') return { plan: fullPlan(model.config), lora: null };
  const lora = toLoraConfig(o.lora, model.dir);
  const plan = loraPlan(model.config, lora);
  const rng = Rng.derive(o.seed, 3);
  for (const l of plan.layers) l.init(rng, o.lora.init);
  return { plan, lora };
}

export async function train(partial: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>, hooks: TrainHooks = {}): Promise<TrainResult> {
  const o: TrainOptions = { ...DEFAULT_TRAIN, ...partial, lora: { ...DEFAULT_TRAIN.lora, ...partial.lora } };
  validate(o);
  const emit = (e: TrainEvent) => hooks.onEvent?.(e);
  const t0 = performance.now();
  const model = loadGPT2(o.model);
  const T = Math.min(o.maxLength, model.config.nPositions);
  const { plan, lora } = makePlan(o, model);
  const all = await loadBlocks(o.data, T, o.model, { cacheDir: o.cacheDir });
  const { train: blocks, val } = holdOutSplit(all, o.valRatio, o.seed);
  const B = o.batchSize;
  const batchesPerEpoch = Math.ceil(blocks.length / B);
  const stepsPerEpoch = Math.max(1, Math.floor(batchesPerEpoch / o.gradAccum));
  const totalSteps = o.maxSteps > 0 ? o.maxSteps : Math.ceil(o.epochs * stepsPerEpoch);
  const warmup = warmupSteps(totalSteps, o.warmupSteps, o.warmupRatio);

  const sg = await buildStepGraph(model, plan, B, T, { device: o.device, threads: o.threads, releaseFrozen: o.method === 'lora', modelDropout: o.modelDropout });
  const opt = new AdamW(sg.trainables, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  let start = 0;
  if (hooks.resume) start = restore(opt, hooks.resume);
  emit({ type: 'start', totalSteps, trainableParams: plan.trainableParams, allParams: plan.allParams, examples: blocks.length, tokensPerStep: B * T * o.gradAccum });

  let order: number[] = [];
  let orderEpoch = -1;
  const microBatch = (k: number): ArrayLike<number>[] => {
    const epoch = Math.floor(k / batchesPerEpoch);
    if (epoch !== orderEpoch) {
      order = Rng.derive(o.seed, 1, epoch).shuffle([...blocks.keys()]);
      orderEpoch = epoch;
    }
    const i = (k % batchesPerEpoch) * B;
    return order.slice(i, i + B).map((j) => blocks[j]);
  };

  let loss = hooks.resume?.loss ?? NaN, step = start, tokensAfterFirst = 0, timeAfterFirst = 0;
  let stopped: TrainResult['stopped'] = 'completed';
  const valBatches = Array.from({ length: Math.ceil(val.length / B) }, (_, i) => makeBatch(val.slice(i * B, (i + 1) * B), B, T));
  let evalLoss: number | undefined;
  const evaluate = async (done: number) => {
    if (valBatches.length === 0) return;
    const r = await evaluateLoss(sg, valBatches);
    evalLoss = r.loss;
    emit({ type: 'eval', step: done, evalLoss: r.loss, perplexity: Math.exp(r.loss), tokens: r.tokens });
  };
  let lastCheckpoint = start;
  const checkpoint = async (done: number) => {
    if (done === lastCheckpoint || !hooks.onCheckpoint) return;
    lastCheckpoint = done;
    await hooks.onCheckpoint(snapshot(opt, done, loss));
  };
  try {
    for (step = start; step < totalSteps; step++) {
      if (hooks.signal?.aborted) {
        stopped = 'cancelled';
        await checkpoint(step);
        break;
      }
      const ts = performance.now();
      const batches = Array.from({ length: o.gradAccum }, (_, a) => makeBatch(microBatch(step * o.gradAccum + a), B, T));
      const out = await runAccumulated(sg, batches, Rng.derive(o.seed, 2, step));
      loss = out.loss;
      if (!Number.isFinite(loss)) {
        throw new Error(`training diverged: the loss is ${loss} at step ${step + 1}. Lower the learning rate (now ${o.lr}) or check the data.`);
      }
      const norm = globalNorm(out.grads);
      const lr = lrAt(o.schedule, o.lr, step, totalSteps, warmup);
      opt.update(out.grads, lr, clipScale(norm, o.maxGradNorm));
      const dt = (performance.now() - ts) / 1000;
      const tokens = batches.reduce((s, b) => s + b.tokens, 0);
      if (step > start) { tokensAfterFirst += tokens; timeAfterFirst += dt; }
      const done = step + 1;
      if (done % o.logEvery === 0 || done === totalSteps || done === 1) {
        const elapsedS = (performance.now() - t0) / 1000;
        const perStep = step > start ? timeAfterFirst / (step - start) : dt;
        emit({
          type: 'step', step: done, totalSteps, epoch: (done * o.gradAccum) / batchesPerEpoch, loss, lr, gradNorm: norm,
          tokensPerS: step > start ? tokensAfterFirst / timeAfterFirst : tokens / dt, elapsedS, etaS: perStep * (totalSteps - done),
        });
      }
      if (o.evalEvery > 0 && done % o.evalEvery === 0 && done < totalSteps) await evaluate(done);
      if (hooks.checkpointEvery && done % hooks.checkpointEvery === 0 && done < totalSteps) {
        await checkpoint(done);
      }
    }
    if (stopped === 'completed') await evaluate(step);
  } finally {
    await sg.session.release();
  }

  if (o.out) saveResult(o, model, plan, lora);
  const result: TrainResult = {
    steps: step,
    finalLoss: loss,
    trainableParams: plan.trainableParams,
    allParams: plan.allParams,
    tokensPerS: timeAfterFirst > 0 ? tokensAfterFirst / timeAfterFirst : 0,
    peakRssMb: peakRssMb(),
    wallS: (performance.now() - t0) / 1000,
    stopped,
    evalLoss,
    out: o.out,
  };
  emit({ type: 'done', result });
  return result;
}

function snapshot(opt: AdamW, step: number, loss: number): Checkpoint {
  return {
    step,
    loss,
    tensors: opt.params.map((p) => ({ name: p.name, shape: p.shape, data: p.data.slice(), m: p.m.slice(), v: p.v.slice() })),
  };
}

/** Loads a checkpoint into the optimizer's tensors; returns the step to continue from. */
function restore(opt: AdamW, ck: Checkpoint): number {
  const byName = new Map(ck.tensors.map((t) => [t.name, t]));
  for (const p of opt.params) {
    const t = byName.get(p.name);
    if (!t) throw new Error(`checkpoint has no tensor ${p.name}: it was written by a run with other options`);
    if (t.data.length !== p.data.length) throw new Error(`checkpoint tensor ${p.name} has ${t.data.length} values, this run needs ${p.data.length}`);
    p.data.set(t.data);
    p.m.set(t.m);
    p.v.set(t.v);
  }
  if (byName.size !== opt.params.length) throw new Error(`checkpoint has ${byName.size} tensors, this run trains ${opt.params.length}`);
  opt.step = ck.step;
  return ck.step;
}

function validate(o: TrainOptions): void {
  const bad = (m: string) => { throw new Error(`invalid training options: ${m}`); };
  if (o.method !== 'lora' && o.method !== 'full') bad(`method must be lora or full, got ${o.method}`);
  if (!(o.lr > 0)) bad(`lr must be > 0, got ${o.lr}`);
  for (const k of ['batchSize', 'gradAccum', 'maxLength', 'logEvery'] as const) if (!Number.isInteger(o[k]) || o[k] < 1) bad(`${k} must be a positive integer, got ${o[k]}`);
  if (o.maxLength < 2) bad('maxLength must be at least 2');
  if (!(o.epochs > 0) && !(o.maxSteps > 0)) bad('give epochs > 0 or maxSteps > 0');
  if (!['constant', 'linear', 'cosine'].includes(o.schedule)) bad(`schedule must be constant, linear or cosine, got ${o.schedule}`);
  if (o.lora.dropout < 0 || o.lora.dropout >= 1) bad(`LoRA dropout must be in [0, 1), got ${o.lora.dropout}`);
  if (!Number.isInteger(o.lora.r) || o.lora.r < 1) bad(`LoRA r must be a positive integer, got ${o.lora.r}`);
  if (o.valRatio < 0 || o.valRatio >= 1) bad(`validation ratio must be in [0, 1), got ${o.valRatio}`);
  if (!Number.isInteger(o.evalEvery) || o.evalEvery < 0) bad(`evalEvery must be a non-negative integer, got ${o.evalEvery}`);
  if (o.warmupRatio < 0 || o.warmupRatio >= 1) bad(`warmup ratio must be in [0, 1), got ${o.warmupRatio}`);
  if (o.weightDecay < 0) bad(`weight decay must be >= 0, got ${o.weightDecay}`);
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json', 'vocab.txt', 'generation_config.json'];

/** LoRA → a PEFT adapter folder; full → a Hugging Face model folder (config, weights, tokenizer). */
function saveResult(o: TrainOptions, model: LoadedGPT2, plan: Plan, lora: LoraConfig | null): void {
  const out = o.out!;
  mkdirSync(out, { recursive: true });
  if (lora) {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const l of plan.layers) {
      tensors.set(`base_model.model.${l.aName}`, { shape: l.aShape, data: l.A });
      tensors.set(`base_model.model.${l.bName}`, { shape: l.bShape, data: l.B });
    }
    // bias = all | lora_only: PEFT saves the trained biases next to the LoRA weights.
    for (const n of plan.trainableBase) {
      const w = model.weights.get(n)!;
      tensors.set(`base_model.model.${n}`, { shape: w.shape, data: w.data });
    }
    saveAdapter(out, lora, tensors);
    return;
  }
  writeJsonAtomic(path.join(out, 'config.json'), model.config.raw);
  writeSafetensors(path.join(out, 'model.safetensors'), gpt2ParamShapes(model.config).map(([name, shape]) => ({
    name, dtype: 'F32' as const, shape, data: model.weights.get(name)!.data,
  })), { format: 'pt' });
  for (const f of TOKENIZER_FILES) {
    const src = path.join(model.dir, f);
    if (existsSync(src)) copyFileSync(src, path.join(out, f));
  }
}
