// The files of a tiny GPT-2 model repository as the Hub would hold them, built for the hub tests:
// config.json and model.safetensors written here (writeSafetensors), the GPT-2 tokenizer read
// from ../shared/data/gpt2-tokenizer (never copied into the repo), plus files a default pull
// must leave alone (.bin, .onnx, a subfolder, README.md, .gitattributes).
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';

export const DEFAULT_FILES = [
  'config.json', 'generation_config.json', 'merges.txt', 'model.safetensors', 'special_tokens_map.json',
  'tokenizer.json', 'tokenizer_config.json', 'vocab.json',
].sort();

export function tinyRepoFiles(seed = 1): Record<string, Buffer> {
  const root = tempDir('ls-hub-src-');
  const dir = makeTinyGPT2(path.join(root, 'tiny'), { seed });
  writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 50256, eos_token_id: 50256 }));
  const files: Record<string, Buffer> = {};
  for (const f of readdirSync(dir)) files[f] = readFileSync(path.join(dir, f));
  rmSync(root, { recursive: true, force: true });
  files['README.md'] = Buffer.from('---\nlicense: mit\n---\n# tiny\n');
  files['.gitattributes'] = Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n');
  files['pytorch_model.bin'] = Buffer.alloc(4096, 7);
  files['model.onnx'] = Buffer.alloc(2048, 3);
  files['onnx/decoder_model.onnx'] = Buffer.alloc(1024, 5);
  return files;
}

/** Writes files (names with `/` make folders) under dir. */
export function writeTree(dir: string, files: Record<string, Buffer | string>): string {
  for (const [f, data] of Object.entries(files)) {
    const p = path.join(dir, ...f.split('/'));
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, data);
  }
  return dir;
}
