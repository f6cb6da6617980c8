// Helpers for integration tests against the local lab (test/lab/up.sh):
// run the real CLI, snapshot the lab's nginx tree, read nginx's worker PIDs.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../tempdir.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const LAB = process.env.CONVERGE_LAB ?? '/var/lib/converge-lab';
export const NGINX_DIR = join(LAB, 'nginx');
export const DOMAIN = 'gateway.converge.test';
export const MAPS = join(NGINX_DIR, 'conf.d/ia-enso-http-maps.conf');
export const SITE = join(NGINX_DIR, `sites-available/${DOMAIN}.conf`);
export const LINK = join(NGINX_DIR, `sites-enabled/${DOMAIN}.conf`);
export const LAB_INVENTORY = join(REPO, 'inventory/lab.yml');
export const TOKEN = 'lab-token-0123456789abcdef0123456789abcdef';
/** The test run's own dump cache (lib/dumpcache.ts), shared by its runs as a user's would be. */
export const CACHE_DIR = tempDir('converge-test-cache-');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `zx tasks/<task>` (converge.mjs by default) as a user would, without a TTY. */
export function converge(args: string[], env: Record<string, string | undefined> = {}, task = 'converge.mjs'): Promise<RunResult> {
  const zx = join(REPO, 'node_modules/.bin/zx');
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, IA_ENSO_OLLAMA_BEARER_TOKEN: undefined, CI: 'true', CONVERGE_CACHE_DIR: CACHE_DIR, ...env };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  return new Promise((resolve) => {
    execFile(zx, [join(REPO, 'tasks', task), ...args], { env: fullEnv, cwd: REPO, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A websocket map as another site on the proxy would define it. */
export const WEBSOCKET_MAP = "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    '' close;\n}\n";

/** Runs `body` with an extra file `name` in the lab's conf.d, removed afterwards whatever happens. */
export async function withConfD(name: string, text: string, body: () => Promise<void>): Promise<void> {
  const file = join(NGINX_DIR, 'conf.d', name);
  writeFileSync(file, text);
  try {
    await body();
  } finally {
    rmSync(file, { force: true });
  }
}

export function resetLab(): void {
  execFileSync('bash', [join(REPO, 'test/lab/reset.sh')], { stdio: 'inherit' });
}

export interface Entry {
  kind: 'file' | 'link' | 'dir';
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  sha256?: string;
  linkTo?: string;
}

/** Every path under a directory with its bytes (hash), mode, owner, link target and mtime. */
export function snapshot(dir = NGINX_DIR): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
      if (st.isSymbolicLink()) out.set(p, { kind: 'link', ...base, linkTo: readlinkSync(p) });
      else if (st.isDirectory()) {
        out.set(p, { kind: 'dir', ...base, mtimeMs: 0 });
        walk(p);
      } else out.set(p, { kind: 'file', ...base, sha256: createHash('sha256').update(readFileSync(p)).digest('hex') });
    }
  };
  walk(dir);
  return out;
}

/** Differences between two snapshots, as readable lines (empty when identical). */
export function compare(a: Map<string, Entry>, b: Map<string, Entry>): string[] {
  const diffs: string[] = [];
  for (const [p, e] of a) {
    const f = b.get(p);
    if (!f) diffs.push(`removed ${p}`);
    else if (JSON.stringify(e) !== JSON.stringify(f)) diffs.push(`changed ${p}: ${JSON.stringify(e)} -> ${JSON.stringify(f)}`);
  }
  for (const p of b.keys()) if (!a.has(p)) diffs.push(`added ${p}`);
  return diffs;
}

const WORKERS = 2; // worker_processes in the lab's nginx.conf

/**
 * The PIDs of nginx's current workers: a reload replaces them. Workers of an
 * earlier reload that are still winding down are waited out (bounded).
 */
export function workerPids(): string {
  for (let i = 0; i < 50; i++) {
    const pids = currentWorkers();
    if (pids.length === WORKERS) return pids.join(',');
    execFileSync('sleep', ['0.1']);
  }
  throw new Error(`nginx does not settle to ${WORKERS} workers: ${currentWorkers().join(',')}`);
}

function currentWorkers(): string[] {
  const master = readFileSync(join(LAB, 'run/nginx.pid'), 'utf8').trim();
  const children = execFileSync('pgrep', ['-P', master]).toString().trim().split('\n');
  const current = children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() === 'nginx: worker process';
    } catch {
      return false; // exited meanwhile
    }
  });
  return current.sort();
}

/** Writes an inventory for the lab host with some variables changed. */
export function labInventory(overrides: Record<string, string | number>): string {
  const dir = tempDir('converge-inv-');
  const file = join(dir, 'inventory.yml');
  const extra = Object.entries(overrides).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join('\n');
  const base = readFileSync(LAB_INVENTORY, 'utf8').replace(/^ {4}lab-proxy:\s*$/m, `    lab-proxy:\n${extra}`);
  writeFileSync(file, base);
  return file;
}

export interface Target {
  domain: string;
  /** PEM file of the CA the gateway's certificate must chain to. */
  ca: string;
}

export const LAB_TARGET: Target = { domain: DOMAIN, ca: join(LAB, 'pki/ca.pem') };

/** An HTTPS request to a lab gateway, as a client would make it (certificate checked). */
export function gateway(path: string, headers: Record<string, string> = {}, target: Target = LAB_TARGET): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: 18443, path, servername: target.domain, ca: readFileSync(target.ca), headers: { Host: `${target.domain}:18443`, ...headers }, agent: false },
      (res) => {
        let body = '';
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Runs a lab script (test/lab/NAME.sh) with arguments. */
export function labScript(name: string, ...args: string[]): string {
  return execFileSync('bash', [join(REPO, `test/lab/${name}.sh`), ...args]).toString();
}

/** What the fake Ollama received last (headers included). */
export async function lastOllamaRequest(): Promise<{ headers: Record<string, string> }> {
  const res = await fetch('http://127.0.0.1:31434/__lab/last-request');
  return (await res.json()) as { headers: Record<string, string> };
}

export function fileMode(path: string): string {
  const st = lstatSync(path);
  return `${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid}`;
}

/** What `pgrep ARGS` prints, a line each: nothing when no process matches (pgrep then exits 1). */
export function pgrep(args: string[]): string[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
