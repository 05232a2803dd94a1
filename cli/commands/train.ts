// `lora-studio train`: flags -> the train service (engine/services/train.ts) -> progress and the
// result printed. Both tasks (causal LM, sequence classification) take the same flags.
import { trainableLine } from '../../engine/lora/peft-model.ts';
import { checkpointingFor, DEFAULT_TRAIN, type TrainEvent, type TrainResult } from '../../engine/train/types.ts';
import { LORA_FLAGS, LORA_HELP, TRAIN_FLAGS, TRAIN_ONLY_FLAGS, parse, required, runCommand, trainHelp, trainOptionsFromFlags } from '../args.ts';
import { CHAT_TRAIN_FLAGS, CHAT_TRAIN_HELP, chatFromFlags, describeInstruct } from './chat-flags.ts';
import { PROJECT_TRAIN_FLAGS, PROJECT_TRAIN_HELP, outFlag, trainMaybeInProject } from './project-flags.ts';

const d = DEFAULT_TRAIN;
const HELP = `Usage: lora-studio train --model DIR --data FILE --method lora|full --out DIR [options] [--json]

Fine-tunes a causal LM. LoRA writes a PEFT adapter (adapter_config.json + adapter_model.safetensors)
to --out; full fine-tuning writes a Hugging Face model folder. Every training is a run of a project
(--project, else a temporary one, removed when the run completes).

Task:
  --task causal-lm|seq-cls   seq-cls: sequence classification (DistilBERT or GPT-2; LoRA plus the
                        heads as modules_to_save, with the classification defaults: lr 1e-3,
                        batch 8, dropout 0.1); --val-ratio/--eval-every report accuracy and F1
  --validation FILE     a separate validation file (seq-cls)
  --text-column C       --label-column C   columns of a CSV/JSONL/parquet dataset

Training options:
${trainHelp()}
  --warmup-ratio X      warmup as a fraction of the steps (default 0)
  --max-grad-norm X     gradient clipping (default ${d.maxGradNorm}; 0 = off)
  --log-every N         progress every N steps (default ${d.logEvery})
  --model-dropout       train with the model's own dropouts (config.json's *_pdrop), as HF does
  --eval-every N        validation loss every N steps (default: at the end only)
  --device cpu|webgpu|cuda (default cpu)
  --base-dtype f32|bf16|f16|int8|int4
                        LoRA: how the frozen base is stored (default f32); int8 and int4 are
                        weight-only quantized, LoRA's own weights stay float32
  --gradient-checkpointing / --no-gradient-checkpointing
                        recompute each block in the backward pass: less memory, more time
                        (default: on for an int8 or int4 base, off otherwise)

${CHAT_TRAIN_HELP}

${LORA_HELP}

${PROJECT_TRAIN_HELP}`;

/** Progress lines: to stdout, or (with --json, whose stdout is the result) to stderr. */
function progress(json: boolean, classifier: boolean): (e: TrainEvent) => void {
  const say = (m: string) => (json ? console.error(m) : console.log(m));
  return (e) => {
    if (e.type === 'start') {
      say(`${trainableLine(e.trainableParams, e.allParams)}\n${classifier ? `classifier with ${e.numLabels} labels, ${e.examples} examples` : `${e.examples} sequences`}, ${e.totalSteps} steps`);
      if (e.instruct) for (const l of describeInstruct(e.instruct)) say(l);
    } else if (e.type === 'step') {
      say(classifier
        ? `step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  acc ${(e.accuracy ?? 0).toFixed(3)}  lr ${e.lr.toExponential(2)}  grad_norm ${e.gradNorm.toFixed(3)}  ${(e.examplesPerS ?? 0).toFixed(1)} ex/s  eta ${e.etaS.toFixed(1)}s`
        : `step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  grad_norm ${e.gradNorm.toFixed(3)}  ${Math.round(e.tokensPerS)} tok/s  elapsed ${e.elapsedS.toFixed(1)}s  eta ${e.etaS.toFixed(1)}s`);
    } else if (e.type === 'eval') {
      say(classifier
        ? `eval @ step ${e.step}: loss ${e.evalLoss.toFixed(4)}  accuracy ${(e.accuracy ?? 0).toFixed(4)}  f1 ${(e.f1 ?? 0).toFixed(4)}  confusion ${JSON.stringify(e.confusion)}`
        : `eval @ step ${e.step}: loss ${e.evalLoss.toFixed(4)}  perplexity ${e.perplexity.toFixed(3)}  (${e.tokens} tokens)`);
    } else if (e.type === 'log') console.error(e.message);
  };
}

function printResult(r: TrainResult, json: boolean, classifier: boolean): void {
  if (json) {
    console.log(JSON.stringify(classifier ? {
      steps: r.steps, final_loss: r.finalLoss, trainable_params: r.trainableParams, all_params: r.allParams, examples_per_s: r.examplesPerS,
      peak_rss_mb: r.peakRssMb, wall_s: r.wallS, stopped: r.stopped, out: r.out, labels: r.labels,
      ...(r.eval ? { eval_loss: r.eval.loss, eval_accuracy: r.eval.accuracy, eval_f1: r.eval.f1, eval_confusion: r.eval.confusion } : {}),
    } : {
      steps: r.steps, final_loss: r.finalLoss, trainable_params: r.trainableParams, all_params: r.allParams,
      tokens_per_s: r.tokensPerS, peak_rss_mb: r.peakRssMb, wall_s: r.wallS, stopped: r.stopped, out: r.out,
      ...(r.evalLoss !== undefined ? { eval_loss: r.evalLoss, eval_perplexity: Math.exp(r.evalLoss) } : {}),
    }));
    return;
  }
  const ended = `${r.stopped === 'cancelled' ? 'stopped' : 'done'}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}`;
  console.log(classifier
    ? `${ended}${r.eval ? `, eval accuracy ${r.eval.accuracy.toFixed(4)} f1 ${r.eval.f1.toFixed(4)}` : ''}, ${r.wallS.toFixed(1)} s → ${r.out}`
    : `${ended}, ${Math.round(r.tokensPerS)} tok/s, peak RSS ${Math.round(r.peakRssMb)} MB, ${r.wallS.toFixed(1)} s → ${r.out}`);
}

/** The parsed flags -> the train service -> the result printed (also `train --task seq-cls`). */
export async function trainFromFlags(v: Record<string, unknown>): Promise<number> {
  const options = trainOptionsFromFlags(v);
  const classifier = options.task === 'seq-cls';
  const json = Boolean(v.json);
  if (options.baseDtype) {
    const say = json ? console.error : console.log;
    say(`frozen base in ${options.baseDtype}, gradient checkpointing ${checkpointingFor(options) ? 'on' : 'off'}`);
  }
  const ac = new AbortController();
  process.once('SIGINT', () => { console.error('stopping after this step (Ctrl-C again to kill)'); ac.abort(); });
  const r = await trainMaybeInProject(v, { ...options, model: required(v, 'model'), data: required(v, 'data'), out: outFlag(v), ...chatFromFlags(v) }, { onEvent: progress(json, classifier), signal: ac.signal });
  printResult(r, json, classifier);
  return 0;
}

export async function trainCommand(argv: string[]): Promise<number> {
  return runCommand('train', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
      ...TRAIN_FLAGS, ...TRAIN_ONLY_FLAGS, ...LORA_FLAGS, ...PROJECT_TRAIN_FLAGS, ...CHAT_TRAIN_FLAGS,
    });
    if (v.help) { console.log(HELP); return 0; }
    return trainFromFlags(v);
  });
}
