// What each apply leaves under backup_dir/<run>/: the replaced files and a
// manifest of every path the run touched, so `tasks/rollback.mjs` can put a
// host back to any kept run. Old runs are pruned to backup_keep.
import { posix } from 'node:path';
import { JOURNAL, stampTime, type Journal } from './apply.js';
import type { Before } from './nginx.js';
import { privilegedOk, type Remote } from './remote.js';
import { EXIT_ON_SIGNALS } from './shell.js';

export interface ManifestEntry {
  path: string;
  /** False when the run created the path: restoring removes it. */
  existed: boolean;
  /** The saved copy (absolute), when the path existed. */
  backup: string | null;
}

export interface Manifest {
  version: 1;
  run: string;
  host: string;
  command: string;
  started: string;
  /** interrupted: the run never wrote its manifest (killed, cut off); rebuilt from its journal. */
  state: 'applied' | 'rolled-back' | 'interrupted';
  entries: ManifestEntry[];
}

export const MANIFEST = 'manifest.json';

/**
 * Run directories look like 20261126T150309.123Z-1234 (see runStamp), or
 * 20261126T150309Z-1234 as older versions named them; POSIX ERE for grep on
 * the host.
 */
export const RUN_DIR = '^[0-9]{8}T[0-9]{6}([.][0-9]{3})?Z-[0-9]+$';

/**
 * Run directories, oldest first: bytewise (a locale's collation may skip
 * punctuation). A run of an older version sorts after one of this version
 * within the same second only.
 */
const SORTED_RUNS = `ls -1 | grep -E '${RUN_DIR}' | LC_ALL=C sort`;

export function manifestOf(journal: Journal, meta: Omit<Manifest, 'version' | 'entries' | 'run' | 'state'>, state: Manifest['state']): Manifest {
  return {
    version: 1,
    run: posix.basename(journal.backupDir),
    ...meta,
    state,
    entries: journal.entries.filter((e) => !e.dir).map((e) => ({ path: e.path, existed: e.before.kind !== 'absent', backup: e.backup })),
  };
}

// $1 the run's directory, $2 the manifest's name, $3 its length in bytes; the manifest on stdin.
// A connection lost mid-transfer ends stdin early and cat still exits 0: a short
// manifest is never renamed into place (the journal then stands in for it).
const WRITE_MANIFEST = `set -e
tmp=$1/.manifest.tmp
trap 'rm -f -- "$tmp"' EXIT
${EXIT_ON_SIGNALS}
mkdir -p -m 0700 -- "$1"
umask 077
cat > "$tmp"
got=$(wc -c < "$tmp")
if [ "$((got))" -ne "$3" ]; then echo "received $((got)) of $3 bytes of the manifest (cut short)" >&2; exit 1; fi
mv -f -- "$tmp" "$1/$2"`;

/** The manifest's write, as a command of its own (writeManifest) or before the gate's nginx -t. */
export function manifestWrite(journal: Journal, manifest: Manifest): Before {
  const body = JSON.stringify(manifest, null, 2) + '\n';
  return { script: WRITE_MANIFEST, args: [journal.backupDir, MANIFEST, String(Buffer.byteLength(body))], stdin: body, what: `writing the backup manifest in ${journal.backupDir}` };
}

/** Written atomically (temp + rename) in the run's directory; holds paths only, never content. */
export async function writeManifest(r: Remote, journal: Journal, manifest: Manifest): Promise<void> {
  const w = manifestWrite(journal, manifest);
  await privilegedOk(r, w.what, w.script, w.args, w.stdin);
}

/**
 * Shell, run in the backup directory with $keep set: removes all but the
 * newest $keep run directories and prints "pruned <run>" for each. The last
 * thing a run does under its lock (see releaseLock), so that no other run's
 * directory is in the making.
 */
export const PRUNE_RUNS = `${SORTED_RUNS} | head -n -"$keep" | while IFS= read -r d; do rm -rf -- "$d" && echo "pruned $d"; done`;

/**
 * A run's manifest completed from the journal its writes left (`E|C <path>`
 * lines, in order): the manifest is written once the write stages are over,
 * the journal before each write, so a run killed or cut off before has no
 * manifest (state "interrupted"), and one killed during a later fallback
 * rewrite has a path its manifest does not list.
 */
export function manifestFromJournal(backupDir: string, run: string, journal: string, manifest: Manifest | null = null): Manifest {
  const entries: ManifestEntry[] = [...(manifest?.entries ?? [])];
  for (const line of journal.split('\n')) {
    const m = /^([EC]) (\/.*)$/.exec(line);
    if (!m || entries.some((e) => e.path === m[2])) continue;
    const existed = m[1] === 'E';
    entries.push({ path: m[2], existed, backup: existed ? posix.join(backupDir, run, m[2]) : null });
  }
  if (manifest) return { ...manifest, entries };
  return {
    version: 1,
    run,
    host: '',
    command: 'a run that did not finish (killed, interrupted or disconnected)',
    started: stampTime(run) ?? run,
    state: 'interrupted',
    entries,
  };
}

/** The manifests kept on the host, oldest first, completed from each run's journal. */
export async function listBackups(r: Remote, backupDir: string): Promise<Manifest[]> {
  const out = await privilegedOk(
    r,
    `listing ${backupDir}`,
    `cd -- "$1" 2>/dev/null || exit 0
for d in $(${SORTED_RUNS}); do
  [ -f "$d/$2" ] || [ -f "$d/$3" ] || continue
  printf '%s\\035' "$d"; cat "$d/$2" 2>/dev/null; printf '\\035'; cat "$d/$3" 2>/dev/null; printf '\\036'
done`,
    [backupDir, MANIFEST, JOURNAL],
  );
  return out
    .toString('utf8')
    .split('\u001e')
    .filter((t) => t.trim())
    .map((t) => {
      const [run, manifest, journal] = t.split('\u001d');
      return manifestFromJournal(backupDir, run, journal ?? '', readManifest(manifest));
    });
}

/**
 * A manifest's text, or null when there is none or it cannot be read (written
 * by hand, or torn by a crash): the run is then rebuilt from its journal, as an
 * interrupted one, rather than one bad file hiding every other run's backups.
 */
function readManifest(text: string | undefined): Manifest | null {
  if (!text?.trim()) return null;
  try {
    const m = JSON.parse(text) as Manifest;
    return m && typeof m === 'object' && Array.isArray(m.entries) ? m : null;
  } catch {
    return null;
  }
}
