// Which files of a model repository a pull fetches. By default only what the studio reads:
// configs, tokenizer files and safetensors weights (every shard and the index). Other weight
// formats (.bin, .onnx, .gguf, .pt, .h5, .msgpack, ...) and subfolders come only when a
// pattern includes them. Patterns are fnmatch globs as huggingface_hub's allow_patterns:
// `*` matches any characters, `/` included; a pattern ending in `/` means everything below.

export const CONFIG_FILES = ['config.json', 'generation_config.json', 'adapter_config.json'] as const;

export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt',
  'vocab.txt', 'tokenizer.model', 'added_tokens.json', 'chat_template.jinja', 'chat_template.json',
] as const;

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** transformers' weight file names: model.safetensors, its shards, a PEFT adapter's weights. */
const STANDARD_WEIGHTS = /^(model\.safetensors|model-\d+-of-\d+\.safetensors|adapter_model\.safetensors)$/;

/** fnmatch (Python's) as a RegExp: `*`, `?`, `[seq]`, `[!seq]`; case-sensitive. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/\\/g, '\\\\').replace(/^\^/, '\\^')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export function matchesGlob(file: string, glob: string): boolean {
  return globToRegExp(glob.endsWith('/') ? `${glob}*` : glob).test(file);
}

/**
 * The files to pull from a repository's file list: the defaults plus whatever `include` matches.
 * When the repo has transformers-named weights, other top-level .safetensors files (Mistral's
 * consolidated.safetensors duplicates the shards) are left out unless included.
 */
export function selectFiles(siblings: readonly string[], include: readonly string[] = []): string[] {
  const top = siblings.filter((f) => !f.includes('/'));
  const standard = top.some((f) => STANDARD_WEIGHTS.test(f));
  const wanted = new Set<string>([...CONFIG_FILES, ...TOKENIZER_FILES, SAFETENSORS_INDEX]);
  const isDefault = (f: string): boolean =>
    !f.includes('/') && (wanted.has(f) || (f.endsWith('.safetensors') && (!standard || STANDARD_WEIGHTS.test(f))));
  return siblings.filter((f) => isDefault(f) || include.some((g) => matchesGlob(f, g)));
}
