// Text templates for structured records (recipes and other JSON rows).
//
//   {field}            the value; an array becomes one "- item" line per element
//   {field:numbered}   an array as "1. item" lines
//   {field:lines}      an array as plain lines
//   {field:inline}     an array joined with ", "
//   {a.b}              a nested field
//   {{ and }}          literal braces

export const RECIPE_TEMPLATE = '{title}\n\nIngredients:\n{ingredients}\n\nDirections:\n{directions:numbered}';

type Part = { lit: string } | { path: string[]; style: 'bullets' | 'numbered' | 'lines' | 'inline'; raw: string };

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

export interface CompiledTemplate {
  source: string;
  fields: string[];
  render(record: Record<string, unknown>): { text: string } | { missing: string };
}

export function compileTemplate(source: string): CompiledTemplate {
  const parts: Part[] = [];
  let lit = '';
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === '{' && source[i + 1] === '{') {
      lit += '{';
      i += 2;
    } else if (ch === '}' && source[i + 1] === '}') {
      lit += '}';
      i += 2;
    } else if (ch === '{') {
      const end = source.indexOf('}', i);
      if (end < 0) throw new TemplateError(`template: "{" at column ${i + 1} is never closed (write {{ for a literal brace)`);
      const inner = source.slice(i + 1, end).trim();
      const [name, style = 'bullets'] = inner.split(':').map((s) => s.trim()) as [string, string?];
      if (!name || !/^[\w.\- ]+$/.test(name)) throw new TemplateError(`template: bad placeholder {${inner}} at column ${i + 1}`);
      if (!['bullets', 'numbered', 'lines', 'inline'].includes(style)) {
        throw new TemplateError(`template: unknown style "${style}" in {${inner}} (use numbered, lines, inline or bullets)`);
      }
      if (lit) parts.push({ lit });
      lit = '';
      parts.push({ path: name.split('.'), style: style as 'bullets', raw: name });
      i = end + 1;
    } else if (ch === '}') {
      throw new TemplateError(`template: stray "}" at column ${i + 1} (write }} for a literal brace)`);
    } else {
      lit += ch;
      i++;
    }
  }
  if (lit) parts.push({ lit });
  const fields = parts.flatMap((p) => ('path' in p ? [p.raw] : []));
  if (fields.length === 0) throw new TemplateError('template: it has no {field} placeholder');
  return {
    source,
    fields,
    render(record) {
      let out = '';
      for (const p of parts) {
        if ('lit' in p) {
          out += p.lit;
          continue;
        }
        let v: unknown = record;
        for (const k of p.path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
        if (v === undefined || v === null) return { missing: p.raw };
        out += formatValue(v, p.style);
      }
      return { text: out };
    },
  };
}

function formatValue(v: unknown, style: 'bullets' | 'numbered' | 'lines' | 'inline'): string {
  if (Array.isArray(v)) {
    const items = v.map((x) => (typeof x === 'string' ? x.trim() : JSON.stringify(x)));
    switch (style) {
      case 'numbered':
        return items.map((x, i) => `${i + 1}. ${x}`).join('\n');
      case 'lines':
        return items.join('\n');
      case 'inline':
        return items.join(', ');
      default:
        return items.map((x) => `- ${x}`).join('\n');
    }
  }
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** True when a record looks like a recipe (title + ingredients + directions). */
export function isRecipe(r: Record<string, unknown>): boolean {
  return r.title !== undefined && r.ingredients !== undefined && (r.directions !== undefined);
}
