// JSON Lines (one object per line) and JSON arrays of objects, streamed.
// Field mapping: --text-column / --label-column; recipe records (title, ingredients[],
// directions[]) go through a text template the user can edit (RECIPE_TEMPLATE by default);
// any record goes through --template when one is given.

import { DataError, FormatError, formatLocation } from '../errors.ts';
import { jsonErrorPosition } from '../tokenizer.ts';
import { compileTemplate, isRecipe, RECIPE_TEMPLATE, type CompiledTemplate } from '../template.ts';
import { openFile } from '../../util/files.ts';
import { badByteReason, dataFileError, linesOf, TextFileReader, type Line } from '../text-stream.ts';
import type { ImportContext, ImportOptions, RawExample } from '../types.ts';
import { LABEL_COLUMN_NAMES, TEXT_COLUMN_NAMES } from './columns.ts';

type Rec = Record<string, unknown>;

/** Turns records into examples, deciding the mapping from the first record. */
class RecordMapper {
  private template: CompiledTemplate | null = null;
  private textField: string | null = null;
  private labelField: string | null = null;
  private decided = false;
  constructor(
    private readonly path: string,
    private readonly opts: ImportOptions,
    private readonly ctx: ImportContext,
  ) {}

  private decide(r: Rec, where: string): void {
    this.decided = true;
    const keys = Object.keys(r);
    const find = (name: string): string | undefined => keys.find((k) => k === name) ?? keys.find((k) => k.toLowerCase() === name.toLowerCase());
    if (this.opts.template) {
      this.template = compileTemplate(this.opts.template);
      this.ctx.notes.push(`text from the template (${this.template.fields.join(', ')})`);
    } else if (this.opts.textColumn !== undefined) {
      const f = find(this.opts.textColumn);
      if (!f) throw new DataError(`${where}: no field ${JSON.stringify(this.opts.textColumn)}; the fields are ${keys.map((k) => JSON.stringify(k)).join(', ')}`, this.path);
      this.textField = f;
    } else if (isRecipe(r)) {
      this.template = compileTemplate(RECIPE_TEMPLATE);
      this.ctx.notes.push('recipe records (title, ingredients, directions) rendered through the recipe template');
    } else {
      for (const n of TEXT_COLUMN_NAMES) {
        const f = find(n);
        if (f && typeof r[f] === 'string') {
          this.textField = f;
          break;
        }
      }
      if (!this.textField) {
        const strings = keys.filter((k) => typeof r[k] === 'string');
        if (strings.length === 1) this.textField = strings[0]!;
        else {
          throw new DataError(
            `${where}: cannot tell which field holds the text (fields: ${keys.map((k) => JSON.stringify(k)).join(', ')}); ` +
              'choose one with --text-column or give a --template',
            this.path,
          );
        }
      }
    }
    if (this.opts.labelColumn !== undefined) {
      const f = find(this.opts.labelColumn);
      if (!f) throw new DataError(`${where}: no field ${JSON.stringify(this.opts.labelColumn)}; the fields are ${keys.map((k) => JSON.stringify(k)).join(', ')}`, this.path);
      this.labelField = f;
    } else if (!this.template || this.opts.template) {
      for (const n of LABEL_COLUMN_NAMES) {
        const f = find(n);
        if (f && f !== this.textField && ['string', 'number', 'boolean'].includes(typeof r[f])) {
          this.labelField = f;
          break;
        }
      }
    }
    this.ctx.hasLabels = this.labelField !== null;
    if (this.textField) this.ctx.notes.push(`text field ${JSON.stringify(this.textField)}`);
    if (this.labelField) this.ctx.notes.push(`label field ${JSON.stringify(this.labelField)}`);
  }

  map(v: unknown, where: string): RawExample | null {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.ctx.skipped.add(where, `expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`, 'not an object');
      return null;
    }
    const r = v as Rec;
    if (!this.decided) this.decide(r, where);
    let text: string;
    if (this.template) {
      const out = this.template.render(r);
      if ('missing' in out) {
        this.ctx.skipped.add(where, `missing field ${JSON.stringify(out.missing)}`, 'missing field');
        return null;
      }
      text = out.text;
    } else {
      const t = r[this.textField!];
      if (t === undefined || t === null) {
        this.ctx.skipped.add(where, `missing field ${JSON.stringify(this.textField)}`, 'missing field');
        return null;
      }
      text = typeof t === 'string' ? t : Array.isArray(t) ? t.join('\n') : JSON.stringify(t);
    }
    text = text.trim();
    if (!text) {
      this.ctx.skipped.add(where, 'empty text', 'empty text');
      return null;
    }
    if (!this.labelField) return { text, where };
    const l = r[this.labelField];
    if (l === undefined || l === null || l === '') {
      this.ctx.skipped.add(where, `missing label field ${JSON.stringify(this.labelField)}`, 'empty label');
      return null;
    }
    if (typeof l === 'object') {
      this.ctx.skipped.add(where, `label ${JSON.stringify(l).slice(0, 40)} is not a single value`, 'bad label');
      return null;
    }
    return { text, label: typeof l === 'boolean' ? String(l) : (l as string | number), where };
  }
}

function parseJsonAt(path: string, text: string, line: number, lineOffset = 0): { ok: true; value: unknown } | { ok: false; err: FormatError } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const pos = jsonErrorPosition(text, e);
    const l = line + (pos.line ?? 1) - 1;
    const c = pos.line === undefined || pos.line === 1 ? (pos.column ?? 1) + lineOffset : pos.column;
    const msg = (e as Error).message
      .replace(/ in JSON at position \d+.*$/, '')
      .replace(/ after JSON at position \d+.*$/, ' after the value')
      .replace(/^Unexpected token '(.*?)', .* is not valid JSON$/s, "unexpected '$1'")
      .replace(/^Unexpected end of JSON input$/, 'unexpected end of the line');
    return { ok: false, err: new FormatError(path, `invalid JSON (${msg})`, l, c) };
  }
}

function skipJson(ctx: ImportContext, path: string, err: FormatError): void {
  ctx.skipped.add(formatLocation(path, err.line, err.column), err.message.slice(formatLocation(path, err.line, err.column).length + 2), 'invalid JSON');
}

/** First non-space character of the file: '[' (JSON array), '{' (JSONL or one object). */
export async function firstNonSpace(path: string): Promise<string> {
  const { fh } = await openFile(path, { what: 'a JSON file', error: dataFileError });
  try {
    const buf = Buffer.alloc(4096);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return '';
      const s = buf.subarray(0, bytesRead).toString('utf8').replace(/^\ufeff/, '');
      const m = /\S/.exec(s);
      if (m) return m[0];
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

export async function* importJsonl(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const mapper = new RecordMapper(path, opts, ctx);
  const reader = new TextFileReader(path, { onBytes: (done, total) => ctx.onProgress?.({ done, total, phase: 'read' }) });
  const first = await firstNonSpace(path);
  if (first === '[') {
    ctx.notes.push('JSON array');
    yield* importJsonArray(path, reader, mapper, ctx);
    return;
  }
  let parsedAny = false;
  let multiLineObject: Line[] | null = null;
  for await (const lines of linesOf(reader.chunks())) {
    const out: RawExample[] = [];
    for (const ln of lines) {
      const t = ln.text;
      if (multiLineObject) {
        multiLineObject.push(ln);
        continue;
      }
      if (t.trim() === '') continue;
      const where = `${path}:${ln.line}`;
      if (reader.badLines.has(ln.line)) {
        const b = reader.badAt(ln.line)!;
        ctx.skipped.add(`${path}:${b.line}:${b.column}`, badByteReason(b), 'invalid UTF-8');
        continue;
      }
      const r = parseJsonAt(path, t, ln.line);
      if (!r.ok) {
        // A pretty-printed single object: '{' alone on the first line.
        if (!parsedAny && ctx.skipped.count === 0 && t.trim() === '{') {
          multiLineObject = [ln];
          continue;
        }
        skipJson(ctx, path, r.err);
        continue;
      }
      parsedAny = true;
      const ex = mapper.map(r.value, where);
      if (ex) out.push(ex);
    }
    if (out.length) yield out;
  }
  if (multiLineObject) {
    // One JSON document spread over lines: an object holding an array of records?
    const text = multiLineObject.map((l) => l.text).join('\n');
    const r = parseJsonAt(path, text, multiLineObject[0]!.line);
    if (!r.ok) throw r.err;
    const obj = r.value as Rec;
    const arrays = Object.entries(obj).filter(([, v]) => Array.isArray(v) && v.length > 0 && typeof v[0] === 'object');
    if (arrays.length === 1) {
      ctx.notes.push(`records from the ${JSON.stringify(arrays[0]![0])} array`);
      const out: RawExample[] = [];
      (arrays[0]![1] as unknown[]).forEach((v, i) => {
        const ex = mapper.map(v, `${path}: ${arrays[0]![0]}[${i}]`);
        if (ex) out.push(ex);
      });
      if (out.length) yield out;
    } else {
      const ex = mapper.map(obj, `${path}:1`);
      if (ex) yield [ex];
    }
  }
}

/** Streams the elements of a top-level JSON array, parsing one element at a time. */
async function* importJsonArray(path: string, reader: TextFileReader, mapper: RecordMapper, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  let depth = 0; // nesting inside the top-level array
  let inString = false;
  let escape = false;
  let started = false;
  let ended = false;
  let elem = ''; // current element text
  let elemLine = 0;
  let elemCol = 0;
  let line = 1;
  let col = 0;
  let index = 0;
  for await (const { text } of reader.chunks()) {
    const out: RawExample[] = [];
    let segStart = -1; // start of the current element inside this chunk
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      col++;
      if (c === 10) {
        line++;
        col = 0;
      }
      if (ended) {
        if (c !== 32 && c !== 10 && c !== 13 && c !== 9) throw new FormatError(path, 'unexpected text after the closing "]"', line, col);
        continue;
      }
      if (!started) {
        if (c === 91 /* [ */) started = true;
        continue;
      }
      if (inString) {
        if (escape) escape = false;
        else if (c === 92) escape = true;
        else if (c === 34) inString = false;
        continue;
      }
      if (depth === 0) {
        if (c === 44 /* , */ || c === 93 /* ] */) {
          const piece = (segStart >= 0 ? elem + text.slice(segStart, i) : elem).trim();
          if (piece) {
            const where = `${path}:${elemLine}`;
            let badLine = -1;
            for (let l = elemLine; l <= line && badLine < 0; l++) if (reader.badLines.has(l)) badLine = l;
            const r = parseJsonAt(path, piece, elemLine, elemCol - 1);
            if (badLine >= 0) {
              const b = reader.badAt(badLine)!;
              ctx.skipped.add(`${path}:${b.line}:${b.column}`, badByteReason(b), 'invalid UTF-8');
            } else if (!r.ok) skipJson(ctx, path, r.err);
            else {
              const ex = mapper.map(r.value, where);
              if (ex) out.push(ex);
            }
            index++;
          } else if (c === 44) {
            ctx.skipped.add(`${path}:${line}:${col}`, 'empty array element', 'invalid JSON');
          }
          elem = '';
          segStart = -1;
          if (c === 93) ended = true;
          continue;
        }
        if (c === 32 || c === 10 || c === 13 || c === 9) continue;
        if (segStart < 0 && elem === '') {
          segStart = i;
          elemLine = line;
          elemCol = col;
        } else if (segStart < 0) segStart = i;
      }
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) depth--;
    }
    if (segStart >= 0) elem += text.slice(segStart);
    if (out.length) yield out;
  }
  if (!started) throw new FormatError(path, 'expected a JSON array', 1, 1);
  if (!ended) throw new FormatError(path, `the JSON array is not closed (no "]" before the end of the file; ${index} elements read)`, line, col);
}
