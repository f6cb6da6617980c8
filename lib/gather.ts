// Reads everything planning needs in one privileged round trip: the managed
// paths (content, mode, owner, link target), nginx.conf, whether nginx is
// installed and what `nginx -T` loads. Root is needed: the maps file is root-only.
import { posix } from 'node:path';
import { PreflightError } from './errors.js';
import type { FileFacts, FileKind } from './facts.js';
import { sudoRun, type Remote } from './remote.js';
import type { ExecResult } from './transport/types.js';
import { HeldChallenge, HeldCommand, PLACE_FILE, type ChallengeFile } from './verify/host.js';

export interface HostFacts {
  files: Map<string, FileFacts>;
  /** Paths only checked for existence (never read: e.g. private keys). */
  exists: Map<string, boolean>;
  nginxPresent: boolean;
  /** `nginx -T`: exit code and output (it holds the token: never print it). */
  dump: { code: number; text: string };
  /** The read, held for the ACME probe file when one was asked for: place it or dismiss it. */
  challenge?: HeldChallenge;
}

// Every process counts when 20 hosts share a machine's CPUs: stat and base64
// write straight to stdout (no $(...) subshells), so a file costs two processes.
const READ_DONE = 'read done';
const GATHER = `
nginx_cmd=$1 count=$2 cdir=$3 cname=$4 ccontent=$5; shift 5
bin=\${nginx_cmd%% *}
if command -v "$bin" >/dev/null 2>&1; then echo "nginx yes"; else echo "nginx no"; fi
while [ "$count" -gt 0 ]; do
  p=$1; shift; count=$((count - 1))
  if [ -L "$p" ]; then stat --printf 'link %a %U %G ' -- "$p" && readlink -n -- "$p" | base64 -w0; echo
  elif [ -f "$p" ]; then stat --printf 'file %a %U %G ' -- "$p" && base64 -w0 < "$p"; echo
  elif [ -d "$p" ]; then stat --printf 'dir %a %U %G \\n' -- "$p"
  elif [ -e "$p" ]; then stat --printf 'other %a %U %G \\n' -- "$p"
  else echo "absent"
  fi
done
for p in "$@"; do
  if [ -e "$p" ]; then echo "exists yes"; else echo "exists no"; fi
done
# The dump, then a line with its exit code, in one base64 line.
if command -v "$bin" >/dev/null 2>&1; then
  printf 'dump '; { eval "$nginx_cmd -T" 2>&1; printf '\\n%s\\n' "$?"; } | base64 -w0; echo
else
  echo "dump "
fi
# Asked to hold for the ACME probe: the read is complete; the probe file is
# placed only if converge then says so (the run changes nothing).
if [ -n "$cdir" ]; then
  echo "${READ_DONE}"
  IFS= read -r decision || exit 0
  [ "$decision" = place ] || exit 0
  dir=$cdir name=$cname content=$ccontent
  ${PLACE_FILE}
fi
`;

/** The dump line's payload: nginx -T's output, a newline, its exit code and a newline (127: no nginx). */
export function parseDump(data: string): { code: number; text: string } {
  const decoded = Buffer.from(data, 'base64').toString('utf8');
  const m = /\n(\d+)\n$/.exec(decoded);
  return m ? { code: Number(m[1]), text: decoded.slice(0, m.index) } : { code: 127, text: '' };
}

function parseFile(path: string, line: string): FileFacts {
  const [kind, mode, owner, group, data = ''] = line.split(' ');
  if (kind === 'absent') return { path, kind: 'absent' };
  const facts: FileFacts = { path, kind: kind as FileKind, mode: parseInt(mode, 8), owner, group };
  if (kind === 'file') facts.content = Buffer.from(data, 'base64');
  if (kind === 'link') facts.linkTo = Buffer.from(data, 'base64').toString('utf8');
  return facts;
}

/**
 * With `challenge`, the read stays open once its output is complete, so that
 * the ACME probe file can be placed without a second privileged command (see
 * HeldChallenge): the caller must place or dismiss it.
 */
export async function gather(r: Remote, nginxCommand: string, paths: string[], probes: string[] = [], challenge?: ChallengeFile): Promise<HostFacts> {
  const args = [nginxCommand, String(paths.length), challenge?.dir ?? '', challenge?.name ?? '', challenge?.content ?? '', ...paths, ...probes];
  let res: ExecResult;
  let held: HeldChallenge | undefined;
  if (challenge) {
    const cmd = new HeldCommand(r, GATHER, args);
    const ended = await cmd.until(READ_DONE).catch((err) => {
      cmd.stdin.end();
      throw err;
    });
    res = ended ?? { code: 0, stdout: cmd.stdout(), stderr: '' };
    if (!ended) held = new HeldChallenge(r, cmd, challenge);
  } else {
    res = await sudoRun(r, GATHER, args);
  }
  const lines = res.stdout.toString('utf8').split('\n');
  if (res.code !== 0 || lines.length < paths.length + probes.length + 2) {
    await held?.dismiss();
    throw new PreflightError(`reading the managed files failed (exit ${res.code})`, {
      host: r.host,
      where: r.transport.description,
      detail: res.stderr,
      hint: 'the host needs a POSIX sh, GNU stat and base64 (coreutils)',
    });
  }
  const files = new Map<string, FileFacts>();
  paths.forEach((p, i) => files.set(p, parseFile(p, lines[i + 1])));
  const exists = new Map(probes.map((p, i) => [p, lines[paths.length + 1 + i] === 'exists yes']));
  return {
    files,
    exists,
    nginxPresent: lines[0] === 'nginx yes',
    dump: parseDump(lines[paths.length + probes.length + 1].slice('dump '.length)),
    challenge: held,
  };
}

/** Removes comments; keeps line structure for messages. */
function stripComments(conf: string): string {
  return conf.replace(/(^|[^\\$'"])#.*$/gm, '$1');
}

/** The text inside the top-level `http { ... }` block, or null. */
export function httpBlock(conf: string): string | null {
  const text = stripComments(conf);
  const m = /(^|[\s;}])http\s*\{/.exec(text);
  if (!m) return null;
  let depth = 0;
  const start = m.index + m[0].length;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}') {
      if (depth === 0) return text.slice(start, i);
      depth--;
    }
  }
  return null;
}

function globMatch(pattern: string, path: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  return re.test(path);
}

/** Whether an `include` directly inside http { } loads `file`. Relative includes resolve against nginx.conf's directory. */
export function httpIncludes(conf: string, confPath: string, file: string): boolean {
  const block = httpBlock(conf);
  if (block === null) return false;
  const base = posix.dirname(confPath);
  let depth = 0;
  for (const stmt of block.split(/([{};])/)) {
    if (stmt === '{') depth++;
    else if (stmt === '}') depth--;
    const m = /^\s*include\s+["']?([^"'\s;]+)["']?\s*$/.exec(stmt);
    if (m && depth === 0 && globMatch(posix.resolve(base, m[1]), file)) return true;
  }
  return false;
}

/** Files other than `except`, in an `nginx -T` dump, that define a variable with `map`. */
export function filesDefiningMapVar(dump: string, variable: string, except: string): string[] {
  const found: string[] = [];
  for (const section of dump.split(/^# configuration file /m).slice(1)) {
    const nl = section.indexOf('\n');
    const file = section.slice(0, nl).replace(/:$/, '');
    const re = new RegExp(`(^|[\\s;}])map\\s+\\S+\\s+\\$${variable}\\b`);
    if (file !== except && re.test(stripComments(section.slice(nl + 1)))) found.push(file);
  }
  return found;
}
