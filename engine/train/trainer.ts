// The one training loop, for every task and both methods (LoRA, full fine-tuning): the task's
// items -> seeded shuffling per epoch -> micro-batches -> step graph -> clipping -> AdamW ->
// events, validation, checkpoints (exact resume), cancellation, and a stop on anything non-finite.

import { type LoraConfig } from '../lora/config.ts';
import { type Plan, fullPlan, loraPlan } from '../lora/peft-model.ts';
import { SCHEDULES } from '../api-shapes.ts';
import { Rng } from '../util/rng.ts';
import { AdamW, clipScale, globalNormYielding } from './optimizer.ts';
import { lrAt, warmupSteps } from './schedule.ts';
import { runAccumulated } from './step.ts';
import { type StepGraph, baseStorage, buildStepGraph } from './step-graph.ts';
import type { Sampler, Task } from './task.ts';
import { causalLmTask } from './tasks/causal-lm.ts';
import { seqClsTask } from './tasks/seq-cls.ts';
import { type Checkpoint, checkpointingFor, DEFAULT_CLASSIFY, DEFAULT_TRAIN, type TrainEvent, type TrainHooks, type TrainOptions, type TrainResult } from './types.ts';

export const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;

/** The options a partial request stands for: the task's defaults, then the request. */
export function resolveOptions(partial: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>): TrainOptions {
  const base = partial.task === 'seq-cls' ? DEFAULT_CLASSIFY : DEFAULT_TRAIN;
  return { ...base, ...partial, lora: { ...base.lora, ...partial.lora } } as TrainOptions;
}

export function makePlan(o: TrainOptions, task: Task): { plan: Plan; lora: LoraConfig | null } {
  if (o.method === 'full') return { plan: fullPlan(task.target), lora: null };
  const lora = task.loraConfig(o.lora);
  const plan = loraPlan(task.target, lora);
  const rng = Rng.derive(o.seed, 3);
  for (const l of plan.layers) l.init(rng, o.lora.init);
  return { plan, lora };
}

export async function train(partial: Partial<TrainOptions> & Pick<TrainOptions, 'model' | 'data'>, hooks: TrainHooks = {}): Promise<TrainResult> {
  const o = resolveOptions(partial);
  validate(o);
  const t0 = performance.now();
  const task = await (o.task === 'seq-cls' ? seqClsTask(o) : causalLmTask(o));
  const { plan, lora } = makePlan(o, task);
  if (o.sample && !task.sampler) throw new Error(`invalid training options: samples during training need a language model (this is a ${task.kind} run)`);
  const sampler = o.sample && task.sampler ? await task.sampler(plan, o.sample) : undefined;
  const sg = await buildStepGraph(task.model.weights, plan, task.family.isNoDecay, task.loss, {
    device: o.device, threads: o.threads, releaseFrozen: o.method === 'lora', modelDropout: o.modelDropout,
    base: baseStorage(task.model.spec, o.baseDtype ?? 'f32', o), checkpointing: checkpointingFor(o),
  });
  const opt = new AdamW(sg.trainables, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  const start = hooks.resume ? restore(opt, hooks.resume) : 0;
  let r: LoopResult;
  try {
    r = await loop(o, task, sg, opt, plan, start, hooks, t0, sampler);
  } finally {
    await sg.session.release();
    await sampler?.release();
  }
  if (o.out) task.save(o.out, plan, lora);
  const result: TrainResult = {
    steps: r.step, finalLoss: r.loss, trainableParams: plan.trainableParams, allParams: plan.allParams,
    tokensPerS: r.timeAfterFirst > 0 ? r.tokensAfterFirst / r.timeAfterFirst : 0,
    peakRssMb: peakRssMb(), wallS: (performance.now() - t0) / 1000, stopped: r.stopped, evalLoss: r.evalLoss, out: o.out,
    ...(task.kind === 'seq-cls' ? { examplesPerS: r.timeAfterFirst > 0 ? r.rowsAfterFirst / r.timeAfterFirst : 0, labels: task.startInfo.labels, eval: r.metrics } : {}),
  };
  hooks.onEvent?.({ type: 'done', result });
  return result;
}

interface LoopResult {
  step: number; loss: number; stopped: TrainResult['stopped']; evalLoss?: number; metrics?: TrainResult['eval'];
  tokensAfterFirst: number; rowsAfterFirst: number; timeAfterFirst: number;
}

/** Steps `start` .. totalSteps; returns where it ended. */
async function loop(o: TrainOptions, task: Task, sg: StepGraph, opt: AdamW, plan: Plan, start: number, hooks: TrainHooks, t0: number, sampler?: Sampler): Promise<LoopResult> {
  const emit = (e: TrainEvent) => hooks.onEvent?.(e);
  const B = task.B;
  const batchesPerEpoch = Math.ceil(task.size / B);
  const stepsPerEpoch = Math.max(1, Math.floor(batchesPerEpoch / o.gradAccum));
  const totalSteps = o.maxSteps > 0 ? o.maxSteps : Math.ceil(o.epochs * stepsPerEpoch);
  const warmup = warmupSteps(totalSteps, o.warmupSteps, o.warmupRatio);
  emit({ type: 'start', totalSteps, trainableParams: plan.trainableParams, allParams: plan.allParams, ...task.startInfo });
  const order = epochOrder(o.seed, task.size);
  const microBatch = (k: number) => {
    const i = (k % batchesPerEpoch) * B;
    return task.batch(order(Math.floor(k / batchesPerEpoch)).slice(i, i + B));
  };
  const r: LoopResult = { step: start, loss: hooks.resume?.loss ?? NaN, stopped: 'completed', tokensAfterFirst: 0, rowsAfterFirst: 0, timeAfterFirst: 0 };
  const evaluate = async (done: number) => {
    const ev = await task.evaluate(sg, done);
    if (!ev) return;
    r.evalLoss = ev.event.evalLoss;
    if (ev.metrics) r.metrics = { ...ev.metrics, loss: ev.event.evalLoss };
    emit(ev.event);
  };
  let lastCheckpoint = start;
  const checkpoint = async (done: number) => {
    if (done === lastCheckpoint || !hooks.onCheckpoint) return;
    lastCheckpoint = done;
    await hooks.onCheckpoint(snapshot(opt, done, r.loss));
  };
  for (r.step = start; r.step < totalSteps; r.step++) {
    if (hooks.signal?.aborted) {
      r.stopped = 'cancelled';
      await checkpoint(r.step);
      break;
    }
    const ts = performance.now();
    const batches = Array.from({ length: o.gradAccum }, (_, a) => microBatch(r.step * o.gradAccum + a));
    const out = await runAccumulated(sg, batches, Rng.derive(o.seed, 2, r.step));
    const norm = await globalNormYielding(out.grads);
    // Never apply (or later checkpoint) an update from a non-finite loss or gradient.
    if (!Number.isFinite(out.loss) || !Number.isFinite(norm)) {
      const what = Number.isFinite(out.loss) ? `the gradient norm is ${norm}` : `the loss is ${out.loss}`;
      throw new Error(`training diverged: ${what} at step ${r.step + 1}. Lower the learning rate (now ${o.lr}) or check the data; the last checkpoint is kept.`);
    }
    r.loss = out.loss;
    const lr = lrAt(o.schedule, o.lr, r.step, totalSteps, warmup);
    await opt.update(out.grads, lr, clipScale(norm, o.maxGradNorm));
    const dt = (performance.now() - ts) / 1000;
    const tokens = batches.reduce((s, b) => s + b.tokens, 0), rows = batches.reduce((s, b) => s + b.rows, 0);
    if (r.step > start) { r.tokensAfterFirst += tokens; r.rowsAfterFirst += rows; r.timeAfterFirst += dt; }
    const done = r.step + 1;
    if (done % o.logEvery === 0 || done === totalSteps || done === 1) {
      const later = r.step > start;
      const perStep = later ? r.timeAfterFirst / (r.step - start) : dt;
      emit({
        type: 'step', step: done, totalSteps, epoch: (done * o.gradAccum) / batchesPerEpoch, loss: r.loss, lr, gradNorm: norm,
        tokensPerS: later ? r.tokensAfterFirst / r.timeAfterFirst : tokens / dt, elapsedS: (performance.now() - t0) / 1000, etaS: perStep * (totalSteps - done),
        ...(task.kind === 'seq-cls' ? { examplesPerS: later ? r.rowsAfterFirst / r.timeAfterFirst : rows / dt, ...task.stepMetrics?.(batches, out) } : {}),
      });
    }
    if (o.evalEvery > 0 && done % o.evalEvery === 0 && done < totalSteps) await evaluate(done);
    if (sampler && (done % o.sample!.every === 0 || done === totalSteps)) emit({ type: 'sample', step: done, prompt: o.sample!.prompt, text: await sampler.sample() });
    if (hooks.checkpointEvery && done % hooks.checkpointEvery === 0 && done < totalSteps) await checkpoint(done);
  }
  if (r.stopped === 'completed') await evaluate(r.step);
  return r;
}

/** The seeded order of one epoch's items (the same for a resumed run). */
function epochOrder(seed: number, n: number): (epoch: number) => number[] {
  let order: number[] = [], orderEpoch = -1;
  return (epoch) => {
    if (epoch !== orderEpoch) {
      order = Rng.derive(seed, 1, epoch).shuffle([...Array(n).keys()]);
      orderEpoch = epoch;
    }
    return order;
  };
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
    for (const [what, a] of [['values', t.data], ['first moments', t.m], ['second moments', t.v]] as const) {
      if (!a.every(Number.isFinite)) throw new Error(`checkpoint tensor ${p.name} has non-finite ${what}: refusing to resume from it`);
    }
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
  if (o.task !== 'causal-lm' && o.task !== 'seq-cls') bad(`task must be causal-lm or seq-cls, got ${o.task}`);
  if (o.method !== 'lora' && o.method !== 'full') bad(`method must be lora or full, got ${o.method}`);
  if (!(o.lr > 0)) bad(`lr must be > 0, got ${o.lr}`);
  for (const k of ['batchSize', 'gradAccum', 'maxLength', 'logEvery'] as const) if (!Number.isInteger(o[k]) || o[k] < 1) bad(`${k} must be a positive integer, got ${o[k]}`);
  if (o.maxLength < 2) bad('maxLength must be at least 2');
  if (!(o.epochs > 0) && !(o.maxSteps > 0)) bad('give epochs > 0 or maxSteps > 0');
  if (!(SCHEDULES as readonly string[]).includes(o.schedule)) bad(`schedule must be constant, linear or cosine, got ${o.schedule}`);
  if (o.lora.dropout < 0 || o.lora.dropout >= 1) bad(`LoRA dropout must be in [0, 1), got ${o.lora.dropout}`);
  if (!Number.isInteger(o.lora.r) || o.lora.r < 1) bad(`LoRA r must be a positive integer, got ${o.lora.r}`);
  if (o.valRatio < 0 || o.valRatio >= 1) bad(`validation ratio must be in [0, 1), got ${o.valRatio}`);
  if (!Number.isInteger(o.evalEvery) || o.evalEvery < 0) bad(`evalEvery must be a non-negative integer, got ${o.evalEvery}`);
  if (o.warmupRatio < 0 || o.warmupRatio >= 1) bad(`warmup ratio must be in [0, 1), got ${o.warmupRatio}`);
  if (o.weightDecay < 0) bad(`weight decay must be >= 0, got ${o.weightDecay}`);
  if (o.sample && !(Number.isInteger(o.sample.every) && o.sample.every >= 1)) bad(`sample every must be a positive integer, got ${o.sample.every}`);
  if (o.sample && o.sample.prompt.trim() === '') bad('the sample prompt is empty');
}
