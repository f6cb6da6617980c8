// Helpers for the fleet and connection tests: inventories built from the lab's
// own variables, the lab sshds' logs (who really connected), a real
// ssh-agent, and a converge run bounded by a deadline (a hang is a failure).
import { execFileSync, spawn } from 'node:child_process';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { LAB, LAB_INVENTORY, pgrep, REPO, type RunResult } from './lab.js';
import { tempDir } from '../tempdir.js';

export { tempDir };

export const RUN_DIR = join(LAB, 'run');
export const SSHD_LOG = join(RUN_DIR, 'sshd.log');
export const BASTION_LOG = join(RUN_DIR, 'bastion.log');
export const CLIENT = join(LAB, 'client');
export const LAB_KEY = join(CLIENT, 'id_ed25519');
export const PASS_KEY = join(CLIENT, 'id_ed25519_pass');
export const LAB_KNOWN_HOSTS = join(CLIENT, 'known_hosts');
export const BASTION = 'converge-lab@127.0.0.1:2223';
/** Nothing listens there (checked by closedPort()). */
export const CLOSED_PORT = 2299;
/** The lab bastion may tunnel there (test/lab/common.sh SILENT_PORT): see silentListener(). */
export const SILENT_PORT = 2297;

type Vars = Record<string, unknown>;

/** The variables of inventory/lab.yml (all.vars). */
export function labVars(): Vars {
  return { ...(parse(readFileSync(LAB_INVENTORY, 'utf8')).all.vars as Vars) };
}

/** Writes an inventory (the `all:` group given) to a new temporary file. */
export function writeInventory(all: unknown): string {
  const file = join(tempDir('converge-inv-'), 'inventory.yml');
  writeFileSync(file, stringify({ all }));
  return file;
}

/** The lab host alone, with some variables changed (null removes one). */
export function labHost(overrides: Vars = {}, name = 'lab-proxy'): string {
  const vars = { ...labVars(), ...overrides };
  for (const k of Object.keys(vars)) if (vars[k] === null) delete vars[k];
  return writeInventory({ vars, hosts: { [name]: null } });
}

/** A position in a log file; since() returns the lines written after it. */
export function mark(file: string): { since: () => string[] } {
  const size = readFileSync(file).length;
  return { since: () => readFileSync(file).subarray(size).toString('utf8').split('\n').filter(Boolean) };
}

/** SSH connections the lab sshd (or the bastion) accepted in these log lines. */
export const connections = (lines: string[]) => lines.filter((l) => /^Connection from /.test(l)).length;
export const logins = (lines: string[]) => lines.filter((l) => /^Accepted publickey for /.test(l)).length;

/** The SHA256 fingerprint of a public key file, as ssh-keygen prints it. */
export function fingerprintOf(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubFile]).toString().split(' ')[1];
}

export function hostKeyLine(port: number): string {
  const pub = join(LAB, 'sshd', port === 2223 ? 'bastion_host_ed25519_key.pub' : 'ssh_host_ed25519_key.pub');
  return `[127.0.0.1]:${port} ${readFileSync(pub, 'utf8').split(' ').slice(0, 2).join(' ')}`;
}

/** A valid ed25519 public key that is no lab host's. */
export function strangerKey(): string {
  const dir = tempDir('converge-key-');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
  return readFileSync(join(dir, 'k.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
}

export function writeKnownHosts(lines: string[]): string {
  const file = join(tempDir('converge-kh-'), 'known_hosts');
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  return file;
}

export interface Agent {
  sock: string;
  env: Record<string, string>;
  add(key: string, passphrase?: string): void;
  stop(): void;
}

/** A real ssh-agent on a private socket (stopped by its pid). */
export function startAgent(): Agent {
  const dir = tempDir('converge-agent-');
  const sock = join(dir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-s', '-a', sock]).toString();
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
  const env = { SSH_AUTH_SOCK: sock };
  return {
    sock,
    env,
    add(key, passphrase) {
      // ssh-add reads a passphrase only from a terminal or SSH_ASKPASS.
      const askpass = join(dir, 'askpass.sh');
      writeFileSync(askpass, `#!/bin/sh\ncat ${JSON.stringify(join(dir, 'pass'))}\n`, { mode: 0o700 });
      writeFileSync(join(dir, 'pass'), passphrase ?? '', { mode: 0o600 });
      execFileSync('ssh-add', ['-q', key], { env: { ...process.env, ...env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    },
    stop() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Runs the CLI like lab.ts's converge(), but fails the run (code 124) when it
 * is still going after `deadlineMs`: used where a hang is the bug.
 */
export function convergeWithin(deadlineMs: number, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult & { ms: number }> {
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, IA_ENSO_OLLAMA_BEARER_TOKEN: undefined, CI: 'true', ...env };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(join(REPO, 'node_modules/.bin/zx'), [join(REPO, 'tasks/converge.mjs'), ...args], { env: fullEnv, cwd: REPO });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, deadlineMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? 124 : (code ?? 99), stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Polls `probe` every 100 ms until it returns a value (bounded). */
export async function waitFor<T>(what: string, probe: () => T | null | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** PIDs of processes whose command line is exactly `argv`. */
export function pidsOf(argv: string[]): number[] {
  const out: number[] = [];
  for (const name of execFileSync('ls', ['/proc']).toString().split('\n')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') === argv.join('\0') + '\0') out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Direct children of a process. */
export function childrenOf(pid: number): number[] {
  return pgrep(['-P', String(pid)]).map(Number);
}

export function labSshdPid(): number {
  return Number(readFileSync(join(RUN_DIR, 'sshd.pid'), 'utf8').trim());
}

export function killQuietly(pids: number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

export type Report = { mode: string; summary: Record<string, number>; hosts: { host: string; status: string; error?: string; notes: string[]; changes: { path: string; action: string }[] }[] };

export function report(run: RunResult): Report {
  try {
    return JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`not a JSON report (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

export const hostOf = (r: Report, name: string) => {
  const h = r.hosts.find((x) => x.host === name);
  if (!h) throw new Error(`no host ${name} in the report: ${r.hosts.map((x) => x.host).join(', ')}`);
  return h;
};

/** A TCP listener on 127.0.0.1 that counts the connections it gets (use as a host's ssh_port). */
export async function watcher(): Promise<{ port: number; count: () => number; close: () => void }> {
  let n = 0;
  const server = createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { port, count: () => n, close: () => server.close() };
}

/**
 * A target whose packets go unanswered, on loopback: a listener whose process
 * never accepts (its event loop blocked in Atomics.wait), its small backlog
 * filled by connections of our own. Linux then drops every new SYN, so a
 * connect to the port waits as for a firewalled host (the kernel retries for
 * minutes). Checked: the last connection tried does not complete.
 */
export async function silentListener(port: number): Promise<{ close: () => void }> {
  const code = `require('net').createServer().listen({ port: ${port}, host: '127.0.0.1', backlog: 1 }, () => { console.log('ready'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); })`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`the silent listener on ${port} exited (${c})`)));
  });
  const fillers: Socket[] = [];
  const close = () => {
    for (const f of fillers) f.destroy();
    child.kill('SIGKILL');
  };
  for (let i = 0; i < 8; i++) {
    const s = netConnect(port, '127.0.0.1');
    s.on('error', () => {});
    const connected = await new Promise<boolean>((r) => {
      s.once('connect', () => r(true));
      setTimeout(() => r(false), 300);
    });
    if (!connected) {
      s.destroy();
      return { close };
    }
    fillers.push(s);
  }
  close();
  throw new Error(`port ${port} still accepts connections after 8: the silent listener does not work here`);
}
