// Tokenizers loaded from a Hugging Face model folder, offline.
//
// The tokenization itself is tokenizers.js (`@huggingface/tokenizers`, the library inside
// transformers.js). Folders that carry only the "slow" tokenizer files get an equivalent
// tokenizer.json built here, the way `transformers`' converters do it:
//   - GPT-2: vocab.json + merges.txt  -> byte-level BPE
//   - BERT / DistilBERT: vocab.txt     -> WordPiece (lower-cased per `do_lower_case`)
// Nothing is ever downloaded.

import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { resolveModelRef } from '../hub/resolve.ts';
import { readFileSafe } from '../util/files.ts';
import { DataError, FormatError } from './errors.ts';
import { ByteLevelBPE } from './bytelevel-bpe.ts';
import { jsonSyntaxErrorOffset } from './json-position.ts';
import { applyBosEosFlags, templateAddsTokens } from './sentencepiece-bpe.ts';
import { WordPieceFast } from './wordpiece-fast.ts';

export interface EncodeOptions {
  /** Add the model's special tokens ([CLS] … [SEP] for WordPiece, BOS for Llama). Default: true,
   * except for a BPE whose post-processor adds nothing (GPT-2). */
  addSpecialTokens?: boolean;
}

export interface TextTokenizer {
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly kind: 'bpe' | 'wordpiece' | 'other';
}

/** A loaded tokenizer with a few extras beyond the trainer's contract. */
export interface LoadedTokenizer extends TextTokenizer {
  readonly unkTokenId: number | null;
  /** Which files it was built from, e.g. ['tokenizer.json', 'tokenizer_config.json']. */
  readonly sourceFiles: string[];
  /** Stable fingerprint of the tokenizer's definition (for cache keys). */
  readonly fingerprint: string;
  /** The model folder it was loaded from (worker threads reload it from there). */
  readonly modelDir: string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

export const TOKENIZER_FILES = ['tokenizer.json', 'vocab.json + merges.txt', 'vocab.txt'] as const;

type Json = Record<string, unknown>;

/** Present (a FIFO or a folder under that name counts: reading it then says what it is). */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Tokenizer files are read whole; a bigger one is not a tokenizer. */
export const MAX_TOKENIZER_FILE_BYTES = 1024 * 1024 * 1024;

/** A tokenizer file's bytes: a regular file only (never blocks on a FIFO), bounded in size. */
function readTokenizerFile(path: string): Promise<Buffer> {
  return readFileSafe(path, {
    what: 'a tokenizer file',
    maxBytes: MAX_TOKENIZER_FILE_BYTES,
    error: (file, problem) => new FormatError(file, problem === 'not found' ? 'file not found' : problem),
  });
}

/** UTF-8 text of a tokenizer file, or a FormatError naming it (binary data, another encoding). */
async function readTokenizerText(path: string): Promise<{ raw: Buffer; text: string }> {
  const raw = await readTokenizerFile(path);
  try {
    return { raw, text: new TextDecoder('utf-8', { fatal: true }).decode(raw) };
  } catch {
    throw new FormatError(path, 'is not UTF-8 text (binary data or another encoding)');
  }
}

async function readJson(path: string): Promise<Json> {
  const { text } = await readTokenizerText(path);
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new FormatError(path, 'expected a JSON object', 1, 1);
    }
    return v as Json;
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const { line, column } = jsonErrorPosition(text, e);
    throw new FormatError(path, `invalid JSON (${jsonReason(e)})`, line, column);
  }
}

/** V8's JSON.parse message without the quoted input it appends ("…" is not valid JSON). */
function jsonReason(e: unknown): string {
  return ((e as Error)?.message ?? String(e))
    .replace(/,? ?"[\s\S]*"(\.\.\.)? is not valid JSON$/, '')
    .replace(/ in JSON at position \d+[\s\S]*$/, '')
    .trim();
}

/** Line and column of a JSON.parse error, when the engine says where. */
export function jsonErrorPosition(text: string, e: unknown): { line?: number; column?: number } {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /position (\d+)/.exec(msg);
  let pos = m ? Number(m[1]) : jsonSyntaxErrorOffset(text);
  if (pos < 0) return {};
  pos = Math.min(pos, text.length);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

/** A special token in a config is either a string or an AddedToken dict {content, ...}. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return null;
}

function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function bytesHash(buf: Buffer): string {
  // Cheap, stable fingerprint: FNV-1a over the bytes in two lanes plus the length.
  let a = 0x811c9dc5;
  let b = 0x1b873593;
  for (let i = 0; i < buf.length; i++) {
    a = Math.imul(a ^ buf[i]!, 0x01000193) >>> 0;
    b = Math.imul(b ^ buf[i]!, 0x5bd1e995) >>> 0;
  }
  return `${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}${buf.length.toString(16)}`;
}

interface Built {
  json: Json;
  config: Json;
  kind: 'bpe' | 'wordpiece' | 'other';
  files: string[];
  fingerprint: string;
}

async function loadConfigs(dir: string): Promise<{ config: Json; specialMap: Json; files: string[] }> {
  const files: string[] = [];
  let config: Json = {};
  let specialMap: Json = {};
  const cfgPath = join(dir, 'tokenizer_config.json');
  if (await exists(cfgPath)) {
    config = await readJson(cfgPath);
    validateConfig(cfgPath, config);
    files.push('tokenizer_config.json');
  }
  const smPath = join(dir, 'special_tokens_map.json');
  if (await exists(smPath)) {
    specialMap = await readJson(smPath);
    validateConfig(smPath, specialMap);
    files.push('special_tokens_map.json');
  }
  return { config, specialMap, files };
}

/** The special-token fields, taking tokenizer_config.json first, then special_tokens_map.json. */
function specialToken(config: Json, specialMap: Json, name: string): string | null {
  if (Object.hasOwn(config, name)) return tokenContent(config[name]);
  if (Object.hasOwn(specialMap, name)) return tokenContent(specialMap[name]);
  return null;
}

function addedTokensFromConfig(config: Json): Json[] {
  const out: Json[] = [];
  const dec = config.added_tokens_decoder;
  if (dec && typeof dec === 'object') {
    for (const [idStr, t] of Object.entries(dec as Record<string, unknown>)) {
      const content = tokenContent(t);
      if (content === null) continue;
      const o = (t ?? {}) as Json;
      const id = Number(idStr);
      out.push({
        id,
        content,
        single_word: !!o.single_word,
        lstrip: !!o.lstrip,
        rstrip: !!o.rstrip,
        normalized: o.normalized === undefined ? true : !!o.normalized,
        special: o.special === undefined ? true : !!o.special,
      });
    }
  }
  return out;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? 'a string' : typeof v);

/** The vocabulary's ids: non-negative integers (tokenizers.js would take anything and misbehave). */
function checkVocabIds(path: string, vocab: Json, where: string): void {
  for (const k in vocab) {
    const v = vocab[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new FormatError(path, `${where}: token ${JSON.stringify(k.slice(0, 40))} has id ${JSON.stringify(v)?.slice(0, 40)}; expected a non-negative integer`);
    }
  }
}

/**
 * The shape of a tokenizer.json, checked before tokenizers.js sees it: the library walks the
 * object without checks, so `"merges": 15` became "number 15 is not iterable".
 */
export function validateTokenizerJson(path: string, json: unknown): asserts json is Json {
  if (!isObj(json)) throw new FormatError(path, `expected a JSON object, got ${kindOf(json)}`, 1, 1);
  const model = json.model;
  if (!isObj(model)) {
    throw new FormatError(path, model === undefined ? 'no "model" section: this is not a Hugging Face tokenizer.json' : `"model" must be an object, got ${kindOf(model)}`, 1, 1);
  }
  const type = model.type;
  if (type !== undefined && typeof type !== 'string') throw new FormatError(path, `"model.type" must be a string, got ${kindOf(type)}`);
  const t = type ?? (Array.isArray(model.vocab) ? 'Unigram' : model.merges !== undefined ? 'BPE' : 'WordPiece');
  if (t === 'BPE') {
    if (!isObj(model.vocab)) throw new FormatError(path, `"model.vocab" must be an object of token -> id, got ${kindOf(model.vocab)}`);
    checkVocabIds(path, model.vocab, 'model.vocab');
    if (!Array.isArray(model.merges)) throw new FormatError(path, `"model.merges" must be a list, got ${kindOf(model.merges)}`);
    model.merges.forEach((m: unknown, i: number) => {
      const ok = typeof m === 'string' ? m.includes(' ') : Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string';
      if (!ok) throw new FormatError(path, `"model.merges"[${i}] must be "a b" or ["a", "b"], got ${JSON.stringify(m)?.slice(0, 60)}`);
    });
  } else if (t === 'WordPiece') {
    if (!isObj(model.vocab)) throw new FormatError(path, `"model.vocab" must be an object of token -> id, got ${kindOf(model.vocab)}`);
    checkVocabIds(path, model.vocab, 'model.vocab');
  } else if (t === 'Unigram') {
    if (!Array.isArray(model.vocab) || model.vocab.length === 0) throw new FormatError(path, `"model.vocab" must be a non-empty list of [piece, score], got ${kindOf(model.vocab)}`);
    model.vocab.forEach((e: unknown, i: number) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') throw new FormatError(path, `"model.vocab"[${i}] must be [piece, score], got ${JSON.stringify(e)?.slice(0, 60)}`);
    });
  } else {
    throw new FormatError(path, `unsupported tokenizer model type ${JSON.stringify(t)} (expected BPE, WordPiece or Unigram)`);
  }
  const added = json.added_tokens;
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) throw new FormatError(path, `"added_tokens" must be a list, got ${kindOf(added)}`);
    added.forEach((a: unknown, i: number) => {
      if (!isObj(a) || typeof a.content !== 'string' || typeof a.id !== 'number' || !Number.isSafeInteger(a.id) || a.id < 0) {
        throw new FormatError(path, `"added_tokens"[${i}] must be {"id": integer, "content": string, …}, got ${JSON.stringify(a)?.slice(0, 60)}`);
      }
    });
  }
  for (const section of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) {
    const v = json[section];
    if (v === undefined || v === null) continue;
    if (!isObj(v) || typeof v.type !== 'string') throw new FormatError(path, `"${section}" must be null or an object with a "type", got ${kindOf(v)}`);
  }
}

/** tokenizer_config.json / special_tokens_map.json fields the loader reads, checked. */
function validateConfig(path: string, cfg: Json): void {
  for (const name of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    const v = cfg[name];
    if (v === undefined || v === null || typeof v === 'string' || (isObj(v) && typeof v.content === 'string')) continue;
    throw new FormatError(path, `"${name}" must be a token string or {"content": …}, got ${kindOf(v)}`);
  }
  const dec = cfg.added_tokens_decoder;
  if (dec !== undefined && dec !== null) {
    if (!isObj(dec)) throw new FormatError(path, `"added_tokens_decoder" must be an object of id -> token, got ${kindOf(dec)}`);
    for (const [id, t] of Object.entries(dec)) {
      if (!/^\d+$/.test(id)) throw new FormatError(path, `"added_tokens_decoder" key ${JSON.stringify(id.slice(0, 20))} is not a token id`);
      if (typeof t !== 'string' && !(isObj(t) && typeof t.content === 'string')) throw new FormatError(path, `"added_tokens_decoder"["${id}"] must be a token, got ${kindOf(t)}`);
    }
  }
  const extra = cfg.additional_special_tokens;
  if (extra !== undefined && extra !== null && !(Array.isArray(extra) && extra.every((x) => typeof x === 'string' || (isObj(x) && typeof x.content === 'string')))) {
    throw new FormatError(path, `"additional_special_tokens" must be a list of tokens, got ${kindOf(extra)}`);
  }
}

async function buildFromTokenizerJson(dir: string): Promise<Built> {
  const path = join(dir, 'tokenizer.json');
  const { raw, text } = await readTokenizerText(path);
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (e) {
    const { line, column } = jsonErrorPosition(text, e);
    throw new FormatError(path, `invalid JSON (${jsonReason(e)})`, line, column);
  }
  validateTokenizerJson(path, json);
  const model = json.model as Json;
  const { config, specialMap, files } = await loadConfigs(dir);
  // Fill special tokens the config does not name from special_tokens_map.json.
  for (const name of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    if (!Object.hasOwn(config, name) && Object.hasOwn(specialMap, name)) config[name] = specialMap[name];
  }
  // A GPT-2-style tokenizer.json with no configs: GPT2Tokenizer's defaults.
  const added = (json.added_tokens as Json[] | null | undefined) ?? [];
  if (added.some((t) => t.content === '<|endoftext|>') && !Object.hasOwn(config, 'eos_token')) {
    for (const name of ['bos_token', 'eos_token', 'unk_token']) {
      if (!Object.hasOwn(config, name)) config[name] = '<|endoftext|>';
    }
  }
  const type = String(model.type ?? '');
  const kind = type === 'BPE' ? 'bpe' : type === 'WordPiece' ? 'wordpiece' : 'other';
  if (kind === 'wordpiece') {
    // BertTokenizer's defaults, when the folder has no config naming them.
    const vocab = (model.vocab ?? {}) as Record<string, number>;
    const defaults: Record<string, string> = { unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]' };
    for (const [name, tok] of Object.entries(defaults)) {
      if (!Object.hasOwn(config, name) && vocab[tok] !== undefined) config[name] = tok;
    }
  }
  return {
    json,
    config,
    kind,
    files: ['tokenizer.json', ...files],
    fingerprint: `tokenizer.json:${bytesHash(raw)}:${fnv1a(JSON.stringify(config)).toString(16)}`,
  };
}

function parseMerges(path: string, text: string): string[] {
  const merges: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i === 0 && line.startsWith('#version')) continue;
    if (line.trim() === '') continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new FormatError(path, `expected two space-separated symbols, got ${JSON.stringify(line.slice(0, 60))}`, i + 1, 1);
    }
    merges.push(line);
  }
  return merges;
}

async function buildFromVocabMerges(dir: string): Promise<Built> {
  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  const vocab = (await readJson(vocabPath)) as Record<string, number>;
  for (const [k, v] of Object.entries(vocab)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new FormatError(vocabPath, `token ${JSON.stringify(k)} has id ${JSON.stringify(v)}; expected a non-negative integer`);
    }
  }
  const { raw: mergesRaw, text: mergesText } = await readTokenizerText(mergesPath);
  const merges = parseMerges(mergesPath, mergesText);
  const { config, specialMap, files } = await loadConfigs(dir);
  for (const name of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    if (!Object.hasOwn(config, name) && Object.hasOwn(specialMap, name)) config[name] = specialMap[name];
  }
  // GPT2Tokenizer's defaults: bos = eos = unk = <|endoftext|>.
  if (vocab['<|endoftext|>'] !== undefined) {
    for (const name of ['bos_token', 'eos_token', 'unk_token']) {
      if (!Object.hasOwn(config, name)) config[name] = '<|endoftext|>';
    }
  }
  let added = addedTokensFromConfig(config);
  if (added.length === 0 && vocab['<|endoftext|>'] !== undefined) {
    added = [
      { id: vocab['<|endoftext|>'], content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ];
  }
  const unk = tokenContent(config.unk_token);
  const addPrefixSpace = !!config.add_prefix_space;
  const json: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      // GPT-2's byte-level vocabulary covers every byte; a toy vocabulary may not, and then the
      // configured unk token stands in for the missing symbols.
      unk_token: unk !== null && vocab[unk] !== undefined ? unk : null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  if (config.clean_up_tokenization_spaces === undefined) config.clean_up_tokenization_spaces = true;
  const vocabRaw = await readTokenizerFile(vocabPath);
  return {
    json,
    config,
    kind: 'bpe',
    files: ['vocab.json', 'merges.txt', ...files],
    fingerprint: `vocab.json+merges.txt:${bytesHash(vocabRaw)}:${bytesHash(mergesRaw)}:${fnv1a(JSON.stringify(config)).toString(16)}`,
  };
}

async function buildFromVocabTxt(dir: string): Promise<Built> {
  const vocabPath = join(dir, 'vocab.txt');
  const { raw, text: vocabText } = await readTokenizerText(vocabPath);
  const lines = vocabText.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new FormatError(vocabPath, 'the vocabulary is empty', 1, 1);
  const vocab: Record<string, number> = {};
  lines.forEach((tok, i) => {
    // as BertTokenizer's load_vocab: a token listed twice keeps its last line's id
    vocab[tok] = i;
  });
  const { config, specialMap, files } = await loadConfigs(dir);
  const pick = (name: string, dflt: string): string => {
    const v = tokenContent(config[name]) ?? tokenContent(specialMap[name]);
    return v ?? dflt;
  };
  const unk = pick('unk_token', '[UNK]');
  const sep = pick('sep_token', '[SEP]');
  const cls = pick('cls_token', '[CLS]');
  const pad = pick('pad_token', '[PAD]');
  const mask = pick('mask_token', '[MASK]');
  config.unk_token = unk;
  config.sep_token = sep;
  config.cls_token = cls;
  config.pad_token = pad;
  config.mask_token = mask;
  if (vocab[unk] === undefined) throw new FormatError(vocabPath, `the unknown token ${unk} is not in the vocabulary`);
  const lowercase = config.do_lower_case === undefined ? true : !!config.do_lower_case;
  const stripAccents = config.strip_accents === undefined ? null : (config.strip_accents as boolean | null);
  const added: Json[] = [];
  for (const t of [pad, unk, cls, sep, mask]) {
    if (vocab[t] !== undefined) {
      added.push({ id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    }
  }
  added.sort((a, b) => (a.id as number) - (b.id as number));
  const special = (t: string): Json => ({ id: t, ids: [vocab[t]], tokens: [t] });
  const hasClsSep = vocab[cls] !== undefined && vocab[sep] !== undefined;
  const json: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: config.tokenize_chinese_chars === undefined ? true : !!config.tokenize_chinese_chars,
      strip_accents: stripAccents,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: hasClsSep
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: cls, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } }],
          pair: [
            { SpecialToken: { id: cls, type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: sep, type_id: 0 } },
            { Sequence: { id: 'B', type_id: 1 } },
            { SpecialToken: { id: sep, type_id: 1 } },
          ],
          special_tokens: { [cls]: special(cls), [sep]: special(sep) },
        }
      : null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: unk, continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  if (config.clean_up_tokenization_spaces === undefined) config.clean_up_tokenization_spaces = true;
  config.do_lower_case = lowercase;
  return {
    json,
    config,
    kind: 'wordpiece',
    files: ['vocab.txt', ...files],
    fingerprint: `vocab.txt:${bytesHash(raw)}:${fnv1a(JSON.stringify(config)).toString(16)}`,
  };
}

class HFTextTokenizer implements LoadedTokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly kind: 'bpe' | 'wordpiece' | 'other';
  readonly sourceFiles: string[];
  readonly fingerprint: string;
  readonly modelDir: string;
  private readonly tk: Tokenizer;
  private readonly defaultAddSpecial: boolean;
  private readonly fast: ByteLevelBPE | null;
  private readonly fastWordPiece: WordPieceFast | null;
  private readonly fastWithSpecial: boolean;

  constructor(built: Built, modelDir: string) {
    this.modelDir = modelDir;
    built = { ...built, json: applyBosEosFlags(built.json, built.config) }; // Llama's add_bos_token / add_eos_token
    this.tk = new Tokenizer(built.json, built.config);
    this.kind = built.kind;
    this.sourceFiles = built.files;
    this.fingerprint = built.fingerprint;
    const vocab = this.tk.get_vocab(true);
    let max = -1;
    for (const id of vocab.values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const idOf = (name: string): number | null => {
      const content = tokenContent(built.config[name]);
      if (content === null) return null;
      return this.tk.token_to_id(content) ?? null;
    };
    this.eosTokenId = idOf('eos_token');
    this.bosTokenId = idOf('bos_token');
    this.padTokenId = idOf('pad_token');
    this.unkTokenId = idOf('unk_token');
    this.defaultAddSpecial = built.kind !== 'bpe' || templateAddsTokens(built.json);
    const fast = ByteLevelBPE.fromTokenizerJson(built.json);
    // The byte-level path has no post-processor; use it with special tokens too when they add nothing.
    this.fastWithSpecial = fast !== null && this.encodeReference('Hello world', { addSpecialTokens: true }).join() === this.encodeReference('Hello world', { addSpecialTokens: false }).join();
    this.fast = fast;
    this.fastWordPiece =
      built.kind === 'wordpiece' ? WordPieceFast.fromTokenizerJson(built.json, built.config, (t, add) => this.encodeReference(t, { addSpecialTokens: add })) : null;
    const { normalizer, pre_tokenizer } = this.tk;
    if (this.fastWordPiece && normalizer && pre_tokenizer) {
      this.fastWordPiece.splitter = (t) => {
        const n = normalizer(t);
        return n.length ? pre_tokenizer(n) : [];
      };
    }
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const add = opts?.addSpecialTokens ?? this.defaultAddSpecial;
    if (this.fast && (!add || this.fastWithSpecial)) return this.fast.encode(text);
    if (this.fastWordPiece) {
      const ids = this.fastWordPiece.encode(text, add);
      if (ids) return ids;
    }
    const ids = this.tk.encode(text, { add_special_tokens: add }).ids;
    // A toy vocabulary without an unk token can leave holes; never hand out undefined ids.
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === undefined || ids[i] === null) return ids.filter((x: number | undefined | null) => x !== undefined && x !== null);
    }
    return ids;
  }

  /** The reference path (tokenizers.js), bypassing the byte-level fast path. */
  encodeReference(text: string, opts?: EncodeOptions): number[] {
    const add = opts?.addSpecialTokens ?? this.defaultAddSpecial;
    return this.tk.encode(text, { add_special_tokens: add }).ids.filter((x: number | undefined | null) => x !== undefined && x !== null);
  }

  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string {
    if (ids.length === 0) return '';
    return this.tk.decode(ids, { skip_special_tokens: opts?.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tk.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tk.id_to_token(id);
  }
}

const cache = new Map<string, Promise<LoadedTokenizer>>();

/**
 * Load the tokenizer of a Hugging Face model folder, offline. Looks for, in order:
 * `tokenizer.json`; `vocab.json` + `merges.txt` (GPT-2 byte-level BPE); `vocab.txt` (WordPiece).
 * `tokenizer_config.json` and `special_tokens_map.json` are read when present.
 */
export async function loadTokenizer(modelDir: string): Promise<LoadedTokenizer> {
  const dir = resolve(resolveModelRef(modelDir)); // a folder, or a cached Hub repo id
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new DataError(`tokenizer folder ${dir} does not exist`, dir);
  }
  if (!st.isDirectory()) throw new DataError(`${dir} is not a folder (expected a model folder with tokenizer files)`, dir);
  let built: Built;
  if (await exists(join(dir, 'tokenizer.json'))) {
    built = await buildFromTokenizerJson(dir);
  } else if ((await exists(join(dir, 'vocab.json'))) && (await exists(join(dir, 'merges.txt')))) {
    built = await buildFromVocabMerges(dir);
  } else if (await exists(join(dir, 'vocab.txt'))) {
    built = await buildFromVocabTxt(dir);
  } else {
    const partial = (await exists(join(dir, 'vocab.json')))
      ? ' (vocab.json is there but merges.txt is missing)'
      : (await exists(join(dir, 'merges.txt')))
        ? ' (merges.txt is there but vocab.json is missing)'
        : '';
    throw new DataError(
      `no tokenizer files in ${dir}${partial}: looked for tokenizer.json, vocab.json + merges.txt (GPT-2 BPE), vocab.txt (WordPiece)`,
      dir,
    );
  }
  try {
    return new HFTextTokenizer(built, dir);
  } catch (e) {
    if (e instanceof DataError) throw e;
    const from = join(dir, built.files[0]!);
    // tokenizers.js's own checks ("Unknown Normalizer type: X") say what is wrong; a TypeError
    // from deep inside it does not, so it is not passed on
    const why = e instanceof TypeError || e instanceof RangeError ? 'a section has a shape the tokenizer library cannot use' : (e as Error).message;
    throw new FormatError(from, `cannot build the tokenizer: ${why}`);
  }
}

/** Like loadTokenizer, but shares one instance per folder within the process. */
export function loadTokenizerCached(modelDir: string): Promise<LoadedTokenizer> {
  const dir = resolve(modelDir);
  let p = cache.get(dir);
  if (!p) {
    p = loadTokenizer(dir);
    cache.set(dir, p);
    p.catch(() => cache.delete(dir));
  }
  return p;
}
