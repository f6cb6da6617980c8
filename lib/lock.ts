// One converge at a time per host. The lock is a directory (mkdir is atomic)
// holding who took it. Its owner is the SSH session (or local process) of
// the run: when that is gone, the lock is stale and the next run takes it
// over, and says so.
import { hostname, userInfo } from 'node:os';
import { ConvergeError } from './errors.js';
import { sudoOk, sudoRun, type Remote } from './remote.js';

export const LOCK_PATH = '/run/lock/converge.lock';

export class LockError extends ConvergeError {}

// $1 lock dir, $2 holder line. Prints "acquired", "takeover <old holder>" or
// "held <holder>" (exit 3). The owner is the nearest sshd (this connection's
// session) or node (a local run) above this shell: it lives exactly as long
// as the run's connection.
const ACQUIRE = `
lock=$1 who=$2
pid=$$
while [ "$pid" -gt 1 ]; do
  comm=$(cat /proc/$pid/comm 2>/dev/null) || break
  case "$comm" in sshd|node) break ;; esac
  pid=$(awk '{print $4}' /proc/$pid/stat)
done
owner="$pid $(awk '{print $22}' /proc/$pid/stat)"
mkdir -p -- "\${lock%/*}"
claim() { mkdir -m 0700 -- "$lock" 2>/dev/null && printf '%s\\n%s\\n' "$owner" "$who" > "$lock/holder"; }
if claim; then echo acquired; exit 0; fi
old=$(cat "$lock/holder" 2>/dev/null)
set -- $old
if [ -n "\${1:-}" ] && [ "$(awk '{print $22}' /proc/$1/stat 2>/dev/null)" = "\${2:-}" ]; then
  echo "held $(printf '%s' "$old" | sed -n 2p)"; exit 3
fi
# Stale: only one contender wins the rename, then claims afresh.
mv -T -- "$lock" "$lock.stale.$$" 2>/dev/null && rm -rf -- "$lock.stale.$$"
if claim; then echo "takeover $(printf '%s' "$old" | sed -n 2p)"; exit 0; fi
echo "held $(sed -n 2p "$lock/holder" 2>/dev/null)"; exit 3
`;

export function holderLine(command: string): string {
  return `converge on ${hostname()} (pid ${process.pid}, user ${userInfo().username}, since ${new Date().toISOString()}, command: ${command})`;
}

/**
 * Takes the host's lock, waiting up to timeoutS seconds for another run to
 * finish. Returns a note when a stale lock was taken over.
 */
export async function acquireLock(r: Remote, command: string, timeoutS: number): Promise<string | null> {
  const deadline = Date.now() + timeoutS * 1000;
  const who = holderLine(command);
  for (;;) {
    const res = await sudoRun(r, ACQUIRE, [LOCK_PATH, who]);
    const out = res.stdout.toString('utf8').trim();
    if (res.code === 0 && out === 'acquired') return null;
    if (res.code === 0 && out.startsWith('takeover ')) return `took over a stale lock (its run is gone): ${out.slice(9)}`;
    if (res.code !== 3) {
      throw new LockError(`cannot take the lock (exit ${res.code})`, { host: r.host, where: LOCK_PATH, detail: res.stderr || out, hint: 'check that /run/lock exists and is writable by root' });
    }
    if (Date.now() >= deadline) {
      throw new LockError(`another run holds the lock: ${out.slice(5)}`, {
        host: r.host,
        where: LOCK_PATH,
        hint: timeoutS > 0 ? `it did not finish within ${timeoutS}s; wait for it, or raise --lock-timeout` : 'wait for it to finish, or pass --lock-timeout SECONDS to wait',
      });
    }
    await new Promise((done) => setTimeout(done, 1000));
  }
}

export async function releaseLock(r: Remote): Promise<void> {
  await sudoOk(r, 'releasing the lock', 'rm -rf -- "$1"', [LOCK_PATH]);
}
