// tasks/drift.mjs against the lab over real SSH: each kind of out-of-band
// change is made for real on the lab's nginx tree (or certificate), and the
// check must report it with the right path and reason, exit 2, write nothing
// on the host, and never print the token.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { compare, converge, DOMAIN, gateway, LAB, LAB_INVENTORY, labInventory, LINK, MAPS, NGINX_DIR, REPO, resetLab, SITE, snapshot, TOKEN, workerPids, type RunResult } from './lab.js';
import { tempDir } from '../tempdir.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
const NGINX_CONF = join(NGINX_DIR, 'nginx.conf');
const OTHER_TOKEN = 'intruder-token-0123456789abcdef0123456789ab';
const OUT = tempDir('converge-drift-test-');

/** Everything a run printed or wrote: the token must be in none of it. */
const written: string[] = [];

/** Runs `zx tasks/drift.mjs` as the timer would, without a TTY. */
function drift(args: string[], env: Record<string, string | undefined> = ENV): Promise<RunResult> {
  const zx = join(REPO, 'node_modules/.bin/zx');
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, IA_ENSO_OLLAMA_BEARER_TOKEN: undefined, CI: 'true', ...env };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  return new Promise((resolve) => {
    execFile(zx, [join(REPO, 'tasks/drift.mjs'), ...args], { env: fullEnv, cwd: REPO, timeout: 180_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 99) : 0;
      written.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Entry {
  path: string;
  action: string;
  reasons: string[];
  diff: string;
  since: string;
}
interface HostReport {
  host: string;
  status: string;
  drift: Entry[];
  error?: string;
  notes: string[];
  remediation?: { status: string; repaired: string[]; found: Entry[] };
}

/** A drift run with --json, --report and --textfile: the parsed report (from the file) and metrics. */
async function check(inventory = LAB_INVENTORY, extra: string[] = [], env: Record<string, string | undefined> = ENV) {
  const report = join(OUT, 'report.json');
  const textfile = join(OUT, 'metrics', 'converge.prom');
  rmSync(report, { force: true });
  const run = await drift(['-i', inventory, '--json', '--report', report, '--textfile', textfile, ...extra], env);
  const doc = JSON.parse(readFileSync(report, 'utf8'));
  const metrics = readFileSync(textfile, 'utf8');
  written.push(readFileSync(report, 'utf8'), metrics);
  assert.equal(JSON.parse(run.stdout), doc, '--json prints the report that was written');
  assert.is(doc.exit_code, run.code);
  const host = (name = 'lab-proxy'): HostReport => doc.hosts.find((h: HostReport) => h.host === name);
  return { run, doc, metrics, host };
}

/** metric{host="h"} -> value, from the textfile. */
function sample(metrics: string, name: string, host?: string): number | undefined {
  const re = new RegExp(`^${name}${host ? `\\{host="${host}"\\}` : ''} (\\S+)$`, 'm');
  const m = re.exec(metrics);
  return m ? Number(m[1]) : undefined;
}

/** The lab as converge leaves it: pristine, then one real converge (which reloads nginx). */
async function fresh(inventory = LAB_INVENTORY): Promise<void> {
  resetLab();
  const run = await converge(['-i', inventory], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
}

const only = (h: HostReport) => h.drift.map((e) => `${e.action} ${e.path}`);

/** A certificate for the lab domain signed by the lab CA, valid `days`, in a temporary letsencrypt_dir. */
function shortLivedCertificate(days: number): string {
  const le = tempDir('converge-le-');
  const live = join(le, 'live', DOMAIN);
  mkdirSync(live, { recursive: true, mode: 0o700 });
  const ext = join(le, 'ext');
  writeFileSync(ext, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${DOMAIN},IP:127.0.0.1\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${DOMAIN}`, '-keyout', join(live, 'privkey.pem'), '-out', join(le, 'req.csr')], { stdio: 'ignore' });
  const serial = `0x${Date.now().toString(16)}${process.pid.toString(16)}`;
  execFileSync('openssl', ['x509', '-req', '-in', join(le, 'req.csr'), '-CA', join(LAB, 'pki/ca.pem'), '-CAkey', join(LAB, 'pki/ca.key'), '-set_serial', serial, '-days', String(days), '-sha256', '-extfile', ext, '-out', join(le, 'cert.pem')], { stdio: 'ignore' });
  writeFileSync(join(live, 'fullchain.pem'), readFileSync(join(le, 'cert.pem'), 'utf8') + readFileSync(join(LAB, 'pki/ca.pem'), 'utf8'));
  return le;
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test('no drift: exit 0, metrics 0, a valid textfile, nothing written on the host', async () => {
  await fresh();
  const before = snapshot();
  const pids = workerPids();
  const { run, doc, metrics, host } = await check();
  assert.is(run.code, 0, run.stderr);
  assert.is(host().status, 'ok');
  assert.equal(host().drift, []);
  assert.equal(doc.summary, { hosts: 1, ok: 1, drift: 0, failed: 0, unreachable: 0 });
  assert.is(sample(metrics, 'converge_drift', 'lab-proxy'), 0);
  assert.is(sample(metrics, 'converge_drift_resources', 'lab-proxy'), 0);
  assert.is(sample(metrics, 'converge_check_success', 'lab-proxy'), 1);
  assert.ok(sample(metrics, 'converge_check_duration_seconds', 'lab-proxy')! > 0);
  assert.ok(Math.abs(sample(metrics, 'converge_last_check_timestamp_seconds')! - Date.now() / 1000) < 60);
  // promtool (Debian's prometheus package, installed by test/lab/install.sh) lints the real file.
  const lint = execFileSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  assert.is(lint.trim(), '');
  assert.equal(readdirSync(join(OUT, 'metrics')), ['converge.prom'], 'no temp file left beside the metrics');
  assert.equal(compare(before, snapshot()), [], 'the check wrote nothing');
  assert.is(workerPids(), pids, 'and did not reload nginx');
});

test('an edited vhost: exit 2, the site with "content differs", and the edit not live yet', async () => {
  writeFileSync(SITE, readFileSync(SITE, 'utf8').replace('proxy_buffering off;', 'proxy_buffering on;'));
  const before = snapshot();
  const { run, metrics, host } = await check();
  assert.is(run.code, 2, run.stderr);
  assert.equal(only(host()), [`update ${SITE}`, `none ${LINK}`]);
  const [edit, live] = host().drift;
  assert.equal(edit.reasons, ['content differs']);
  assert.match(edit.diff, /-\s+proxy_buffering on;/);
  // nginx -T names the file by its path in sites-enabled; its target was modified after the last reload.
  assert.match(live.reasons[0], /after nginx last loaded its configuration .*not live yet/);
  assert.is(sample(metrics, 'converge_drift', 'lab-proxy'), 1);
  assert.is(sample(metrics, 'converge_drift_resources', 'lab-proxy'), 2);
  assert.equal(compare(before, snapshot()), []);
});

test('the site link removed: exit 2, the link with a reason that says the site is disabled', async () => {
  await fresh();
  unlinkSync(LINK);
  const { run, host } = await check();
  assert.is(run.code, 2, run.stderr);
  assert.equal(only(host()), [`create ${LINK}`]);
  assert.match(host().drift[0].reasons[0], /the site is disabled: the symlink .* was removed/);
});

test('a token changed in the maps file: exit 2, reported as a token change, neither token printed', async () => {
  await fresh();
  writeFileSync(MAPS, readFileSync(MAPS, 'utf8').split(TOKEN).join(OTHER_TOKEN));
  const { run, host } = await check();
  assert.is(run.code, 2, run.stderr);
  assert.equal(only(host()), [`update ${MAPS}`, `none ${MAPS}`]);
  assert.equal(host().drift[0].reasons, ['content differs (the Bearer token changes)']);
  assert.match(host().drift[0].diff, /<redacted:previous-bearer-token>/);
  assert.match(host().drift[1].reasons[0], /not live yet/);
});

test('the maps file made world-readable: exit 2 with the mode change only', async () => {
  await fresh();
  chmodSync(MAPS, 0o644);
  const { run, host } = await check();
  assert.is(run.code, 2, run.stderr);
  assert.equal(only(host()), [`update ${MAPS}`], 'a chmod changes no content: nothing to reload');
  assert.equal(host().drift[0].reasons, ['mode 0644 -> 0640']);
});

test('a file changed without reloading nginx: exit 2 on that file; clean once nginx reloads', async () => {
  await fresh();
  appendFileSync(NGINX_CONF, '# edited by hand, not reloaded\n');
  const { run, host } = await check();
  assert.is(run.code, 2, run.stderr);
  assert.equal(only(host()), [`none ${NGINX_CONF}`], 'nginx.conf is not managed: only the reload finding');
  assert.match(host().drift[0].reasons[0], /^modified \S+, after nginx last loaded its configuration \(\S+\): this change is not live yet/);
  execFileSync('nginx', ['-c', NGINX_CONF, '-s', 'reload'], { stdio: 'ignore' });
  workerPids(); // the reload's new workers are up
  const again = await check();
  assert.is(again.run.code, 0, JSON.stringify(again.host()));
});

test('a certificate expiring within cert_warn_days: exit 2 on the certificate; 0 with a smaller cert_warn_days', async () => {
  const le = shortLivedCertificate(5);
  try {
    const inventory = labInventory({ letsencrypt_dir: le });
    await fresh(inventory);
    const { run, host } = await check(inventory);
    assert.is(run.code, 2, run.stderr);
    assert.equal(only(host()), [`none ${le}/live/${DOMAIN}/fullchain.pem`]);
    assert.match(host().drift[0].reasons[0], /^the certificate expires on \S+, in 4 day\(s\) \(cert_warn_days: 21\)/);
    const relaxed = await check(labInventory({ letsencrypt_dir: le, cert_warn_days: 3 }));
    assert.is(relaxed.run.code, 0, JSON.stringify(relaxed.host()));

    // The certificate removed: converge would obtain one.
    unlinkSync(join(le, 'live', DOMAIN, 'fullchain.pem'));
    unlinkSync(join(le, 'live', DOMAIN, 'privkey.pem'));
    const gone = await check(inventory);
    assert.is(gone.run.code, 2, gone.run.stderr);
    // nginx still runs with the certificate in memory, but its configuration on disk no longer loads.
    assert.equal(only(gone.host()), [`create ${le}/live/${DOMAIN}`, `none ${NGINX_CONF}`]);
    assert.match(gone.host().drift[0].reasons[0], /^no certificate for gateway\.converge\.test: obtain one with certbot/);
    assert.match(gone.host().drift[1].reasons[0], /-T` fails \(.*cannot load certificate .*fullchain\.pem.*\): the configuration on disk would not load/);
    assert.not.ok(gone.host().notes.some((n) => /-T` fails/.test(n)), 'said once, as a finding, not again in a note');
  } finally {
    resetLab(); // nginx must stop using the temporary certificate before it goes
    rmSync(le, { recursive: true, force: true });
  }
});

test('an unreachable host: exit 1, converge_check_success 0, the others still checked', async () => {
  await fresh();
  const port = await closedPort();
  const inventory = join(OUT, 'two-hosts.yml');
  writeFileSync(inventory, readFileSync(LAB_INVENTORY, 'utf8') + `    dead-proxy:\n      ssh_port: ${port}\n`);
  const { run, doc, metrics, host } = await check(inventory);
  assert.is(run.code, 1, run.stderr);
  assert.is(host('dead-proxy').status, 'unreachable');
  assert.match(host('dead-proxy').error!, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.is(host('lab-proxy').status, 'ok');
  assert.equal(doc.summary, { hosts: 2, ok: 1, drift: 0, failed: 0, unreachable: 1 });
  assert.is(sample(metrics, 'converge_check_success', 'dead-proxy'), 0);
  assert.is(sample(metrics, 'converge_check_success', 'lab-proxy'), 1);
  assert.is(sample(metrics, 'converge_drift', 'dead-proxy'), undefined, 'unknown drift is not reported as 0');
  assert.is(sample(metrics, 'converge_drift', 'lab-proxy'), 0);
});

test('--history keeps when each drift was first seen', async () => {
  const history = join(OUT, 'history');
  rmSync(history, { recursive: true, force: true });
  chmodSync(MAPS, 0o644);
  const first = await check(LAB_INVENTORY, ['--history', history, '--keep', '2']);
  const since = first.host().drift[0].since;
  for (let i = 0; i < 2; i++) {
    const next = await check(LAB_INVENTORY, ['--history', history, '--keep', '2']);
    assert.is(next.host().drift[0].since, since, 'the same drift keeps its first-seen time');
    assert.ok(next.doc.timestamp > since);
  }
  const kept = readdirSync(history);
  assert.is(kept.length, 2, `--keep 2: ${kept.join(', ')}`);
  for (const f of kept) written.push(readFileSync(join(history, f), 'utf8'));
});

test('--remediate repairs the drifted host (converge, reload, verify) and the next check is clean', async () => {
  await fresh();
  writeFileSync(SITE, readFileSync(SITE, 'utf8').replace('proxy_buffering off;', 'proxy_buffering on;'));
  unlinkSync(LINK);
  chmodSync(MAPS, 0o644);
  const pids = workerPids();
  const { run, host, metrics } = await check(LAB_INVENTORY, ['--remediate']);
  assert.is(run.code, 0, run.stderr + JSON.stringify(host()));
  assert.is(host().status, 'ok');
  assert.equal(host().drift, []);
  assert.is(host().remediation!.status, 'repaired');
  assert.equal([...host().remediation!.repaired].sort(), [LINK, MAPS, SITE].sort());
  assert.is(sample(metrics, 'converge_drift', 'lab-proxy'), 0);
  assert.is(sample(metrics, 'converge_drift_repaired_resources', 'lab-proxy'), 3);
  assert.is.not(workerPids(), pids, 'nginx was reloaded with the repaired files');
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  const next = await check();
  assert.is(next.run.code, 0, JSON.stringify(next.host()));
});

test('--remediate without the token refuses a host whose maps file lost it (no new token behind the operators\' backs)', async () => {
  await fresh();
  unlinkSync(MAPS);
  const before = snapshot();
  const { run, host } = await check(LAB_INVENTORY, ['--remediate'], {});
  assert.is(run.code, 1, run.stderr);
  assert.is(host().remediation!.status, 'failed');
  assert.match(JSON.stringify(host().remediation), /lock every client out/);
  assert.equal(compare(before, snapshot()), [], 'nothing was converged');
});

test('the token never appears in any output, report, history or metrics', () => {
  assert.ok(written.length > 10);
  for (const text of written) {
    assert.not.ok(text.includes(TOKEN), 'the lab token leaked');
    assert.not.ok(text.includes(OTHER_TOKEN), 'the token found on the host leaked');
  }
});

test.after(() => {
  rmSync(OUT, { recursive: true, force: true });
  resetLab();
});

test.run();
