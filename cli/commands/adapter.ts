// `lora-studio adapter inspect DIR [--json]`: what a PEFT adapter folder holds, without loading
// the weights (only the safetensors header is read).
import { parseArgs } from 'node:util';
import { readAdapterHeader } from '../../engine/store/adapter.ts';

const USAGE = 'usage: lora-studio adapter inspect DIR [--json]';

/** `argv` are the arguments after `adapter`. Returns the exit code. */
export async function adapterCommand(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
      allowPositionals: true,
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n  Shows peft_type, r, lora_alpha, target_modules, the tensors and trainable_params.\n`);
      return 0;
    }
    const [sub, dir, ...rest] = positionals;
    if (sub !== 'inspect') throw new Error(sub === undefined ? USAGE : `unknown subcommand "${sub}" (${USAGE})`);
    if (dir === undefined || rest.length > 0) throw new Error(USAGE);
    inspect(dir, values.json === true);
    return 0;
  } catch (err) {
    process.stderr.write(`lora-studio adapter: ${oneLine(err)}\n`);
    return 1;
  }
}

function inspect(dir: string, json: boolean): void {
  const { config, tensors } = readAdapterHeader(dir);
  const list = tensors
    .map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // An adapter file holds only trainable tensors: LoRA matrices and modules_to_save copies.
  const trainable = list.reduce((sum, t) => sum + t.shape.reduce((n, d) => n * d, 1), 0);
  const targets = config.targetModules;
  if (json) {
    const out = {
      peft_type: 'LORA',
      r: config.r,
      lora_alpha: config.loraAlpha,
      target_modules: typeof targets === 'string' || targets.length > 0 ? targets : null,
      tensors: list,
      trainable_params: trainable,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  const lines = [
    `peft_type         LORA`,
    `r                 ${config.r}`,
    `lora_alpha        ${config.loraAlpha}`,
    `target_modules    ${typeof targets === 'string' ? targets : targets.length > 0 ? targets.join(', ') : '(model default)'}`,
    `tensors           ${list.length}`,
  ];
  const width = Math.max(...list.map((t) => t.name.length));
  for (const t of list) lines.push(`  ${t.name.padEnd(width)}  [${t.shape.join(', ')}]  ${t.dtype}`);
  lines.push(`trainable_params  ${trainable.toLocaleString('en-US')}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!;
}
