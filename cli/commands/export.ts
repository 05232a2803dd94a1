// `lora-studio export gguf`: flags -> exportGguf -> print. Self-contained (its own flag parsing).

import { parseArgs } from 'node:util';
import { GGUF_TYPES, type GgufType, exportGguf } from '../../engine/services/export.ts';

const HELP = `Usage: lora-studio export gguf --model DIR [--adapter DIR] --out FILE.gguf [--type f32|f16|q8_0] [--force]
       lora-studio export gguf --model DIR --adapter DIR --lora-only --out FILE.gguf [--base-gguf BASE.gguf]

Writes a GGUF v3 file for llama.cpp, Ollama and LM Studio: the model (GPT-2, or the Llama family:
llama, mistral, qwen2) with the adapter merged in, the tokenizer embedded; and FILE.Modelfile for
Ollama next to it.
  --type T        f32, f16 (default) or q8_0 (llama.cpp's 8-bit blocks); norms and 1-D tensors stay f32
  --lora-only     write the adapter alone as a GGUF LoRA adapter (llama.cpp --lora, Ollama ADAPTER),
                  applied to the base model's GGUF at run time
  --base-gguf F   with --lora-only: the base model's GGUF, for the Modelfile's FROM line
  --name NAME     general.name (default: the file's name)
  --force         replace FILE.gguf (and FILE.Modelfile) if they exist
  --json          print the result as JSON`;

const OPTIONS = {
  model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, type: { type: 'string' },
  force: { type: 'boolean' }, 'lora-only': { type: 'boolean' }, 'base-gguf': { type: 'string' }, name: { type: 'string' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

const fail = (message: string, code: number): number => {
  console.error(`lora-studio export: ${message}${code === 2 ? `\n\n${HELP}` : ''}`);
  return code;
};

export async function exportCommand(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  if (what === undefined || what === '--help' || what === '-h') { console.log(HELP); return what === undefined ? 2 : 0; }
  if (what !== 'gguf') return fail(`unknown export format "${what}" (supported: gguf)`, 2);
  let v: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };
  try {
    v = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    return fail((e as Error).message, 2);
  }
  if (v.help) { console.log(HELP); return 0; }
  if (!v.model) return fail('--model is required', 2);
  if (!v.out) return fail('--out is required', 2);
  if (v.type !== undefined && !GGUF_TYPES.includes(v.type as GgufType)) return fail(`--type must be one of ${GGUF_TYPES.join(', ')}, got "${v.type}"`, 2);
  if (v['base-gguf'] && !v['lora-only']) return fail('--base-gguf goes with --lora-only', 2);
  try {
    const r = await exportGguf({
      model: v.model, adapter: v.adapter, out: v.out, type: v.type as GgufType | undefined, force: v.force,
      loraOnly: v['lora-only'], baseGguf: v['base-gguf'], name: v.name,
    });
    if (v.json) {
      console.log(JSON.stringify({
        out: r.out, modelfile: r.modelfile, ollama: r.ollamaCommand, arch: r.arch, type: r.type, lora_only: r.loraOnly,
        tensors: r.tensors, bytes: r.bytes, lora_layers: r.loraLayers, tokenizer: r.tokenizer,
      }));
    } else {
      const what = r.loraOnly ? `LoRA adapter (${r.loraLayers} layers)` : `${r.arch} model${r.loraLayers ? ` with ${r.loraLayers} LoRA layers merged` : ''}`;
      console.log(`wrote ${r.out}: ${what}, ${r.tensors} tensors, ${r.type}, ${(r.bytes / 1e6).toFixed(1)} MB`);
      console.log(`wrote ${r.modelfile}`);
      console.log(`Ollama: ${r.ollamaCommand}`);
    }
    return 0;
  } catch (e) {
    if (process.env.LORA_STUDIO_DEBUG) console.error((e as Error).stack);
    return fail((e as Error).message.split('\n')[0], 1);
  }
}
