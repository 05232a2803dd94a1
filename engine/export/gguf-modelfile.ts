// An Ollama Modelfile for an exported GGUF: FROM (the model, or the base model's GGUF under a
// LoRA adapter), ADAPTER, and — when the chat format is one Ollama's Go templates are known to
// express — TEMPLATE and its stop PARAMETERs. A plain language model (no chat template) gets the
// raw prompt as its template and its EOS token as the stop string.

import path from 'node:path';
import type { GgufTokenizer } from './gguf-tokenizer.ts';

export interface ModelfileOptions {
  /** The folder the Modelfile is written to (paths are written relative to it). */
  dir: string;
  /** The model GGUF (full export), or null for an adapter export. */
  gguf: string | null;
  /** The LoRA adapter GGUF, or null. */
  adapter: string | null;
  /** With an adapter: the base model's GGUF, when known. */
  base: string | null;
  tokenizer: GgufTokenizer | null;
}

interface ChatFormat {
  template: string;
  stops: string[];
}

/** Chat formats recognised from a Jinja chat template, as Ollama templates. */
function chatFormat(jinja: string): ChatFormat | null {
  if (jinja.includes('<|im_start|>')) {
    return {
      template: '{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n',
      stops: ['<|im_start|>', '<|im_end|>'],
    };
  }
  if (jinja.includes('<|start_header_id|>')) {
    return {
      template: '{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>',
      stops: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'],
    };
  }
  if (jinja.includes('[INST]')) {
    return { template: '[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]', stops: ['[INST]', '[/INST]'] };
  }
  return null;
}

const rel = (dir: string, file: string): string => {
  const r = path.relative(dir, file);
  return r.startsWith('..') || path.isAbsolute(r) ? file : `./${r.split(path.sep).join('/')}`;
};

const quote = (s: string): string => JSON.stringify(s);

export function ollamaModelfile(o: ModelfileOptions): string {
  const lines = ['# Ollama Modelfile written by LoRA Studio (`ollama create NAME -f THIS_FILE`)'];
  if (o.gguf) lines.push(`FROM ${rel(o.dir, o.gguf)}`);
  else if (o.base) lines.push(`FROM ${rel(o.dir, o.base)}`);
  else {
    lines.push('# The base model this adapter was trained on, as a GGUF (lora-studio export gguf --model BASE_DIR --out base.gguf):');
    lines.push('FROM ./base.gguf');
  }
  if (o.adapter) lines.push(`ADAPTER ${rel(o.dir, o.adapter)}`);
  const tok = o.tokenizer;
  if (tok) {
    const chat = tok.chatTemplate ? chatFormat(tok.chatTemplate) : null;
    if (chat) {
      lines.push(`TEMPLATE """${chat.template}"""`);
      for (const s of chat.stops) lines.push(`PARAMETER stop ${quote(s)}`);
    } else if (tok.chatTemplate) {
      lines.push('# The chat template is in the GGUF (tokenizer.chat_template); Ollama reads it from there.');
      if (tok.eosText) lines.push(`PARAMETER stop ${quote(tok.eosText)}`);
    } else {
      lines.push('TEMPLATE """{{ .Prompt }}"""');
      if (tok.eosText) lines.push(`PARAMETER stop ${quote(tok.eosText)}`);
    }
  }
  return lines.join('\n') + '\n';
}
