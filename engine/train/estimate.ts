// What a training run will need before it starts: peak memory and seconds per step, from the
// model's shape and the run's options. A model of where the bytes and FLOPs go, with a few
// constants calibrated against measured runs on the reference machine (docs/BENCHMARKS.md,
// "Run estimates"); another machine passes its own `machine` (gflops above all).

import { defaultLoraConfig } from '../lora/config.ts';
import { loraPlan } from '../lora/peft-model.ts';
import { type ModelSpec, lmParamShapes } from '../models/types.ts';
import { type BaseDtype, bytesPerValue } from '../quant/formats.ts';
import { checkpointingFor } from './types.ts';

export interface EstimateInput {
  spec: ModelSpec;
  method: 'lora' | 'full';
  baseDtype?: BaseDtype;
  batchSize: number;
  maxLength: number;
  /** LoRA target modules (default: the family's, as PEFT) and rank (default 8). */
  loraTargets?: string[] | string;
  loraR?: number;
  /** Unset: as the trainer decides (checkpointingFor). */
  gradientCheckpointing?: boolean;
  machine?: Partial<Machine>;
}

export interface RunEstimate {
  /** Peak resident memory of the whole process. */
  peakRssMb: number;
  /** One optimizer step (forward, backward, update) after the first. */
  stepS: number;
  /** Frozen base as stored (with the float32 copies a low-precision backward makes), plus trainable values, their gradients and both AdamW moments. */
  weightsMb: number;
  /** Activations kept for the backward pass and the logits at the peak. */
  activationsMb: number;
}

/** The calibrated constants. Defaults: the 2-core AMD EPYC of docs/BENCHMARKS.md, quiet. */
export interface Machine {
  /** Node, ONNX Runtime and the engine loaded, before any model. */
  runtimeMb: number;
  /** Copies of float32 frozen weights alive at the peak (ours during the build, the session's, MLAS's pre-packed one). */
  frozenCopies: number;
  /** Float32 values kept per token for each linear layer's input + output feature (forward, then backward's transients): LoRA, full fine-tuning (which also keeps what weight gradients need). */
  linearFloats: number;
  linearFloatsFull: number;
  /** Float32 values kept per token, per layer, for each attention head x key position (scores, probabilities). */
  attentionFloats: number;
  /** Copies of the batch x length x vocabulary logits alive at the peak (logits, softmax, its gradient). */
  logitsCopies: number;
  /** Matrix-multiplication rate of the step graph, GFLOP/s. */
  gflops: number;
  /** Fixed cost per step (graph dispatch, feeds), seconds. */
  stepOverheadS: number;
  /** Gradient norm + AdamW per trainable value, ns: threaded (large runs) and main-thread (small). */
  optimizerNsThreaded: number;
  optimizerNsMain: number;
}

export const REFERENCE_MACHINE: Machine = {
  // Fitted (non-negative least squares on the relative error, bench/estimate-fit.ts) to the peaks
  // of bench/estimate-check.ts's runs. attentionFloats fits to 0: ONNX Runtime's planner reuses the
  // score buffers within what the linear layers' share already covers.
  runtimeMb: 110,
  frozenCopies: 1,
  linearFloats: 1.702,
  linearFloatsFull: 2.823,
  attentionFloats: 0,
  logitsCopies: 3.562,
  gflops: 80,
  stepOverheadS: 0.01,
  optimizerNsThreaded: 4,
  optimizerNsMain: 8,
};

/** bench/matmul-peak.ts's rate on the reference machine when quiet, GFLOP/s. */
export const REFERENCE_MATMUL_PEAK = 94;

/**
 * The machine constants scaled to a measured matmul rate (bench/matmul-peak.ts's product): the
 * step's compute time scales with it, the memory constants do not change.
 */
export function machineAt(matmulPeakGflops: number): Partial<Machine> {
  return { gflops: (REFERENCE_MACHINE.gflops * matmulPeakGflops) / REFERENCE_MATMUL_PEAK };
}

const MB = 2 ** 20;

export function estimateRun(inp: EstimateInput): RunEstimate {
  const m: Machine = { ...REFERENCE_MACHINE, ...inp.machine };
  const { spec, method, batchSize: B, maxLength: T } = inp;
  const dtype = method === 'full' ? 'f32' : inp.baseDtype ?? 'f32';
  const N = B * T;
  const layers = spec.cache.layers;
  const heads = Math.max(1, Math.round(spec.hidden / spec.cache.headDim));
  const all = lmParamShapes(spec).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
  // Values in matrix products per token: every linear layer and the LM head.
  const linear = spec.linearModules.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
  const headValues = spec.lmHead ? spec.vocabSize * spec.hidden : 0;
  const ckpt = checkpointingFor(inp);
  const trainable = method === 'full' ? all : loraPlan(spec, defaultLoraConfig({ r: inp.loraR ?? 8, targetModules: inp.loraTargets ?? spec.family.defaultTargets })).trainableParams;

  // Weights: trainables in float32 x 4 (value, gradient, two moments); the frozen rest as stored.
  const packed = method === 'lora' ? linear + headValues : 0;
  const frozenF32 = method === 'lora' ? all - packed : 0;
  const frozenBytes = dtype === 'f32' ? (frozenF32 + packed) * 4 * m.frozenCopies : frozenF32 * 4 * m.frozenCopies + packed * bytesPerValue(dtype, spec.hidden);
  // A low-precision base's input gradients cast or dequantize each frozen matrix to float32 once
  // its dy exists (engine/quant/packed.ts); the LM head's and one layer's are alive at once.
  // int4's unpacking (cast, minus 8, times the scales) keeps more float32 alive than a cast (1.5 copies, chosen from the int4 rows).
  const dequantized = dtype !== 'f32' ? (headValues + linear / Math.max(1, layers)) * 4 * (dtype === 'int4' ? 1.5 : 1) : 0;
  const weightsMb = (frozenBytes + dequantized + trainable * 16) / MB;

  // Activations: each linear layer's input and output per token, attention's T-long rows per
  // head, the logits; with checkpointing only each layer's input stays, plus one layer's worth.
  const perLayerLinear = spec.linearModules.reduce((s, l) => s + l.inFeatures + l.outFeatures, 0) / Math.max(1, layers);
  const perLayer = N * ((method === 'full' ? m.linearFloatsFull : m.linearFloats) * perLayerLinear + m.attentionFloats * heads * T);
  const kept = ckpt ? N * spec.hidden * layers + perLayer : perLayer * layers;
  const logits = spec.lmHead ? N * spec.vocabSize * m.logitsCopies : 0;
  const activationsMb = ((kept + logits) * 4) / MB;

  // Time: 2 FLOPs per multiply-add; forward 1x, input gradients 1x, weight gradients 1x (full only);
  // checkpointing recomputes the forward once more. Attention: QK^T and PV, same passes.
  const passes = (method === 'full' ? 3 : 2) + (ckpt ? 1 : 0);
  const flops = 2 * N * (linear + headValues) * passes + 2 * 2 * N * T * spec.hidden * layers * (3 + (ckpt ? 1 : 0));
  const threaded = trainable >= 1 << 23;
  const optS = (trainable * (threaded ? m.optimizerNsThreaded : m.optimizerNsMain)) / 1e9;
  const stepS = flops / (m.gflops * 1e9) + m.stepOverheadS + optS;

  return { peakRssMb: m.runtimeMb + weightsMb + activationsMb, stepS, weightsMb, activationsMb };
}
