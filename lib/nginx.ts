// nginx's own checks: `nginx -t` on the live tree, on a private scratch copy
// (check mode), and the reload.
import { posix } from 'node:path';
import type { HostVars } from './variables.js';
import type { Change } from './plan.js';
import { RemoteCommandError } from './errors.js';
import { nginxErrorLines, sudoOk, sudoRun, type Remote } from './remote.js';

export interface TestResult {
  ok: boolean;
  /** nginx's output (may quote config lines: redact before showing). */
  output: string;
}

export async function nginxTest(r: Remote, nginxCommand: string): Promise<TestResult> {
  const res = await sudoRun(r, 'eval "$1 -t"', [nginxCommand]);
  return { ok: res.code === 0, output: res.stderr + res.stdout.toString('utf8') };
}

export async function reload(r: Remote, command: string): Promise<void> {
  try {
    await sudoOk(r, `reloading nginx (${command})`, 'eval "$1"', [command]);
  } catch (err) {
    if (err instanceof RemoteCommandError) {
      throw new RemoteCommandError(err.message, { host: r.host, where: command, detail: err.detail, hint: 'check nginx_reload_command and that nginx is running (systemctl status nginx)' });
    }
    throw err;
  }
}

// $1 nginx command, $2 live config dir, $3 nginx.conf name, then per change:
// kind (file|link), path relative to the config dir, link target, byte length.
// File contents arrive on stdin, concatenated in that order.
const SCRATCH_TEST = `
nginx_cmd=$1 live=$2 conf=$3; shift 3
scratch=$(mktemp -d /tmp/converge-check.XXXXXX) || exit 90
trap 'rm -rf -- "$scratch"' EXIT
cp -a -- "$live/." "$scratch/" || exit 91
# Point absolute references to the live tree at the copy: includes in files, targets of links.
grep -rlF -- "$live/" "$scratch" 2>/dev/null | while IFS= read -r f; do
  [ -L "$f" ] || sed -i "s\\001$live/\\001$scratch/\\001g" "$f"
done
find "$scratch" -type l | while IFS= read -r l; do
  t=$(readlink -- "$l")
  case "$t" in "$live"/*) ln -sfn -- "$scratch\${t#"$live"}" "$l" ;; esac
done
while [ $# -ge 4 ]; do
  kind=$1 path=$scratch/$2 target=$3 len=$4; shift 4
  case "$target" in "$live"/*) target="$scratch\${target#"$live"}" ;; esac
  rm -rf -- "$path"
  mkdir -p -- "\${path%/*}"
  if [ "$kind" = link ]; then ln -s -- "$target" "$path"
  else head -c "$len" > "$path"; sed -i "s\\001$live/\\001$scratch/\\001g" "$path"; fi
done
eval "$nginx_cmd -t -c \\"\\$scratch/\\$conf\\"" 2>&1
`;

/**
 * Tests the candidate config without touching the live tree: a root-only copy
 * of nginx's directory gets the planned files, `nginx -t -c` runs on it, and
 * the copy is removed. Null when a managed path lies outside that directory.
 */
export async function scratchTest(r: Remote, vars: HostVars, changes: Change[], contents: Map<string, string>): Promise<TestResult | null> {
  const live = posix.dirname(vars.nginx_conf);
  const args: string[] = [vars.nginx_command, live, posix.basename(vars.nginx_conf)];
  const chunks: Buffer[] = [];
  for (const c of changes) {
    const rel = posix.relative(live, c.path);
    if (rel.startsWith('..') || posix.isAbsolute(rel)) return null;
    if (c.spec.linkTo !== undefined) {
      args.push('link', rel, c.spec.linkTo, '0');
    } else {
      const body = Buffer.from(contents.get(c.path) ?? c.spec.content ?? '', 'utf8');
      chunks.push(body);
      args.push('file', rel, '', String(body.length));
    }
  }
  const res = await sudoRun(r, SCRATCH_TEST, args, Buffer.concat(chunks));
  if (res.code === 90 || res.code === 91) {
    throw new RemoteCommandError('could not prepare the scratch copy for nginx -t', { host: r.host, where: live, detail: res.stderr, hint: 'check free space in /tmp on the host' });
  }
  return { ok: res.code === 0, output: res.stdout.toString('utf8') + res.stderr };
}

export { nginxErrorLines };
