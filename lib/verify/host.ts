// The parts of verification that run on the proxy itself: the ACME probe
// file, and whether the backend answers from there.
import { posix } from 'node:path';
import type { HostVars } from '../variables.js';
import { commandFailed, sudoRun, type Remote } from '../remote.js';

// $1 challenge dir, $2 file name, $3 content (a random probe, not a secret).
// Says "placed", then waits for the end of its stdin: converge closes it once
// the probe is fetched, and it ends too if converge or the connection dies.
// Either way the file goes, with the directories it created (innermost first).
const PLACE = `
dir=$1 name=$2 content=$3
set --
d=$dir
while [ -n "$d" ] && [ ! -d "$d" ]; do set -- "$@" "$d"; d=\${d%/*}; done
trap 'rm -f -- "$dir/$name"; for c in "$@"; do rmdir -- "$c" 2>/dev/null || true; done' EXIT
trap 'exit 1' HUP INT TERM
mkdir -p -m 0755 -- "$dir" || exit 1
(umask 022; printf '%s\\n' "$content" > "$dir/$name") || exit 1
echo placed
cat > /dev/null
`;

/**
 * Writes a challenge file in the webroot; the returned function removes it
 * (and any directory it created). One privileged command holds the file for
 * the probe's length, so a run that dies, or loses its connection, leaves
 * nothing behind.
 */
export async function placeChallenge(r: Remote, v: HostVars, name: string, content: string): Promise<() => Promise<void>> {
  const dir = posix.join(v.certbot_webroot, '.well-known', 'acme-challenge');
  const args = [dir, name, content];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let said = '';
  let placed!: () => void;
  const ready = new Promise<null>((resolve) => (placed = () => resolve(null)));
  const run = sudoRun(r, PLACE, args, undefined, {
    holdStdin: held,
    onStdout: (chunk) => {
      said += chunk.toString('utf8');
      if (said.includes('placed\n')) placed();
    },
  });
  const what = `writing the ACME probe file in ${dir}`;
  // The command only ends early if it could not place the file.
  const ended = await Promise.race([ready, run]).catch((err) => {
    release();
    throw err;
  });
  if (ended) {
    release();
    throw commandFailed(r, what, args, ended);
  }
  return async () => {
    release();
    const res = await run;
    if (res.code !== 0) throw commandFailed(r, `removing the ACME probe file from ${dir}`, args, res);
  };
}

/** Whether a TCP connection from the proxy to ip:port succeeds within 5 s. */
export async function reachableFromHost(r: Remote, ip: string, port: number): Promise<boolean> {
  const res = await sudoRun(r, 'timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null', [ip, String(port)]);
  return res.code === 0;
}
