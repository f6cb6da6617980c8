// The tls stage against a real ACME server (pebble) with real HTTP-01
// validation through the lab's nginx, and certbot's renewal hook.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compare, converge, gateway, LAB, labInventory, labScript, NGINX_DIR, resetLab, snapshot, TOKEN, workerPids, type Target } from './lab.js';
import { tempDir } from '../tempdir.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
const LE = join(LAB, 'letsencrypt');
const ACME = { acme_server: 'https://127.0.0.1:14000/dir', acme_ca_bundle: join(LAB, 'pki/ca.pem') };

/** An inventory for a lab host whose domain has no certificate yet; probes trust pebble's current root. */
function freshHost(domain: string): { inventory: string; target: Target } {
  const root = join(tempDir('converge-pebble-'), 'root.pem');
  labScript('pebble', 'root', root);
  return { inventory: labInventory({ domain, verify_ca: root, ...ACME }), target: { domain, ca: root } };
}

/** Snapshot of everything a run may touch: nginx's tree and certbot's. */
function state() {
  return new Map([...snapshot(NGINX_DIR), ...snapshot(LE)]);
}

test.before(() => resetLab());

test('--check on a host without a certificate: would obtain one, shows the full site, touches nothing', async () => {
  const { inventory } = freshHost('fresh.converge.test');
  const before = state();
  const run = await converge(['-i', inventory, '--check', '--diff'], ENV);
  assert.is(run.code, 2, run.stdout + run.stderr);
  assert.match(run.stdout, /would obtain a certificate for fresh\.converge\.test/);
  assert.match(run.stdout, /\+\s+ssl_certificate\s+\S+\/live\/fresh\.converge\.test\/fullchain\.pem;/, 'the diff is the full HTTPS site');
  assert.match(run.stdout, /candidate passes nginx -t/, 'tested with a stand-in certificate');
  assert.equal(compare(before, state()), [], 'no vhost swap, no certbot call');
});

test('a host without a certificate converges to a verified HTTPS gateway in one run', async () => {
  const { inventory, target } = freshHost('fresh.converge.test');
  const run = await converge(['-i', inventory, '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'changed');
  assert.ok(host.notes.includes('obtained a certificate for fresh.converge.test'));
  assert.ok(host.probes.every((p: { ok: boolean; warning?: boolean }) => p.ok || p.warning), 'verify passed against pebble\'s root');
  assert.ok(existsSync(join(LE, 'live/fresh.converge.test/fullchain.pem')));
  const site = readFileSync(join(NGINX_DIR, 'sites-available/fresh.converge.test.conf'), 'utf8');
  assert.match(site, /listen 127\.0\.0\.1:18443 ssl;/, 'the HTTP-only site was replaced by the full one');
  const res = await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` }, target);
  assert.is(res.status, 200);
  // The ACME server really fetched the challenge through nginx's webroot location.
  assert.match(readFileSync(join(LAB, 'run/nginx-access.log'), 'utf8'), /GET \/\.well-known\/acme-challenge\/\S+ HTTP\/1\.1" 200/);
  const hook = join(LE, 'renewal-hooks/deploy/fresh.converge.test-nginx-reload');
  assert.is(statSync(hook).mode & 0o777, 0o755);
});

test('the second run does not call certbot and changes nothing', async () => {
  const { inventory } = freshHost('fresh.converge.test');
  const before = state();
  const run = await converge(['-i', inventory, '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'ok');
  assert.equal(host.changes, []);
  assert.equal(compare(before, state()), [], 'no new certificate in archive/, nothing written');
});

test('certbot renew runs the deploy hook: nginx reloaded, still valid, serving the new certificate', async () => {
  const { target } = freshHost('fresh.converge.test');
  const old = await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` }, target);
  const pids = workerPids();
  execFileSync('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', '--cert-name', 'fresh.converge.test', '--config-dir', LE, '--non-interactive'], {
    env: { ...process.env, REQUESTS_CA_BUNDLE: join(LAB, 'pki/ca.pem') },
    stdio: 'pipe',
  });
  assert.is.not(workerPids(), pids, 'the hook reloaded nginx');
  let now = await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` }, target);
  for (let i = 0; i < 40 && now.fingerprint === old.fingerprint; i++) {
    await new Promise((r) => setTimeout(r, 250)); // old workers may still answer for a moment
    now = await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` }, target);
  }
  assert.is(now.status, 200);
  assert.is.not(now.fingerprint, old.fingerprint, 'the renewed certificate is served');
  execFileSync('nginx', ['-t', '-q', '-c', join(NGINX_DIR, 'nginx.conf')]);
});

test('a failing ACME server leaves the host byte-identical and exits 1 with certbot\'s message', async () => {
  resetLab();
  const { inventory } = freshHost('fail.converge.test');
  labScript('pebble', 'stop');
  try {
    const before = state();
    const run = await converge(['-i', inventory], ENV);
    assert.is(run.code, 1, run.stdout);
    assert.match(run.stdout, /certbot could not obtain a certificate for fail\.converge\.test/);
    assert.match(run.stdout, /127\.0\.0\.1:14000|Connection refused|Failed to establish/i, "certbot's own words");
    assert.match(run.stdout, /DNS of fail\.converge\.test does not point at this proxy/);
    assert.match(run.stdout, /rolled back: .*; reloaded again with the restored files/);
    assert.equal(compare(before, state()), []);
    assert.not.ok(run.stdout.includes(TOKEN) || run.stderr.includes(TOKEN));
  } finally {
    labScript('pebble', 'start');
  }
});

test.run();
