// YAML inventory (Ansible's shape) -> one HostConfig per host.
// Precedence: environment overrides > host > its groups, the deepest first
// (lib/groups.ts) > all.vars > defaults.
import { readFileSync } from 'node:fs';
import { parseDocument, YAMLError } from 'yaml';
import { ANSIBLE_NAMES, canonicalNames, NameClash, type Spelled } from './ansible-names.js';
import { closest } from './closest.js';
import { InputError } from './errors.js';
import { collectHosts, type Collected, type RawGroup, type RawVars } from './groups.js';
import { coerce, defaultFor, HostVars, parseJump, valueProblem, VAR_NAMES, VarName } from './variables.js';

export interface HostConfig {
  name: string;
  /** Groups the host belongs to, outermost first. */
  groups: string[];
  vars: HostVars;
  /** Where each value came from: `group eu`, `the host`, `default`, `environment IA_ENSO_PROXY_HOST`... (--list-hosts). */
  origins?: Record<VarName, string>;
}

export function loadInventory(file: string, env: NodeJS.ProcessEnv = process.env): HostConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read the inventory: ${(err as Error).message}`, {
      where: file,
      hint: 'pass an existing inventory with -i FILE (see inventory/lab.yml for an example)',
    });
  }
  return parseInventory(text, file, env);
}

export function parseInventory(text: string, file: string, env: NodeJS.ProcessEnv = {}): HostConfig[] {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e: YAMLError = doc.errors[0];
    const line = e.linePos?.[0];
    throw new InputError(`the inventory is not valid YAML${line ? ` (line ${line.line}, column ${line.col})` : ''}`, {
      where: file,
      detail: e.message,
      hint: 'fix the YAML syntax at that line',
    });
  }
  const root = doc.toJS() as { all?: RawGroup } | null;
  if (!root || typeof root !== 'object' || !root.all || typeof root.all !== 'object') {
    throw new InputError('the inventory has no top-level `all:` group', {
      where: file,
      hint: 'start the file with `all:` holding `vars`, `hosts` and/or `children` (see inventory/lab.yml)',
    });
  }
  const found = collectHosts(root.all, file);
  if (found.size === 0) {
    throw new InputError('the inventory defines no host', { where: file, hint: 'add hosts under all.hosts or a group' });
  }
  return [...found].map(([name, c]) => resolveHost(name, c, file, env));
}

const ENV_OVERRIDES: [string, VarName][] = [
  ['IA_ENSO_SSH_KEY', 'ssh_key'],
  ['IA_ENSO_PROXY_USER', 'ssh_user'],
  ['IA_ENSO_PROXY_HOST', 'ssh_host'],
  ['IA_ENSO_BACKEND_IP', 'backend_ip'],
];

/** The original script's environment variables override the inventory for every host; `from` names the variable behind each. */
function envLayer(env: NodeJS.ProcessEnv, merged: RawVars): { vars: RawVars; from: Partial<Record<VarName, string>> } {
  const out: RawVars = {};
  const from: Partial<Record<VarName, string>> = {};
  for (const [key, name] of ENV_OVERRIDES) {
    if (env[key]) [out[name], from[name]] = [env[key], key];
  }
  const jumpHost = env.DEPLOY_SSH_PROXY_HOST;
  const jumpUser = env.DEPLOY_SSH_PROXY_USER;
  if (jumpHost !== undefined) {
    // Set but empty means "connect directly", as in the original script.
    const user = jumpUser || (out.ssh_user as string | undefined) || (merged.ssh_user as string | undefined);
    out.ssh_jump = jumpHost === '' ? null : `${user ? `${user}@` : ''}${jumpHost}`;
    from.ssh_jump = 'DEPLOY_SSH_PROXY_HOST';
  } else if (jumpUser && typeof merged.ssh_jump === 'string') {
    const j = parseJump(merged.ssh_jump);
    if (j) [out.ssh_jump, from.ssh_jump] = [`${jumpUser}@${j.host.includes(':') ? `[${j.host}]` : j.host}:${j.port}`, 'DEPLOY_SSH_PROXY_USER'];
  }
  return { vars: out, from };
}

function resolveHost(name: string, c: Collected, file: string, env: NodeJS.ProcessEnv): HostConfig {
  const layers = c.layers.map((layer) => ({ from: layer.from, ...canonical(layer.vars, name, file) }));
  const merged: RawVars = Object.assign({}, ...layers.map((l) => l.vars));
  // How the level that set each variable wrote it, for the errors, and which level that was.
  const written: Partial<Record<VarName, string>> = {};
  const origins = {} as Record<VarName, string>;
  for (const l of layers) {
    for (const k of Object.keys(l.vars) as VarName[]) {
      written[k] = l.written[k] ?? k;
      origins[k] = l.written[k] ? `${l.from}, as ${l.written[k]}` : l.from;
    }
  }
  const unknown = Object.keys(merged).filter((k) => !(VAR_NAMES as string[]).includes(k));
  if (unknown.length > 0) {
    const names = [...VAR_NAMES, ...ANSIBLE_NAMES];
    const guess = unknown.map((u) => `${u}${closest(u, names) ? ` (did you mean ${closest(u, names)}?)` : ''}`);
    const ansible = unknown.some((u) => u.startsWith('ansible_'));
    throw new InputError(`unknown variable(s) for host "${name}": ${guess.join(', ')}`, {
      host: name,
      where: file,
      hint: ansible ? `of Ansible's variables converge reads ${ANSIBLE_NAMES.join(', ')}; see the README for the others` : 'see the README for the list of variables',
    });
  }
  const overrides = envLayer(env, merged);
  for (const [k, from] of Object.entries(overrides.from) as [VarName, string][]) {
    delete written[k];
    origins[k] = `environment ${from}`;
  }
  Object.assign(merged, overrides.vars);
  const vars = {} as Record<VarName, unknown>;
  for (const v of VAR_NAMES) {
    // An empty value means "not set", as an unset environment variable would.
    const unset = merged[v] === undefined || merged[v] === null || merged[v] === '';
    if (unset) origins[v] = origins[v] ? `default (unset by ${origins[v]})` : 'default';
    const raw = unset ? defaultFor(v, name) : merged[v];
    const problem = valueProblem(v, raw);
    if (problem) {
      const as = written[v] && written[v] !== v ? ` (${written[v]} in the inventory)` : '';
      throw new InputError(`variable ${v}${as} ${problem}`, { host: name, where: file, hint: `set ${v} for this host or one of its groups` });
    }
    vars[v] = coerce(v, raw);
  }
  return { name, groups: c.groups, vars: vars as unknown as HostVars, origins };
}

/** A level's variables under converge's names (see ansible-names.ts), or the host's InputError. */
function canonical(layer: RawVars, host: string, file: string): Spelled {
  try {
    return canonicalNames(layer);
  } catch (err) {
    if (!(err instanceof NameClash)) throw err;
    throw new InputError(`host "${host}": ${err.message}`, { host, where: file, hint: 'the README lists the Ansible variables converge reads, and what it does with them' });
  }
}
