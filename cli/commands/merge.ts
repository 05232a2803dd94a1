// `lora-studio merge`: flags -> the export service (merge_and_unload into an HF folder) -> print.
import { mergeAdapter } from '../../engine/services/export.ts';
import { parse, required, runCommand } from '../args.ts';

const HELP = `Usage: lora-studio merge --model DIR --adapter DIR --out DIR [--onnx] [--json]

PEFT's merge_and_unload: folds the LoRA adapter into the base weights (W += B·A·alpha/r) and
writes a plain Hugging Face model folder (config.json, model.safetensors, tokenizer files) that
loads without PEFT. A classification adapter (DistilBERT, GPT-2) also brings its trained heads
(modules_to_save) and gives a …ForSequenceClassification folder.
  --onnx   also write onnx/model.onnx: a GPT-2 decoder with past key/values in Optimum's layout
           (input_ids, attention_mask, position_ids, past_key_values.N.key/value -> logits,
           present.N.key/value), the file transformers.js loads for generation.`;

export async function mergeCommand(argv: string[]): Promise<number> {
  return runCommand('merge', HELP, async () => {
    const { values: v } = parse(argv, { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, onnx: { type: 'boolean' } });
    if (v.help) { console.log(HELP); return 0; }
    const r = mergeAdapter(required(v, 'model'), required(v, 'adapter'), required(v, 'out'), { onnx: v.onnx });
    if (v.json) console.log(JSON.stringify({ out: r.out, merged_layers: r.mergedLayers, files: r.files, arch: r.arch, task: r.task }));
    else console.log(`merged ${r.mergedLayers} LoRA layers into ${r.out} (${r.arch} ${r.task}: ${r.files.join(', ')})`);
    return 0;
  });
}
