// The parts of verification that run on the proxy itself: the ACME probe
// file, and whether the backend answers from there.
import { posix } from 'node:path';
import type { HostVars } from '../variables.js';
import { sudoOk, sudoRun, type Remote } from '../remote.js';

// $1 challenge dir, $2 file name; content on stdin. Records which dirs it created.
const PLACE = `
set -e
dir=$1
created=
d=$dir
while [ ! -d "$d" ]; do created="$d $created"; d=\${d%/*}; done
mkdir -p -m 0755 -- "$dir"
(umask 022; cat > "$dir/$2")
echo $created
`;

/** Writes a challenge file in the webroot; the returned function removes it and any directory it created. */
export async function placeChallenge(r: Remote, v: HostVars, name: string, content: string): Promise<() => Promise<void>> {
  const dir = posix.join(v.certbot_webroot, '.well-known', 'acme-challenge');
  const out = await sudoOk(r, `writing the ACME probe file in ${dir}`, PLACE, [dir, name], content);
  const created = out.toString('utf8').trim().split(/\s+/).filter(Boolean).reverse();
  return async () => {
    await sudoRun(r, 'rm -f -- "$1/$2"; shift 2; for d in "$@"; do rmdir -- "$d" 2>/dev/null || true; done', [dir, name, ...created]);
  };
}

/** Whether a TCP connection from the proxy to ip:port succeeds within 5 s. */
export async function reachableFromHost(r: Remote, ip: string, port: number): Promise<boolean> {
  const res = await sudoRun(r, 'timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null', [ip, String(port)]);
  return res.code === 0;
}
