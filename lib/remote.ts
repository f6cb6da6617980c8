// Privileged commands on a host, through a Transport. Every command runs as
// `sudo -n sh -c SCRIPT` with paths as arguments; failures keep the command's
// own stderr so the operator sees what the host said.
import { PreflightError, RemoteCommandError } from './errors.js';
import { sudoScript } from './shell.js';
import type { ExecOptions, ExecResult, Transport } from './transport/types.js';

export interface Remote {
  host: string;
  transport: Transport;
}

/** Runs a script as root; resolves with the result whatever the exit code. */
export async function sudoRun(r: Remote, script: string, args: string[] = [], stdin?: string | Buffer, more: Omit<ExecOptions, 'stdin'> = {}): Promise<ExecResult> {
  const res = await r.transport.exec(sudoScript(script, args), { stdin, ...more });
  if (res.code !== 0 && /^sudo: /m.test(res.stderr) && /password|not allowed|sudoers|terminal|command not found/i.test(res.stderr)) {
    throw new PreflightError('`sudo -n` does not work for the SSH user', {
      host: r.host,
      where: r.transport.description,
      detail: res.stderr,
      hint: 'give the user passwordless sudo (e.g. a line `USER ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/) or connect as a user who has it',
    });
  }
  return res;
}

/** Runs a script as root and throws a RemoteCommandError unless it exits 0. */
export async function sudoOk(r: Remote, what: string, script: string, args: string[] = [], stdin?: string | Buffer): Promise<Buffer> {
  const res = await sudoRun(r, script, args, stdin);
  if (res.code !== 0) throw commandFailed(r, what, args, res);
  return res.stdout;
}

/** The error for a privileged command that exited non-zero: the host's own words, and where. */
export function commandFailed(r: Remote, what: string, args: string[], res: ExecResult): RemoteCommandError {
  return new RemoteCommandError(`${what} failed (exit ${res.code})`, {
    host: r.host,
    where: args.find((a) => a.startsWith('/')) ?? r.transport.description,
    detail: res.stderr || res.stdout.toString('utf8'),
    hint: 'see the message above from the host; nothing later in the run was attempted',
  });
}

/** nginx's own complaint from `nginx -t` output: the [emerg]/[crit] lines. */
export function nginxErrorLines(output: string): string {
  const lines = output.split('\n').filter((l) => /\[(emerg|alert|crit|error)\]/.test(l));
  return (lines.length > 0 ? lines : output.split('\n').filter(Boolean)).join('\n');
}
