// `lora-studio convert llama2c MODEL.bin TOKENIZER.bin --out DIR`: flags -> engine -> print.
// Self-contained (its own flag parsing and one-line errors).
import { parseArgs } from 'node:util';
import { convertLlama2c } from '../../engine/models/llama2c.ts';

const HELP = `Usage: lora-studio convert llama2c MODEL.bin TOKENIZER.bin --out DIR [--json]

Converts Karpathy's llama2.c legacy export (run.c's model .bin) and its tokenizer.bin into a
Hugging Face LlamaForCausalLM folder: config.json, model.safetensors (F32, q/k rows permuted from
llama2.c's interleaved RoPE pairs to HF's rotate_half), tokenizer.json (SentencePiece-style BPE
with byte fallback, BOS prepended as run.c does), tokenizer_config.json, generation_config.json.
The folder then works with every command (info, train, eval, generate, merge).`;

export async function convertCommand(argv: string[]): Promise<number> {
  let v: { out?: string; json?: boolean; help?: boolean }, pos: string[];
  try {
    const r = parseArgs({ args: argv, options: { out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    v = r.values;
    pos = r.positionals;
  } catch (e) {
    console.error(`lora-studio convert: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) { console.log(HELP); return 0; }
  const [format, model, tokenizer, ...extra] = pos;
  const usage = (msg: string) => { console.error(`lora-studio convert: ${msg}\n\n${HELP}`); return 2; };
  if (format !== 'llama2c') return usage(format ? `unknown format "${format}" (supported: llama2c)` : 'give a format (llama2c)');
  if (!model || !tokenizer || extra.length) return usage('give MODEL.bin and TOKENIZER.bin');
  if (!v.out) return usage('--out is required');
  try {
    const r = convertLlama2c(model, tokenizer, v.out);
    const h = r.header;
    if (v.json) console.log(JSON.stringify({ out: r.out, params: r.params, files: r.files, header: h }));
    else {
      console.log(`converted ${model} (dim ${h.dim}, ${h.nLayers} layers, ${h.nHeads} heads / ${h.nKvHeads} KV heads, vocab ${h.vocabSize}, ` +
        `${h.shared ? 'tied' : 'untied'} classifier, context ${h.seqLen}; ${r.params.toLocaleString('en-US')} parameters) to ${r.out}: ${r.files.join(', ')}`);
    }
    return 0;
  } catch (e) {
    console.error(`lora-studio convert: ${(e as Error).message.split('\n')[0]}`);
    return 1;
  }
}
