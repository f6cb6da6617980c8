// Ansible's names for the connection variables, so that an existing Ansible
// inventory works as it is: `ansible_host: 10.0.0.5` means `ssh_host`. Each
// is the same variable under another name: a nearer level wins whichever name
// either level uses, and one level that sets both names is refused (which
// would win is a guess).
import { jumpFromSshArgs, SshArgsError } from './ansible-sshargs.js';
import type { VarName } from './variables.js';

const ALIASES: Record<string, VarName> = {
  ansible_host: 'ssh_host',
  ansible_ssh_host: 'ssh_host',
  ansible_port: 'ssh_port',
  ansible_ssh_port: 'ssh_port',
  ansible_user: 'ssh_user',
  ansible_ssh_user: 'ssh_user',
  ansible_ssh_private_key_file: 'ssh_key',
  ansible_private_key_file: 'ssh_key',
  ansible_connection: 'connection',
};

/** Ansible's connection plugins that reach the host over SSH (`smart` is its default, which picks ssh). */
const SSH_CONNECTIONS = ['ssh', 'smart', 'paramiko'];

/**
 * Variables that matter to Ansible only and are accepted and ignored:
 * converge always runs its commands as root (sudo -n, or none for root),
 * and runs no Python on the host.
 */
const IGNORED = ['ansible_python_interpreter', 'ansible_become', 'ansible_become_method', 'ansible_become_user'];

/** Passwords: converge logs in with a key or the agent, and needs passwordless sudo. */
const PASSWORDS = ['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password', 'ansible_become_password', 'ansible_become_pass', 'ansible_sudo_pass'];

/** ssh options on Ansible's command line: their ProxyJump is ssh_jump (see ansible-sshargs.ts). */
const SSH_ARGS = ['ansible_ssh_common_args', 'ansible_ssh_extra_args'];

export const ANSIBLE_NAMES = [...Object.keys(ALIASES), ...SSH_ARGS, ...IGNORED];

export class NameClash extends Error {}

/** A variable as written: its canonical name, and the name used when it was an Ansible one. */
export interface Spelled {
  vars: Record<string, unknown>;
  /** Canonical name -> the Ansible name it was written as. */
  written: Partial<Record<VarName, string>>;
}

/**
 * One level's variables under converge's names. Throws NameClash when the
 * level sets a variable under both names, or an Ansible value converge cannot
 * honour (a connection other than ssh or local, becoming another user).
 */
export function canonicalNames(raw: Record<string, unknown>): Spelled {
  const vars: Record<string, unknown> = {};
  const written: Partial<Record<VarName, string>> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (PASSWORDS.includes(name)) {
      throw new NameClash(`${name}: converge never uses a password, for SSH or for sudo: log in with a key (ssh_key) or ssh-agent, give the user passwordless sudo, and take the password out of the inventory`);
    }
    if (SSH_ARGS.includes(name)) {
      const jump = jumpOf(name, value);
      if (jump === undefined) continue;
      if ('ssh_jump' in vars) throw new NameClash(`${name} and ${written.ssh_jump ?? 'ssh_jump'} both give the bastion: keep one`);
      vars.ssh_jump = jump;
      written.ssh_jump = name;
      continue;
    }
    if (IGNORED.includes(name)) {
      checkIgnored(name, value);
      continue;
    }
    const canonical = ALIASES[name];
    if (!canonical) {
      if (name in vars) throw new NameClash(`${name} and ${written[name as VarName]} ${name === 'ssh_jump' ? 'both give the bastion' : 'are the same variable'}: keep one`);
      vars[name] = value;
      continue;
    }
    if (canonical in vars) throw new NameClash(`${name} and ${written[canonical] ?? canonical} are the same variable: keep one`);
    vars[canonical] = canonical === 'connection' ? connectionOf(value) : value;
    written[canonical] = name;
  }
  return { vars, written };
}

function jumpOf(name: string, value: unknown): string | null | undefined {
  try {
    return jumpFromSshArgs(name, value);
  } catch (err) {
    if (err instanceof SshArgsError) throw new NameClash(`${err.message}; write the bastion as ssh_jump, and other ssh settings with converge's ssh_* variables`);
    throw err;
  }
}

function connectionOf(value: unknown): unknown {
  if (typeof value !== 'string' || value === 'local') return value;
  if (SSH_CONNECTIONS.includes(value)) return 'ssh';
  throw new NameClash(`ansible_connection ${value} is not one converge has: it connects over ssh (ssh, smart, paramiko) or runs local`);
}

function checkIgnored(name: string, value: unknown): void {
  // Commands run as root, through sudo -n: another user or method would not be what the inventory asks.
  if (name === 'ansible_become_user' && value !== 'root' && value != null && value !== '') {
    throw new NameClash(`ansible_become_user ${String(value)}: converge runs its commands as root only`);
  }
  if (name === 'ansible_become_method' && value !== 'sudo' && value != null && value !== '') {
    throw new NameClash(`ansible_become_method ${String(value)}: converge becomes root with sudo -n only (or none, as root)`);
  }
}
