import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { writeFileAtomic, writeJsonAtomic } from '../../engine/store/atomic.ts';

const root = path.resolve(import.meta.dirname, '../..');
const atomicModule = path.join(root, 'engine/store/atomic.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ls-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function freshDir(): string {
  return fs.mkdtempSync(path.join(tmp, 'd-'));
}

/** Kill delays after the writer starts (ms): spread over several write cycles, the same every run. */
const KILL_SWEEP_MS = [20, 75, 130, 220];

const tempFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

let children = 0;

/**
 * Runs a TypeScript snippet in a child Node (through tsx); resolves with its exit signal/code.
 * With `killAfterMs`, the child is killed that long after it prints "writing".
 */
function runChild(dir: string, source: string, killAfterMs?: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const script = path.join(dir, `child-${++children}.ts`);
  fs.writeFileSync(script, source);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      // The child prints "writing" once its loop runs; then kill it after the given delay.
      if (killAfterMs !== undefined && stdout.includes('writing')) {
        setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        killAfterMs = undefined;
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('writeFileAtomic', () => {
  it('writes strings, bytes and chunk lists, leaving no temp files', () => {
    const dir = freshDir();
    const file = path.join(dir, 'a.txt');
    writeFileAtomic(file, 'héllo');
    expect(fs.readFileSync(file, 'utf8')).toBe('héllo');
    writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect([...fs.readFileSync(file)]).toEqual([1, 2, 3]);
    const big = new Uint8Array(3_000_000).fill(7);
    writeFileAtomic(file, [new Uint8Array([1]), new Uint8Array(0), big, Buffer.from('end')]);
    const back = fs.readFileSync(file);
    expect(back.length).toBe(3_000_004);
    expect(back[0]).toBe(1);
    expect(back.subarray(-3).toString()).toBe('end');
    writeFileAtomic(file, []);
    expect(fs.statSync(file).size).toBe(0);
    expect(fs.readdirSync(dir)).toEqual(['a.txt']);
  });

  it('writes pretty JSON with a trailing newline', () => {
    const file = path.join(freshDir(), 'c.json');
    writeJsonAtomic(file, { b: [1, 2], a: 'x' });
    expect(fs.readFileSync(file, 'utf8')).toBe('{\n  "b": [\n    1,\n    2\n  ],\n  "a": "x"\n}\n');
  });

  it('a write that fails midway leaves the old file and no temp file', () => {
    const dir = freshDir();
    const file = path.join(dir, 'model.bin');
    writeFileAtomic(file, 'old content');
    // The chunk source fails after the first megabyte went to disk (as a full disk would).
    const chunks = [new Uint8Array(1_000_000).fill(1), new Uint8Array(10)];
    chunks[Symbol.iterator] = function* () { yield chunks[0]!; throw new Error('disk full'); };
    expect(() => writeFileAtomic(file, chunks)).toThrow('disk full');
    expect(fs.readFileSync(file, 'utf8')).toBe('old content');
    expect(tempFiles(dir)).toEqual([]);
  });

  it('a failing rename (target is a folder) cleans up its temp file', () => {
    const dir = freshDir();
    const target = path.join(dir, 'taken');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'x'), 'x');
    expect(() => writeFileAtomic(target, 'data')).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['taken']);
  });

  it('a missing folder fails without leaving anything', () => {
    const dir = freshDir();
    expect(() => writeFileAtomic(path.join(dir, 'no', 'such', 'file'), 'x')).toThrow(/no.such.file: cannot write \(the folder .* does not exist\)/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a process killed (SIGKILL) between chunks leaves the old content', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'weights.bin');
    fs.writeFileSync(file, 'old');
    // The chunk list's iterator kills the process after the first 4 MB chunk went to disk.
    const { signal, stderr } = await runChild(dir, `
      import { writeFileAtomic } from ${JSON.stringify(atomicModule)};
      const chunks = [new Uint8Array(4 << 20).fill(1), new Uint8Array(4 << 20).fill(2)];
      chunks[Symbol.iterator] = function* () { yield chunks[0]; process.kill(process.pid, 'SIGKILL'); yield chunks[1]; };
      writeFileAtomic(${JSON.stringify(file)}, chunks);
    `);
    expect(stderr).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    // The killed writer could not clean up: its partial temp file is there, beside the intact target.
    expect(tempFiles(dir)).toHaveLength(1);
  });

  it('a writer killed at any moment (a fixed sweep of delays) always leaves one complete version', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'ckpt.bin');
    const size = 8 << 20;
    fs.writeFileSync(file, new Uint8Array(size)); // version 0
    for (const killAfterMs of KILL_SWEEP_MS) {
      const { signal } = await runChild(dir, `
        import { writeFileAtomic } from ${JSON.stringify(atomicModule)};
        let v = 0;
        process.stdout.write('writing\\n');
        for (;;) { v = (v % 250) + 1; writeFileAtomic(${JSON.stringify(file)}, [new Uint8Array(${size / 2}).fill(v), new Uint8Array(${size / 2}).fill(v)]); }
      `, killAfterMs);
      expect(signal).toBe('SIGKILL');
      const bytes = fs.readFileSync(file);
      expect(bytes.length).toBe(size);
      expect(bytes.every((b) => b === bytes[0])).toBe(true);
    }
  });
});
