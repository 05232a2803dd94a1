// Markdown recipes: a folder of .md files (one recipe each), or one .md file holding several
// recipes under `# ` headings. A recipe has a `# Title`, an ingredients section (`## Ingredients`,
// bullet list) and a directions section (`## Directions` / Instructions / Method / Steps, numbered
// or bulleted). Parsed recipes go through the recipe template; a Markdown file without that
// structure becomes one plain-text document.

import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readFileSafe } from '../../util/files.ts';
import { realRoot, usableFile } from '../dataset-files.ts';
import { DataError } from '../errors.ts';
import { compileTemplate, RECIPE_TEMPLATE } from '../template.ts';
import { dataFileError, decodeWholeFile } from '../text-stream.ts';

/** A Markdown file larger than this is not a recipe collection we read whole. */
export const MAX_MARKDOWN_BYTES = 256 * 1024 * 1024;
import type { ImportContext, ImportOptions, RawExample } from '../types.ts';

export interface MarkdownRecipe {
  title: string;
  ingredients: string[];
  directions: string[];
  notes?: string;
  /** 1-based line of the title */
  line: number;
}

const INGREDIENTS_RE = /^ingredients?\b/i;
const DIRECTIONS_RE = /^(directions?|instructions?|method|steps|preparation)\b/i;
const ITEM_RE = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/;

/** Parse Markdown text into recipes (empty array when it has no recipe structure). */
export function parseMarkdownRecipes(md: string, fallbackTitle: string): MarkdownRecipe[] {
  const lines = md.replace(/^\ufeff/, '').split(/\r?\n/);
  const recipes: MarkdownRecipe[] = [];
  let cur: MarkdownRecipe | null = null;
  let section: 'ingredients' | 'directions' | 'other' | null = null;
  const notes: string[] = [];
  const finish = (): void => {
    if (cur && (cur.ingredients.length || cur.directions.length)) {
      if (notes.length) cur.notes = notes.join('\n').trim() || undefined;
      recipes.push(cur);
    }
    notes.length = 0;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const level = h[1]!.length;
      const title = h[2]!.trim();
      if (level === 1) {
        finish();
        cur = { title, ingredients: [], directions: [], line: i + 1 };
        section = null;
        continue;
      }
      if (!cur) cur = { title: fallbackTitle, ingredients: [], directions: [], line: i + 1 };
      section = INGREDIENTS_RE.test(title) ? 'ingredients' : DIRECTIONS_RE.test(title) ? 'directions' : 'other';
      continue;
    }
    if (!cur || line.trim() === '') continue;
    const item = ITEM_RE.exec(line);
    if (section === 'ingredients' || section === 'directions') {
      const list = section === 'ingredients' ? cur.ingredients : cur.directions;
      if (item) list.push(item[1]!.trim());
      else if (list.length && /^\s{2,}\S/.test(line)) list[list.length - 1] += ' ' + line.trim();
      else if (section === 'directions') list.push(line.trim()); // prose directions
      else list.push(line.trim());
    } else if (section === null || section === 'other') {
      notes.push(line.trim());
    }
  }
  finish();
  return recipes;
}

export async function* importMarkdown(path: string, opts: ImportOptions, ctx: ImportContext): AsyncGenerator<RawExample[]> {
  const st = await stat(path);
  let files: string[];
  if (st.isDirectory()) {
    const entries = (await readdir(path, { withFileTypes: true }))
      .filter((e) => e.name.toLowerCase().endsWith('.md') || e.name.toLowerCase().endsWith('.markdown'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (entries.length === 0) throw new DataError(`${path}: no .md files in this folder`, path);
    const root = await realRoot(path);
    files = [];
    for (const e of entries) if (await usableFile(join(path, e.name), e, root, ctx, 'a Markdown file')) files.push(join(path, e.name));
  } else files = [path];
  const template = compileTemplate(opts.template ?? RECIPE_TEMPLATE);
  let done = 0;
  let recipeCount = 0;
  let plainCount = 0;
  for (const file of files) {
    const out: RawExample[] = [];
    let buf: Buffer;
    try {
      buf = await readFileSafe(file, { what: 'a Markdown file', maxBytes: MAX_MARKDOWN_BYTES, error: dataFileError });
    } catch (e) {
      if (files.length === 1) throw e;
      const msg = (e as Error).message;
      ctx.skipped.add(file, msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg, 'unreadable file');
      continue;
    }
    const md = decodeWholeFile(file, buf, ctx.skipped);
    if (md === null) continue;
    if (md.trim() === '') {
      ctx.skipped.add(file, 'empty file', 'empty');
      continue;
    }
    const recipes = parseMarkdownRecipes(md, basename(file).replace(/\.(md|markdown)$/i, '').replace(/[-_]+/g, ' '));
    if (recipes.length === 0) {
      out.push({ text: md.trim(), where: file });
      plainCount++;
    }
    for (const r of recipes) {
      const res = template.render(r as unknown as Record<string, unknown>);
      if ('missing' in res) {
        ctx.skipped.add(`${file}:${r.line}`, `recipe has no ${res.missing}`, 'missing field');
        continue;
      }
      out.push({ text: res.text, where: `${file}:${r.line}` });
      recipeCount++;
    }
    done++;
    ctx.onProgress?.({ done, total: files.length, phase: 'read' });
    if (out.length) yield out;
  }
  ctx.notes.push(`${files.length} Markdown file(s): ${recipeCount} recipes, ${plainCount} plain documents`);
}
