// --list-hosts: the selected hosts and their effective variables, each with
// where it came from, without connecting anywhere. Pure; secrets are redacted
// by the caller's list too.
import type { HostConfig } from './inventory.js';
import { redact } from './secrets.js';
import { runsAsRoot } from './transport/root.js';
import { STAGE_NAMES, type StageSelection } from './tags.js';
import { VAR_NAMES } from './variables.js';

export interface ListHostsContext {
  inventory: string;
  limit?: string;
  stages: StageSelection;
  /** IA_ENSO_OLLAMA_BEARER_TOKEN when set: only said to be set, never shown. */
  envToken?: string;
  env?: NodeJS.ProcessEnv;
}

/** How a host is reached, in one line. */
function reach(h: HostConfig): string {
  const v = h.vars;
  const how = v.connection === 'local' ? 'local (this machine, no SSH)' : `ssh ${v.ssh_user}@${v.ssh_host}:${v.ssh_port}${v.ssh_jump ? ` via ${v.ssh_jump}` : ''}`;
  return `${how}, ${runsAsRoot(v) ? 'as root, no sudo' : 'sudo -n'}`;
}

function passphraseState(h: HostConfig, env: NodeJS.ProcessEnv): string | null {
  const name = h.vars.ssh_key_passphrase_env;
  if (!name) return null;
  return env[name] ? `${name} is set (<redacted>)` : `${name} is NOT set`;
}

export function listHostsText(hosts: HostConfig[], ctx: ListHostsContext): string {
  const env = ctx.env ?? process.env;
  const stages = STAGE_NAMES.filter((s) => ctx.stages.selected.has(s));
  const out = [
    `${hosts.length} host(s) selected from ${ctx.inventory}${ctx.limit ? ` (--limit ${ctx.limit})` : ''}; nothing was contacted`,
    `stages: ${stages.join(', ')}${ctx.stages.how ? ` (${ctx.stages.how})` : ''}`,
    `bearer token: ${ctx.envToken ? 'from IA_ENSO_OLLAMA_BEARER_TOKEN (<redacted>)' : "the one deployed on each host, else a new one"}`,
  ];
  const width = Math.max(...VAR_NAMES.map((n) => n.length));
  for (const h of hosts) {
    out.push('', `${h.name}  [${reach(h)}]${h.groups.length > 0 ? `  groups: ${h.groups.join(', ')}` : ''}`);
    const shown = VAR_NAMES.map((n) => [n, h.vars[n] === null ? '-' : String(h.vars[n])] as const);
    // Where each value came from, in a column after the values (a long value pushes only its own).
    const valueWidth = Math.min(40, Math.max(...shown.map(([, v]) => v.length)));
    for (const [n, value] of shown) {
      const origin = h.origins?.[n];
      out.push(`  ${n.padEnd(width)}  ${origin ? `${value.padEnd(valueWidth)}  (${origin})` : value}`);
    }
    const pass = passphraseState(h, env);
    if (pass) out.push(`  ${'(passphrase)'.padEnd(width)}  ${pass}`);
  }
  return redact(out.join('\n'), ctx.envToken ? [ctx.envToken] : []) + '\n';
}

export function listHostsJson(hosts: HostConfig[], ctx: ListHostsContext): string {
  const env = ctx.env ?? process.env;
  const doc = {
    inventory: ctx.inventory,
    limit: ctx.limit ?? null,
    stages: STAGE_NAMES.filter((s) => ctx.stages.selected.has(s)),
    bearer_token: ctx.envToken ? 'IA_ENSO_OLLAMA_BEARER_TOKEN' : null,
    hosts: hosts.map((h) => ({
      host: h.name,
      groups: h.groups,
      reach: reach(h),
      vars: h.vars,
      ...(h.origins ? { origins: h.origins } : {}),
      ...(h.vars.ssh_key_passphrase_env ? { passphrase_set: Boolean(env[h.vars.ssh_key_passphrase_env]) } : {}),
    })),
  };
  return redact(JSON.stringify(doc, null, 2), ctx.envToken ? [ctx.envToken] : []) + '\n';
}
