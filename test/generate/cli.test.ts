// `lora-studio generate` end to end on a tiny GPT-2 with the real GPT-2 tokenizer.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';
import { makeRandomAdapter } from '../merge/random-adapter.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');
const cli = async (...args: string[]) => (await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 })).stdout;

describe.skipIf(!hasSharedData)('lora-studio generate', () => {
  let model: string, adapter: string;
  beforeAll(() => {
    const root = tempDir('ls-gen-');
    model = makeTinyGPT2(path.join(root, 'tiny'), { nPositions: 64 });
    adapter = makeRandomAdapter(path.join(root, 'adapter'), model);
  });

  it('prints outputs and tokens_per_s as JSON; seeded sampling repeats', async () => {
    const args = ['generate', '--model', model, '--adapter', adapter, '--prompt', 'Whisk two eggs', '--max-new-tokens', '6',
      '--temperature', '0.8', '--top-k', '40', '--top-p', '0.9', '--num-return-sequences', '2', '--seed', '3', '--no-eos', '--json'];
    const a = JSON.parse(await cli(...args));
    expect(a.outputs).toHaveLength(2);
    expect(a.outputs.every((s: unknown) => typeof s === 'string' && s.length > 0)).toBe(true);
    expect(a.tokens_per_s).toBeGreaterThan(0);
    expect(JSON.parse(await cli(...args)).outputs).toEqual(a.outputs);
  }, 60_000);

  it('--compare-base gives base and adapted outputs, which differ', async () => {
    const r = JSON.parse(await cli('generate', '--model', model, '--adapter', adapter, '--prompt', 'Hello world', '--max-new-tokens', '8', '--no-eos', '--compare-base', '--json'));
    expect(r.outputs).toHaveLength(1);
    expect(r.base_outputs).toHaveLength(1);
    expect(r.outputs[0]).not.toBe(r.base_outputs[0]);
    const text = await cli('generate', '--model', model, '--adapter', adapter, '--prompt', 'Hello world', '--max-new-tokens', '8', '--no-eos', '--compare-base');
    expect(text).toContain('[base]    Hello world');
    expect(text).toContain('[adapter] Hello world');
  }, 60_000);
});
