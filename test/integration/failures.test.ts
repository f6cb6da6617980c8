// converge when something is wrong: the host is left exactly as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, converge, gateway, LAB, LAB_INVENTORY, labInventory, MAPS, NGINX_DIR, resetLab, snapshot, TOKEN, WEBSOCKET_MAP, withConfD, workerPids } from './lab.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
// A corrupt certificate: the rendered vhost is fine, nginx -t is not.
const BROKEN_LE = join(LAB, 'corrupt-letsencrypt');
function brokenCertificate(): string {
  const live = join(BROKEN_LE, 'live/gateway.converge.test');
  mkdirSync(live, { recursive: true });
  for (const f of ['fullchain.pem', 'privkey.pem']) writeFileSync(join(live, f), 'not a PEM file\n');
  return BROKEN_LE;
}
const BROKEN = () => labInventory({ letsencrypt_dir: brokenCertificate() });

test('a candidate that fails nginx -t is caught on a scratch copy: nothing written, no reload', async () => {
  resetLab();
  const before = snapshot();
  const pids = workerPids();
  const run = await converge(['-i', BROKEN()], ENV);
  assert.is(run.code, 1);
  assert.match(run.stdout, /fails nginx -t \(tested on a scratch copy: nothing was changed\)/);
  assert.match(run.stdout, /\[emerg\].*corrupt-letsencrypt/, "nginx's own error line is shown");
  assert.equal(compare(before, snapshot()), []);
  assert.is(workerPids(), pids);
});

test('when the live nginx -t fails, every file of the run is restored byte-identical and nginx is not reloaded', async () => {
  resetLab();
  // A vhost directory outside nginx's tree rules out the scratch test, so the live validate is the gate.
  const outside = join(LAB, 'sites-outside');
  mkdirSync(outside, { recursive: true });
  const good = await converge(['-i', labInventory({ nginx_sites_available: outside })], ENV);
  assert.is(good.code, 0, good.stdout + good.stderr);
  const site = join(outside, 'gateway.converge.test.conf');
  // Out-of-band edits and a looser mode, so that the failed run really replaces both files.
  writeFileSync(site, readFileSync(site, 'utf8') + '# hand edit\n');
  writeFileSync(MAPS, readFileSync(MAPS, 'utf8') + '# hand edit\n', { mode: 0o600 });
  const before = [snapshot(), snapshot(outside)];
  const pids = workerPids();
  const run = await converge(['-i', labInventory({ nginx_sites_available: outside, letsencrypt_dir: brokenCertificate() }), '--json'], ENV);
  assert.is(run.code, 1);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'failed');
  assert.match(host.error, /nginx -t rejected the new configuration/);
  assert.match(host.error, /cannot load certificate/);
  const note = host.notes.find((n: string) => n.startsWith('rolled back: ')) ?? '';
  assert.match(note, /restored \S+\/sites-outside\/gateway\.converge\.test\.conf/);
  assert.match(note, /restored \S+\/ia-enso-http-maps\.conf/);
  assert.match(note, /nginx -t is back to its previous result \(ok\); not reloaded/);
  assert.equal(compare(before[0], snapshot()), [], 'bytes, mode, owner, links and mtimes as before');
  assert.equal(compare(before[1], snapshot(outside)), []);
  assert.is(workerPids(), pids, 'not reloaded');
  assert.not.ok(run.stdout.includes(TOKEN) || run.stderr.includes(TOKEN));
  rmSync(outside, { recursive: true });
  resetLab();
});

/** A converged lab whose site was then edited by hand: the next run replaces it and reloads. */
async function convergedWithEditedSite(): Promise<void> {
  resetLab();
  assert.is((await converge(['-i', LAB_INVENTORY], ENV)).code, 0);
  const site = join(NGINX_DIR, 'sites-available/gateway.converge.test.conf');
  writeFileSync(site, readFileSync(site, 'utf8') + '# hand edit\n');
}

test('a reload that fails: the host fails with what the reload command said, its files are put back, nginx keeps its workers', async () => {
  await convergedWithEditedSite();
  const before = snapshot();
  const pids = workerPids();
  const reloadCommand = `nginx -c ${NGINX_DIR}/nginx.conf -s bogus`;
  const run = await converge(['-i', labInventory({ nginx_reload_command: reloadCommand }), '--json'], ENV);
  assert.is(run.code, 1, run.stdout + run.stderr);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'failed');
  assert.match(host.error, /reloading nginx \(nginx -c \S+ -s bogus\) failed \(exit 1\)/);
  assert.match(host.error, /nginx: invalid option: "-s bogus"/, "nginx's own words");
  assert.match(host.error, /check nginx_reload_command/);
  // The renewal hook runs the reload command: it changed too.
  const note = host.notes.find((n: string) => n.startsWith('rolled back: ')) ?? '';
  assert.match(note, /restored \S+\/sites-available\/gateway\.converge\.test\.conf/);
  assert.match(note, /restored \S+\/renewal-hooks\/deploy\/gateway\.converge\.test-nginx-reload/);
  assert.match(note, /nginx -t is back to its previous result \(ok\); not reloaded$/);
  assert.equal(compare(before, snapshot()), [], 'the hand-edited site is back, byte for byte');
  assert.is(workerPids(), pids, 'no reload happened');
  resetLab();
});

test('a reload command that succeeds without reloading: the run says nginx still runs its old workers', async () => {
  await convergedWithEditedSite();
  const pids = workerPids();
  const run = await converge(['-i', labInventory({ nginx_reload_command: 'true' }), '--skip-tags', 'verify', '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'changed');
  assert.ok(host.notes.includes('warning: 10 s after `true` nginx still runs the workers it had before: it may have refused the new configuration (see its error log), and what it serves may not be what is on disk'), host.notes.join('\n'));
  assert.is(workerPids(), pids, 'nginx was indeed not reloaded');
  resetLab();
});

test('--check says when the candidate would fail nginx -t, and touches nothing', async () => {
  resetLab();
  const before = snapshot();
  const run = await converge(['-i', BROKEN(), '--check'], ENV);
  assert.is(run.code, 1);
  assert.match(run.stdout, /fails nginx -t \(tested on a scratch copy/);
  assert.match(run.stdout, /corrupt-letsencrypt/);
  assert.equal(compare(before, snapshot()), []);
  assert.not.ok(existsSync(join(LAB, 'backups')) && snapshot(join(LAB, 'backups')).size > 0, 'no backup in check mode');
});

test('nginx.conf without the conf.d include: clear error naming the file and line, nothing changed', async () => {
  resetLab();
  const conf = join(NGINX_DIR, 'nginx.conf');
  writeFileSync(conf, readFileSync(conf, 'utf8').replace(/^\s*include .*conf\.d\/\*\.conf;\n/m, ''));
  const before = snapshot();
  const run = await converge(['-i', LAB_INVENTORY], ENV);
  assert.is(run.code, 1);
  assert.match(run.stdout, new RegExp(`${conf}: its http \\{ \\} block does not include`));
  assert.match(run.stdout, /add the line `include \/var\/lib\/converge-lab\/nginx\/conf\.d\/\*\.conf;` inside http/);
  assert.equal(compare(before, snapshot()), []);
  resetLab();
});

test('another file defines $connection_upgrade first: the maps file adapts, the gate works, the next run is a no-op', async () => {
  resetLab();
  // Loaded before ours: its map also fixes map_hash_bucket_size, so ours must do without it.
  await withConfD('00-websocket.conf', WEBSOCKET_MAP, async () => {
    const run = await converge(['-i', LAB_INVENTORY], ENV);
    assert.is(run.code, 0, run.stdout);
    assert.match(run.stdout, /already defined in .*00-websocket\.conf/);
    assert.match(run.stdout, /already sets map_hash_bucket_size: retried without it/);
    assert.match(run.stdout, /retried with an anchored regex key/);
    const maps = readFileSync(MAPS, 'utf8');
    assert.not.match(maps, /\$connection_upgrade/);
    assert.not.match(maps, /map_hash_bucket_size/);
    assert.match(maps, /"~\^Bearer lab-token-0123456789abcdef0123456789abcdef\$" 1;/);
    assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
    assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}x` })).status, 401, 'the regex is anchored');
    const before = snapshot();
    const pids = workerPids();
    const again = await converge(['-i', LAB_INVENTORY, '--json'], ENV);
    assert.is(again.code, 0, again.stderr);
    assert.is(JSON.parse(again.stdout).hosts[0].status, 'ok');
    assert.equal(compare(before, snapshot()), [], 'the fallback is found again without writing');
    assert.is(workerPids(), pids);
  });
  resetLab();
});

/** A converged lab that then gets an extra conf.d file; the lab is reset afterwards whatever happens. */
async function onConvergedLabWith(name: string, text: string, body: () => Promise<void>): Promise<void> {
  resetLab();
  assert.is((await converge(['-i', LAB_INVENTORY], ENV)).code, 0);
  try {
    await withConfD(name, text, body);
  } finally {
    resetLab();
  }
}

test('a map file added before ours on a converged host breaks nginx -T there: --check plans the repair, one converge makes it, the next is a no-op', async () => {
  await onConvergedLabWith('00-websocket.conf', WEBSOCKET_MAP, async () => {
    const nginxT = () => execFileSync('sh', ['-c', `nginx -c ${join(NGINX_DIR, 'nginx.conf')} -t 2>&1; echo "exit $?"`], { encoding: 'utf8' });
    assert.match(nginxT(), /"map_hash_bucket_size" directive is duplicate[\s\S]*exit 1/, 'the host as the new file left it does not load');
    const check = await converge(['-i', LAB_INVENTORY, '--check'], ENV);
    assert.is(check.code, 2, check.stdout);
    assert.match(check.stdout, /-T` fails on the host because of .*ia-enso-http-maps\.conf: a map loaded before the maps file already sets map_hash_bucket_size/);
    assert.not.match(check.stdout, /warning: .* -T` fails/);
    // The host's failed dump cannot show that the new file defines $connection_upgrade too: the candidate's can.
    assert.match(check.stdout, new RegExp(`\\$connection_upgrade is already defined in ${NGINX_DIR}/conf\\.d/00-websocket\\.conf: the maps file leaves it out`));
    const run = await converge(['-i', LAB_INVENTORY], ENV);
    assert.is(run.code, 0, run.stdout);
    assert.match(nginxT(), /test is successful[\s\S]*exit 0/);
    const maps = readFileSync(MAPS, 'utf8');
    assert.not.match(maps, /\$connection_upgrade/);
    assert.not.match(maps, /map_hash_bucket_size/);
    const again = await converge(['-i', LAB_INVENTORY, '--json'], ENV);
    assert.is(JSON.parse(again.stdout).hosts[0].status, 'ok', again.stdout);
    assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  });
});

test('a map file added before ours that does not define $connection_upgrade: the repair keeps our websocket map', async () => {
  // Any map before ours makes its map_hash_bucket_size a duplicate; this one defines another variable.
  await onConvergedLabWith('00-other-map.conf', 'map $http_x_other $converge_other {\n    default 0;\n}\n', async () => {
    const run = await converge(['-i', LAB_INVENTORY], ENV);
    assert.is(run.code, 0, run.stdout);
    assert.match(run.stdout, /fails on the host because of .*ia-enso-http-maps\.conf: a map loaded before the maps file already sets map_hash_bucket_size/);
    assert.not.match(run.stdout, /already defined in/, 'the candidate defines $connection_upgrade only in the maps file itself');
    const maps = readFileSync(MAPS, 'utf8');
    assert.match(maps, /map \$http_upgrade \$connection_upgrade/);
    assert.not.match(maps, /map_hash_bucket_size/);
    const again = await converge(['-i', LAB_INVENTORY, '--json'], ENV);
    assert.is(JSON.parse(again.stdout).hosts[0].status, 'ok', again.stdout);
  });
});

test('another loaded file that does not parse: a no-op says so in a warning and changes nothing', async () => {
  await onConvergedLabWith('zz-broken.conf', 'map $http_x $y {\n', async () => {
    const before = snapshot();
    const run = await converge(['-i', LAB_INVENTORY], ENV);
    assert.is(run.code, 0, run.stdout);
    assert.match(run.stdout, /warning: `nginx -c \S+ -T` fails on the host \(.*zz-broken\.conf.*\): the configuration on disk would not load/);
    assert.equal(compare(before, snapshot()), []);
  });
});

test('no passwordless sudo: a clear error that names sudo -n, nothing changed', async () => {
  resetLab();
  rmSync('/etc/sudoers.d/converge-lab');
  try {
    const before = snapshot();
    const run = await converge(['-i', LAB_INVENTORY], ENV);
    assert.is(run.code, 1);
    assert.match(run.stdout, /`sudo -n` does not work for the SSH user/);
    assert.match(run.stdout, /NOPASSWD/);
    assert.equal(compare(before, snapshot()), []);
  } finally {
    resetLab(); // puts the sudoers file back
  }
});

test('an unknown host key refuses the connection and shows the fingerprint', async () => {
  const empty = labInventory({ ssh_known_hosts: '/dev/null' });
  const run = await converge(['-i', empty, '--json'], ENV);
  assert.is(run.code, 1);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'unreachable');
  assert.match(host.error, /host key verification failed/);
  assert.match(host.error, /SHA256:[A-Za-z0-9+/]{43}/);
  assert.match(host.error, /ssh-keyscan -p 2222 127\.0\.0\.1/);
});

test('a changed host key is refused', async () => {
  const dir = labInventory({}).replace(/inventory\.yml$/, '');
  const fake = join(dir, 'known_hosts');
  // Another valid ed25519 key recorded for the lab's address.
  writeFileSync(fake, '[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMd8M4gT6m1hH2VbH0o0kUq2N9XW0T3Zx9m8l8cFQbXr\n');
  const run = await converge(['-i', labInventory({ ssh_known_hosts: fake }), '--json'], ENV);
  assert.is(run.code, 1);
  assert.match(JSON.parse(run.stdout).hosts[0].error, /does not match the key recorded/);
});

test('an invalid token in the environment is refused before connecting, without printing it', async () => {
  const bad = 'has space and "quotes" 0123456789abcdef0123';
  const run = await converge(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: bad });
  assert.is(run.code, 1);
  assert.match(run.stderr, /IA_ENSO_OLLAMA_BEARER_TOKEN: the Bearer token is invalid/);
  assert.not.ok(run.stderr.includes(bad) || run.stdout.includes(bad));
});

test.run();
