// Helpers for the safety and fault-injection tests (safety.test.ts,
// faults.test.ts): runs of the real CLI that can be signalled mid-way, a
// record of everything they printed (scanned for tokens at the end), the
// lab's sshd log (did a run connect?), tmpfs mounts, and the managed files.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DOMAIN, LAB, LINK, MAPS, pgrep, REPO, SITE, type RunResult } from './lab.js';
import { tempDir } from '../tempdir.js';

export const HOOK = join(LAB, `letsencrypt/renewal-hooks/deploy/${DOMAIN}-nginx-reload`);
export const MANAGED = [HOOK, MAPS, SITE, LINK];
export const LOCK = '/run/lock/converge.lock';
export const SSHD_LOG = join(LAB, 'run/sshd.log');
export const SUDO_LOG = join(LAB, 'run/sudo.log');
export const BACKUPS = join(LAB, 'backups');
const NGINX_CONF = join(LAB, 'nginx/nginx.conf');

// ---- everything the runs printed ------------------------------------------------

export interface Recorded extends RunResult {
  args: string[];
  /** A token this run generated and showed once on stderr (allowed there, once). */
  shown?: string;
}

/** Every run of the test file, and every manifest seen, for the final token scan. */
export const record: { runs: Recorded[]; manifests: Map<string, string>; tokens: Set<string> } = {
  runs: [],
  manifests: new Map(),
  tokens: new Set(),
};

/** Tokens the scan must never find in output. */
export function secret(...tokens: string[]): void {
  for (const t of tokens) record.tokens.add(t);
}

function collectManifests(): void {
  if (!existsSync(BACKUPS)) return;
  for (const run of readdirSync(BACKUPS)) {
    for (const f of ['manifest.json', 'journal']) {
      const m = join(BACKUPS, run, f);
      if (existsSync(m)) record.manifests.set(m + '@' + statSync(m).mtimeMs, readFileSync(m, 'utf8'));
    }
  }
}

const NEW_TOKEN = /shown once, converge keeps no copy of it:\n\s+(\S+)\n/;

function remember(args: string[], res: RunResult): Recorded {
  const rec: Recorded = { ...res, args };
  const m = NEW_TOKEN.exec(res.stderr);
  if (m) {
    rec.shown = m[1];
    secret(m[1]);
  }
  record.runs.push(rec);
  collectManifests();
  return rec;
}

function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const full: NodeJS.ProcessEnv = { ...process.env, IA_ENSO_OLLAMA_BEARER_TOKEN: undefined, CI: 'true', ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return full;
}

export interface Started {
  pid: number;
  startedAt: number;
  /** Resolves when the process has exited (code null when a signal ended it). */
  done: Promise<Recorded & { signal: NodeJS.Signals | null; ms: number }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `zx tasks/<task> args` (converge.mjs by default) without waiting: it can be signalled. */
export function start(args: string[], env: Record<string, string | undefined> = {}, task = 'converge.mjs', timeoutMs = 60_000): Started {
  const child = spawn(join(REPO, 'node_modules/.bin/zx'), [join(REPO, 'tasks', task), ...args], { env: childEnv(env), cwd: REPO });
  const startedAt = Date.now();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Recorded & { signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      const rec = remember(args, { code: code ?? 99, stdout, stderr });
      resolve({ ...rec, code: code ?? -1, signal, ms: Date.now() - startedAt });
    }),
  );
  return { pid: child.pid!, startedAt, done, kill: (s) => child.kill(s) };
}

/** Runs the CLI to completion (like lab.converge) and records what it printed. */
export async function run(args: string[], env: Record<string, string | undefined> = {}, task = 'converge.mjs', timeoutMs = 60_000): Promise<Recorded & { signal: NodeJS.Signals | null }> {
  return start(args, env, task, timeoutMs).done;
}

/** The text of a stack trace: a clear error never shows one. */
export const STACK = /^\s+at .+[:(]\d+/m;

// ---- the lab host ----------------------------------------------------------------------

/** How many SSH logins the lab's sshd has accepted so far: a run that connected adds one. */
export function sshLogins(): number {
  return (readFileSync(SSHD_LOG, 'utf8').match(/Accepted publickey for converge-lab/g) ?? []).length;
}

/** The privileged commands the lab user has run so far (the lab's sudoers logs each to run/sudo.log). */
export function sudoLog(): string[] {
  return existsSync(SUDO_LOG) ? readFileSync(SUDO_LOG, 'utf8').split('\n').filter((l) => l.includes(' : converge-lab : ')) : [];
}

/**
 * Watches, in order, the lab's ACME challenge directory (created here, so
 * that the probe file is its only change) and the host lock: events are
 * "probe-file <rename|change> <name>" and "lock <rename|change>". One inotify
 * queue serves both watchers, so their events keep the order they happened in.
 */
export function watchProbeFileAndLock(): { events: string[]; dir: string; stop: () => void } {
  const wellKnown = join(LAB, 'www/certbot/.well-known');
  const dir = join(wellKnown, 'acme-challenge');
  const made = !existsSync(wellKnown);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const events: string[] = [];
  // inotify names the entry, not what happened to it; a file's first event is its creation.
  const watchers = [
    watch(dir, (type, name) => events.push(`probe-file ${type} ${name}`)),
    watch(dirname(LOCK), (type, name) => {
      if (name === basename(LOCK)) events.push(`lock ${type}`);
    }),
  ];
  return {
    events,
    dir,
    stop: () => {
      for (const w of watchers) w.close();
      if (made) rmSync(wellKnown, { recursive: true, force: true });
    },
  };
}

/** `nginx -t` on the lab's live configuration. */
export function nginxTest(): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync('nginx', ['-t', '-c', NGINX_CONF], { stdio: 'pipe' }).toString() };
  } catch (err) {
    return { ok: false, output: String((err as { stderr?: Buffer }).stderr ?? err) };
  }
}

/** What a managed path holds: file bytes with mode and owner, a link target, or absent. */
export function state(p: string): string {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return 'absent';
  }
  if (st.isSymbolicLink()) return `link -> ${readlinkSync(p)}`;
  return `file ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}\n${readFileSync(p, 'utf8')}`;
}

export function states(paths = MANAGED): Map<string, string> {
  return new Map(paths.map((p) => [p, state(p)]));
}

/** Temp files (`.NAME.converge-tmp`) anywhere under the lab's nginx tree and the hook directory. */
export function tempFiles(): string[] {
  const found: string[] = [];
  for (const d of [join(LAB, 'nginx/conf.d'), join(LAB, 'nginx/sites-available'), join(LAB, 'nginx/sites-enabled'), dirname(HOOK)]) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (f.endsWith('.converge-tmp')) found.push(join(d, f));
  }
  return found;
}

/**
 * After a run was killed or cut off: what it left running on the host ends on
 * its own (its temp file removed on the way). Waits `ms`, then up to 5 s for
 * the temp files to go; a file that stays is for the caller's assertions.
 */
export async function hostSettled(ms = 300): Promise<void> {
  await sleep(ms);
  await until(() => tempFiles().length === 0, 5000);
}

/** Files nginx's include globs (conf.d/*.conf, sites-enabled/*) load: never a temp file. */
export function includedFiles(): string[] {
  const conf = readdirSync(join(LAB, 'nginx/conf.d')).filter((f) => !f.startsWith('.') && f.endsWith('.conf'));
  const sites = readdirSync(join(LAB, 'nginx/sites-enabled')).filter((f) => !f.startsWith('.'));
  return [...conf.map((f) => join(LAB, 'nginx/conf.d', f)), ...sites.map((f) => join(LAB, 'nginx/sites-enabled', f))];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every `stepMs` until true (returns true) or `ms` elapse (false). */
export async function until(cond: () => boolean, ms = 15_000, stepMs = 10): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(stepMs);
  }
  return cond();
}

/** A lock directory as lib/lock.ts writes it, owned by `pid` (with its start time, or a made-up one). */
export function plantLock(pid: number, line: string, starttime?: string): void {
  execFileSync('mkdir', ['-p', '-m', '0700', LOCK]);
  const start = starttime ?? procStart(pid) ?? '1';
  writeFileSync(join(LOCK, 'holder'), `${pid} ${start}\n${line}\n`);
}

/** Field 22 of /proc/PID/stat (start time in clock ticks), as lib/lock.ts reads it. */
export function procStart(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19];
  } catch {
    return null;
  }
}

/** The pid of a process that has exited. */
export function deadPid(): number {
  const out = execFileSync('sh', ['-c', 'true & echo $!']).toString().trim();
  return Number(out);
}

export function removeLock(): void {
  execFileSync('rm', ['-rf', '--', LOCK]);
}

/** The sshd processes serving converge-lab sessions right now (`sshd: converge-lab...`). */
export function labSessions(): number[] {
  return pgrep(['-f', '^sshd: converge-lab']).map(Number);
}

// ---- mounts ---------------------------------------------------------------------------------

/**
 * Runs `fn` with a small tmpfs mounted over `dir` holding a copy of what was
 * there (mode and owner kept). Always unmounted afterwards, even on failure.
 */
export async function withTmpfs<T>(dir: string, sizeKb: number, fn: () => Promise<T>): Promise<T> {
  const save = tempDir('converge-mount-');
  execFileSync('cp', ['-a', `${dir}/.`, save]);
  const st = statSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=${(st.mode & 0o7777).toString(8)},uid=${st.uid},gid=${st.gid}`, `converge-lab-${basename(dir)}`, dir]);
  try {
    execFileSync('cp', ['-a', `${save}/.`, dir]);
    return await fn();
  } finally {
    try {
      execFileSync('umount', [dir]);
    } catch {
      execFileSync('umount', ['-l', dir]);
    }
    execFileSync('rm', ['-rf', '--', save]);
  }
}

/** Fills the filesystem holding `dir` (a hidden file, loaded by no include). */
export function fill(dir: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, '.filler')}`, 'bs=1k'], { stdio: 'pipe' });
  } catch {
    // dd stops with "No space left on device": that is the point.
  }
}

export function labMounts(): string[] {
  return execFileSync('mount').toString().split('\n').filter((l) => l.includes('converge-lab'));
}

// ---- token scan --------------------------------------------------------------------------

/** Sizes of the lab's logs now: the scan reads what was appended after. */
export function logOffsets(): Map<string, number> {
  const dir = join(LAB, 'run');
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .map((f) => [join(dir, f), statSync(join(dir, f)).size]),
  );
}

function appendedSince(offsets: Map<string, number>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file] of logOffsets()) {
    const from = offsets.get(file) ?? 0;
    const buf = readFileSync(file);
    out.set(file, buf.subarray(Math.min(from, buf.length)).toString('utf8'));
  }
  return out;
}

/**
 * Where any recorded token appears in what the runs printed, in the lab's
 * logs since `offsets`, or in a backup manifest. A generated token may appear
 * once: in the stderr notice of the run that generated it.
 */
export function leaks(offsets: Map<string, number>): string[] {
  const found: string[] = [];
  const tokens = [...record.tokens];
  const label = (t: string) => `token #${tokens.indexOf(t) + 1} (${t.length} chars)`;
  for (const [i, r] of record.runs.entries()) {
    for (const t of tokens) {
      if (r.stdout.includes(t)) found.push(`${label(t)} in the stdout of run ${i + 1} (${r.args.join(' ')})`);
      const inErr = r.stderr.split(t).length - 1;
      const allowed = r.shown === t ? 1 : 0;
      if (inErr > allowed) found.push(`${label(t)} ${inErr}x in the stderr of run ${i + 1} (${r.args.join(' ')})`);
    }
  }
  for (const [file, text] of appendedSince(offsets)) for (const t of tokens) if (text.includes(t)) found.push(`${label(t)} in ${file}`);
  for (const [file, text] of record.manifests) for (const t of tokens) if (text.includes(t)) found.push(`${label(t)} in ${file}`);
  return found;
}

/** Samples every process's command line while it runs; returns the pids whose command line held a token. */
export function watchCommandLines(tokens: string[], everyMs = 20): { stop: () => string[]; samples: () => number } {
  const hits = new Set<string>();
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let cmd: string;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      for (const t of tokens) if (cmd.includes(t)) hits.add(`pid ${pid}: ${cmd.split('\0')[0]} (token #${tokens.indexOf(t) + 1})`);
    }
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return [...hits];
    },
    samples: () => samples,
  };
}
