// Ctrl-C while a privileged command runs on a host. The run stops at its next
// step and rolls back; a command that is still running INTERRUPT_GRACE_S
// later (a reload stuck on a DNS lookup, a certbot waiting on its ACME server)
// would hold that up to command_timeout, so it is stopped on its host the way
// command_timeout stops it: TERM to its `timeout`, which passes it to the
// command's process group, and KILL a few seconds later.
//
// The command's `timeout` is the parent of its `sh`: the script first says
// that pid on stderr (PID_LINE), read here as it comes and cut from the
// result. Stopping it is one more privileged command on the same connection.

/** Seconds a command in flight at Ctrl-C has to end on its own. Writes and reloads take far less. */
export const INTERRUPT_GRACE_S = 5;

const PID_PREFIX = 'converge-command-pid ';

/** The script's first line when its pid is wanted: its `timeout`'s pid, on stderr. */
export const PID_LINE = `printf '${PID_PREFIX}%s\\n' "$PPID" >&2`;

/**
 * Stops `$1` only if it still is a command's `timeout` (its pid could have
 * been reused in the instant since the command ended): TERM, which `timeout`
 * passes on, then its own KILL after its -k delay.
 */
export const STOP_SCRIPT = `case $(tr '\\0' ' ' < "/proc/$1/cmdline" 2>/dev/null) in 'timeout -k '*) kill -TERM "$1" ;; *) exit 3 ;; esac`;

/** How far into a command's stderr its pid line is looked for: sudo may warn first ("unable to resolve host"). */
const PID_LINE_WITHIN = 4096;
const PID_RE = new RegExp(`^${PID_PREFIX}(\\d+)\n`, 'm');

/** Reads the pid line near the start of a command's stderr as it comes. */
export class PidListener {
  private head = '';
  /** The pid, once read; null while not (or never: sudo refused before the script ran). */
  pid: number | null = null;

  readonly onStderr = (chunk: Buffer): void => {
    if (this.pid !== null || this.head.length >= PID_LINE_WITHIN) return;
    this.head += chunk.toString('latin1');
    const m = PID_RE.exec(this.head.slice(0, PID_LINE_WITHIN));
    if (m) this.pid = Number(m[1]);
  };
}

/** The command's stderr without its pid line. */
export function withoutPidLine(stderr: string): string {
  const m = PID_RE.exec(stderr.slice(0, PID_LINE_WITHIN));
  return m ? stderr.slice(0, m.index) + stderr.slice(m.index + m[0].length) : stderr;
}

/**
 * Calls `stop` if `signal` aborts while the command runs and it is still
 * running INTERRUPT_GRACE_S later. Nothing to do when the run was already
 * interrupted as the command started: that is the rollback's own work.
 */
export function stopIfInterrupted(signal: AbortSignal | undefined, stop: () => void, graceS = INTERRUPT_GRACE_S): { dispose: () => void } {
  if (!signal || signal.aborted) return { dispose: () => undefined };
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    timer = setTimeout(stop, graceS * 1000);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    dispose: () => {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(timer);
    },
  };
}
