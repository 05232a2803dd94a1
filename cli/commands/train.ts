import { DEVICES, type Device } from '../../engine/onnx/runtime.ts';
import { DEFAULT_TRAIN, type TrainEvent } from '../../engine/train/types.ts';
import { LORA_FLAGS, LORA_HELP, TRAIN_FLAGS, UsageError, int, loraFromFlags, num, parse, required, runCommand, trainingFromFlags } from '../args.ts';
import { CHAT_TRAIN_FLAGS, CHAT_TRAIN_HELP, chatFromFlags, describeInstruct } from './chat-flags.ts';
import { PROJECT_TRAIN_FLAGS, PROJECT_TRAIN_HELP, outFlag, trainMaybeInProject } from './project-flags.ts';

const d = DEFAULT_TRAIN;
const HELP = `Usage: lora-studio train --model DIR --data FILE --method lora|full --out DIR [options] [--json]

Fine-tunes a causal LM. LoRA writes a PEFT adapter (adapter_config.json + adapter_model.safetensors)
to --out; full fine-tuning writes a Hugging Face model folder.

Task:
  --task causal-lm|seq-cls   seq-cls: sequence classification (DistilBERT or GPT-2; LoRA plus the
                        heads as modules_to_save); --val-ratio/--eval-every report accuracy and F1
  --validation FILE     a separate validation file (seq-cls)
  --text-column C       --label-column C   columns of a CSV/JSONL/parquet dataset

Training options:
  --lr X                learning rate (default ${d.lr})
  --epochs N            passes over the data (default ${d.epochs})
  --max-steps N         optimizer steps; overrides --epochs
  --batch-size N        sequences per micro-batch (default ${d.batchSize})
  --grad-accum N        micro-batches per optimizer step (default ${d.gradAccum})
  --max-length N        tokens per sequence (default ${d.maxLength})
  --warmup-steps N      linear warmup steps (default 0)
  --warmup-ratio X      warmup as a fraction of the steps (default 0)
  --weight-decay X      AdamW weight decay, not on biases and LayerNorm weights (default ${d.weightDecay})
  --max-grad-norm X     gradient clipping (default ${d.maxGradNorm}; 0 = off)
  --schedule constant|linear|cosine (default ${d.schedule})
  --seed N              shuffling, LoRA init and dropout (default ${d.seed})
  --log-every N         progress every N steps (default ${d.logEvery})
  --model-dropout       train with the model's own dropouts (config.json's *_pdrop), as HF does
  --val-ratio X         hold out this fraction of the data for validation (default 0)
  --eval-every N        validation loss every N steps (default: at the end only)
  --device cpu|webgpu|cuda (default cpu)
  --threads N           CPU threads (default: all cores)

${CHAT_TRAIN_HELP}

${LORA_HELP}

${PROJECT_TRAIN_HELP}`;

export async function trainCommand(argv: string[]): Promise<number> {
  return runCommand('train', HELP, async () => {
    const { values: v } = parse(argv, {
      model: { type: 'string' }, data: { type: 'string' }, method: { type: 'string' }, out: { type: 'string' },
      ...TRAIN_FLAGS, 'warmup-ratio': { type: 'string' }, 'max-grad-norm': { type: 'string' }, 'log-every': { type: 'string' },
      validation: { type: 'string' }, 'text-column': { type: 'string' }, 'label-column': { type: 'string' },
      'eval-every': { type: 'string' }, 'model-dropout': { type: 'boolean' }, device: { type: 'string' }, task: { type: 'string' },
      ...LORA_FLAGS,
      ...PROJECT_TRAIN_FLAGS,
      ...CHAT_TRAIN_FLAGS,
    });
    if (v.help) { console.log(HELP); return 0; }
    const method = (v.method ?? 'lora') as string;
    if (method !== 'lora' && method !== 'full') throw new UsageError(`--method must be lora or full, got "${method}"`);
    const device = (v.device ?? 'cpu') as Device;
    if (!DEVICES.includes(device)) throw new UsageError(`--device must be one of ${DEVICES.join(', ')}, got "${device}"`);
    if (v.task === 'seq-cls') return (await import('./classify.ts')).trainSeqClsFromFlags(v);
    if (v.task && v.task !== 'causal-lm') throw new UsageError(`--task must be causal-lm or seq-cls, got "${v.task}"`);
    const json = Boolean(v.json);
    const ac = new AbortController();
    process.once('SIGINT', () => { console.error('stopping after this step (Ctrl-C again to kill)'); ac.abort(); });
    const onEvent = (e: TrainEvent) => {
      if (e.type === 'start') {
        const line = `trainable params: ${e.trainableParams.toLocaleString('en-US')} || all params: ${e.allParams.toLocaleString('en-US')} || trainable%: ${((100 * e.trainableParams) / e.allParams).toFixed(4)}`;
        if (json) console.error(line); else console.log(`${line}\n${e.examples} sequences, ${e.totalSteps} steps`);
        if (e.instruct) for (const l of describeInstruct(e.instruct)) (json ? console.error : console.log)(l);
      } else if (e.type === 'step') {
        const msg = `step ${e.step}/${e.totalSteps}  epoch ${e.epoch.toFixed(2)}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toExponential(2)}  grad_norm ${e.gradNorm.toFixed(3)}  ${Math.round(e.tokensPerS)} tok/s  elapsed ${e.elapsedS.toFixed(1)}s  eta ${e.etaS.toFixed(1)}s`;
        if (json) console.error(msg); else console.log(msg);
      } else if (e.type === 'eval') {
        const msg = `eval @ step ${e.step}: loss ${e.evalLoss.toFixed(4)}  perplexity ${e.perplexity.toFixed(3)}  (${e.tokens} tokens)`;
        if (json) console.error(msg); else console.log(msg);
      } else if (e.type === 'log') console.error(e.message);
    };
    const r = await trainMaybeInProject(v, {
      model: required(v, 'model'), data: required(v, 'data'), method, out: outFlag(v),
      lora: loraFromFlags(v),
      ...trainingFromFlags(v),
      warmupRatio: num(v['warmup-ratio'], 'warmup-ratio', 0, (x) => x >= 0 && x < 1),
      maxGradNorm: num(v['max-grad-norm'], 'max-grad-norm', d.maxGradNorm, (x) => x >= 0),
      logEvery: int(v['log-every'], 'log-every', d.logEvery), device,
      evalEvery: int(v['eval-every'], 'eval-every', 0, 0),
      modelDropout: Boolean(v['model-dropout']),
      ...chatFromFlags(v),
    }, { onEvent, signal: ac.signal });
    if (json) {
      console.log(JSON.stringify({
        steps: r.steps, final_loss: r.finalLoss, trainable_params: r.trainableParams, all_params: r.allParams,
        tokens_per_s: r.tokensPerS, peak_rss_mb: r.peakRssMb, wall_s: r.wallS, stopped: r.stopped, out: r.out,
        ...(r.evalLoss !== undefined ? { eval_loss: r.evalLoss, eval_perplexity: Math.exp(r.evalLoss) } : {}),
      }));
    } else {
      console.log(`${r.stopped === 'cancelled' ? 'stopped' : 'done'}: ${r.steps} steps, final loss ${r.finalLoss.toFixed(4)}, ${Math.round(r.tokensPerS)} tok/s, peak RSS ${Math.round(r.peakRssMb)} MB, ${r.wallS.toFixed(1)} s → ${r.out}`);
    }
    return 0;
  });
}
