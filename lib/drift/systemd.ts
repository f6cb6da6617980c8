// The systemd units of the scheduled drift check, rendered for one checkout
// (templates/systemd/): absolute paths of node, zx and the repository, the
// user whose SSH key and known_hosts the check uses.
import { readTemplate, render } from '../templates.js';

export const SERVICE = 'converge-drift.service';
export const TIMER = 'converge-drift.timer';
/** StateDirectory=converge-drift. */
export const STATE_DIR = '/var/lib/converge-drift';

export interface UnitOptions {
  /** The checkout, absolute, without a trailing slash. */
  repo: string;
  node: string;
  /** zx's CLI script (node_modules/zx/build/cli.js). */
  zx: string;
  user: string;
  inventory: string;
  limit: string | null;
  textfile: string;
  envFile: string;
  remediate: boolean;
  /**
   * The check runs `sudo` on this machine (a selected host has connection:
   * local, and `user` is not root): NoNewPrivileges must stay off.
   */
  sudoHere: boolean;
}

/** Whether the drift check of these hosts, run as `user`, needs sudo on this machine. */
export function needsSudoHere(hosts: { vars: { connection: string } }[], user: string): boolean {
  return user !== 'root' && hosts.some((h) => h.vars.connection === 'local');
}

/**
 * One ExecStart argument: % is systemd's specifier character; anything but
 * plain path characters is double-quoted with \ and " escaped.
 */
export function execArg(arg: string): string {
  const s = arg.replace(/%/g, '%%');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A path in a unit setting that takes no quoting (no whitespace or control characters). */
function plainPath(what: string, p: string): string {
  if (!p.startsWith('/') || /[\s\x00-\x1f]/.test(p)) throw new Error(`${what} must be an absolute path without spaces, got ${JSON.stringify(p)}`);
  return p.replace(/%/g, '%%');
}

export function driftArgs(o: UnitOptions): string[] {
  return [
    `${o.repo}/tasks/drift.mjs`,
    '--inventory', o.inventory,
    ...(o.limit ? ['--limit', o.limit] : []),
    '--report', `${STATE_DIR}/last.json`,
    '--history', `${STATE_DIR}/history`,
    '--textfile', o.textfile,
    ...(o.remediate ? ['--remediate'] : []),
  ];
}

export function renderUnits(o: UnitOptions): { service: string; timer: string } {
  if (!/^[a-z_][a-z0-9_-]*\$?$/i.test(o.user)) throw new Error(`not a valid user name for User=: ${JSON.stringify(o.user)}`);
  const values = {
    REPO: plainPath('the repository', o.repo),
    USER: o.user,
    ENV_FILE: plainPath('--env-file', o.envFile),
    REPORT: `${STATE_DIR}/last.json`,
    EXEC_START: [o.node, o.zx, ...driftArgs(o)].map(execArg).join(' '),
  };
  return {
    service: render(readTemplate(`systemd/${SERVICE}`), values, { sudoHere: o.sudoHere, noSudoHere: !o.sudoHere }, `templates/systemd/${SERVICE}`),
    timer: render(readTemplate(`systemd/${TIMER}`), values, {}, `templates/systemd/${TIMER}`),
  };
}

/** The crontab line equivalent to the timer (for machines without systemd). */
export function cronLine(o: UnitOptions): string {
  const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`).replace(/%/g, '\\%');
  const env = q(o.envFile);
  return `*/15 * * * * cd ${q(o.repo)} && set -a && { [ ! -r ${env} ] || . ${env}; } && set +a && ${[o.node, o.zx, ...driftArgs(o)].map(q).join(' ')} >/dev/null 2>&1`;
}
