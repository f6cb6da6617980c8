// The only module that changes managed files. Order per file (Ansible's
// atomic_move): backup -> write a hidden temp file beside the target ->
// rename over it. Every step is journaled so rollback undoes exactly what
// happened, and nothing else.
import { posix } from 'node:path';
import type { Change } from './plan.js';
import type { FileFacts } from './facts.js';
import { RollbackError } from './errors.js';
import { privilegedOk, type Remote } from './remote.js';
import { EXIT_ON_SIGNALS } from './shell.js';

export interface JournalEntry {
  path: string;
  before: FileFacts;
  /** Where the previous version was kept; null when the path was absent. */
  backup: string | null;
  /** A directory the run created (rollback removes it with what the run put in it). */
  dir?: boolean;
}

export interface Journal {
  backupDir: string;
  entries: JournalEntry[];
}

/**
 * A hidden name that no include glob loads (`*` and `*.conf` skip dot-files,
 * and the suffix is not .conf), in the target's own directory so the final
 * rename is atomic.
 */
export function tempPathFor(path: string): string {
  return posix.join(posix.dirname(path), `.${posix.basename(path)}.converge-tmp`);
}

/** The file in a run's backup directory where each write is recorded before it happens: `E|C <path>` (existed, created). */
export const JOURNAL = 'journal';

/**
 * A run's backup directory name: the UTC time to the millisecond (the host's
 * clock when the run took its lock, see HostRun), then the pid. Names sort in
 * time order: with seconds only, two runs in the same second sorted by pid,
 * which is not time order (pids wrap, at 32768 by default), so pruning could
 * drop the newer run and keep the older one.
 */
export function runStamp(date = new Date(), pid = process.pid): string {
  return `${date.toISOString().replace(/[-:]/g, '')}-${pid}`;
}

/**
 * The time a stamp of runStamp's form starts with (a run's name, or the
 * host's `date` when it takes the lock), as ISO 8601: with milliseconds when
 * the stamp has them (older run names do not). Null when it starts with none.
 */
export function stampTime(stamp: string): string | null {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\.\d{3})?Z/.exec(stamp);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}Z` : null;
}

// $1 path, $2 temp, $3 backup ('' = none), $4 kind, $5 mode, $6 owner:group, $7 link target,
// $8 the content's length in bytes, $9 the run's backup directory; content on stdin.
const WRITE = `
set -e
path=$1 tmp=$2 backup=$3
# Whatever stops this script early (a failed step, the session hung up), the
# temp file (new content, maybe the token) does not stay behind.
trap 'rm -f -- "$tmp"' EXIT
${EXIT_ON_SIGNALS}
if [ -n "$backup" ] && [ ! -e "$backup" ] && [ ! -L "$backup" ]; then
  # Every directory of the backup tree root-only: it holds old maps files (tokens).
  (umask 077; mkdir -p -- "\${backup%/*}")
  cp -a -- "$path" "$backup"
fi
# The run's journal on the host, before the target changes: a run killed or
# cut off before it wrote its manifest can still be rolled back (backups.ts).
(umask 077; mkdir -p -- "$9"; printf '%s %s\\n' "$([ -n "$backup" ] && echo E || echo C)" "$path" >> "$9/${JOURNAL}")
mkdir -p -- "\${path%/*}"
rm -f -- "$tmp"
if [ "$4" = absent ]; then
  rm -f -- "$path"
  exit 0
elif [ "$4" = link ]; then
  ln -s -- "$7" "$tmp"
else
  (umask 077; cat > "$tmp")
  # A connection lost mid-transfer ends stdin early, and cat still exits 0:
  # never rename a short file into place.
  got=$(wc -c < "$tmp")
  if [ "$((got))" -ne "$8" ]; then
    echo "received $((got)) of $8 bytes (the content was cut short): $path left as it was" >&2
    exit 1
  fi
  chown -- "$6" "$tmp"
  chmod -- "$5" "$tmp"
fi
if [ -d "$path" ] && [ ! -L "$path" ]; then rmdir -- "$path"; fi
mv -fT -- "$tmp" "$path"
`;

export async function applyChange(r: Remote, journal: Journal, change: Change, content?: string): Promise<void> {
  const { spec, before } = change;
  const known = journal.entries.find((e) => e.path === spec.path);
  const backup = before.kind === 'absent' ? null : posix.join(journal.backupDir, spec.path);
  const entry: JournalEntry = known ?? { path: spec.path, before, backup };
  // Journal first: if the write dies half-way, rollback still restores the path.
  if (!known) journal.entries.push(entry);
  const kind = spec.absent ? 'absent' : spec.linkTo !== undefined ? 'link' : 'file';
  const body = kind === 'file' ? (content ?? spec.content ?? '') : undefined;
  await privilegedOk(
    r,
    `${spec.absent ? 'removing' : 'writing'} ${spec.path}`,
    WRITE,
    [spec.path, tempPathFor(spec.path), entry.backup ?? '', kind, spec.mode.toString(8), `${spec.owner}:${spec.group}`, spec.linkTo ?? '', String(body === undefined ? 0 : Buffer.byteLength(body, 'utf8')), journal.backupDir],
    body,
  );
}

// $1 path, $2 temp, $3 backup ('' = the run created the path: remove it), $4 dir|path.
// Prints "kept" when the path is already as its backup (the run's write failed
// before its rename): it is left alone rather than rewritten, which could fail
// for the very reason the write did (a full or read-only filesystem).
const RESTORE = `
set -e
path=$1 tmp=$2 backup=$3
trap 'rm -f -- "$tmp"' EXIT
${EXIT_ON_SIGNALS}
rm -f -- "$tmp"
same() {
  [ "$(stat -c '%F %a %u %g' -- "$1")" = "$(stat -c '%F %a %u %g' -- "$2")" ] || return 1
  if [ -L "$1" ]; then [ "$(readlink -- "$1")" = "$(readlink -- "$2")" ]; else [ -f "$1" ] && cmp -s -- "$1" "$2"; fi
}
if [ -z "$backup" ] && ! [ -e "$path" ] && ! [ -L "$path" ]; then
  echo absent
elif [ -z "$backup" ] && [ "$4" = dir ]; then
  rm -rf -- "$path"
elif [ -z "$backup" ]; then
  rm -f -- "$path"
elif [ -e "$backup" ] || [ -L "$backup" ]; then
  if { [ -e "$path" ] || [ -L "$path" ]; } && same "$path" "$backup"; then echo kept; exit 0; fi
  cp -a -- "$backup" "$tmp"
  mv -fT -- "$tmp" "$path"
else
  echo "backup $backup is missing" >&2; exit 1
fi
`;

/** Creates a directory (root, 0755) unless it exists; journaled so rollback removes it. */
export async function ensureDirectory(r: Remote, journal: Journal, path: string): Promise<boolean> {
  const out = await privilegedOk(r, `creating ${path}`, 'if [ -d "$1" ]; then echo exists; else mkdir -p -m 0755 -- "$1" && echo created; fi', [path]);
  const created = out.toString('utf8').trim() === 'created';
  if (created) journal.entries.push({ path, before: { path, kind: 'absent' }, backup: null, dir: true });
  return created;
}

/** Puts every journaled path back as it was, newest first. Throws RollbackError listing what could not be restored. */
export async function rollback(r: Remote, journal: Journal): Promise<string[]> {
  const restored: string[] = [];
  const failures: string[] = [];
  for (const e of [...journal.entries].reverse()) {
    try {
      const out = await privilegedOk(r, `restoring ${e.path}`, RESTORE, [e.path, tempPathFor(e.path), e.backup ?? '', e.dir ? 'dir' : 'path']);
      const said = out.toString('utf8').trim();
      if (said === 'kept') restored.push(`kept ${e.path} (never replaced)`);
      else if (said === 'absent') restored.push(`nothing to remove at ${e.path} (never created)`);
      else restored.push(e.backup ? `restored ${e.path}` : `removed ${e.path}`);
    } catch (err) {
      failures.push(`${e.path}: ${(err as Error & { detail?: string }).detail ?? (err as Error).message}`);
    }
  }
  if (failures.length > 0) {
    throw new RollbackError(`rollback could not restore ${failures.length} path(s)`, {
      host: r.host,
      detail: failures.join('\n'),
      hint: `restore them by hand from ${journal.backupDir} (cp -a), then run nginx -t`,
    });
  }
  return restored;
}
