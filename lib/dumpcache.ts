// What `nginx -T` told converge about a host, kept between runs for as long as
// the host can show that nothing nginx loaded has changed. A no-op run then
// spares the host nginx's whole configuration parse (certificates included),
// the largest part of a no-op's read after the SSH login and sudo.
//
// The host vouches for it in the same read: GNU stat's inode, size, mtime and
// ctime (ns) of the nginx binary, of every file the dump loaded, of each one's
// directory and of each include glob's directory. Any write, rename, chmod,
// new or removed file there changes one of them; ctime cannot be set back
// with touch. A stamp taken within SETTLE_S of a change is not trusted (file
// times are coarse: two writes in the same tick can leave the same times), as
// git does for its index. Anything doubtful means one more `nginx -T`, never
// a stale answer. The cache holds paths and times, never file contents.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import { dumpSections, stripComments } from './gather.js';

const VERSION = 1;
/** Seconds a change must be older than the stamp for the stamp to vouch for the dump. */
export const SETTLE_S = 2;

export interface DumpCacheEntry {
  version: number;
  /** What the stamp covers (the nginx binary comes first on the host, implicitly). */
  watch: string[];
  /** The stamp under which `mapVarFiles` holds; null until a read takes one before its dump. */
  stamp: string | null;
  /** Loaded files that define `map ... $connection_upgrade` (the maps file included). */
  mapVarFiles: string[];
}

/** What the read sends the host: the paths to stamp, and the stamp that would make the dump unnecessary. */
export interface DumpQuery {
  watch: string[];
  expect: string;
}

/** What the read brought back: its stamp, the host's clock when it dumped, and the dump (null: the stamp matched). */
export interface DumpRead {
  stamp: string;
  clock: number | null;
  dump: { code: number; text: string } | null;
}

export function queryOf(entry: DumpCacheEntry | null): DumpQuery {
  return entry ? { watch: entry.watch, expect: entry.stamp ?? '' } : { watch: [], expect: '' };
}

/**
 * The paths whose stamp vouches for a dump: the files it loaded, their
 * directories and each include glob's directory. Null when a stamp cannot
 * vouch for it (a glob in a directory name, a path with a newline).
 */
export function watchList(dump: string): string[] | null {
  const sections = dumpSections(dump);
  if (sections.length === 0) return null;
  // nginx resolves a relative include against the main file's directory.
  const prefix = posix.dirname(sections[0].file);
  const watch = new Set<string>();
  for (const { file } of sections) watch.add(file).add(posix.dirname(file));
  for (const section of sections) {
    const body = stripComments(section.body);
    for (const m of body.matchAll(/(?:^|[\s;{}])include\s+(?:"([^"]*)"|'([^']*)'|([^\s;]+))\s*;/g)) {
      const pattern = posix.resolve(prefix, m[1] ?? m[2] ?? m[3]);
      if (!/[*?[]/.test(pattern)) continue; // a plain include is one of the loaded files
      const dir = posix.dirname(pattern);
      if (/[*?[]/.test(dir)) return null;
      watch.add(dir);
    }
  }
  const list = [...watch].sort();
  return list.some((p) => p.includes('\n') || p === '') ? null : list;
}

/** The ctimes of a stamp of `n` paths plus the binary, if every one was stat'ed (the last field is stat's exit code). */
function stampCtimes(stamp: string, n: number): number[] | null {
  const fields = stamp.trim().split(' ');
  if (fields.length !== n + 2 || fields.pop() !== '0') return null;
  const times: number[] = [];
  for (const f of fields) {
    const m = /^\d+:\d+:\d+\.\d{9}:(\d+)\.\d{9}$/.exec(f);
    if (!m) return null;
    times.push(Number(m[1]));
  }
  return times;
}

export interface Settled {
  mapVarFiles: string[];
  /** What to keep for the next run: an entry, null to forget the host, or 'keep' to leave it as it is. */
  next: DumpCacheEntry | null | 'keep';
}

/**
 * After the read: the files defining $connection_upgrade (from the dump, or
 * from the entry when the stamp matched), and what to keep for next time.
 * A stamp is kept only if it covers the same paths as this dump loaded and
 * every ctime in it is SETTLE_S older than the host's clock (an mtime may
 * be set anywhere by touch: it only has to be equal next time).
 */
export function settle(entry: DumpCacheEntry | null, read: DumpRead, mapVarFilesOf: (dump: string) => string[]): Settled {
  if (!read.dump) {
    if (!entry) throw new Error('the read reused a dump converge does not have');
    return { mapVarFiles: entry.mapVarFiles, next: 'keep' };
  }
  if (read.dump.code !== 0) return { mapVarFiles: [], next: null };
  const mapVarFiles = mapVarFilesOf(read.dump.text);
  const watch = watchList(read.dump.text);
  if (!watch) return { mapVarFiles, next: null };
  const sameWatch = entry !== null && entry.watch.length === watch.length && entry.watch.every((p, i) => p === watch[i]);
  const times = sameWatch ? stampCtimes(read.stamp, watch.length) : null;
  const settled = times !== null && read.clock !== null && times.every((t) => t < read.clock! - SETTLE_S);
  return { mapVarFiles, next: { version: VERSION, watch, stamp: settled ? read.stamp.trim() : null, mapVarFiles } };
}

/** One JSON file per host (and nginx command); best effort: a cache that cannot be read or written only costs a dump. */
export class DumpCache {
  constructor(readonly dir: string) {}

  /** The cache directory: CONVERGE_CACHE_DIR (empty: no cache), else $XDG_CACHE_HOME/converge, else ~/.cache/converge. */
  static fromEnv(env: NodeJS.ProcessEnv): DumpCache | null {
    const dir = env.CONVERGE_CACHE_DIR ?? join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'converge');
    return dir === '' ? null : new DumpCache(join(dir, 'nginx-dump'));
  }

  static key(host: string, where: string, nginxCommand: string): string {
    return createHash('sha256').update(JSON.stringify([host, where, nginxCommand])).digest('hex').slice(0, 32);
  }

  load(key: string): DumpCacheEntry | null {
    try {
      const e = JSON.parse(readFileSync(this.file(key), 'utf8')) as DumpCacheEntry;
      const ok = e.version === VERSION && Array.isArray(e.watch) && e.watch.every((p) => typeof p === 'string') && Array.isArray(e.mapVarFiles) && (e.stamp === null || typeof e.stamp === 'string');
      return ok ? e : null;
    } catch {
      return null;
    }
  }

  update(key: string, next: DumpCacheEntry | null | 'keep'): void {
    if (next === 'keep') return;
    try {
      if (next === null) return rmSync(this.file(key), { force: true });
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      // Written aside, then renamed: hosts run in parallel, and a reader never sees half a file.
      const tmp = `${this.file(key)}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(next) + '\n', { mode: 0o600 });
      renameSync(tmp, this.file(key));
    } catch {
      // Best effort: the next run dumps again.
    }
  }

  private file(key: string): string {
    return join(this.dir, `${key}.json`);
  }
}
