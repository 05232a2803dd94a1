// `lora-studio info`: flags -> the models service -> the architecture and PEFT's line printed.
import { inspectModel } from '../../engine/services/models.ts';
import { LORA_FLAGS, LORA_HELP, UsageError, loraFromFlags, parse, required, runCommand } from '../args.ts';

const HELP = `Usage: lora-studio info --model DIR [--method lora|full] [LoRA options] [--json]

Prints the architecture and PEFT's trainable-parameters line.

${LORA_HELP}`;

export async function infoCommand(argv: string[]): Promise<number> {
  return runCommand('info', HELP, async () => {
    const { values: v } = parse(argv, { model: { type: 'string' }, method: { type: 'string' }, ...LORA_FLAGS });
    if (v.help) { console.log(HELP); return 0; }
    const method = (v.method ?? 'lora') as string;
    if (method !== 'lora' && method !== 'full') throw new UsageError(`--method must be lora or full, got "${method}"`);
    const info = inspectModel(required(v, 'model'), { method, lora: loraFromFlags(v) });
    if (v.json) {
      console.log(JSON.stringify({ ...info, trainable_params: info.trainableParams, all_params: info.allParams, trainable_percent: (100 * info.trainableParams) / info.allParams }, null, 2));
      return 0;
    }
    const c = info.config;
    console.log(`${info.architecture}  (${info.dir})`);
    // The family's own config summary (HF config names), whatever the family.
    console.log(`  ${Object.entries(c).map(([k, x]) => `${k} ${x}`).join(', ')}`);
    const kinds = [...new Set(info.linearModules.map((m) => m.name.replace(/^(.*\.)?\d+\./, '')))];
    console.log(`  linear layers (LoRA targets): ${kinds.join(', ')}  (default: ${info.defaultTargets.join(', ')})`);
    console.log(`  method: ${info.method}`);
    console.log(info.line);
    return 0;
  });
}
