// The inventory's groups as Ansible builds them. A group is one node however
// many times it is listed: listed under several parents, its hosts are in
// each of them. Its depth is its longest path from `all`. A host's variables
// are merged as Ansible merges them: `all`, then its groups (with their
// ancestors) by depth, `ansible_group_priority` and name, the last one
// winning, then the host's own. A host's key may stand for several hosts
// (`proxy-[01:20]`) and carry its port (`name:port`): see hostpattern.ts.
import { InputError } from './errors.js';
import { expandHostKey, HostPatternError, type HostKey } from './hostpattern.js';

export type RawVars = Record<string, unknown>;
export interface RawGroup {
  vars?: RawVars;
  hosts?: Record<string, RawVars | null>;
  children?: Record<string, RawGroup | null>;
}

/** One level of a host's variables, and what to call it (`group eu`) when saying where a value came from. */
export interface Layer {
  from: string;
  vars: RawVars;
}

/** A host as the inventory lists it: its groups, and its variables' levels in the order they apply. */
export interface Collected {
  /** Every group it is in (ancestors included, `all` left out), outermost first. */
  groups: string[];
  /** `all.vars`, then each group's, then the host's own: later ones win. */
  layers: Layer[];
}

interface Group {
  name: string;
  vars: RawVars;
  children: Set<string>;
  /** Ansible's ansible_group_priority (default 1): among groups of one depth, a higher one wins. */
  priority: number;
  seen: number;
}

const PRIORITY = 'ansible_group_priority';

export function collectHosts(all: RawGroup, file: string): Map<string, Collected> {
  const groups = new Map<string, Group>();
  // Each host's groups, own variables, and the port its key gave (`name:port`).
  const direct = new Map<string, { groups: Set<string>; own: RawVars; port: RawVars }>();
  // The groups being visited: a YAML alias can make a group its own descendant (`x: *all`).
  const path = new Set<RawGroup>();
  const visit = (raw: RawGroup, name: string) => {
    checkShape(raw, name, file);
    if (path.has(raw)) {
      throw new InputError(`group "${name}" contains itself through a YAML alias`, { where: file, hint: 'an alias (*name) may repeat a group elsewhere, not inside the group it names' });
    }
    const g = groups.get(name) ?? { name, vars: {}, children: new Set<string>(), priority: 1, seen: groups.size };
    groups.set(name, g);
    // A group listed twice: its variables merge, the later listing winning (as Ansible).
    const { [PRIORITY]: priority, ...vars } = raw.vars ?? {};
    if (priority !== undefined) g.priority = priorityOf(priority, name, file);
    Object.assign(g.vars, vars);
    for (const [key, own] of Object.entries(raw.hosts ?? {})) {
      if (own !== null && (typeof own !== 'object' || Array.isArray(own))) {
        throw new InputError(`host "${key}" must map to its variables (or nothing)`, { where: file });
      }
      const { names, port } = hostKey(key, file);
      for (const host of names) {
        const h = direct.get(host) ?? { groups: new Set<string>(), own: {}, port: {} };
        direct.set(host, h);
        h.groups.add(name);
        if (port !== null) h.port = { ssh_port: port };
        Object.assign(h.own, own ?? {});
      }
    }
    path.add(raw);
    for (const [child, sub] of Object.entries(raw.children ?? {})) {
      if (child === 'all') throw new InputError(`group "${name}" lists \`all\` as a child`, { where: file, hint: 'all is the root of the inventory: it holds every group' });
      g.children.add(child);
      visit(sub ?? {}, child);
    }
    path.delete(raw);
  };
  visit(all, 'all');
  const depth = depths(groups, file);
  const parents = new Map<string, string[]>();
  for (const g of groups.values()) for (const c of g.children) parents.set(c, [...(parents.get(c) ?? []), g.name]);
  const ancestors = (name: string, into = new Set<string>()): Set<string> => {
    if (!into.has(name)) {
      into.add(name);
      for (const p of parents.get(name) ?? []) ancestors(p, into);
    }
    return into;
  };
  const byDepth = (a: Group, b: Group) => depth.get(a.name)! - depth.get(b.name)!;
  const out = new Map<string, Collected>();
  for (const [host, { groups: mine, own, port }] of direct) {
    const all = new Set<string>();
    for (const g of mine) ancestors(g, all);
    all.delete('all');
    const member = [...all].map((n) => groups.get(n)!);
    const merged = [...member].sort((a, b) => byDepth(a, b) || a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out.set(host, {
      groups: [...member].sort((a, b) => byDepth(a, b) || a.seen - b.seen).map((g) => g.name),
      // The key's port under the host's own variables, as Ansible sets it before them.
      layers: [{ from: 'all.vars', vars: groups.get('all')!.vars }, ...merged.map((g) => ({ from: `group ${g.name}`, vars: g.vars })), { from: 'the host\'s key', vars: port }, { from: 'the host', vars: own }],
    });
  }
  return out;
}

/** Each group's longest path from `all`; a group that is its own ancestor is refused (Ansible refuses it too). */
function depths(groups: Map<string, Group>, file: string): Map<string, number> {
  const depth = new Map<string, number>();
  const walk = (name: string, d: number, path: string[]) => {
    if (path.includes(name)) {
      throw new InputError(`group "${name}" is its own ancestor: ${[...path.slice(path.indexOf(name)), name].join(' > ')}`, { where: file, hint: 'remove one of these children: groups cannot contain themselves' });
    }
    if ((depth.get(name) ?? -1) >= d && path.length > 0) return;
    depth.set(name, Math.max(depth.get(name) ?? 0, d));
    for (const c of groups.get(name)!.children) walk(c, d + 1, [...path, name]);
  };
  walk('all', 0, []);
  return depth;
}

function hostKey(key: string, file: string): HostKey {
  try {
    return expandHostKey(key);
  } catch (err) {
    if (!(err instanceof HostPatternError)) throw err;
    throw new InputError(err.message, { where: file, hint: 'a host key is a name, name:port, or a pattern such as proxy-[01:20] (zero-padded) or proxy-[a:f]' });
  }
}

function priorityOf(value: unknown, group: string, file: string): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n === 'number' && Number.isInteger(n)) return n;
  throw new InputError(`${PRIORITY} of group "${group}" must be an integer, got ${JSON.stringify(value)}`, { where: file, hint: 'among groups at the same depth, the one with the higher priority wins (default 1)' });
}

function checkShape(group: RawGroup, name: string, file: string): void {
  if (typeof group !== 'object' || Array.isArray(group)) {
    throw new InputError(`group "${name}" must be a mapping with vars, hosts and children`, { where: file });
  }
  const extra = Object.keys(group).filter((k) => !['vars', 'hosts', 'children'].includes(k));
  if (extra.length > 0) {
    throw new InputError(`group "${name}" has unknown key(s): ${extra.join(', ')}`, {
      where: file,
      hint: 'a group holds only `vars`, `hosts` and `children`',
    });
  }
  // A YAML list where a mapping belongs (`- proxy-1`) would otherwise name hosts "0", "1"...
  for (const key of ['vars', 'hosts', 'children'] as const) {
    const v = group[key];
    if (v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v))) continue;
    const what = { vars: 'variable names', hosts: 'host names', children: 'group names' }[key];
    const eg = key === 'hosts' ? 'proxy-1' : 'eu';
    throw new InputError(`${key} of group "${name}" must be a mapping of ${what}, got ${Array.isArray(v) ? 'a list' : JSON.stringify(v)}`, {
      where: file,
      hint: key === 'vars' ? 'write `name: value` lines under vars' : `write one \`name:\` per line (e.g. \`${eg}:\`), not a list (\`- ${eg}\`)`,
    });
  }
}
