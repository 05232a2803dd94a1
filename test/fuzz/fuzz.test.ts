// Every parser against the malformed-input corpus (test/fuzz/corpus.ts): CSV, TSV, JSONL, JSON,
// parquet, aclImdb folders, Markdown, text in Latin-1 / UTF-16 / binary, tokenizer.json,
// vocab/merges, tokenizer configs, config.json, safetensors, adapters, and special files (FIFO,
// socket, device, folder). Each input must get its verdict: a one-line error that names the file
// (no stack, no internal message), or acceptance with the bad rows in the skip report. The cases
// run in a child process with a deadline each, so a read that blocks (a FIFO) fails as a hang
// instead of hanging the suite.
import { rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCorpus } from './corpus.ts';
import { runCorpus, tally, type Judged } from './harness.ts';

const root = join(os.tmpdir(), `ls-fuzz-test-${process.pid}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fuzz corpus', () => {
  it('every malformed input: a clean one-line error naming the file, or its skip report; no hang; fast', async () => {
    const { cases, tokenizerDir, cleanup } = await buildCorpus(root);
    const t0 = performance.now();
    let judged: Judged[];
    try {
      judged = await runCorpus(cases, { timeoutMs: 8000, tokenizerDir });
    } finally {
      cleanup();
    }
    const seconds = (performance.now() - t0) / 1000;
    const wrong = judged.filter((j) => j.outcome !== 'good').map((j) => `${j.outcome} ${j.c.id} [${j.c.op}]: ${j.why}`);
    expect(wrong).toEqual([]);
    // the corpus covers every parser, and every kind of verdict
    const parsers = new Set(tally(judged).rows.map(([k]) => k));
    for (const p of ['CSV', 'TSV', 'JSONL', 'JSON', 'parquet', 'aclImdb', 'Markdown', 'TXT', 'tokenizer', 'safetensors', 'adapter', 'config.json']) expect(parsers).toContain(p);
    expect(judged.filter((j) => j.c.verdict === 'refuse').length).toBeGreaterThan(100);
    expect(judged.filter((j) => j.c.verdict === 'skips').length).toBeGreaterThan(10);
    // no case near its deadline, and the whole corpus well inside the 30 s budget
    const slowest = judged.reduce((a, j) => Math.max(a, j.r?.ms ?? 0), 0);
    expect(slowest).toBeLessThan(4000);
    expect(seconds).toBeLessThan(30);
  });
});
