// Runs the whole fuzz corpus and prints, per parser, how many inputs got the verdict they ask
// for, and how many gave internal errors, hangs, silent successes or wrong refusals.
//
//   node --import tsx test/fuzz/measure.ts [--timeout-ms 10000] [--verbose]

import { rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { buildCorpus } from './corpus.ts';
import { runCorpus, tally } from './harness.ts';

const args = process.argv.slice(2);
const timeoutMs = Number(args[args.indexOf('--timeout-ms') + 1] || 10_000) || 10_000;
const verbose = args.includes('--verbose');

const root = join(os.tmpdir(), `ls-fuzz-corpus-${process.pid}`);
const { cases, tokenizerDir, cleanup } = await buildCorpus(root);
const t0 = performance.now();
const judged = await runCorpus(cases, {
  timeoutMs,
  tokenizerDir,
  onResult: (j) => {
    if (verbose || j.outcome !== 'good') console.error(`${j.outcome.padEnd(13)} ${j.c.id} [${j.c.op}]: ${j.why.slice(0, 220)}`);
  },
});
const secs = (performance.now() - t0) / 1000;
cleanup();
rmSync(root, { recursive: true, force: true });

const { rows } = tally(judged);
console.log(`| parser | inputs | right verdict | clean errors | internal errors (leaked message / no file / stack) | hangs (> ${timeoutMs / 1000} s) | wrong silent successes | wrong refusals |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const [k, r] of rows) {
  const clean = judged.filter((j) => (k === 'all' || j.c.parser === k) && j.r && !j.r.ok && (j.outcome === 'good' || j.outcome === 'wrong-refusal')).length;
  const b = (s: string | number) => (k === 'all' ? `**${s}**` : String(s));
  console.log(`| ${b(k)} | ${b(r.inputs)} | ${b(r.good)} | ${b(clean)} | ${b(r.internal)} | ${b(r.hang)} | ${b(r.silent)} | ${b(r['wrong-refusal'])} |`);
}
console.log(`\n${cases.length} inputs in ${secs.toFixed(1)} s`);
