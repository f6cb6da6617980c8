// nginx's own checks: `nginx -t` on the live tree, on a private scratch copy
// (check mode), and the reload.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { HostVars } from './variables.js';
import type { Change } from './plan.js';
import { CommandStoppedError, RemoteCommandError } from './errors.js';
import { nginxErrorLines, privilegedOk, privilegedRun, type Remote } from './remote.js';
import { projectPath } from './paths.js';

export interface TestResult {
  ok: boolean;
  /** nginx's output (may quote config lines: redact before showing). */
  output: string;
  /** A scratch test asked for the dump: what `nginx -T` printed, its paths those of the live tree (holds the token: never print it). */
  dump?: string;
}

/** A script run before nginx -t by the same command, with its own arguments and stdin. */
export interface Before {
  script: string;
  args: string[];
  stdin: string;
  what: string;
}

export interface BeforeResult {
  ok: boolean;
  /** Why it failed: its exit code and its own words (empty when it did not). */
  output: string;
}

// Before's exit code and words on stdout, up to this line; nginx -t's own
// output follows (stderr, and stdout after it).
const BEFORE_END = 'converge: before nginx -t, done';

/**
 * nginx -t on the live tree. With `before` (the run's manifest, written just
 * before the gate: one round trip less), its outcome comes back apart:
 * whatever it did, nginx -t runs and its output is nginx's alone.
 */
export async function nginxTest(r: Remote, nginxCommand: string, before?: Before): Promise<TestResult & { before?: BeforeResult }> {
  const what = `\`${nginxCommand} -t\``;
  if (!before) {
    const res = await privilegedRun(r, 'eval "$1 -t"', [nginxCommand], undefined, { what });
    return { ok: res.code === 0, output: res.stderr + res.stdout.toString('utf8') };
  }
  const script = `nginx_cmd=$1; shift\nmsg=$( (${before.script}\n) 2>&1 ); code=$?\nprintf 'before %s\\n%s\\n%s\\n' "$code" "$msg" '${BEFORE_END}'\neval "$nginx_cmd -t"`;
  const res = await privilegedRun(r, script, [nginxCommand, ...before.args], before.stdin, { what: `${before.what}, then ${what}` });
  const out = res.stdout.toString('utf8');
  const m = new RegExp(`^before (\\d+)\n([\\s\\S]*?)\n?${BEFORE_END}\n`).exec(out);
  return {
    ok: res.code === 0,
    output: res.stderr + (m ? out.slice(m[0].length) : out),
    before: m ? { ok: m[1] === '0', output: m[1] === '0' ? '' : `exit ${m[1]}${m[2].trim() ? `: ${m[2].trim()}` : ''}` } : { ok: false, output: `did not run: ${res.stderr.trim() || `exit ${res.code}`}` },
  };
}

/** How long a reload may take to replace nginx's workers. */
export const RELOAD_WAIT_S = 10;
const RELOAD_POLL_S = 0.05;

// The workers of the config being replaced, the reload, then a poll until none
// of them serves any more (the workers of an old config wind down with "nginx:
// worker process is shutting down"): one privileged command, so a reload costs
// one round trip. A failed reload exits with its own code and stderr.
const RELOAD = `
workers() { ps -eo pid=,args= | awk '$2 == "nginx:" && $3 == "worker" && $4 == "process" && NF == 4 { print $1 }'; }
old=" $(workers | tr '\\n' ' ') "
eval "$1" || exit
tries=$2
while [ "$tries" -gt 0 ]; do
  now=$(workers)
  replaced=\${now:+yes}
  for p in $now; do case $old in *" $p "*) replaced= ;; esac; done
  if [ -n "$replaced" ]; then echo replaced; exit 0; fi
  sleep "$3"
  tries=$((tries - 1))
done
echo "still serving"
`;

/**
 * Reloads and waits until no worker of the old config serves any more: a
 * reload returns before the new workers take over, and probes must see the
 * new config. False if that did not happen within RELOAD_WAIT_S.
 */
export async function reload(r: Remote, command: string): Promise<boolean> {
  const tries = String(Math.ceil(RELOAD_WAIT_S / RELOAD_POLL_S));
  try {
    const out = await privilegedOk(r, `reloading nginx (${command})`, RELOAD, [command, tries, String(RELOAD_POLL_S)]);
    // The last line: the reload command's own output may come before it.
    return /replaced\n$/.test(out.toString('utf8'));
  } catch (err) {
    // A reload stopped on the host keeps its class: the run must know nginx may have reloaded.
    if (err instanceof RemoteCommandError && !(err instanceof CommandStoppedError)) {
      throw new RemoteCommandError(err.message, { host: r.host, where: command, detail: err.detail, hint: 'check nginx_reload_command and that nginx is running (systemctl status nginx)' });
    }
    throw err;
  }
}

const SCRATCH_TEST = readFileSync(projectPath('lib/remote-scripts/scratch-test.sh'), 'utf8');

/**
 * Tests the candidate config without touching the live tree: a root-only copy
 * of nginx's directory gets the planned files, `nginx -t -c` runs on it, and
 * the copy is removed. Null when a managed path lies outside that directory.
 * With `dump`, `nginx -T` runs instead and the result carries its dump.
 */
export async function scratchTest(r: Remote, vars: HostVars, changes: Change[], standIn: { chain: string; key: string } | null, dump = false): Promise<TestResult | null> {
  const live = posix.dirname(vars.nginx_conf);
  const args: string[] = [vars.nginx_command, live, posix.basename(vars.nginx_conf), standIn?.chain ?? '', standIn?.key ?? '', dump ? 'dump' : ''];
  const chunks: Buffer[] = [];
  for (const c of changes) {
    const rel = posix.relative(live, c.path);
    if (rel.startsWith('..') || posix.isAbsolute(rel)) return null;
    if (c.spec.linkTo !== undefined) {
      args.push('link', rel, c.spec.linkTo, '0');
    } else {
      const body = Buffer.from(c.spec.content ?? '', 'utf8');
      chunks.push(body);
      args.push('file', rel, '', String(body.length));
    }
  }
  const res = await privilegedRun(r, SCRATCH_TEST, args, Buffer.concat(chunks), { what: `\`${vars.nginx_command} -t\` on a scratch copy of ${live}` });
  if (res.code === 93) return null; // no openssl on the host for the stand-in certificate
  if (res.code >= 90 && res.code <= 92) {
    throw new RemoteCommandError('could not prepare the scratch copy for nginx -t', { host: r.host, where: live, detail: res.stderr, hint: 'check free space in /tmp on the host' });
  }
  const stdout = res.stdout.toString('utf8');
  if (!dump) return { ok: res.code === 0, output: stdout + res.stderr };
  const m = /^scratch (.*)\n/.exec(stdout);
  return { ok: res.code === 0, output: res.stderr, dump: m ? liveSections(stdout.slice(m[0].length), m[1], live) : '' };
}

/** The dump's "# configuration file <path>:" lines name the scratch copy: name the live tree instead. */
export function liveSections(dump: string, scratch: string, live: string): string {
  const from = `# configuration file ${scratch}/`;
  return dump
    .split('\n')
    .map((l) => (l.startsWith(from) ? `# configuration file ${live}/${l.slice(from.length)}` : l))
    .join('\n');
}

export { nginxErrorLines };
