// POSIX shell quoting for the arguments of remote commands. Only paths and
// names go on a command line; content (and so the token) goes on stdin.
export function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** How long a command stopped by `timeout` gets between its TERM and a KILL. */
export const KILL_AFTER_S = 5;

/**
 * Where privileged scripts also look for commands, after the PATH they get:
 * sudo's secure_path has the sbin directories (nginx is /usr/sbin/nginx on
 * Debian), but a root login's PATH or a root cron job's may not, nor sudo
 * without secure_path. Appended, as Ansible's get_bin_path does, so that a
 * command the PATH finds is the one used.
 */
export const SBIN_DIRS = '/usr/local/sbin:/usr/sbin:/sbin';

/**
 * `[sudo -n] [timeout -k 5 N] sh -c SCRIPT converge ARG...`: the script reads
 * its arguments as "$@". No sudo when the commands already run as root
 * (`sudo` false). With a limit, the host itself stops the command after N
 * seconds: `timeout` signals its whole process group (TERM, then KILL), so
 * what the script waits on (a `sleep`, an nginx stuck on a DNS lookup) goes
 * too, and the script's EXIT trap runs. No `-v`: its notice, written to a
 * client that may be gone, could kill `timeout` before it signals anything.
 */
export function privilegedCommand(script: string, args: string[] = [], limitS?: number, sudo = true): string {
  const limit = limitS === undefined ? [] : ['timeout', '-k', String(KILL_AFTER_S), String(limitS)];
  const withPath = `PATH=\${PATH:-/usr/bin:/bin}:${SBIN_DIRS}\n${script}`;
  return [...(sudo ? ['sudo', '-n'] : []), ...limit, 'sh', '-c', quote(withPath), 'converge', ...args.map(quote)].join(' ');
}

/**
 * Turns the signals that end a remote script early into plain exits, so its
 * EXIT trap (the cleanup of a temp file, maybe holding the token) still runs:
 * sh skips that trap when a signal kills it. SIGPIPE is the one a lost
 * connection brings, at the script's next message to the client that is gone.
 */
export const EXIT_ON_SIGNALS = `trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM`;
