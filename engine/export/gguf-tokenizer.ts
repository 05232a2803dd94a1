// A model folder's tokenizer as llama.cpp's GGUF metadata (`tokenizer.ggml.*`):
//   - byte-level BPE (GPT-2, Llama 3, Qwen2)  -> model "gpt2": tokens, token types, merges, a
//     pre-tokenizer name llama.cpp knows (gpt-2, llama-bpe, qwen2)
//   - SentencePiece-style BPE with byte fallback (Llama 2, Mistral, llama2.c) -> model "llama":
//     tokens, scores, token types (<0xXX> byte tokens typed BYTE), add_space_prefix
// plus the BOS/EOS/unknown/padding ids, the add-BOS/EOS flags and the chat template.
// Token types are llama.cpp's: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ModelSpec } from '../models/types.ts';
import { FormatError } from '../store/errors.ts';
import { type MetaValue, bool, str, u32 } from './gguf-writer.ts';

const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

type Json = Record<string, any>;

export interface GgufTokenizer {
  metadata: [string, MetaValue][];
  model: 'gpt2' | 'llama';
  /** Token texts by id (as the GGUF holds them). */
  tokens: string[];
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** The EOS token's text (an Ollama stop string), or null. */
  eosText: string | null;
  chatTemplate: string | null;
  addBos: boolean;
}

function readJson(file: string): Json {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(file, `cannot read the tokenizer (${(e as Error).message.split('\n')[0]})`);
  }
}

/** tokenizer.json, or one built from GPT-2's slow files (vocab.json + merges.txt). */
function readTokenizerJson(dir: string): { json: Json; file: string } {
  const file = path.join(dir, 'tokenizer.json');
  if (existsSync(file)) return { json: readJson(file), file };
  const vocab = path.join(dir, 'vocab.json'), merges = path.join(dir, 'merges.txt');
  if (existsSync(vocab) && existsSync(merges)) {
    const lines = readFileSync(merges, 'utf8').split('\n').filter((l) => l && !l.startsWith('#version'));
    return {
      json: {
        model: { type: 'BPE', vocab: readJson(vocab), merges: lines, byte_fallback: false },
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
        added_tokens: [],
      },
      file: vocab,
    };
  }
  throw new FormatError(dir, 'has no tokenizer (tokenizer.json, or vocab.json + merges.txt): GGUF embeds the tokenizer, so the export needs one');
}

const tokenText = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as Json).content === 'string' ? (v as Json).content : null);

function flatten(node: Json | null | undefined, key: 'pretokenizers' | 'normalizers'): Json[] {
  if (!node) return [];
  if (node.type === 'Sequence' && Array.isArray(node[key])) return node[key].flatMap((n: Json) => flatten(n, key));
  return [node];
}

/** llama.cpp's name for a byte-level BPE pre-tokenizer, or a one-line error. */
function preTokenizerName(json: Json, file: string): string {
  const parts = flatten(json.pre_tokenizer, 'pretokenizers');
  const byteLevel = parts.find((p) => p.type === 'ByteLevel');
  const splits = parts.filter((p) => p.type === 'Split');
  if (byteLevel && splits.length === 0 && byteLevel.use_regex !== false) return 'gpt-2';
  if (byteLevel && splits.length === 1) {
    const re = String(splits[0].pattern?.Regex ?? '');
    const base = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|";
    const tail = "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    if (re === `${base}\\p{N}{1,3}${tail}`) return 'llama-bpe';
    if (re === `${base}\\p{N}${tail}`) return 'qwen2';
  }
  throw new FormatError(file, 'has a byte-level BPE pre-tokenizer llama.cpp would not reproduce (known: GPT-2, Llama 3, Qwen2)');
}

/** Whether a SentencePiece-style tokenizer prepends "▁" to the text (normalizer or Metaspace). */
function addsSpacePrefix(json: Json): boolean {
  for (const n of flatten(json.normalizer, 'normalizers')) if (n.type === 'Prepend' && n.prepend === '\u2581') return true;
  for (const p of flatten(json.pre_tokenizer, 'pretokenizers')) {
    if (p.type === 'Metaspace') return p.prepend_scheme ? p.prepend_scheme !== 'never' : p.add_prefix_space !== false;
  }
  return false;
}

/** Whether the post-processor (TemplateProcessing) puts a token before the text. */
function postProcessorAdds(json: Json, which: 'first' | 'last', id: number | null): boolean | null {
  const pp = json.post_processor;
  if (!pp || pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return null;
  const item = which === 'first' ? pp.single[0] : pp.single[pp.single.length - 1];
  const special = item?.SpecialToken?.id;
  if (typeof special !== 'string') return false;
  const ids = pp.special_tokens?.[special]?.ids;
  return id === null || !Array.isArray(ids) || ids.includes(id);
}

/** The tokenizer with another chat template (a fine-tuned adapter's, saved with its run); unchanged when null. */
export function withChatTemplate(tok: GgufTokenizer, template: string | null): GgufTokenizer {
  if (!template) return tok;
  const metadata = tok.metadata.filter(([k]) => k !== 'tokenizer.chat_template');
  metadata.push(['tokenizer.chat_template', str(template)]);
  return { ...tok, metadata, chatTemplate: template };
}

function chatTemplateOf(dir: string, cfg: Json): string | null {
  const ct = cfg.chat_template;
  if (typeof ct === 'string' && ct) return ct;
  if (Array.isArray(ct)) {
    const def = ct.find((t: Json) => t?.name === 'default') ?? ct[0];
    if (typeof def?.template === 'string') return def.template;
  }
  const jinja = path.join(dir, 'chat_template.jinja');
  return existsSync(jinja) ? readFileSync(jinja, 'utf8') : null;
}

/**
 * SentencePiece BPE merges by the score of the merged piece (highest first); HF's BPE by merge
 * rank (lowest first). A piece's score is minus the rank of the first merge that makes it, so
 * llama.cpp's SPM tokenizer merges in HF's order; pieces no merge makes score below them all.
 */
function spmScores(vocabSize: number, tokens: string[], merges: string[]): Float32Array {
  const idOf = new Map<string, number>();
  tokens.forEach((t, i) => { if (!idOf.has(t)) idOf.set(t, i); });
  const scores = new Float32Array(vocabSize).fill(-1e9);
  for (let r = merges.length - 1; r >= 0; r--) {
    const sp = merges[r].indexOf(' ', 1);
    const id = idOf.get(merges[r].slice(0, sp) + merges[r].slice(sp + 1));
    if (id !== undefined) scores[id] = -r;
  }
  return scores;
}

/** The tokenizer metadata of a model folder for a GGUF of `spec`. */
export function ggufTokenizer(dir: string, spec: ModelSpec): GgufTokenizer {
  const { json, file } = readTokenizerJson(dir);
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const cfg: Json = existsSync(cfgFile) ? readJson(cfgFile) : {};
  const model = json.model ?? {};
  if (model.type !== 'BPE') {
    throw new FormatError(file, `is a ${model.type ?? 'unknown'} tokenizer; GGUF export embeds BPE tokenizers (byte-level like GPT-2, or SentencePiece-style with byte fallback like Llama)`);
  }
  const spm = model.byte_fallback === true;
  const V = spec.vocabSize;
  const tokens: (string | undefined)[] = new Array(V);
  const types = new Int32Array(V).fill(UNUSED);
  for (const [t, id] of Object.entries(model.vocab as Record<string, number>)) {
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new FormatError(file, `token ${JSON.stringify(t)} has id ${id}, outside the model's vocabulary of ${V}: this tokenizer does not belong to the model`);
    tokens[id] = t;
    types[id] = spm && /^<0x[0-9A-Fa-f]{2}>$/.test(t) ? BYTE : NORMAL;
  }
  for (const a of (json.added_tokens ?? []) as Json[]) {
    if (!Number.isInteger(a.id) || a.id < 0 || a.id >= V) throw new FormatError(file, `added token ${JSON.stringify(a.content)} has id ${a.id}, outside the model's vocabulary of ${V}`);
    tokens[a.id] = a.content;
    types[a.id] = a.special ? CONTROL : USER_DEFINED;
  }
  const texts = Array.from(tokens, (t, i) => t ?? `[PAD${i}]`);
  const idOf = (text: string | null): number | null => {
    if (text === null) return null;
    const i = texts.indexOf(text);
    return i >= 0 ? i : null;
  };
  const unk = idOf(tokenText(model.unk_token) ?? tokenText(cfg.unk_token));
  if (spm && unk !== null) types[unk] = UNKNOWN;
  const bos = spec.bosTokenId ?? idOf(tokenText(cfg.bos_token));
  const eos = spec.eosTokenId ?? idOf(tokenText(cfg.eos_token));
  const pad = spec.padTokenId ?? idOf(tokenText(cfg.pad_token));

  const merges: string[] = ((model.merges ?? []) as (string | string[])[]).map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
  const meta: [string, MetaValue][] = [];
  if (spm) {
    meta.push(['tokenizer.ggml.model', str('llama')], ['tokenizer.ggml.pre', str('default')]);
    meta.push(['tokenizer.ggml.tokens', { type: 'str[]', value: texts }]);
    meta.push(['tokenizer.ggml.scores', { type: 'f32[]', value: spmScores(V, texts, merges) }]);
    meta.push(['tokenizer.ggml.token_type', { type: 'i32[]', value: types }]);
    meta.push(['tokenizer.ggml.add_space_prefix', bool(addsSpacePrefix(json))]);
  } else {
    if (merges.length === 0) throw new FormatError(file, 'has no BPE merges');
    meta.push(['tokenizer.ggml.model', str('gpt2')], ['tokenizer.ggml.pre', str(preTokenizerName(json, file))]);
    meta.push(['tokenizer.ggml.tokens', { type: 'str[]', value: texts }]);
    meta.push(['tokenizer.ggml.token_type', { type: 'i32[]', value: types }]);
    meta.push(['tokenizer.ggml.merges', { type: 'str[]', value: merges }]);
  }
  if (bos !== null) meta.push(['tokenizer.ggml.bos_token_id', u32(bos)]);
  if (eos !== null) meta.push(['tokenizer.ggml.eos_token_id', u32(eos)]);
  if (unk !== null) meta.push(['tokenizer.ggml.unknown_token_id', u32(unk)]);
  if (pad !== null) meta.push(['tokenizer.ggml.padding_token_id', u32(pad)]);
  // HF's own flags first, then what the post-processor does, then each tokenizer kind's default.
  const addBos = typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : (postProcessorAdds(json, 'first', bos) ?? spm);
  const addEos = typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : (postProcessorAdds(json, 'last', eos) ?? false);
  meta.push(['tokenizer.ggml.add_bos_token', bool(addBos && bos !== null)], ['tokenizer.ggml.add_eos_token', bool(addEos && eos !== null)]);
  const chatTemplate = chatTemplateOf(dir, cfg);
  if (chatTemplate) meta.push(['tokenizer.chat_template', str(chatTemplate)]);
  return {
    metadata: meta, model: spm ? 'llama' : 'gpt2', tokens: texts, bosTokenId: bos, eosTokenId: eos,
    eosText: eos !== null ? texts[eos] : null, chatTemplate, addBos: addBos && bos !== null,
  };
}
