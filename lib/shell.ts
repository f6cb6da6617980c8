// POSIX shell quoting for the arguments of remote commands. Only paths and
// names go on a command line; content (and so the token) goes on stdin.
export function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `sudo -n sh -c SCRIPT converge ARG...`: the script reads its arguments as "$@". */
export function sudoScript(script: string, args: string[] = []): string {
  return ['sudo', '-n', 'sh', '-c', quote(script), 'converge', ...args.map(quote)].join(' ');
}

/**
 * Turns the signals that end a remote script early into plain exits, so its
 * EXIT trap (the cleanup of a temp file, maybe holding the token) still runs:
 * sh skips that trap when a signal kills it. SIGPIPE is the one a lost
 * connection brings, at the script's next message to the client that is gone.
 */
export const EXIT_ON_SIGNALS = `trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM`;
