// Runs the fuzz corpus in a child process (test/fuzz/runner.ts) with a deadline per case, and
// judges each result against the case's verdict. A case that blocks the child (a FIFO read on the
// main thread) is a hang: the child is killed and restarted after that case.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { FuzzCase } from './corpus.ts';
import type { CaseResult } from './runner.ts';

const here = import.meta.dirname;
export const repoRoot = resolve(here, '..', '..');
const GPT2_TOKENIZER = resolve(repoRoot, '..', 'shared', 'data', 'gpt2-tokenizer');

export type Outcome =
  /** the verdict the case asks for */
  | 'good'
  /** refused with a one-line error naming the file, but the case should have been accepted */
  | 'wrong-refusal'
  /** an error a user cannot act on: internal message, no file name, several lines */
  | 'internal'
  | 'hang'
  /** accepted although it should have been refused, or rows dropped with no skip report */
  | 'silent';

export interface Judged {
  c: FuzzCase;
  r: CaseResult | null;
  outcome: Outcome;
  why: string;
}

const INTERNAL = [
  /Cannot read propert/i,
  /is not iterable/,
  /is not a function/,
  /Invalid typed array length/,
  /Invalid array length/,
  /Maximum call stack/,
  /Invalid string length/,
  /\bundefined\b/,
  /^E[A-Z]+: /,
  /\bE(NOENT|ISDIR|NOSPC|ACCES|NOTDIR|ROFS|PERM|NXIO)\b/,
  /\n\s+at /,
];

/** Is this error something a user can act on: one line, names the file, no internal message? */
export function cleanError(c: FuzzCase, r: CaseResult): string | null {
  const msg = r.message ?? '';
  if (['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'AssertionError'].includes(r.name ?? '')) return `${r.name}: ${msg}`;
  if (msg.includes('\n')) return `several lines: ${msg.slice(0, 200)}`;
  for (const re of INTERNAL) if (re.test(msg)) return `internal message: ${msg.slice(0, 200)}`;
  const names = c.names ?? c.path;
  if (!msg.includes(names)) return `does not name ${names}: ${msg.slice(0, 200)}`;
  return null;
}

export function judge(c: FuzzCase, r: CaseResult | null): Judged {
  if (r === null) return { c, r, outcome: 'hang', why: 'no answer before the deadline' };
  if (r.ok) {
    if (c.verdict === 'refuse') return { c, r, outcome: 'silent', why: `accepted (${r.info ?? ''})` };
    if (c.verdict === 'skips' && !(r.skipped && r.skipped > 0)) return { c, r, outcome: 'silent', why: `accepted with no skip report (${r.info ?? ''})` };
    return { c, r, outcome: 'good', why: r.info ?? '' };
  }
  const bad = cleanError(c, r);
  if (bad) return { c, r, outcome: 'internal', why: bad };
  if (c.verdict !== 'refuse') return { c, r, outcome: 'wrong-refusal', why: r.message ?? '' };
  return { c, r, outcome: 'good', why: r.message ?? '' };
}

export interface RunOptions {
  /** Deadline per case (ms). */
  timeoutMs: number;
  tokenizerDir: string;
  onResult?: (j: Judged) => void;
}

/** Runs every case; returns the judged results in corpus order. */
export async function runCorpus(cases: FuzzCase[], o: RunOptions): Promise<Judged[]> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'ls-fuzz-run-'));
  const casesFile = join(tmp, 'cases.json');
  const encodeTokenizerDir = existsSync(join(GPT2_TOKENIZER, 'tokenizer.json')) ? GPT2_TOKENIZER : o.tokenizerDir;
  writeFileSync(casesFile, JSON.stringify({ cases, tokenizerDir: o.tokenizerDir, encodeTokenizerDir }));
  const results = new Map<string, CaseResult | null>();
  let next = 0;
  while (next < cases.length) {
    next = await new Promise<number>((done) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'runner.ts'), casesFile, String(next)], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let buf = '';
      let current = -1;
      let timer: NodeJS.Timeout | undefined;
      let resumeAt = cases.length;
      let stderr = '';
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          // this case blocks: record it and go on after it in a fresh child
          results.set(cases[current]!.id, null);
          o.onResult?.(judge(cases[current]!, null));
          resumeAt = current + 1;
          child.kill('SIGKILL');
        }, o.timeoutMs);
      };
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let msg: { start?: string; index?: number; done?: CaseResult };
          try {
            msg = JSON.parse(line);
          } catch {
            continue; // a stray console line
          }
          if (msg.start !== undefined) {
            current = msg.index!;
            arm();
          } else if (msg.done) {
            clearTimeout(timer);
            results.set(msg.done.id, msg.done);
            o.onResult?.(judge(cases[current]!, msg.done));
          }
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (resumeAt === cases.length && current >= 0 && !results.has(cases[current]!.id)) {
          // the child died inside a case (a crash, not a hang)
          const r: CaseResult = { id: cases[current]!.id, ok: false, ms: 0, name: 'Crash', message: `the process exited (${code}): ${stderr.slice(-300)}` };
          results.set(r.id, r);
          o.onResult?.(judge(cases[current]!, r));
          resumeAt = current + 1;
        } else if (current < 0 && resumeAt === cases.length) {
          throw new Error(`fuzz runner failed to start: ${stderr}`);
        }
        done(resumeAt);
      });
    });
  }
  return cases.map((c) => judge(c, results.get(c.id) ?? null));
}

/** Totals per outcome, overall and per parser. */
export function tally(js: Judged[]): { rows: [string, Record<Outcome | 'inputs', number>][] } {
  const by = new Map<string, Record<Outcome | 'inputs', number>>();
  const row = (k: string) => {
    let r = by.get(k);
    if (!r) by.set(k, (r = { inputs: 0, good: 0, 'wrong-refusal': 0, internal: 0, hang: 0, silent: 0 }));
    return r;
  };
  for (const j of js) {
    for (const k of [j.c.parser, 'all']) {
      const r = row(k);
      r.inputs++;
      r[j.outcome]++;
    }
  }
  return { rows: [...by].sort((a, b) => (a[0] === 'all' ? 1 : b[0] === 'all' ? -1 : a[0].localeCompare(b[0]))) };
}
