// Replaces one "## Title" section of a Markdown report (or appends it), leaving the others.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../engine/store/atomic.ts';

export function updateSection(file: string, title: string, body: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const stamp = `_Measured ${new Date().toISOString().slice(0, 10)}._`;
  const section = `## ${title}\n\n${stamp}\n\n${body.trim()}\n`;
  const re = new RegExp(`## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n[\\s\\S]*?(?=\\n## |$)`);
  const next = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}`;
  writeFileAtomic(file, next);
}
