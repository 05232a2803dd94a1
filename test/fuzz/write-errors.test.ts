// Writes on a full, read-only or missing disk: one line naming the path and what failed, never
// Node's bare "ENOSPC: no space left on device, write" (which names no file) or a stack.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { FileError, mkdirp, writeFileAtomic, writeJsonAtomic } from '../../engine/store/atomic.ts';
import { saveAdapter } from '../../engine/store/adapter.ts';
import { writeSafetensors } from '../../engine/store/safetensors.ts';
import { EventFileWriter } from '../../engine/store/tensorboard.ts';
import { defaultLoraConfig } from '../../engine/lora/config.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-werr-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const errno = (code: string, syscall: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall, errno: -28 });

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('write failures name the path', () => {
  it('a full disk (ENOSPC on write): the target, no temp file left, the old content kept', () => {
    const target = path.join(tmp, 'model.safetensors');
    fs.writeFileSync(target, 'old');
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw errno('ENOSPC', 'write');
    });
    const e = errorOf(() => writeSafetensors(target, [{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]));
    expect(e).toBeInstanceOf(FileError);
    expect(e.message).toBe(`${target}: cannot write (no space left on the device)`);
    vi.restoreAllMocks();
    expect(fs.readFileSync(target, 'utf8')).toBe('old');
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a missing folder, a read-only file system, a file in the way', () => {
    const missing = path.join(tmp, 'no', 'such', 'run.json');
    expect(errorOf(() => writeJsonAtomic(missing, {})).message).toBe(`${missing}: cannot write (the folder ${path.dirname(missing)} does not exist)`);
    vi.spyOn(fs, 'openSync').mockImplementationOnce(() => {
      throw errno('EROFS', 'open');
    });
    const ro = path.join(tmp, 'ro.json');
    expect(errorOf(() => writeFileAtomic(ro, 'x')).message).toBe(`${ro}: cannot write (the file system is read-only)`);
    const blocker = path.join(tmp, 'blocker');
    fs.writeFileSync(blocker, 'a file');
    expect(errorOf(() => mkdirp(path.join(blocker, 'adapter'))).message).toBe(`${path.join(blocker, 'adapter')}: cannot create the folder (a file is in the way)`);
    const dirTarget = path.join(tmp, 'taken');
    fs.mkdirSync(dirTarget);
    fs.writeFileSync(path.join(dirTarget, 'x'), 'x');
    expect(errorOf(() => writeFileAtomic(dirTarget, 'data')).message).toBe(`${dirTarget}: cannot write (a folder is in the way)`);
  });

  it('mkdir failures (ENOENT/EACCES from mkdir) name the folder', () => {
    vi.spyOn(fs, 'mkdirSync').mockImplementation(() => {
      throw errno('EACCES', 'mkdir');
    });
    const dir = path.join(tmp, 'runs', 'r1');
    expect(errorOf(() => mkdirp(dir)).message).toBe(`${dir}: cannot create the folder (permission denied)`);
    const cfg = defaultLoraConfig({ r: 1, loraAlpha: 1, targetModules: ['c_attn'] });
    expect(errorOf(() => saveAdapter(dir, cfg, new Map())).message).toBe(`${dir}: cannot create the folder (permission denied)`);
    expect(errorOf(() => EventFileWriter.create(dir)).message).toBe(`${dir}: cannot create the folder (permission denied)`);
  });

  it('an event file that cannot be appended to (ENOSPC) names the event file', () => {
    const w = EventFileWriter.create(path.join(tmp, 'tb'));
    vi.spyOn(fs, 'writeSync').mockImplementation(() => {
      throw errno('ENOSPC', 'write');
    });
    expect(errorOf(() => w.scalars(1, [{ tag: 'loss', value: 1 }])).message).toBe(`${w.file}: cannot write (no space left on the device)`);
    vi.restoreAllMocks();
    w.close();
  });

  it('errors that are not file-system errors pass through unchanged', () => {
    const chunks = [new Uint8Array(4)];
    chunks[Symbol.iterator] = function* () { throw new TypeError('bug in the caller'); };
    expect(() => writeFileAtomic(path.join(tmp, 'bug'), chunks)).toThrow(TypeError);
  });
});
