// SentencePiece-style BPE tokenizers (Llama 2, TinyLlama, Mistral, llama2.c) as Hugging Face
// tokenizer.json, and the BOS/EOS rules of Llama tokenizers:
//   - a tokenizer.json built from pieces and scores the way transformers' LlamaConverter does it
//     (Prepend "▁" + spaces as "▁", byte fallback, merges ordered by the merged piece's score);
//   - LlamaTokenizerFast's update_post_processor: add_bos_token / add_eos_token of
//     tokenizer_config.json rewrite the post-processor (BOS on by default, EOS off);
//   - whether a tokenizer adds special tokens at all (GPT-2 adds none; Llama adds BOS).

type Json = Record<string, unknown>;

export interface Piece {
  piece: string;
  score: number;
}

const special = (id: number, content: string): Json => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

const template = (bos: string | null, eos: string | null, ids: Record<string, number>): Json => {
  const seq = (id: 'A' | 'B', type: number) => [
    ...(bos ? [{ SpecialToken: { id: bos, type_id: type } }] : []),
    { Sequence: { id, type_id: type } },
    ...(eos ? [{ SpecialToken: { id: eos, type_id: type } }] : []),
  ];
  const tokens: Json = {};
  for (const t of [bos, eos]) if (t) tokens[t] = { id: t, ids: [ids[t]], tokens: [t] };
  return { type: 'TemplateProcessing', single: seq('A', 0), pair: [...seq('A', 0), ...seq('B', 1)], special_tokens: tokens };
};

/**
 * A Llama-style tokenizer.json from SentencePiece pieces (index = id) with "▁" for spaces.
 * Merges: every split of a piece into two pieces, ordered by the merged piece's score (highest
 * first), then by the ids of the two halves — transformers' SentencePieceExtractor.
 */
export function sentencePieceTokenizerJson(pieces: Piece[], o: { unk: number; bos: number; eos: number; addBos?: boolean; addEos?: boolean }): Json {
  const vocab: Record<string, number> = {};
  pieces.forEach((p, i) => { if (!Object.hasOwn(vocab, p.piece)) vocab[p.piece] = i; });
  const skip = new Set([o.unk, o.bos, o.eos]);
  const merges: { l: string; r: string; score: number; li: number; ri: number; order: number }[] = [];
  pieces.forEach((p, id) => {
    if (skip.has(id) || /^<0x[0-9A-F]{2}>$/.test(p.piece)) return;
    const chars = [...p.piece];
    const local: typeof merges = [];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join(''), r = chars.slice(k).join('');
      if (Object.hasOwn(vocab, l) && Object.hasOwn(vocab, r)) local.push({ l, r, score: p.score, li: vocab[l], ri: vocab[r], order: 0 });
    }
    local.sort((a, b) => a.li - b.li || a.ri - b.ri);
    for (const m of local) merges.push({ ...m, order: merges.length });
  });
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  const [unk, bos, eos] = [pieces[o.unk].piece, pieces[o.bos].piece, pieces[o.eos].piece];
  const ids = { [bos]: o.bos, [eos]: o.eos };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...new Set([o.unk, o.bos, o.eos])].sort((a, b) => a - b).map((i) => special(i, pieces[i].piece)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: template(o.addBos ?? true ? bos : null, o.addEos ? eos : null, ids),
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map((m) => [m.l, m.r]),
    },
  };
}

const contentOf = (v: unknown): string | null =>
  typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as Json).content === 'string' ? ((v as Json).content as string) : null;

const vocabId = (json: Json, token: string): number | undefined => {
  for (const t of (json.added_tokens as Json[] | undefined) ?? []) if (t.content === token && typeof t.id === 'number') return t.id;
  const v = ((json.model as Json | undefined)?.vocab ?? null) as Record<string, number> | unknown[] | null;
  if (v && !Array.isArray(v) && typeof (v as Record<string, number>)[token] === 'number') return (v as Record<string, number>)[token];
  return undefined;
};

/**
 * LlamaTokenizerFast's update_post_processor: for Llama-class tokenizers (and any tokenizer_config
 * that sets add_bos_token / add_eos_token), BOS / EOS around each sequence as the flags say
 * (defaults: BOS yes, EOS no). Returns the tokenizer.json to use (the input when unchanged).
 */
export function applyBosEosFlags(json: Json, config: Json): Json {
  const cls = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : '';
  const llamaClass = /^(Code)?Llama(Tokenizer)(Fast)?$/.test(cls);
  const hasFlags = typeof config.add_bos_token === 'boolean' || typeof config.add_eos_token === 'boolean';
  if (!llamaClass && !hasFlags) return json;
  const addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : llamaClass;
  const addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : false;
  const bos = contentOf(config.bos_token), eos = contentOf(config.eos_token);
  // A class that is not Llama's keeps its own post-processor unless a flag asks for more.
  if (!llamaClass && !addBos && !addEos && !templateAddsTokens(json)) return json;
  const ids: Record<string, number> = {};
  for (const [t, want] of [[bos, addBos], [eos, addEos]] as const) {
    if (!want) continue;
    const id = t === null ? undefined : vocabId(json, t);
    if (id === undefined) return json; // nothing to add: the token is not in this vocabulary
    ids[t!] = id;
  }
  return { ...json, post_processor: template(addBos ? bos : null, addEos ? eos : null, ids) };
}

/** Whether encoding with special tokens adds any (a TemplateProcessing, BERT/RoBERTa processors). */
export function templateAddsTokens(json: Json): boolean {
  const adds = (p: unknown): boolean => {
    if (!p || typeof p !== 'object') return false;
    const pp = p as Json;
    if (pp.type === 'TemplateProcessing') return Array.isArray(pp.single) && pp.single.some((x) => x && typeof x === 'object' && 'SpecialToken' in (x as Json));
    if (pp.type === 'BertProcessing' || pp.type === 'RobertaProcessing') return true;
    if (pp.type === 'Sequence' && Array.isArray(pp.processors)) return pp.processors.some(adds);
    return false;
  };
  return adds(json.post_processor);
}
