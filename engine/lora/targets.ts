// Which layers LoRA adapts, with PEFT's matching rules (peft.tuners.tuners_utils
// check_target_module_exists): a string is a regex that must match the whole module name; a
// list matches a module whose name equals an entry or ends with "." + entry; 'all-linear'
// takes every linear layer but the output head.

import type { LinearModule } from '../models/types.ts';

export const ALL_LINEAR = 'all-linear';

export function matchesTarget(moduleName: string, targets: string[] | string): boolean {
  if (typeof targets === 'string') {
    if (targets === ALL_LINEAR) return true;
    return new RegExp(`^(?:${targets})$`).test(moduleName);
  }
  return targets.some((t) => moduleName === t || moduleName.endsWith(`.${t}`));
}

/** The adapted modules, or a clear error naming what exists when nothing matches. */
export function selectTargets(modules: LinearModule[], targets: string[] | string): LinearModule[] {
  if (typeof targets === 'string' && targets !== ALL_LINEAR) {
    try {
      new RegExp(targets);
    } catch (e) {
      throw new Error(`target modules: invalid regular expression "${targets}": ${(e as Error).message}`);
    }
  }
  const hit = modules.filter((m) => matchesTarget(m.name, targets));
  if (hit.length === 0) {
    const kinds = [...new Set(modules.map((m) => m.name.split('.').slice(-2).join('.')))];
    throw new Error(`target modules ${JSON.stringify(targets)} match no layer of this model; its linear layers are ${kinds.join(', ')} (in every block)`);
  }
  return hit;
}

/** Parses the CLI/UI form: "a,b" → list, "all-linear", or a regex (anything with regex syntax). */
export function parseTargets(spec: string): string[] | string {
  const s = spec.trim();
  if (s === ALL_LINEAR) return s;
  if (/[\\^$*+?()[\]{}|]/.test(s)) return s;
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}
