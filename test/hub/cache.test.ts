// The shared HF cache without the network: a cache laid out the way Python's huggingface_hub
// writes it (built here, in a temp dir) is found by resolveModelRef, listed by listModels and
// used by the CLI's --model; plus file selection, repo ids and the environment variables.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError } from '../../engine/hub/errors.ts';
import { DEMO_MODEL_DIR, listModels } from '../../engine/hub/list.ts';
import { parseModelRef, repoIdProblem } from '../../engine/hub/repo-id.ts';
import { resolveModelRef } from '../../engine/hub/resolve.ts';
import { loadModel } from '../../engine/models/registry.ts';
import { loadTokenizer } from '../../engine/data/tokenizer.ts';
import { perplexity } from '../../engine/train/eval.ts';

import { globToRegExp, selectFiles } from '../../engine/hub/select.ts';
import { hubCacheDir, readToken } from '../../engine/hub/settings.ts';
import { inspectModel } from '../../engine/models/inspect.ts';
import { writeSafetensors } from '../../engine/store/safetensors.ts';
import { hasSharedData, makeTinyGPT2, tempDir } from '../helpers/tiny-model.ts';
import { fakeCommitSha, gitBlobSha1, sha256 } from './fake-hub.ts';
import { writeTree } from './tiny-repo.ts';

/**
 * One repo as huggingface_hub caches it: blobs named by sha256 (LFS) or git sha1, relative
 * symlinks in snapshots/<commit>/, refs/<rev> holding the commit without a newline.
 */
function writePythonCache(cache: string, repo: string, files: Record<string, Buffer>, o: { refs?: string[]; seed?: string } = {}): { commit: string; blobBytes: number } {
  const root = path.join(cache, `models--${repo.replace('/', '--')}`);
  const commit = fakeCommitSha(o.seed ?? repo);
  const seen = new Set<string>();
  let blobBytes = 0;
  for (const [f, data] of Object.entries(files)) {
    const etag = /\.safetensors$/.test(f) ? sha256(data) : gitBlobSha1(data);
    mkdirSync(path.join(root, 'blobs'), { recursive: true });
    writeFileSync(path.join(root, 'blobs', etag), data);
    if (!seen.has(etag)) { seen.add(etag); blobBytes += data.length; }
    const link = path.join(root, 'snapshots', commit, ...f.split('/'));
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(path.relative(path.dirname(link), path.join(root, 'blobs', etag)), link);
  }
  for (const r of o.refs ?? ['main']) {
    mkdirSync(path.dirname(path.join(root, 'refs', r)), { recursive: true });
    writeFileSync(path.join(root, 'refs', r), commit);
  }
  // huggingface_hub's markers for files the Hub does not have, and its lock files.
  mkdirSync(path.join(root, '.no_exist', commit), { recursive: true });
  writeFileSync(path.join(root, '.no_exist', commit, 'added_tokens.json'), '');
  mkdirSync(path.join(cache, '.locks', path.basename(root)), { recursive: true });
  writeFileSync(path.join(cache, '.locks', path.basename(root), `${[...seen][0]}.lock`), '');
  return { commit, blobBytes };
}

const readDir = (dir: string, names: string[]): Record<string, Buffer> => Object.fromEntries(names.map((n) => [n, readFileSync(path.join(dir, n))]));

(hasSharedData ? describe : describe.skip)('a Python-written HF cache: resolveModelRef, models list, --model', () => {
  const cache = tempDir('ls-hub-py-');
  let gpt2: { commit: string; blobBytes: number };
  let src: string;

  beforeAll(() => {
    src = makeTinyGPT2(path.join(tempDir('ls-hub-src-'), 'tiny'), { seed: 3 });
    gpt2 = writePythonCache(cache, 'py-org/tiny', readDir(src, ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt']));
    // An architecture this build does not train, with weights; and a config-only download.
    const mamba = path.join(tempDir('ls-hub-src-'), 'mamba');
    writeTree(mamba, { 'config.json': JSON.stringify({ model_type: 'mamba', architectures: ['MambaForCausalLM'], hidden_size: 8 }) });
    writeSafetensors(path.join(mamba, 'model.safetensors'), [{ name: 'backbone.embeddings.weight', dtype: 'BF16', shape: [4, 8], data: new Uint16Array(32) }]);
    writePythonCache(cache, 'py-org/mamba', readDir(mamba, ['config.json', 'model.safetensors']).valueOf() as Record<string, Buffer>);
    writePythonCache(cache, 'solo', { 'config.json': readFileSync(path.join(src, 'config.json')), 'tokenizer.json': readFileSync(path.join(src, 'tokenizer.json')) }, { refs: ['v1'] });
    // Not models: a dataset repo and a stray file.
    mkdirSync(path.join(cache, 'datasets--py-org--data', 'snapshots'), { recursive: true });
    writeFileSync(path.join(cache, 'version.txt'), '1');
  });
  afterAll(() => {
    rmSync(cache, { recursive: true, force: true });
    rmSync(path.dirname(src), { recursive: true, force: true });
  });
  const env = () => ({ HF_HUB_CACHE: cache });

  it('ORG/NAME, ORG/NAME@REV and ORG/NAME@COMMIT resolve offline to the snapshot, which loads through the symlinks', () => {
    const snap = path.join(cache, 'models--py-org--tiny', 'snapshots', gpt2.commit);
    expect(resolveModelRef('py-org/tiny', { env: env() })).toBe(snap);
    expect(resolveModelRef('py-org/tiny@main', { env: env() })).toBe(snap);
    expect(resolveModelRef(`py-org/tiny@${gpt2.commit}`, { env: env() })).toBe(snap);
    expect(resolveModelRef('solo@v1', { env: env() })).toBe(path.join(cache, 'models--solo', 'snapshots', fakeCommitSha('solo')));
    const info = inspectModel(snap);
    expect(info.family).toBe('gpt2');
    expect(info.storedDtype).toBe('F32');
  });

  it('the engine takes a repo id wherever it takes a model folder: info, load, tokenizer, perplexity', async () => {
    const saved = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      expect(inspectModel('py-org/tiny').family).toBe('gpt2');
      const m = loadModel('py-org/tiny');
      expect(m.dir).toBe(path.join(cache, 'models--py-org--tiny', 'snapshots', gpt2.commit));
      expect((await loadTokenizer('py-org/tiny')).encode('Hello world')).toEqual([15496, 995]);
      const text = path.join(tempDir('ls-hub-ppl-'), 't.txt');
      writeFileSync(text, 'Hello world, hello again.');
      const a = await perplexity({ model: 'py-org/tiny', text }), b = await perplexity({ model: src, text });
      expect(a.perplexity).toBe(b.perplexity);
      expect(() => loadModel('py-org/absent')).toThrow(/lora-studio models pull py-org\/absent/);
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved;
    }
  });

  it('an existing local folder of that name wins; paths and bare names that are not cached come back unchanged', () => {
    const cwd = tempDir('ls-hub-cwd-');
    mkdirSync(path.join(cwd, 'py-org', 'tiny'), { recursive: true });
    expect(resolveModelRef('py-org/tiny', { env: env(), cwd })).toBe('py-org/tiny');
    for (const p of ['./py-org/other', '/abs/model', 'a/b/c', 'mymodel', '../up', 'C:\\models\\x']) expect(resolveModelRef(p, { env: env(), cwd })).toBe(p);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('a repo id or revision not in the cache: one line that says to run models pull', () => {
    const miss = (ref: string): HubError => {
      try {
        resolveModelRef(ref, { env: env() });
      } catch (e) {
        expect(e).toBeInstanceOf(HubError);
        return e as HubError;
      }
      throw new Error(`${ref} resolved`);
    };
    expect(miss('py-org/absent').message).toBe(`py-org/absent: no such folder, and no model py-org/absent in the Hugging Face cache (${cache}); to download it run \`lora-studio models pull py-org/absent\``);
    expect(miss('py-org/tiny@v2').message).toBe(`py-org/tiny@v2: revision "v2" is not in the Hugging Face cache (${path.join(cache, 'models--py-org--tiny')}; cached revisions: main); run \`lora-studio models pull py-org/tiny --revision v2\``);
    expect(miss('solo').message).toMatch(/revision "main" is not in the Hugging Face cache .*cached revisions: v1\)/);
    expect(miss('solo').code).toBe('not-cached');
  });

  it('listModels: the demo model and every cached model, with family, params, dtype, size and why not', () => {
    const models = listModels({ env: env() });
    expect(models.map((m) => m.ref)).toEqual([DEMO_MODEL_DIR, 'py-org/mamba', 'py-org/tiny', 'solo@v1']);
    const [demo, mamba, tiny, solo] = models;
    expect(demo).toMatchObject({ source: 'built-in', family: 'llama', architecture: 'LlamaForCausalLM', dtype: 'F16', trainable: true });
    expect(tiny).toMatchObject({
      source: 'hf-cache', repo: 'py-org/tiny', commit: gpt2.commit, revisions: ['main'], family: 'gpt2', architecture: 'GPT2LMHeadModel',
      params: inspectModel(src, { method: 'full' }).allParams, dtype: 'F32', sizeBytes: gpt2.blobBytes, trainable: true,
    });
    expect(tiny!.whyNot).toBeUndefined();
    expect(mamba).toMatchObject({ family: 'mamba', architecture: 'MambaForCausalLM', dtype: 'BF16', params: 32, trainable: false });
    expect(mamba!.whyNot).toMatch(/^config\.json: unsupported architecture "mamba" \(this build loads: gpt2/);
    expect(solo).toMatchObject({ family: 'gpt2', dtype: null, trainable: false });
    expect(solo!.whyNot).toMatch(/^no safetensors weights/);
  });

  const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'lora-studio.mjs');
  const cli = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, HF_HUB_CACHE: cache, HF_HOME: cache, HF_HUB_OFFLINE: '1' }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('CLI: models list (text and --json), and --model ORG/NAME through the cache', async () => {
    const t = await cli(['models', 'list']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^MODEL\s+FAMILY\s+PARAMS\s+DTYPE\s+SIZE\s+TRAIN$/m);
    expect(t.stdout).toMatch(/^py-org\/tiny\s+gpt2\s+\d+\.\dk\s+F32\s+\S+ MB\s+yes$/m);
    expect(t.stdout).toMatch(/^py-org\/mamba\s+mamba\s+32\s+BF16\s+\S+ B\s+no\n {2}why not: config\.json: unsupported architecture "mamba"/m);
    const j = JSON.parse((await cli(['models', 'list', '--json'])).stdout);
    expect(j.cacheDir).toBe(cache);
    expect(j.models.map((m: { ref: string }) => m.ref)).toContain('py-org/tiny');
    const info = await cli(['info', '--model', 'py-org/tiny', '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).dir).toBe(path.join(cache, 'models--py-org--tiny', 'snapshots', gpt2.commit));
    const miss = await cli(['info', '--model', 'py-org/absent']);
    expect(miss.code).toBe(1);
    expect(miss.stderr.trim()).toBe(`lora-studio info: py-org/absent: no such folder, and no model py-org/absent in the Hugging Face cache (${cache}); to download it run \`lora-studio models pull py-org/absent\``);
    const off = await cli(['models', 'pull', 'py-org/absent']);
    expect(off.code).toBe(1);
    expect(off.stderr.trim().split('\n')).toHaveLength(1);
    expect(off.stderr).toContain('HF_HUB_OFFLINE is set, so nothing is downloaded');
  });
});

describe('file selection, repo ids and the environment', () => {
  it('default selection: configs, tokenizer files, safetensors (shards + index); other formats and folders only when included', () => {
    const repo = [
      '.gitattributes', 'README.md', 'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer.model', 'chat_template.jinja',
      'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'consolidated.safetensors',
      'pytorch_model.bin', 'model.onnx', 'model.gguf', 'tf_model.h5', 'flax_model.msgpack', 'original/consolidated.00.pth', 'onnx/model.onnx', 'sub/config.json',
    ];
    expect(selectFiles(repo)).toEqual([
      'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer.model', 'chat_template.jinja',
      'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json',
    ]);
    expect(selectFiles(repo, ['*.bin', 'original/'])).toEqual(expect.arrayContaining(['pytorch_model.bin', 'original/consolidated.00.pth']));
    expect(selectFiles(repo, ['*.bin'])).not.toContain('model.onnx');
    expect(selectFiles(repo, ['consolidated.safetensors'])).toContain('consolidated.safetensors');
    // Without transformers-named weights, every top-level .safetensors file is the weights.
    expect(selectFiles(['config.json', 'weights.safetensors', 'x/y.safetensors'])).toEqual(['config.json', 'weights.safetensors']);
  });

  it('globs follow fnmatch: * crosses /, ?, [seq], [!seq], literal dots', () => {
    expect(globToRegExp('*.onnx').test('onnx/model.onnx')).toBe(true);
    expect(globToRegExp('model-0000?-of-*.safetensors').test('model-00001-of-00002.safetensors')).toBe(true);
    expect(globToRegExp('model.[!b]*').test('model.bin')).toBe(false);
    expect(globToRegExp('model.[!b]*').test('model.onnx')).toBe(true);
    expect(globToRegExp('a.json').test('abjson')).toBe(false);
  });

  it('repo ids as huggingface_hub validates them; references with @REV', () => {
    for (const ok of ['gpt2', 'openai-community/gpt2', 'Qwen/Qwen2.5-0.5B', 'a_b/c.d-e']) expect(repoIdProblem(ok)).toBeNull();
    for (const bad of ['', 'a/b/c', 'a--b/c', 'a/b..c', '/abs', './x', 'x.git', 'a b/c', '-x/y', 'a'.repeat(97)]) expect(repoIdProblem(bad)).not.toBeNull();
    expect(parseModelRef('org/name@v1.0')).toEqual({ repo: 'org/name', revision: 'v1.0' });
    expect(parseModelRef('org/name@refs/pr/1')).toEqual({ repo: 'org/name', revision: 'refs/pr/1' });
    expect(parseModelRef('org/name@')).toBeNull();
    expect(parseModelRef('org/name@a..b')).toBeNull();
  });

  it('cache folder and token from the environment, in huggingface_hub\'s order', () => {
    const home = tempDir('ls-hub-env-');
    expect(hubCacheDir({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' })).toBe('/x/hub');
    expect(hubCacheDir({ HF_HOME: '/y' })).toBe('/y/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/z' })).toBe('/z/huggingface/hub');
    expect(hubCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
    expect(readToken({ HF_HOME: home })).toEqual({});
    writeFileSync(path.join(home, 'token'), 'hf_file\n');
    expect(readToken({ HF_HOME: home })).toEqual({ token: 'hf_file', source: path.join(home, 'token') });
    expect(readToken({ HF_HOME: home, HF_TOKEN: 'hf_env' })).toEqual({ token: 'hf_env', source: 'HF_TOKEN' });
    rmSync(home, { recursive: true, force: true });
  });
});
