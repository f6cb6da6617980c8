// One converge at a time per host. The lock is a directory (rename is atomic)
// holding who took it. Its owner is the SSH session (or local process) of
// the run: when that is gone, the lock is stale and the next run takes it
// over, and says so.
import { hostname, userInfo } from 'node:os';
import { stampTime } from './apply.js';
import { ConvergeError } from './errors.js';
import { PRUNE_RUNS } from './backups.js';
import { privilegedOk, privilegedRun, type Remote } from './remote.js';
import { EXIT_ON_SIGNALS } from './shell.js';
import type { ExecResult } from './transport/types.js';

export const LOCK_PATH = '/run/lock/converge.lock';

export class LockError extends ConvergeError {}

// The owner of this shell's run: the nearest sshd (this connection's session:
// `sshd` up to OpenSSH 9.7, `sshd-session` since 9.8, whose listener is still
// `sshd`) or node (a local run) above it, as "pid starttime". It lives exactly
// as long as the run's connection. /proc/PID/stat is read after the ") " that
// ends the command name, which may hold spaces.
const OWNER = `
field() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f"$(($2 - 2))"; }
pid=$$
while [ "$pid" -gt 1 ]; do
  comm=$(cat /proc/$pid/comm 2>/dev/null) || break
  case "$comm" in sshd|sshd-session|node) break ;; esac
  pid=$(field "$pid" 4)
done
owner="$pid $(field "$pid" 22)"
`;

// $1 lock dir, $2 holder line. Prints "acquired <now>", "takeover <now> <old
// holder>" or "held <holder>" (exit 3); <now> is the host's clock once the
// lock is taken, or "-" (see hostClockOf). A new lock is built aside and
// renamed into place, so it is never seen without its holder (a run that read
// an empty holder would take it for stale). A stale lock is taken over by one
// contender at a time, under $1.takeover, by renaming a new holder file over
// the old one: the lock itself never disappears, so no other run can claim it
// in between and miss that the previous run died.
const ACQUIRE = `${OWNER}
lock=$1 who=$2
new="$lock.new.$$"
trap 'rm -rf -- "$new"' EXIT
${EXIT_ON_SIGNALS}
mkdir -p -- "\${lock%/*}"
rm -rf -- "$new"
mkdir -m 0700 -- "$new" && printf '%s\\n%s\\n' "$owner" "$who" > "$new/holder" || exit 4
# rename(2) fails on an existing lock (never empty): only one claim wins.
claim() { mv -T -- "$new" "$lock" 2>/dev/null; }
holder() { sed -n 2p "$lock/holder" 2>/dev/null; }
host_now() { now=$(date -u +%Y%m%dT%H%M%S.%3NZ 2>/dev/null | tr -d ' '); printf '%s' "\${now:--}"; }
if claim; then echo "acquired $(host_now)"; exit 0; fi
old=$(cat "$lock/holder" 2>/dev/null)
set -- $old
# Alive: the same process (pid and start time), and not a zombie — a session
# whose monitor died is reparented, and an init that does not reap (as in
# some containers) would otherwise keep the lock for ever.
if [ -n "\${1:-}" ] && [ "$(field "$1" 22)" = "\${2:-}" ] && [ "$(field "$1" 3)" != Z ]; then
  echo "held $(holder)"; exit 3
fi
# A takeover that died half-way (never more than a moment) would block every later one.
find "$lock.takeover" -maxdepth 0 -mmin +1 -exec rmdir -- {} + 2>/dev/null || true
if mkdir -- "$lock.takeover" 2>/dev/null; then
  if [ -d "$lock" ] && [ "$(cat "$lock/holder" 2>/dev/null)" = "$old" ] &&
    cp -- "$new/holder" "$lock/.holder.$$" && mv -f -- "$lock/.holder.$$" "$lock/holder"; then
    rmdir -- "$lock.takeover"; echo "takeover $(host_now) $(printf '%s' "$old" | sed -n 2p)"; exit 0
  fi
  rm -f -- "$lock/.holder.$$"
  # The holder read above released the lock and ended since: a normal
  # hand-over, not a dead run (whose files would need a reload).
  if claim; then rmdir -- "$lock.takeover"; echo "acquired $(host_now)"; exit 0; fi
  rmdir -- "$lock.takeover"
fi
echo "held $(holder)"; exit 3
`;

// $1 lock dir, $2 a backup directory to prune first ('' = none) to its newest
// $3 runs. Removes the lock only when this run's session owns it: a lock taken
// over meanwhile (ours judged stale, or removed by hand and taken again)
// belongs to another run. Exit 5 when it is someone else's.
const RELEASE = `${OWNER}
lock=$1 backups=$2 keep=$3
[ -e "$lock" ] || exit 0
set -- $(sed -n 1p "$lock/holder" 2>/dev/null)
if [ "\${1:-} \${2:-}" = "$owner" ]; then
  if [ -n "$backups" ] && cd -- "$backups" 2>/dev/null; then ${PRUNE_RUNS}; cd /; fi
  mv -T -- "$lock" "$lock.released.$$" && rm -rf -- "$lock.released.$$"
  exit 0
fi
echo "it is held by another run now ($(sed -n 2p "$lock/holder" 2>/dev/null)): left in place" >&2
exit 5
`;

/** The file in the lock that says who holds it: "pid starttime" of its owner, then holderLine(). */
export const LOCK_HOLDER = `${LOCK_PATH}/holder`;

/** What a check run says of a lock it finds (it cannot tell a live run from a dead one: only taking the lock does). */
export function lockNote(holder: Buffer | undefined): string {
  const who = holder?.toString('utf8').split('\n')[1]?.trim() || 'no holder recorded';
  return `${LOCK_PATH} is held: ${who}. A run is at work, or one died before it finished (nginx may not serve what it wrote): an apply run waits for it (--lock-timeout) or, if that run is gone, takes it over and reloads nginx`;
}

export function holderLine(command: string): string {
  return `converge on ${hostname()} (pid ${process.pid}, user ${userInfo().username}, since ${new Date().toISOString()}, command: ${command})`;
}

// A waiting run asks again after 100 ms, then twice as long each time up to
// 1 s: a short run hands over quickly, a long one costs a round trip a second.
const FIRST_POLL_MS = 100;
const MAX_POLL_MS = 1000;
const pause = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/** A privileged script to run as soon as the lock is taken, in the same command: one round trip less. */
export interface UnderLock {
  script: string;
  args: string[];
}

/**
 * Takes the host's lock, waiting up to timeoutS seconds for another run to
 * finish (the last try at the deadline). Returns a note when a stale lock
 * was taken over.
 */
export async function acquireLock(r: Remote, command: string, timeoutS: number, path = LOCK_PATH, sleep = pause): Promise<string | null> {
  return (await lockAndRun(r, command, timeoutS, null, path, sleep)).note;
}

/** What taking the lock tells: a note when a stale lock was taken over, and the host's clock when it was taken. */
export interface Taken {
  note: string | null;
  /** Null when the host's `date` cannot print milliseconds (not GNU coreutils): the run is then named from this machine's clock. */
  hostClock: Date | null;
}

/**
 * The host's clock in ACQUIRE's line (`date -u +%Y%m%dT%H%M%S.%3NZ`). Run
 * names come from it (see runStamp): runs on a host are taken in turn under
 * its lock, so its one clock orders them whatever the operators' clocks say.
 */
export function hostClockOf(word: string): Date | null {
  // The whole word, to the millisecond, as the lock's `date` prints it.
  const iso = /^\d{8}T\d{6}\.\d{3}Z$/.test(word) ? stampTime(word) : null;
  if (!iso) return null;
  const date = new Date(iso);
  // Date rolls an impossible day over (Feb 30 -> Mar 2): only a time that reads back the same is one.
  return !Number.isNaN(date.getTime()) && date.toISOString() === iso ? date : null;
}

/** "acquired <now>" or "takeover <now> <old holder>", as ACQUIRE prints them. */
function taken(line: string): Taken {
  const [word, now = '', ...holder] = line.split(' ');
  const note = word === 'acquired' ? null : `took over a stale lock (its run is gone): ${holder.join(' ').trim() || 'no holder recorded'}`;
  return { note, hostClock: hostClockOf(now) };
}

/**
 * acquireLock, and with `then`, the script run by the same command once the
 * lock is taken: `result` is its exit code and output (the lock's own line
 * taken off), null without `then`.
 */
export async function lockAndRun(r: Remote, command: string, timeoutS: number, then: UnderLock | null, path = LOCK_PATH, sleep = pause): Promise<Taken & { result: ExecResult | null }> {
  const deadline = Date.now() + timeoutS * 1000;
  const who = holderLine(command);
  // The lock's script in a subshell: its exits and traps stay its own; "$@" is then the script's.
  const script = then ? `(${ACQUIRE}) || exit\nshift 2\n${then.script}` : ACQUIRE;
  const args = [path, who, ...(then?.args ?? [])];
  let wait = FIRST_POLL_MS;
  for (;;) {
    const res = await privilegedRun(r, script, args, undefined, { what: then ? 'taking the lock and reading the host' : 'taking the lock' });
    const text = res.stdout.toString('utf8');
    const nl = text.indexOf('\n');
    const out = (nl < 0 ? text : text.slice(0, nl)).trim();
    // Once the lock's line says it is taken, the exit code is the script's.
    if (/^(acquired|takeover)( |$)/.test(out) && (then || res.code === 0)) {
      const result = then ? { code: res.code, stdout: res.stdout.subarray(nl + 1), stderr: res.stderr } : null;
      return { ...taken(out), result };
    }
    if (res.code !== 3) {
      throw new LockError(`cannot take the lock (exit ${res.code})`, { host: r.host, where: path, detail: res.stderr || text.trim(), hint: 'check that /run/lock exists and is writable by root' });
    }
    if (Date.now() >= deadline) {
      throw new LockError(`another run holds the lock: ${out.slice(5)}`, {
        host: r.host,
        where: path,
        hint: timeoutS > 0 ? `it did not finish within ${timeoutS}s; wait for it, or raise --lock-timeout` : 'wait for it to finish, or pass --lock-timeout SECONDS to wait',
      });
    }
    await sleep(Math.min(wait, deadline - Date.now()));
    wait = Math.min(2 * wait, MAX_POLL_MS);
  }
}

/**
 * Releases the run's lock, pruning `prune.dir` to its newest `prune.keep`
 * runs first in the same command (the run's last act under the lock).
 * Returns the pruned run directories.
 */
export async function releaseLock(r: Remote, path = LOCK_PATH, prune?: { dir: string; keep: number }): Promise<string[]> {
  const out = await privilegedOk(r, 'releasing the lock', RELEASE, [path, prune?.dir ?? '', String(prune?.keep ?? 0)]);
  return out.toString('utf8').split('\n').flatMap((l) => (l.startsWith('pruned ') ? [l.slice('pruned '.length)] : []));
}
