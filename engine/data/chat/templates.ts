// Which chat template renders the conversations: the model's own (`chat_template.jinja`, or
// `chat_template` in tokenizer_config.json), a built-in one by name, or a template file of the
// user's. The built-ins are the common formats, written here as Jinja:
//   chatml  <|im_start|>role\n…<|im_end|>\n            (TRL's default for models without a template)
//   llama3  <|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>, after the BOS token
//   alpaca  ### Instruction: / ### Response:, each answer closed by the EOS token
//   zephyr  <|user|>\n…</s>\n                            (the template of Zephyr and TinyLlama-Chat)

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataError } from '../errors.ts';

export const BUILTIN_TEMPLATES = {
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  llama3:
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  alpaca:
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% set loop_messages = messages[1:] %}" +
    "{% else %}{{ 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\\n\\n' }}{% set loop_messages = messages %}{% endif %}" +
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}" +
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}{% endif %}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}",
  zephyr:
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n" +
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n" +
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n" +
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
} as const;

export type BuiltinTemplate = keyof typeof BUILTIN_TEMPLATES;
export const BUILTIN_NAMES = Object.keys(BUILTIN_TEMPLATES) as BuiltinTemplate[];
/** The built-in used when the model has no template of its own. */
export const FALLBACK_TEMPLATE: BuiltinTemplate = 'chatml';

export interface ResolvedTemplate {
  source: string;
  /** Where it came from, for messages: "chatml (built-in)", "MODEL/tokenizer_config.json", a file. */
  name: string;
  /** The built-in's name, when it is one. */
  builtin?: BuiltinTemplate;
}

/** A `chat_template` field: a string, or a list of {name, template} (the one named "default"). */
function templateField(v: unknown, where: string): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.filter((t) => t && typeof t === 'object' && typeof (t as { template?: unknown }).template === 'string') as { name?: string; template: string }[];
    const d = named.find((t) => t.name === 'default') ?? named[0];
    if (d) return d.template;
  }
  if (v === undefined || v === null) return null;
  throw new DataError(`${where}: "chat_template" is neither a template string nor a list of {name, template}`, where);
}

function readJsonObject(file: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (e) {
    throw new DataError(`${file}: invalid JSON (${(e as Error).message})`, file);
  }
  throw new DataError(`${file}: expected a JSON object`, file);
}

/** The model folder's own template, or null. chat_template.jinja wins, as in transformers. */
export function modelTemplate(modelDir: string): ResolvedTemplate | null {
  const jinja = join(modelDir, 'chat_template.jinja');
  if (existsSync(jinja)) return { source: readFileSync(jinja, 'utf8'), name: jinja };
  const cfg = join(modelDir, 'tokenizer_config.json');
  if (existsSync(cfg)) {
    const t = templateField(readJsonObject(cfg).chat_template, cfg);
    if (t !== null) return { source: t, name: cfg };
  }
  return null;
}

/**
 * `auto` (the model's template, else chatml), a built-in's name, or a file: a Jinja template, or a
 * JSON file with a `chat_template` field (a tokenizer_config.json).
 */
export function resolveTemplate(choice: string | undefined, modelDir: string): ResolvedTemplate & { fallback?: boolean } {
  const c = choice ?? 'auto';
  if (c === 'auto') {
    const own = modelTemplate(modelDir);
    if (own) return own;
    return { source: BUILTIN_TEMPLATES[FALLBACK_TEMPLATE], name: `${FALLBACK_TEMPLATE} (built-in; the model has no chat template)`, builtin: FALLBACK_TEMPLATE, fallback: true };
  }
  if ((BUILTIN_NAMES as string[]).includes(c)) return { source: BUILTIN_TEMPLATES[c as BuiltinTemplate], name: `${c} (built-in)`, builtin: c as BuiltinTemplate };
  const file = resolve(c);
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new DataError(`--chat-template ${JSON.stringify(c)}: not auto, a built-in (${BUILTIN_NAMES.join(', ')}) or an existing template file`);
  }
  if (/\.json$/i.test(file)) {
    const t = templateField(readJsonObject(file).chat_template, file);
    if (t === null) throw new DataError(`${file}: has no "chat_template" field`, file);
    return { source: t, name: file };
  }
  const source = readFileSync(file, 'utf8');
  if (!source.trim()) throw new DataError(`${file}: the chat template is empty`, file);
  return { source, name: file };
}
