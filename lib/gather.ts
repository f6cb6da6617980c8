// Reads everything planning needs in one privileged round trip: the managed
// paths (content, mode, owner, link target), nginx.conf, whether nginx is
// installed and what `nginx -T` loads. Root is needed: the maps file is root-only.
import { posix } from 'node:path';
import { PreflightError } from './errors.js';
import type { FileFacts } from './facts.js';
import { privilegedRun, type Remote } from './remote.js';
import { readTar } from './tar.js';
import type { DumpQuery } from './dumpcache.js';
import type { ExecResult } from './transport/types.js';
import { HeldChallenge, HeldCommand, PLACE_FILE, type ChallengeFile } from './verify/host.js';

export interface HostFacts {
  files: Map<string, FileFacts>;
  /** Paths only checked for existence (never read: e.g. private keys). */
  exists: Map<string, boolean>;
  nginxPresent: boolean;
  /** `nginx -T`: exit code and output (it holds the token: never print it); null when the stamp showed the cached one still holds. */
  dump: { code: number; text: string } | null;
  /** The stamp of the cached dump's files, and the host's clock when it dumped instead (see lib/dumpcache.ts). */
  stamp: string;
  clock: number | null;
  /** The read, held for the ACME probe file when one was asked for: place it or dismiss it. */
  challenge?: HeldChallenge;
}

// Every process counts when 20 hosts share a machine's CPUs, and more where
// starting one is slow (2-3 ms for a fork and exec on some VMs): the
// shell's own tests tell each path's kind, and one tar carries every file's
// bytes, mode, owner and link target (a stat and a base64 per file cost the
// host ~3x the CPU). Its archive comes last and raw, so that no base64 (nor
// the subshell that would report tar's exit code through it) is needed: when
// the read is not held, tar replaces the shell and its exit code is the
// command's. The marker of a held read names its probe file (random), so
// that no line of a managed file in the archive can pass for it.
const READ_DONE = 'read done';
const TAR = 'tar -c -P --no-recursion --hard-dereference --format=gnu -b 1 -f - --';
const GATHER = `
nginx_cmd=$1 nprobes=$2 cdir=$3 cname=$4 ccontent=$5 watch=$6 expect=$7; shift 7
bin=\${nginx_cmd%% *}
if command -v "$bin" >/dev/null 2>&1; then echo "nginx yes"; else echo "nginx no"; fi
while [ "$nprobes" -gt 0 ]; do
  if [ -e "$1" ]; then echo "exists yes"; else echo "exists no"; fi
  shift; nprobes=$((nprobes - 1))
done
# "$@" is now the managed paths: each is moved to the end if tar is to read it.
n=$#
while [ "$n" -gt 0 ]; do
  p=$1; shift; n=$((n - 1))
  if [ -L "$p" ]; then echo link; set -- "$@" "$p"
  elif [ -f "$p" ]; then echo file; set -- "$@" "$p"
  elif [ -d "$p" ]; then echo dir; set -- "$@" "$p"
  elif [ -e "$p" ]; then stat --printf 'other %a %U %G\\n' -- "$p"
  else echo absent
  fi
done
# The stamp of what the last dump loaded (newline-separated in $watch; see
# lib/dumpcache.ts), then the dump and its exit code in one base64 line, or
# "dump cached" when the stamp is the one converge expects.
if command -v "$bin" >/dev/null 2>&1; then
  stamp=
  if [ -n "$watch" ]; then
    # The binary's path as command -v finds it, without the fork of a command
    # substitution: every process counts (see above).
    case $bin in
      */*) path=$bin ;;
      *) path= oifs=$IFS; IFS=:
         for d in $PATH; do d=\${d:-.}; if [ -f "$d/$bin" ] && [ -x "$d/$bin" ]; then path=$d/$bin; break; fi; done
         IFS=$oifs ;;
    esac
    oifs=$IFS; IFS='
'; set -f
    stamp=$(stat -L --printf '%i:%s:%.9Y:%.9Z ' -- "$path" $watch 2>/dev/null)
    stamp=$stamp$?
    set +f; IFS=$oifs
  fi
  echo "stamp $stamp"
  if [ -n "$expect" ] && [ "$stamp" = "$expect" ]; then
    echo "dump cached"
  else
    [ -z "$watch" ] || echo "clock $(date +%s)"
    printf 'dump '; { eval "$nginx_cmd -T" 2>&1; printf '\\n%s\\n' "$?"; } | base64 -w0; echo
  fi
else
  echo "stamp "
  echo "dump "
fi
# Last, the archive of the paths tar is to read (none: no archive).
echo tar
if [ -z "$cdir" ]; then
  [ $# -eq 0 ] || exec ${TAR} "$@"
  exit 0
fi
# Asked to hold for the ACME probe: tar's exit code, then the read is
# complete; the probe file is placed only if converge then says so (the run
# changes nothing).
[ $# -eq 0 ] || { ${TAR} "$@"; echo "$?"; }
echo "${READ_DONE} $cname"
IFS= read -r decision || exit 0
[ "$decision" = place ] || exit 0
dir=$cdir name=$cname content=$ccontent
${PLACE_FILE}
`;

/** The dump line's payload: nginx -T's output, a newline, its exit code and a newline (127: no nginx). */
export function parseDump(data: string): { code: number; text: string } {
  const decoded = Buffer.from(data, 'base64').toString('utf8');
  const m = /\n(\d+)\n$/.exec(decoded);
  return m ? { code: Number(m[1]), text: decoded.slice(0, m.index) } : { code: 127, text: '' };
}

/**
 * The managed paths' facts: each path's kind line, and tar's entries for
 * those it read, from the raw archive that ends the read's output. A held
 * read prints tar's exit code after it; otherwise tar's exit code was the
 * command's own.
 */
export function parsePaths(paths: string[], kinds: string[], archive: Buffer, held: boolean): Map<string, FileFacts> {
  const read = kinds.filter((k) => k === 'file' || k === 'link' || k === 'dir').length;
  const { entries, end } = read > 0 ? readTar(archive) : { entries: [], end: 0 };
  if (read > 0 && held) {
    const code = /^(\d+)\n/.exec(archive.subarray(end, end + 8).toString('latin1'));
    if (code?.[1] !== '0') throw new Error(`tar exited ${code?.[1] ?? 'without a code'}`);
  }
  const files = new Map<string, FileFacts>();
  paths.forEach((path, i) => {
    const [kind, mode, owner, group] = kinds[i].split(' ');
    if (kind === 'absent') files.set(path, { path, kind: 'absent' });
    else if (kind === 'other') files.set(path, { path, kind: 'other', mode: parseInt(mode, 8), owner, group });
    else {
      const e = entries.shift();
      // GNU tar names a directory with a final slash.
      if (!e || e.name.replace(/(.)\/$/, '$1') !== path || e.kind !== kind) throw new Error(`tar did not read ${path} as the ${kind} the shell saw: it may have changed while it was read`);
      files.set(path, { path, kind: e.kind, mode: e.mode, owner: e.owner, group: e.group, ...(e.content && { content: e.content }), ...(e.linkTo !== undefined && { linkTo: e.linkTo }) });
    }
  });
  return files;
}

/** The read's text lines, up to its "tar" line, and the bytes after that line (null: no such line). */
export function splitRead(out: Buffer): { lines: string[]; archive: Buffer | null } {
  const lines: string[] = [];
  for (let at = 0; ; ) {
    const nl = out.indexOf(10, at);
    if (nl < 0) return { lines, archive: null };
    const line = out.toString('utf8', at, nl);
    if (line === 'tar') return { lines, archive: out.subarray(nl + 1) };
    lines.push(line);
    at = nl + 1;
  }
}

const NO_CACHE: DumpQuery = { watch: [], expect: '' };

/** The read's privileged script and its arguments (see gather). */
export function gatherCommand(nginxCommand: string, paths: string[], probes: string[] = [], challenge?: ChallengeFile, cached: DumpQuery = NO_CACHE): { script: string; args: string[] } {
  return { script: GATHER, args: [nginxCommand, String(probes.length), challenge?.dir ?? '', challenge?.name ?? '', challenge?.content ?? '', cached.watch.join('\n'), cached.expect, ...probes, ...paths] };
}

/**
 * With `challenge`, the read stays open once its output is complete, so that
 * the ACME probe file can be placed without a second privileged command (see
 * HeldChallenge): the caller must place or dismiss it. With `ran`, the
 * result of gatherCommand's script already run by another command (as
 * lib/lock.ts's lockAndRun does under the lock) is read instead.
 */
export async function gather(r: Remote, nginxCommand: string, paths: string[], probes: string[] = [], challenge?: ChallengeFile, cached: DumpQuery = NO_CACHE, ran?: ExecResult): Promise<HostFacts> {
  const { script, args } = gatherCommand(nginxCommand, paths, probes, challenge, cached);
  let res: ExecResult;
  let held: HeldChallenge | undefined;
  let cmd: HeldCommand | undefined;
  if (challenge) {
    cmd = new HeldCommand(r, script, args, 'reading the host');
    const ended = await cmd.until(`${READ_DONE} ${challenge.name}`).catch((err) => {
      cmd!.stdin.end();
      throw err;
    });
    res = ended ?? { code: 0, stdout: cmd.stdout(), stderr: '' };
    if (!ended) held = new HeldChallenge(r, cmd, challenge);
  } else {
    res = ran ?? (await privilegedRun(r, script, args, undefined, { what: 'reading the host' }));
  }
  const failed = async (why: string) => {
    // A held read has more to say once ended: its stderr (tar's own words).
    await held?.dismiss();
    const stderr = held ? ((await cmd!.result.catch(() => null))?.stderr ?? '') : res.stderr;
    return new PreflightError(`reading the managed files failed (${why})`, {
      host: r.host,
      where: r.transport.description,
      detail: stderr,
      hint: 'the host needs a POSIX sh, GNU tar and base64 (coreutils); if a file was being changed, run again',
    });
  };
  const { lines, archive } = splitRead(res.stdout);
  const kindsAt = 1 + probes.length;
  const stampAt = kindsAt + paths.length;
  // After the kinds: the stamp, the clock when the host dumped against a stamp, and the dump.
  const clocked = lines[stampAt + 1]?.startsWith('clock ') ? 1 : 0;
  const dumpLine = lines[stampAt + 1 + clocked] ?? '';
  if (res.code !== 0 || !archive || !lines[stampAt]?.startsWith('stamp ') || !dumpLine.startsWith('dump ')) throw await failed(`exit ${res.code}`);
  let files: Map<string, FileFacts>;
  try {
    files = parsePaths(paths, lines.slice(kindsAt, stampAt), archive, challenge !== undefined);
  } catch (err) {
    throw await failed((err as Error).message);
  }
  return {
    files,
    exists: new Map(probes.map((p, i) => [p, lines[1 + i] === 'exists yes'])),
    nginxPresent: lines[0] === 'nginx yes',
    stamp: lines[stampAt].slice('stamp '.length),
    clock: clocked ? Number(lines[stampAt + 1].slice('clock '.length)) : null,
    dump: dumpLine === 'dump cached' && cached.expect !== '' ? null : parseDump(dumpLine.slice('dump '.length)),
    challenge: held,
  };
}

/** Removes comments; keeps line structure for messages. */
export function stripComments(conf: string): string {
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

/**
 * An `nginx -T` dump, file by file: each "# configuration file <path>:" header
 * line (nginx ends it with a colon; a comment that merely starts like one does
 * not) and the text up to the next one.
 */
export function dumpSections(dump: string): { file: string; body: string }[] {
  const headers = [...dump.matchAll(/^# configuration file (.+):$/gm)];
  return headers.map((m, i) => {
    const start = m.index! + m[0].length + 1;
    return { file: m[1], body: dump.slice(start, headers[i + 1]?.index ?? dump.length) };
  });
}

/** Files other than `except`, in an `nginx -T` dump, that define a variable with `map`. */
export function filesDefiningMapVar(dump: string, variable: string, except: string): string[] {
  const re = new RegExp(`(^|[\\s;}])map\\s+\\S+\\s+\\$${variable}\\b`);
  return dumpSections(dump)
    .filter(({ file, body }) => file !== except && re.test(stripComments(body)))
    .map(({ file }) => file);
}
