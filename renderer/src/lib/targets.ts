// The model's LoRA-targetable modules as a tree (block → modules), and the `targets` value
// (PEFT target_modules) that a selection stands for.

export interface ModuleRef {
  name: string;
  inFeatures: number;
  outFeatures: number;
}

/** The module's kind: its last two name parts (self_attn.q_proj, mlp.down_proj), or the last when unique. */
export function kindOf(name: string): string {
  const parts = name.split('.');
  return parts.slice(-2).join('.');
}

/** The PEFT suffix of a kind: its last part (q_proj), unless that part is ambiguous (GPT-2's c_proj is in attn and mlp). */
export function suffixOfKind(kind: string, allKinds: string[]): string {
  const last = kind.split('.').pop()!;
  return allKinds.filter((k) => k.split('.').pop() === last).length > 1 ? kind : last;
}

export interface ModuleGroup {
  key: string;
  label: string;
  modules: ModuleRef[];
}

/** Groups modules by block (transformer.h.N) — the module tree of the Configure view. */
export function moduleTree(modules: ModuleRef[]): ModuleGroup[] {
  const groups = new Map<string, ModuleGroup>();
  for (const m of modules) {
    const match = m.name.match(/^(.*?\.(?:h|layer|layers|blocks)\.\d+)\./);
    const key = match ? match[1] : '(other)';
    const label = match ? `block ${key.split('.').pop()}` : 'other';
    if (!groups.has(key)) groups.set(key, { key, label, modules: [] });
    groups.get(key)!.modules.push(m);
  }
  return [...groups.values()];
}

export function kinds(modules: ModuleRef[]): string[] {
  return [...new Set(modules.map((m) => kindOf(m.name)))];
}

/**
 * The shortest PEFT target list for a selection: a kind's suffix when every module of that kind
 * is selected, otherwise the full module names.
 */
export function targetsFor(modules: ModuleRef[], selected: Set<string>): string[] {
  const all = kinds(modules);
  const out: string[] = [];
  for (const k of all) {
    const ofKind = modules.filter((m) => kindOf(m.name) === k);
    const sel = ofKind.filter((m) => selected.has(m.name));
    if (sel.length === 0) continue;
    if (sel.length === ofKind.length) out.push(suffixOfKind(k, all));
    else out.push(...sel.map((m) => m.name));
  }
  return out;
}

/** The modules a PEFT target list selects (names equal or ending in "." + entry). */
export function selectedBy(modules: ModuleRef[], targets: string[]): Set<string> {
  return new Set(modules.filter((m) => targets.some((t) => m.name === t || m.name.endsWith(`.${t}`))).map((m) => m.name));
}
