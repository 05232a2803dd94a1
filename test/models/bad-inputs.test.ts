// Malformed model folders are rejected with a message naming the file and the problem.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadGPT2 } from '../../engine/models/gpt2.ts';
import { FIXTURES, tempDir } from '../helpers/tiny-model.ts';

const SRC = path.join(FIXTURES, 'gpt2-tiny-f32');

function variant(name: string, edit: (st: Buffer, cfg: Record<string, unknown>) => Buffer | void, cfgEdit?: (cfg: Record<string, unknown>) => void): string {
  const dir = path.join(tempDir(), name);
  mkdirSync(dir);
  const cfg = JSON.parse(readFileSync(path.join(SRC, 'config.json'), 'utf8'));
  cfgEdit?.(cfg);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const st = readFileSync(path.join(SRC, 'model.safetensors'));
  writeFileSync(path.join(dir, 'model.safetensors'), edit(st, cfg) ?? st);
  return dir;
}

/** Rewrites one entry of the safetensors JSON header, keeping the header length. */
function editHeader(st: Buffer, f: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): Buffer {
  const n = Number(st.readBigUInt64LE(0));
  const h = JSON.parse(st.subarray(8, 8 + n).toString('utf8'));
  f(h);
  const text = JSON.stringify(h).padEnd(n, ' ');
  if (text.length !== n) throw new Error('edited header grew');
  return Buffer.concat([st.subarray(0, 8), Buffer.from(text), st.subarray(8 + n)]);
}

describe('bad model folders', () => {
  it('a truncated safetensors file', () => {
    const dir = variant('trunc', (st) => st.subarray(0, st.length - 100));
    expect(() => loadGPT2(dir)).toThrow(/model\.safetensors: .*(beyond|past|end|short|truncat)/i);
  });

  it('a header lying about offsets', () => {
    const dir = variant('offsets', (st) => editHeader(st, (h) => { h['transformer.wte.weight'].data_offsets[1] += 4; }));
    expect(() => loadGPT2(dir)).toThrow(/model\.safetensors: .*transformer\.wte\.weight/);
  });

  it('a header lying about the dtype', () => {
    const dir = variant('dtype', (st) => editHeader(st, (h) => { h['transformer.wte.weight'].dtype = 'F16'; }));
    expect(() => loadGPT2(dir)).toThrow(/model\.safetensors: .*transformer\.wte\.weight/);
  });

  it('a tensor whose shape disagrees with config.json', () => {
    const dir = variant('shape', (st) => st, (cfg) => { cfg.n_inner = 64; });
    expect(() => loadGPT2(dir)).toThrow(/model\.safetensors: tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[32, 128\], config\.json implies \[32, 64\]/);
  });

  it('a config missing a key, an unknown architecture, invalid JSON', () => {
    expect(() => loadGPT2(variant('nokey', (st) => st, (cfg) => { delete cfg.n_head; }))).toThrow(/config\.json: .*n_head/);
    expect(() => loadGPT2(variant('arch', (st) => st, (cfg) => { cfg.model_type = 'mamba'; cfg.architectures = ['MambaForCausalLM']; }))).toThrow(/config\.json: unsupported architecture "mamba"/);
    const dir = variant('json', (st) => st);
    writeFileSync(path.join(dir, 'config.json'), '{"n_embd": 32,');
    expect(() => loadGPT2(dir)).toThrow(/config\.json: .*(JSON|line)/);
  });

  it('a folder without weights', () => {
    const dir = path.join(tempDir(), 'empty');
    mkdirSync(dir);
    copyFileSync(path.join(SRC, 'config.json'), path.join(dir, 'config.json'));
    expect(() => loadGPT2(dir)).toThrow(/model\.safetensors/);
  });
});
