// Privileged commands on a host, through a Transport. Every command runs as
// `sudo -n timeout -k 5 N sh -c SCRIPT` with paths as arguments (without the
// sudo when the transport is root already); failures keep the command's own
// stderr so the operator sees what the host said.
import { CommandInterruptedError, CommandTimeoutError, PreflightError, RemoteCommandError } from './errors.js';
import { INTERRUPT_GRACE_S, PID_LINE, PidListener, STOP_SCRIPT, stopIfInterrupted, withoutPidLine } from './interrupt.js';
import { KILL_AFTER_S, privilegedCommand } from './shell.js';
import type { ExecOptions, ExecResult, Transport } from './transport/types.js';
import { VARIABLES } from './variables.js';

export interface Remote {
  host: string;
  transport: Transport;
  /** Seconds one command may run on the host (command_timeout); its default when unset. */
  commandTimeout?: number;
  /** The run's Ctrl-C: a command still running INTERRUPT_GRACE_S after it is stopped on the host. */
  interrupt?: AbortSignal;
}

export interface RunOptions extends Omit<ExecOptions, 'stdin'> {
  /** What the command does, for the error when it runs past its time ("reloading nginx"). */
  what?: string;
}

/**
 * How long converge waits, past the host's own stop (TERM at the limit, KILL
 * KILL_AFTER_S later), before it gives up on a command that still has not
 * ended: a process stuck in the kernel (a hung NFS mount) outlives even KILL.
 */
export const GIVE_UP_AFTER_KILL_S = 10;

const DEFAULT_LIMIT_S = VARIABLES.command_timeout.default as number;

/** Runs a script as root; resolves with the result whatever the exit code. */
export async function privilegedRun(r: Remote, script: string, args: string[] = [], stdin?: string | Buffer, more: RunOptions = {}): Promise<ExecResult> {
  const { what = describeScript(script), ...opts } = more;
  const limitS = r.commandTimeout ?? DEFAULT_LIMIT_S;
  const started = Date.now();
  // Interruptible: the script first tells its pid, for a stop (see lib/interrupt.ts).
  const pid = r.interrupt && !r.interrupt.aborted ? new PidListener() : null;
  let stopping: Promise<boolean> | null = null;
  const stopper = stopIfInterrupted(r.interrupt, () => {
    if (pid?.pid) stopping = stopCommand(r, pid.pid, what);
  });
  const sudo = !r.transport.asRoot;
  const command = privilegedCommand(pid ? `${PID_LINE}\n${script}` : script, args, limitS, sudo);
  const raw = await withGiveUp(r, what, limitS, r.transport.exec(command, { stdin, ...opts, onStderr: pid?.onStderr })).finally(stopper.dispose);
  const res = pid ? { ...raw, stderr: withoutPidLine(raw.stderr) } : raw;
  if (res.code !== 0 && stopping && (await stopping)) {
    throw new CommandInterruptedError(`${what} was still running ${INTERRUPT_GRACE_S}s after the run was interrupted (Ctrl-C or SIGTERM): the host stopped it`, {
      host: r.host,
      where: whereOf(r, args),
      detail: res.stderr || undefined,
      hint: 'what this run had changed is rolled back; find what held the command up before running again',
    });
  }
  // `timeout` exits 124 after its TERM, 137 after its KILL; the script itself
  // may exit 124 too (its own `timeout`), but not once the limit has passed.
  if ((res.code === 124 || res.code === 137) && Date.now() - started >= limitS * 1000) {
    throw new CommandTimeoutError(`${what} did not finish within ${limitS}s (command_timeout): the host stopped it`, {
      host: r.host,
      where: whereOf(r, args),
      detail: res.stderr || undefined,
      hint: 'something on the host blocks it (a hung mount, a DNS lookup in the nginx configuration, an ACME server that does not answer): find it, or raise command_timeout for this host if it is only slow',
    });
  }
  if (res.code !== 0 && (/^sudo: timeout: command not found/m.test(res.stderr) || (res.code === 127 && notFound('timeout', res.stderr)))) {
    throw new PreflightError('the host has no `timeout` command, which bounds every privileged command of converge', {
      host: r.host,
      where: r.transport.description,
      detail: res.stderr,
      hint: 'install GNU coreutils on the host (it provides `timeout`), then run again',
    });
  }
  if (sudo && res.code === 127 && notFound('sudo', res.stderr)) {
    throw new PreflightError('the host has no `sudo`, which converge needs to run its commands as root when the SSH user is not root', {
      host: r.host,
      where: r.transport.description,
      detail: res.stderr,
      hint: 'install sudo on the host and give the user passwordless sudo, or connect as root (ssh_user: root), which needs no sudo',
    });
  }
  if (sudo && res.code !== 0 && /^sudo: /m.test(res.stderr) && /password|not allowed|sudoers|terminal|command not found/i.test(res.stderr)) {
    throw new PreflightError('`sudo -n` does not work for the SSH user', {
      host: r.host,
      where: r.transport.description,
      detail: res.stderr,
      hint: 'give the user passwordless sudo (e.g. a line `USER ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/) or connect as a user who has it',
    });
  }
  return res;
}

/**
 * The command's result, unless it is still running `graceS` past its limit
 * (the host's KILL, then GIVE_UP_AFTER_KILL_S): then an error, and the command
 * is left to its transport (closing the connection ends its channel).
 */
export function withGiveUp(r: Remote, what: string, limitS: number, running: Promise<ExecResult>, graceS = KILL_AFTER_S + GIVE_UP_AFTER_KILL_S): Promise<ExecResult> {
  const giveUpS = limitS + graceS;
  let timer: NodeJS.Timeout | undefined;
  const givenUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new CommandTimeoutError(`${what} did not end ${giveUpS}s after it started, although the host was to stop it at ${limitS}s (command_timeout)`, {
          host: r.host,
          where: r.transport.description,
          hint: 'it may still be running on the host, stuck where even KILL cannot end it (a hung NFS mount, a failing disk): look with `ps` on the host before running converge again',
        }),
      );
    }, giveUpS * 1000);
  });
  // race() handles `running` too: its late rejection (the connection closed) is not left unhandled.
  return Promise.race([running, givenUp]).finally(() => clearTimeout(timer));
}

/**
 * The login shell's "no such command" for `name`, as bash ("bash: line 1:
 * sudo: command not found"), dash ("sh: 1: sudo: not found") and zsh
 * ("zsh:1: command not found: sudo") word it.
 */
export function notFound(name: string, stderr: string): boolean {
  return new RegExp(`(^|: )${name}: (command )?not found|command not found: ${name}$`, 'm').test(stderr);
}

/** Stops an interrupted command on its host; whether it was (false: it had ended, or the stop failed). */
async function stopCommand(r: Remote, pid: number, what: string): Promise<boolean> {
  const res = await privilegedRun(r, STOP_SCRIPT, [String(pid)], undefined, { what: `stopping ${what} (interrupted)` }).catch(() => null);
  return res?.code === 0;
}

/** A script's first line, as a name for it in an error when the caller gave none. */
function describeScript(script: string): string {
  const line = script.split('\n').find((l) => l.trim() !== '')?.trim() ?? script;
  return `the privileged command \`${line.length > 60 ? `${line.slice(0, 57)}...` : line}\``;
}

/** Runs a script as root and throws a RemoteCommandError unless it exits 0. */
export async function privilegedOk(r: Remote, what: string, script: string, args: string[] = [], stdin?: string | Buffer): Promise<Buffer> {
  const res = await privilegedRun(r, script, args, stdin, { what });
  if (res.code !== 0) throw commandFailed(r, what, args, res);
  return res.stdout;
}

/** The error for a privileged command that exited non-zero: the host's own words, and where. */
export function commandFailed(r: Remote, what: string, args: string[], res: ExecResult): RemoteCommandError {
  return new RemoteCommandError(`${what} failed (exit ${res.code})`, {
    host: r.host,
    where: whereOf(r, args),
    detail: res.stderr || res.stdout.toString('utf8'),
    hint: 'see the message above from the host; nothing later in the run was attempted',
  });
}

/** nginx's own complaint from `nginx -t` output: the [emerg]/[crit] lines. */
export function nginxErrorLines(output: string): string {
  const lines = output.split('\n').filter((l) => /\[(emerg|alert|crit|error)\]/.test(l));
  return (lines.length > 0 ? lines : output.split('\n').filter(Boolean)).join('\n');
}

/** Where a command's error points: the first path among its arguments, else the host. */
function whereOf(r: Remote, args: string[]): string {
  return args.find((a) => a.startsWith('/')) ?? r.transport.description;
}
