// Rendering conversations through a Jinja chat template with @huggingface/jinja, the way
// transformers' apply_chat_template does (trim_blocks, lstrip_blocks; the variables messages,
// add_generation_prompt, tools = documents = None, the special tokens, raise_exception,
// strftime_now), and finding what the assistant said in the rendered text.
//
// Trained spans are found by rendering incrementally: for assistant turn i, the render of
// messages[:i] with the generation prompt ends where the answer starts, and the render of
// messages[:i+1] ends where the turn ends; the span runs from one to the other, less the
// whitespace after the turn's last non-space character (the newline a template writes after
// <|im_end|> belongs to the layout, not to the answer). Both renders must be prefixes of the
// whole conversation's render; a template that rewrites earlier turns (some reasoning models
// drop old thoughts) is refused with a message rather than guessed at.

import { Environment, Interpreter, parse, tokenize } from '@huggingface/jinja';
import { DataError } from '../errors.ts';
import type { ChatMessage } from './types.ts';

export interface SpecialTokenStrings {
  bos_token?: string;
  eos_token?: string;
  unk_token?: string;
  pad_token?: string;
  sep_token?: string;
  cls_token?: string;
  mask_token?: string;
}

export interface RenderOptions {
  /** The date strftime_now() reports (default: now), so that renders can be reproduced. */
  now?: Date;
  /** Extra template variables (apply_chat_template's **kwargs), e.g. date_string. */
  vars?: Record<string, unknown>;
}

/** A problem with the template or with what it was given; the caller adds the row. */
export class ChatTemplateError extends DataError {
  override readonly name: string = 'ChatTemplateError';
}

/** The names apply_chat_template defines; a template may use these without testing them. */
const PASSED = ['messages', 'add_generation_prompt', 'tools', 'documents', 'raise_exception', 'strftime_now', 'range', 'namespace',
  'bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token', 'additional_special_tokens',
  'true', 'false', 'none', 'True', 'False', 'None', 'loop'];

class RaisedByTemplate extends Error {}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's strftime in the C locale, for the directives chat templates use. */
export function strftime(d: Date, fmt: string): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return fmt.replace(/%([a-zA-Z%])/g, (m, c: string) => {
    switch (c) {
      case 'd': return p2(d.getDate());
      case 'e': return String(d.getDate()).padStart(2, ' ');
      case 'm': return p2(d.getMonth() + 1);
      case 'b': return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'B': return MONTHS[d.getMonth()]!;
      case 'y': return p2(d.getFullYear() % 100);
      case 'Y': return String(d.getFullYear());
      case 'H': return p2(d.getHours());
      case 'I': return p2(d.getHours() % 12 || 12);
      case 'p': return d.getHours() < 12 ? 'AM' : 'PM';
      case 'M': return p2(d.getMinutes());
      case 'S': return p2(d.getSeconds());
      case 'a': return DAYS[d.getDay()]!.slice(0, 3);
      case 'A': return DAYS[d.getDay()]!;
      case 'j': return String(Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86400000) + 1).padStart(3, '0');
      case '%': return '%';
      default: return m;
    }
  });
}

/** Identifiers a template tests with `is defined` / `is undefined` (it copes with their absence). */
function guardedNames(node: unknown, out = new Set<string>()): Set<string> {
  if (!node || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    for (const x of node) guardedNames(x, out);
    return out;
  }
  const n = node as { type?: string; operand?: { type?: string; value?: string }; test?: { value?: string } };
  if (n.type === 'TestExpression' && n.operand?.type === 'Identifier' && (n.test?.value === 'defined' || n.test?.value === 'undefined')) {
    out.add(n.operand.value!);
  }
  for (const v of Object.values(node)) if (v && typeof v === 'object') guardedNames(v, out);
  if (node instanceof Map) for (const [k, v] of node) { guardedNames(k, out); guardedNames(v, out); }
  return out;
}

/** Records the names looked up and not found (Environment.resolve asks `variables.has`). */
class RecordingMap<K, V> extends Map<K, V> {
  readonly misses = new Set<K>();
  override has(k: K): boolean {
    const h = super.has(k);
    if (!h) this.misses.add(k);
    return h;
  }
}

const SENTINEL = 'ANSWER\u2063SENTINEL';

export class ChatTemplate {
  private readonly program: ReturnType<typeof parse>;
  private readonly guarded: Set<string>;

  constructor(
    readonly source: string,
    /** Where the template came from, for messages. */
    readonly name: string,
    readonly tokens: SpecialTokenStrings,
    private readonly opts: RenderOptions = {},
  ) {
    try {
      this.program = parse(tokenize(source, { lstrip_blocks: true, trim_blocks: true }));
    } catch (e) {
      throw new ChatTemplateError(`the chat template (${name}) does not parse: ${(e as Error).message}`);
    }
    this.guarded = guardedNames(this.program);
  }

  /** The text apply_chat_template(messages, tokenize=False, add_generation_prompt) returns. */
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string {
    const env = new Environment();
    const now = this.opts.now ?? new Date();
    const globals: Record<string, unknown> = {
      false: false, true: true, none: null, False: false, True: true, None: null,
      range: (a: number, b?: number, s = 1) => {
        const [lo, hi] = b === undefined ? [0, a] : [a, b];
        const r: number[] = [];
        for (let i = lo; s > 0 ? i < hi : i > hi; i += s) r.push(i);
        return r;
      },
      raise_exception: (msg: unknown) => { throw new RaisedByTemplate(String(msg)); },
      strftime_now: (fmt: unknown) => strftime(now, String(fmt)),
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: addGenerationPrompt,
      tools: null,
      documents: null,
      ...Object.fromEntries(Object.entries(this.tokens).filter(([, v]) => v !== undefined)),
      ...this.opts.vars,
    };
    for (const [k, v] of Object.entries(globals)) env.set(k, v);
    const vars = new RecordingMap<string, unknown>(env.variables);
    env.variables = vars as typeof env.variables;
    let out: string;
    try {
      out = (new Interpreter(env).run(this.program) as { value: string }).value;
    } catch (e) {
      if (e instanceof RaisedByTemplate) throw new ChatTemplateError(`the chat template (${this.name}) raised an exception: ${e.message}`);
      throw new ChatTemplateError(`the chat template (${this.name}) failed: ${(e as Error).message}${this.missing(vars.misses)}`);
    }
    const missing = [...vars.misses].filter((k) => !this.guarded.has(k) && !PASSED.includes(k) && !vars.has(k));
    if (missing.length) {
      throw new ChatTemplateError(
        `the chat template (${this.name}) uses the variable ${missing.map((m) => JSON.stringify(m)).join(', ')}, which is not defined ` +
          `(apply_chat_template passes messages, add_generation_prompt, tools, documents and the special tokens${Object.keys(this.opts.vars ?? {}).length ? `, and here ${Object.keys(this.opts.vars!).join(', ')}` : ''})`,
      );
    }
    return out;
  }

  private missing(misses: Set<string>): string {
    const m = [...misses].filter((k) => !this.guarded.has(k) && !PASSED.includes(k));
    return m.length ? ` (undefined: ${m.join(', ')})` : '';
  }

  /** The whole conversation's render and the character spans of its assistant turns. */
  assistantSpans(messages: ChatMessage[]): { text: string; spans: [number, number][] } {
    const text = this.render(messages, false);
    const spans: [number, number][] = [];
    messages.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      const before = this.render(messages.slice(0, i), true);
      const through = this.render(messages.slice(0, i + 1), false);
      if (!through.startsWith(before) || !text.startsWith(through)) {
        throw new ChatTemplateError(
          `the chat template (${this.name}) does not render conversations turn by turn (the first ${through.startsWith(before) ? i + 1 : i} turns ` +
            `${through.startsWith(before) ? 'do not render as the start of the whole conversation' : 'with the generation prompt do not render as the start of the next answer'}), ` +
            'so the assistant\'s tokens cannot be located; use --train-on all or another --chat-template',
        );
      }
      let end = through.length;
      while (end > before.length && /\s/.test(through[end - 1]!)) end--;
      if (end > before.length) spans.push([before.length, end]);
    });
    return { text, spans };
  }

  /** The text that closes an assistant turn (<|im_end|>, <|eot_id|>, </s>, …), found by rendering one. */
  endOfTurn(): string | null {
    const user: ChatMessage = { role: 'user', content: 'Hello' };
    const before = this.render([user], true);
    const through = this.render([user, { role: 'assistant', content: SENTINEL }], false);
    if (!through.startsWith(before)) return null;
    const after = through.slice(before.length);
    const i = after.lastIndexOf(SENTINEL);
    if (i < 0) return null;
    const close = after.slice(i + SENTINEL.length).trim();
    return close || null;
  }
}
