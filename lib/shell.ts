// POSIX shell quoting for the arguments of remote commands. Only paths and
// names go on a command line; content (and so the token) goes on stdin.
export function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `sudo -n sh -c SCRIPT converge ARG...`: the script reads its arguments as "$@". */
export function sudoScript(script: string, args: string[] = []): string {
  return ['sudo', '-n', 'sh', '-c', quote(script), 'converge', ...args.map(quote)].join(' ');
}
