// GGUF export on bad input: an architecture GGUF cannot express, an adapter that does not fit,
// an output that exists, a full disk — one clear line each, and no file (or temp file) left.
// Also the number formats (F16 rounding, Q8_0 blocks), the tensor-type rules and the Modelfile.
import { execFile } from 'node:child_process';
import fs, { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportGguf, modelfilePath, tensorType } from '../../engine/export/gguf.ts';
import { ollamaModelfile } from '../../engine/export/gguf-modelfile.ts';
import type { GgufTokenizer } from '../../engine/export/gguf-tokenizer.ts';
import { decodeQ8_0, encodeQ8_0, fromHalf, toHalf } from '../../engine/export/gguf-writer.ts';
import { llamaParamShapes, parseLlamaConfig } from '../../engine/models/llama.ts';
import { writeSafetensors } from '../../engine/store/safetensors.ts';
import { FIXTURES, tempDir } from '../helpers/tiny-model.ts';
import { makeLora } from './random-lora.ts';

const DEMO = path.resolve(import.meta.dirname, '..', '..', 'models', 'demo-llama');
const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** A Llama config.json + zero weights of the demo model's layout at another width (no tokenizer). */
function makeTinyLlama(dir: string, hidden: number): string {
  mkdirSync(dir, { recursive: true });
  const json = { model_type: 'llama', vocab_size: 4096, hidden_size: hidden, intermediate_size: 2 * hidden, num_hidden_layers: 1, num_attention_heads: 2, tie_word_embeddings: true };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json));
  const cfg = parseLlamaConfig(json, path.join(dir, 'config.json'));
  writeSafetensors(path.join(dir, 'model.safetensors'), llamaParamShapes(cfg).map(([name, shape]) => ({ name, dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) })));
  return dir;
}

/** The message of the rejection, checked to be one line. */
async function oneLineError(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => null, (x: Error) => x);
  expect(e, 'expected an error').toBeInstanceOf(Error);
  expect(e!.message).not.toContain('\n');
  return e!.message;
}

describe('GGUF export: bad input', () => {
  let root: string;
  beforeAll(() => { root = tempDir('ls-gguf-err-'); });
  afterEach(() => { vi.restoreAllMocks(); });

  it('refuses DistilBERT (no llama.cpp architecture this export expresses), writing nothing', async () => {
    const out = path.join(root, 'bert.gguf');
    const msg = await oneLineError(exportGguf({ model: path.join(FIXTURES, 'distilbert-tiny'), out }));
    expect(msg).toMatch(/GGUF export writes GPT-2 and Llama-family models.*distilbert/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an adapter trained for another model (shapes), writing nothing', async () => {
    const small = makeTinyLlama(path.join(root, 'tiny'), 16);
    const adapter = makeLora(path.join(root, 'tiny-adapter'), small, { targets: ['q_proj'] });
    for (const loraOnly of [false, true]) {
      const out = path.join(root, `wrong-${loraOnly}.gguf`);
      const msg = await oneLineError(exportGguf({ model: DEMO, adapter, out, loraOnly }));
      expect(msg).toMatch(/has shape \[4, 16\] but the base model needs \[4, 256\]: this adapter was trained for another model/);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(modelfilePath(out))).toBe(false);
    }
  });

  it('refuses an existing output unless forced; --lora-only needs an adapter and refuses trained biases', async () => {
    const out = path.join(root, 'exists.gguf');
    writeFileSync(out, 'keep me');
    expect(await oneLineError(exportGguf({ model: DEMO, out }))).toBe(`${out}: already exists (use --force to replace it)`);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    const r = await exportGguf({ model: DEMO, out, force: true, type: 'q8_0' });
    expect(readFileSync(out).subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(r.bytes).toBe(fs.statSync(out).size);
    expect(await oneLineError(exportGguf({ model: DEMO, out: path.join(root, 'x.gguf'), loraOnly: true }))).toMatch(/--lora-only writes an adapter/);
    // An adapter with a trained bias (PEFT bias="all") cannot be a GGUF LoRA: merged only.
    const biased = makeLora(path.join(root, 'biased'), DEMO, { targets: ['q_proj'] });
    const { saveAdapter, loadAdapter } = await import('../../engine/store/adapter.ts');
    const ad = loadAdapter(biased);
    const tensors = new Map([...ad.tensors].map(([n, t]) => [`base_model.model.${n}`, t]));
    tensors.set('base_model.model.model.layers.0.self_attn.q_proj.bias', { shape: [256], data: new Float32Array(256).fill(0.01) });
    saveAdapter(biased, { ...ad.config, bias: 'all' }, tensors);
    const msg = await oneLineError(exportGguf({ model: DEMO, adapter: biased, out: path.join(root, 'b.gguf'), loraOnly: true }));
    expect(msg).toMatch(/also trains model\.layers\.0\.self_attn\.q_proj\.bias.*export the merged model instead/);
  });

  it('a full disk (a failing write) is one line naming the file; no GGUF and no temp file are left', async () => {
    const dir = tempDir('ls-gguf-full-');
    const out = path.join(dir, 'full.gguf');
    const real = fs.writeSync;
    let calls = 0;
    vi.spyOn(fs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
      if (++calls > 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return (real as (...a: unknown[]) => number)(...args);
    }) as typeof fs.writeSync);
    const msg = await oneLineError(exportGguf({ model: DEMO, out, type: 'f16' }));
    expect(msg).toBe(`${out}: cannot write (no space left on the device)`);
    expect(calls).toBeGreaterThan(3);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the CLI prints one line and exits 1 on an engine error, 2 on a usage error', async () => {
    const bert = await cli('export', 'gguf', '--model', path.join(FIXTURES, 'distilbert-tiny'), '--out', path.join(root, 'c.gguf'));
    expect(bert.code).toBe(1);
    expect(bert.stderr.trim().split('\n')).toHaveLength(1);
    expect(bert.stderr).toMatch(/^lora-studio export: GGUF export writes GPT-2 and Llama-family models/);
    const bad = await cli('export', 'gguf', '--model', DEMO, '--out', path.join(root, 'c.gguf'), '--type', 'q4');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^lora-studio export: --type must be one of f32, f16, q8_0, got "q4"/);
    const ok = await cli('export', 'gguf', '--model', DEMO, '--out', path.join(root, 'cli.gguf'), '--type', 'q8_0');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`Ollama: ollama create cli -f ${path.join(root, 'cli.Modelfile')}`);
    expect(readFileSync(path.join(root, 'cli.Modelfile'), 'utf8')).toBe('# Ollama Modelfile written by LoRA Studio (`ollama create NAME -f THIS_FILE`)\nFROM ./cli.gguf\nTEMPLATE """{{ .Prompt }}"""\nPARAMETER stop "<|endoftext|>"\n');
  });
});

describe('GGUF number formats, tensor types and the Modelfile', () => {
  it('F16: round to nearest even, subnormals, overflow to Inf', () => {
    expect(toHalf(1)).toBe(0x3c00);
    expect(toHalf(-2)).toBe(0xc000);
    expect(toHalf(65504)).toBe(0x7bff);
    expect(toHalf(65520)).toBe(0x7c00); // halfway to the next binade rounds to Inf
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toHalf(2 ** -26)).toBe(0x0000);
    expect(fromHalf(toHalf(0.1))).toBeCloseTo(0.0999755859375, 12);
  });

  it('Q8_0: one f16 scale amax/127 and 32 int8 quants per block, halves rounded away from zero', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 32; i++) x[i] = (i - 16) / 16; // amax 1
    x[40] = -3.5;
    const q = encodeQ8_0(x);
    expect(q.byteLength).toBe(68);
    const view = new DataView(q.buffer);
    expect(fromHalf(view.getUint16(0, true))).toBeCloseTo(1 / 127, 4);
    expect(view.getInt8(2)).toBe(-127); // -1
    expect(view.getInt8(2 + 24)).toBe(64); // 0.5 * 127 = 63.5 -> 64
    expect(view.getInt8(34 + 2 + 8)).toBe(-127);
    const back = decodeQ8_0(q);
    for (let i = 0; i < 64; i++) expect(Math.abs(back[i] - x[i])).toBeLessThan(3.5 / 127);
  });

  it('tensor types follow llama.cpp\'s converter', () => {
    expect(tensorType('blk.0.attn_norm.weight', [64], 'q8_0')).toBe('F32');
    expect(tensorType('blk.0.attn_qkv.bias', [384], 'f16')).toBe('F32');
    expect(tensorType('position_embd.weight', [128, 128], 'f16')).toBe('F32');
    expect(tensorType('blk.0.ffn_up.weight', [172, 64], 'q8_0')).toBe('Q8_0');
    expect(tensorType('blk.0.ffn_down.weight', [64, 172], 'q8_0')).toBe('F16'); // rows of 172: no Q8_0 blocks
    expect(tensorType('blk.0.attn_q.weight.lora_b', [64, 4], 'f16')).toBe('F16');
    expect(tensorType('token_embd.weight', [512, 64], 'f32')).toBe('F32');
  });

  it('the Modelfile: FROM and ADAPTER relative to it, a known chat format as TEMPLATE + stops', () => {
    const tok = { chatTemplate: "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}", eosText: '<|im_end|>' } as GgufTokenizer;
    const mf = ollamaModelfile({ dir: '/x', gguf: null, adapter: '/x/lora.gguf', base: '/x/base.gguf', tokenizer: tok });
    expect(mf).toContain('FROM ./base.gguf\nADAPTER ./lora.gguf\nTEMPLATE """{{ if .System }}<|im_start|>system');
    expect(mf).toContain('PARAMETER stop "<|im_start|>"\nPARAMETER stop "<|im_end|>"\n');
    const noBase = ollamaModelfile({ dir: '/x', gguf: null, adapter: '/x/lora.gguf', base: null, tokenizer: null });
    expect(noBase).toContain('FROM ./base.gguf\nADAPTER ./lora.gguf\n');
    const other = ollamaModelfile({ dir: '/x', gguf: '/y/m.gguf', adapter: null, base: null, tokenizer: { chatTemplate: '{{ messages }}', eosText: '</s>' } as GgufTokenizer });
    expect(other).toBe('# Ollama Modelfile written by LoRA Studio (`ollama create NAME -f THIS_FILE`)\nFROM /y/m.gguf\n# The chat template is in the GGUF (tokenizer.chat_template); Ollama reads it from there.\nPARAMETER stop "</s>"\n');
  });
});
