// The instruction formats, detected from the first record and read into messages:
//   prompt-completion  TRL's {prompt, completion}: strings (no template: prompt + completion + EOS,
//                      as TRL trains them) or lists of messages (conversational: templated)
//   alpaca             {instruction, input?, output, system?} -> [system?, user, assistant]; the
//                      user turn is the instruction, then a blank line and the input when there is one
//   sharegpt           {conversations: [{from: system|human|gpt, value}]}
//   messages           {messages: [{role: system|user|assistant, content}]}
// Every problem with a row is one line naming the row (`file:line: problem`).

import { INSTRUCT_FORMAT_FIELDS } from '../../api-shapes.ts';
import { DataError } from '../errors.ts';
import { INSTRUCT_FORMATS, type ChatColumns, type ChatMessage, type InstructExample, type InstructFormat, type Role, type SourceRecord } from './types.ts';

type Rec = Record<string, unknown>;

/** The column each format reads, after the user's mapping. */
export function columnsOf(c: ChatColumns = {}): Required<ChatColumns> {
  return {
    prompt: c.prompt ?? 'prompt', completion: c.completion ?? 'completion',
    instruction: c.instruction ?? 'instruction', input: c.input ?? 'input', output: c.output ?? 'output', system: c.system ?? 'system',
    messages: c.messages ?? 'messages', conversations: c.conversations ?? 'conversations',
  };
}

/** Parses `prompt=question,completion=answer` (the CLI's --columns). */
export function parseColumns(spec: string): ChatColumns {
  const out: ChatColumns = {};
  const keys = Object.keys(columnsOf()) as (keyof ChatColumns)[];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(.+)$/.exec(part);
    if (!m || !keys.includes(m[1] as keyof ChatColumns)) throw new DataError(`--columns: "${part}" is not FIELD=COLUMN with FIELD one of ${keys.join(', ')}`);
    out[m[1] as keyof ChatColumns] = m[2]!.trim();
  }
  return out;
}

const has = (r: Rec, k: string) => Object.hasOwn(r, k) && r[k] !== undefined && r[k] !== null;

/** The fields each format reads (the contract's list; Alpaca's input and system are optional). */
export const FORMAT_FIELDS: Record<InstructFormat, readonly (keyof ChatColumns)[]> = INSTRUCT_FORMAT_FIELDS;
const OPTIONAL_FIELDS: readonly (keyof ChatColumns)[] = ['input', 'system'];

/** A row's missing-field problem, as it is reported (without the row). */
function missingField(k: string, format: InstructFormat, r: Rec, mappedTo?: string): string {
  return `missing field ${JSON.stringify(k)}${mappedTo ? `, mapped to ${mappedTo}` : ''} (the ${format} format needs it; the fields are ${Object.keys(r).map((x) => JSON.stringify(x)).join(', ')})`;
}

/**
 * A column the format needs, or one the user mapped, that no record has: one line naming the file
 * and the column (else every row would be skipped, or a mapped optional field silently unread).
 */
export function checkMappedColumns(file: string, records: readonly Rec[], format: InstructFormat, cols: ChatColumns = {}): void {
  const c = columnsOf(cols);
  for (const f of FORMAT_FIELDS[format]) {
    if (OPTIONAL_FIELDS.includes(f) && cols[f] === undefined) continue;
    if (records.some((r) => Object.hasOwn(r, c[f]))) continue;
    const mappedTo = cols[f] !== undefined && cols[f] !== f ? f : undefined;
    throw new DataError(`${file}: ${missingField(c[f], format, records[0] ?? {}, mappedTo)}`, file);
  }
}

/** The instruction format of a record, or null when it is not instruction data. */
export function detectInstructFormat(r: Rec, cols: ChatColumns = {}): InstructFormat | null {
  const c = columnsOf(cols);
  if (has(r, c.messages) && Array.isArray(r[c.messages])) return 'messages';
  if (has(r, c.conversations) && Array.isArray(r[c.conversations])) return 'sharegpt';
  if (has(r, c.instruction) && has(r, c.output)) return 'alpaca';
  if (has(r, c.prompt) && has(r, c.completion)) return 'prompt-completion';
  return null;
}

export function checkFormatName(f: string): void {
  if (f !== 'auto' && f !== 'text' && !(INSTRUCT_FORMATS as readonly string[]).includes(f)) {
    throw new DataError(`unknown data format ${JSON.stringify(f)}; use one of auto, text, ${INSTRUCT_FORMATS.join(', ')}`);
  }
}

export type Parsed = { ok: true; example: InstructExample } | { ok: false; problem: string };
const bad = (problem: string): Parsed => ({ ok: false, problem });

/** One record in the given format -> an example, or the problem with it. */
export function parseRecord(rec: SourceRecord, format: InstructFormat, cols: ChatColumns = {}): Parsed {
  const c = columnsOf(cols);
  const r = rec.value;
  const where = rec.where;
  const field = (k: string) => (has(r, k) ? r[k] : undefined);
  const missing = (k: string) => bad(missingField(k, format, r));
  switch (format) {
    case 'messages': {
      const list = field(c.messages);
      if (list === undefined) return missing(c.messages);
      if (!Array.isArray(list)) return bad(`field ${JSON.stringify(c.messages)} is not a list of messages`);
      const msgs = readMessages(list, 'role', 'content', { system: 'system', user: 'user', assistant: 'assistant' });
      return 'problem' in msgs ? bad(msgs.problem) : checked(msgs.messages, where);
    }
    case 'sharegpt': {
      const list = field(c.conversations);
      if (list === undefined) return missing(c.conversations);
      if (!Array.isArray(list)) return bad(`field ${JSON.stringify(c.conversations)} is not a list of turns`);
      const msgs = readMessages(list, 'from', 'value', { system: 'system', human: 'user', gpt: 'assistant', user: 'user', assistant: 'assistant' });
      return 'problem' in msgs ? bad(msgs.problem) : checked(msgs.messages, where);
    }
    case 'alpaca': {
      const instruction = field(c.instruction), output = field(c.output), input = field(c.input), system = field(c.system);
      if (instruction === undefined) return missing(c.instruction);
      if (output === undefined) return missing(c.output);
      for (const [k, v] of [[c.instruction, instruction], [c.output, output], [c.input, input], [c.system, system]] as const) {
        if (v !== undefined && typeof v !== 'string') return bad(`field ${JSON.stringify(k)} is ${typeName(v)}, not text`);
      }
      if (!(instruction as string).trim()) return bad(`field ${JSON.stringify(c.instruction)} is empty`);
      if (!(output as string).trim()) return bad(`field ${JSON.stringify(c.output)} is empty: no answer to learn`);
      const user = input && (input as string).trim() ? `${instruction as string}\n\n${input as string}` : (instruction as string);
      const messages: ChatMessage[] = [];
      if (system && (system as string).trim()) messages.push({ role: 'system', content: system as string });
      messages.push({ role: 'user', content: user }, { role: 'assistant', content: output as string });
      return { ok: true, example: { kind: 'chat', messages, where } };
    }
    case 'prompt-completion': {
      const prompt = field(c.prompt), completion = field(c.completion);
      if (prompt === undefined) return missing(c.prompt);
      if (completion === undefined) return missing(c.completion);
      if (typeof prompt === 'string' && typeof completion === 'string') {
        if (!completion.trim()) return bad(`field ${JSON.stringify(c.completion)} is empty: no answer to learn`);
        return { ok: true, example: { kind: 'text', prompt, completion, where } };
      }
      if (Array.isArray(prompt) && Array.isArray(completion)) {
        const map = { system: 'system', user: 'user', assistant: 'assistant' } as const;
        const p = readMessages(prompt, 'role', 'content', map);
        if ('problem' in p) return bad(`${c.prompt}: ${p.problem}`);
        const q = readMessages(completion, 'role', 'content', map);
        if ('problem' in q) return bad(`${c.completion}: ${q.problem}`);
        if (!q.messages.some((m) => m.role === 'assistant')) return bad(`field ${JSON.stringify(c.completion)} has no assistant turn`);
        return checked([...p.messages, ...q.messages], where);
      }
      return bad(`fields ${JSON.stringify(c.prompt)} and ${JSON.stringify(c.completion)} must both be text or both be lists of messages (got ${typeName(prompt)} and ${typeName(completion)})`);
    }
  }
}

function typeName(v: unknown): string {
  return Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function readMessages(list: unknown[], roleKey: string, contentKey: string, roles: Record<string, Role>): { messages: ChatMessage[] } | { problem: string } {
  const messages: ChatMessage[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    const n = `turn ${i + 1}`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return { problem: `${n} is ${typeName(m)}, not {${roleKey}, ${contentKey}}` };
    const raw = (m as Rec)[roleKey];
    if (typeof raw !== 'string') return { problem: `${n} has no "${roleKey}"` };
    const role = roles[raw];
    if (!role) return { problem: `${n} has ${roleKey} ${JSON.stringify(raw)}; expected one of ${Object.keys(roles).join(', ')}` };
    let content = (m as Rec)[contentKey];
    // OpenAI-style content parts: the text parts, joined.
    if (Array.isArray(content) && content.every((p) => p && typeof p === 'object' && typeof (p as Rec).text === 'string')) {
      content = content.map((p) => (p as Rec).text as string).join('');
    }
    if (content === undefined || content === null) return { problem: `${n} (${raw}) has no "${contentKey}"` };
    if (typeof content !== 'string') return { problem: `${n} (${raw}) has ${typeName(content)} as "${contentKey}", not text` };
    messages.push({ role, content });
  }
  return { messages };
}

/** The turn order training needs: an optional system turn, then user/assistant alternating, ending with an answer. */
export function checkOrder(messages: ChatMessage[]): string | null {
  if (messages.length === 0) return 'the conversation is empty';
  let i = 0;
  if (messages[0]!.role === 'system') i = 1;
  if (!messages.some((m) => m.role === 'assistant')) return 'the conversation has no assistant turn: nothing to learn';
  for (let k = i; k < messages.length; k++) {
    const want: Role = (k - i) % 2 === 0 ? 'user' : 'assistant';
    const got = messages[k]!.role;
    if (got !== want) {
      return got === 'system'
        ? `roles out of order: turn ${k + 1} is a system turn (only the first turn may be)`
        : `roles out of order: turn ${k + 1} is ${got}, expected ${want} (turns must alternate user, assistant, … after an optional system turn)`;
    }
  }
  if (messages[messages.length - 1]!.role !== 'assistant') return `roles out of order: the last turn (${messages.length}) is from the user and has no answer`;
  return null;
}

function checked(messages: ChatMessage[], where: string): Parsed {
  const problem = checkOrder(messages);
  if (problem) return bad(problem);
  const empty = messages.findIndex((m) => m.role === 'assistant' && !m.content.trim());
  if (empty >= 0 && messages.filter((m) => m.role === 'assistant').every((m) => !m.content.trim())) return bad(`every assistant turn is empty: nothing to learn`);
  return { ok: true, example: { kind: 'chat', messages, where } };
}
