// How converge reaches hosts, against the lab's real sshds: through the
// bastion (127.0.0.1:2223, forwarding only), host keys (unknown, changed,
// hashed, revoked, accept-new), keys, passphrases, a real ssh-agent,
// connection: local, and connections that drop in the middle of a run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { compare, converge, gateway, LAB_INVENTORY, MAPS, REPO, resetLab, snapshot, TOKEN, type RunResult } from './lab.js';
import {
  BASTION,
  BASTION_LOG,
  CLOSED_PORT,
  childrenOf,
  CLIENT,
  connections,
  convergeWithin,
  watcher,
  fingerprintOf,
  hostKeyLine,
  hostOf,
  killQuietly,
  LAB_KEY,
  labHost,
  labSshdPid,
  labVars,
  logins,
  mark,
  PASS_KEY,
  pidsOf,
  report,
  RUN_DIR,
  SILENT_PORT,
  silentListener,
  SSHD_LOG,
  startAgent,
  strangerKey,
  tempDir,
  waitFor,
  writeInventory,
  writeKnownHosts,
} from './fleetlab.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN, SSH_AUTH_SOCK: undefined };
// verify is not what these tests are about (and is the slowest stage); the
// gateway is probed directly where it matters.
const FAST = ['--skip-tags', 'verify', '--json'];
const BASTION_KEY_FP = fingerprintOf('/var/lib/converge-lab/sshd/bastion_host_ed25519_key.pub');
const HOST_KEY_FP = fingerprintOf('/var/lib/converge-lab/sshd/ssh_host_ed25519_key.pub');
const ACCESS_LOG = join(RUN_DIR, 'nginx-access.log');

test.before(() => resetLab());

// ---- the bastion -----------------------------------------------------------------

test('through the bastion: the target is reached over a tunnel the bastion opens, and converges', async () => {
  resetLab();
  const target = mark(SSHD_LOG);
  const bastion = mark(BASTION_LOG);
  const run = await converge(['-i', labHost({ ssh_jump: BASTION }), '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'changed');
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  const b = bastion.since();
  assert.is(logins(b), 1, 'one login on the bastion');
  assert.ok(b.some((l) => /direct_tcpip: originator .* target 127\.0\.0\.1 port 2222/.test(l)), `the bastion forwarded to the lab sshd:\n${b.join('\n')}`);
  assert.is(logins(target.since()), 1, 'one login on the target');
});

test('DEPLOY_SSH_PROXY_HOST / _USER route the inventory host through the bastion too', async () => {
  const bastion = mark(BASTION_LOG);
  const run = await converge(['-i', labHost(), ...FAST], { ...ENV, DEPLOY_SSH_PROXY_HOST: '127.0.0.1:2223', DEPLOY_SSH_PROXY_USER: 'converge-lab' });
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.is(hostOf(report(run), 'lab-proxy').status, 'ok');
  assert.is(logins(bastion.since()), 1);
});

test("an Ansible inventory's bastion (ansible_ssh_common_args: -o ProxyJump=...) routes the host through the lab's bastion", async () => {
  const bastion = mark(BASTION_LOG);
  const run = await converge(['-i', labHost({ ansible_ssh_common_args: `-o ProxyJump=${BASTION}` }), ...FAST], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.is(hostOf(report(run), 'lab-proxy').status, 'ok');
  const b = bastion.since();
  assert.is(logins(b), 1, 'one login on the bastion');
  assert.ok(b.some((l) => /direct_tcpip: originator .* target 127\.0\.0\.1 port 2222/.test(l)), b.join('\n'));
});

test('hosts behind one bastion share one connection to it: one login, a tunnel per host', async () => {
  // entry-d would open another connection to the bastion (its ssh_timeout differs): it does not share.
  const hosts = { 'entry-a': null, 'entry-b': null, 'entry-c': null, 'entry-d': { ssh_timeout: 14 } };
  const inv = writeInventory({ vars: { ...labVars(), ssh_jump: BASTION }, hosts });
  const target = mark(SSHD_LOG);
  const bastion = mark(BASTION_LOG);
  const run = await converge(['-i', inv, '--forks', '4', ...FAST], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.equal(report(run).hosts.map((h) => h.status), ['ok', 'ok', 'ok', 'ok']);
  const b = bastion.since();
  assert.is(logins(b), 2, `entry-a, b and c share one bastion login, entry-d has its own:\n${b.join('\n')}`);
  assert.is(b.filter((l) => /direct_tcpip: originator .* target 127\.0\.0\.1 port 2222/.test(l)).length, 4, 'a tunnel per host');
  assert.is(logins(target.since()), 4, 'a login on the target per host');
});

test('an unknown bastion key, two hosts behind it: both refused, each error naming its own host', async () => {
  const kh = writeKnownHosts([hostKeyLine(2222)]);
  const inv = writeInventory({ vars: { ...labVars(), ssh_jump: BASTION, ssh_known_hosts: kh }, hosts: { 'entry-a': null, 'entry-b': null } });
  const bastion = mark(BASTION_LOG);
  const run = await converge(['-i', inv, '--forks', '2', ...FAST], ENV);
  assert.is(run.code, 1);
  for (const name of ['entry-a', 'entry-b']) {
    const host = hostOf(report(run), name);
    assert.is(host.status, 'unreachable');
    assert.ok(host.error!.startsWith(`[${name}] `), host.error);
    assert.ok(host.error!.includes(BASTION_KEY_FP), host.error);
  }
  assert.is(connections(bastion.since()), 1, 'the bastion was contacted once for both');
});

test("an unknown bastion host key is refused: its fingerprint is shown and the target is never reached", async () => {
  const kh = writeKnownHosts([hostKeyLine(2222)]);
  const bastion = mark(BASTION_LOG);
  const run = await converge(['-i', labHost({ ssh_jump: BASTION, ssh_known_hosts: kh }), ...FAST], ENV);
  assert.is(run.code, 1);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'unreachable');
  assert.match(host.error!, /host key verification failed for the jump host/);
  assert.ok(host.error!.includes(BASTION_KEY_FP), host.error);
  assert.match(host.error!, /ssh-keyscan -p 2223 127\.0\.0\.1/);
  const b = bastion.since();
  assert.is(connections(b), 1, 'the bastion was contacted');
  assert.is(logins(b), 0, 'but not logged into');
  assert.not.ok(b.some((l) => /direct_tcpip/.test(l)), 'and no tunnel to the target was asked for');
});

test('a changed bastion host key is refused', async () => {
  const kh = writeKnownHosts([hostKeyLine(2222), `[127.0.0.1]:2223 ${strangerKey()}`]);
  const run = await converge(['-i', labHost({ ssh_jump: BASTION, ssh_known_hosts: kh }), ...FAST], ENV);
  assert.is(run.code, 1);
  const error = hostOf(report(run), 'lab-proxy').error!;
  assert.match(error, /jump host/);
  assert.match(error, /does not match the key recorded/);
  assert.ok(error.includes(BASTION_KEY_FP));
});

test('a tunnel the bastion refuses (PermitOpen) is a clear error naming the bastion', async () => {
  const run = await converge(['-i', labHost({ ssh_jump: BASTION, ssh_port: CLOSED_PORT }), ...FAST], ENV);
  assert.is(run.code, 1);
  const host = hostOf(report(run), 'lab-proxy');
  assert.match(host.error!, /the jump host 127\.0\.0\.1:2223 could not open a tunnel to 127\.0\.0\.1:2299/);
  assert.match(host.error!, /prohibited/i, "the bastion's own reason");
});

test('a target the bastion cannot reach (its packets dropped): unreachable within ssh_timeout, not when the bastion gives up', async () => {
  const silent = await silentListener(SILENT_PORT);
  try {
    const run = await convergeWithin(30_000, ['-i', labHost({ ssh_jump: BASTION, ssh_port: SILENT_PORT, ssh_timeout: 2 }), ...FAST], ENV);
    assert.not.equal(run.code, 124, 'converge hung');
    assert.is(run.code, 1, run.stdout + run.stderr);
    const host = hostOf(report(run), 'lab-proxy');
    assert.is(host.status, 'unreachable');
    assert.match(host.error!, new RegExp(`the jump host 127\\.0\\.0\\.1:2223 could not open a tunnel to 127\\.0\\.0\\.1:${SILENT_PORT} within 2s \\(ssh_timeout\\)`));
    assert.ok(run.ms < 12_000, `ended after ${run.ms} ms`);
  } finally {
    silent.close();
  }
});

test('a host that accepts TCP but never speaks SSH is unreachable after ssh_timeout, with a clear message', async () => {
  const held: Socket[] = [];
  const silent = createServer((sock) => held.push(sock)); // accepts, says nothing
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  try {
    const run = await convergeWithin(30_000, ['-i', labHost({ ssh_port: port, ssh_timeout: 2 }), ...FAST], ENV);
    assert.not.equal(run.code, 124, 'converge hung');
    assert.is(run.code, 1);
    const host = hostOf(report(run), 'lab-proxy');
    assert.is(host.status, 'unreachable');
    assert.match(host.error!, new RegExp(`no SSH answer from lab-proxy within 2s \\(ssh_timeout\\)`));
  } finally {
    for (const sock of held) sock.destroy();
    silent.close();
  }
});

// ---- host keys ---------------------------------------------------------------------

test('accept-new adds an unknown host (and bastion) to known_hosts like OpenSSH, once', async () => {
  const kh = join(tempDir(), 'ssh', 'known_hosts'); // neither the file nor its directory exist yet
  const inv = labHost({ ssh_jump: BASTION, ssh_known_hosts: kh, ssh_host_key_checking: 'accept-new' });
  const run = await converge(['-i', inv, ...FAST], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const notes = hostOf(report(run), 'lab-proxy').notes.join('\n');
  assert.ok(notes.includes(`[127.0.0.1]:2223 (jump host) (${BASTION_KEY_FP})`), notes);
  assert.ok(notes.includes(`[127.0.0.1]:2222 (${HOST_KEY_FP})`), notes);
  assert.equal(readFileSync(kh, 'utf8').trim().split('\n').sort(), [hostKeyLine(2222), hostKeyLine(2223)].sort());
  // ssh(1) reads what was written: the same file works for OpenSSH.
  execFileSync('ssh', ['-F', '/dev/null', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${kh}`, '-i', LAB_KEY, '-p', '2222', 'converge-lab@127.0.0.1', 'true']);
  const again = await converge(['-i', inv, ...FAST], ENV);
  assert.is(again.code, 0);
  assert.not.match(hostOf(report(again), 'lab-proxy').notes.join('\n'), /added the/, 'known now: nothing added');
  assert.is(readFileSync(kh, 'utf8').trim().split('\n').length, 2);
});

test('an ssh_known_hosts that exists but cannot be read is an error before connecting, not "host unknown"', async () => {
  const watch = await watcher();
  const notAFile = tempDir(); // a directory: reading it fails (EISDIR), even as root
  try {
    const run = await converge(['-i', labHost({ ssh_port: watch.port, ssh_known_hosts: notAFile }), ...FAST], ENV);
    assert.is(run.code, 1, run.stdout + run.stderr);
    const host = hostOf(report(run), 'lab-proxy');
    assert.is(host.status, 'failed');
    assert.match(host.error!, /cannot read ssh_known_hosts: EISDIR/);
    assert.ok(host.error!.includes(notAFile), host.error);
    assert.not.match(host.error!, /is not in/);
    assert.is(watch.count(), 0, 'nothing was contacted');
  } finally {
    watch.close();
  }
});

test('accept-new never accepts a changed key, and leaves the file alone', async () => {
  const kh = writeKnownHosts([`[127.0.0.1]:2222 ${strangerKey()}`]);
  const before = readFileSync(kh, 'utf8');
  const run = await converge(['-i', labHost({ ssh_known_hosts: kh, ssh_host_key_checking: 'accept-new' }), ...FAST], ENV);
  assert.is(run.code, 1);
  const error = hostOf(report(run), 'lab-proxy').error!;
  assert.match(error, /does not match the key recorded/);
  assert.match(error, /accept-new never replaces a changed key/);
  assert.ok(error.includes(HOST_KEY_FP));
  assert.is(readFileSync(kh, 'utf8'), before);
});

test('hashed known_hosts entries (ssh-keygen -H) are honoured; an @revoked key is refused', async () => {
  const kh = writeKnownHosts([hostKeyLine(2222)]);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
  assert.match(readFileSync(kh, 'utf8'), /^\|1\|/);
  const ok = await converge(['-i', labHost({ ssh_known_hosts: kh }), ...FAST], ENV);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  const revoked = writeKnownHosts([hostKeyLine(2222), `@revoked ${hostKeyLine(2222)}`]);
  const run = await converge(['-i', labHost({ ssh_known_hosts: revoked }), ...FAST], ENV);
  assert.is(run.code, 1);
  assert.match(hostOf(report(run), 'lab-proxy').error!, /is marked @revoked/);
});

// ---- authentication ------------------------------------------------------------------

test('a key the host does not accept: the error says which methods were tried and what the server accepts', async () => {
  const dir = tempDir();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_wrong')]);
  const run = await converge(['-i', labHost({ ssh_key: join(dir, 'id_wrong') }), ...FAST], ENV);
  assert.is(run.code, 1);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'unreachable');
  assert.match(host.error!, /SSH authentication failed for lab-proxy as converge-lab/);
  assert.ok(host.error!.includes(`tried: key ${join(dir, 'id_wrong')}`), host.error);
  assert.match(host.error!, /not tried: ssh-agent \(SSH_AUTH_SOCK is not set\)/);
  assert.match(host.error!, /the server accepts: publickey/);
});

/**
 * Runs converge under strace; for each port, whether the socket that
 * connected to it was given TCP_NODELAY (from its socket() to its close()).
 */
function noDelayByPort(args: string[], ports: number[]): Record<number, boolean> {
  const out = join(tempDir(), 'strace.txt');
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
  delete env.SSH_AUTH_SOCK;
  execFileSync('strace', ['-f', '-qq', '-o', out, '-e', 'trace=socket,connect,setsockopt,close', join(REPO, 'node_modules/.bin/zx'), join(REPO, 'tasks/converge.mjs'), ...args], { env, cwd: REPO, stdio: 'ignore' });
  const lines = readFileSync(out, 'utf8').split('\n');
  const result: Record<number, boolean> = {};
  for (const port of ports) {
    const at = lines.findIndex((l) => new RegExp(`connect\\((\\d+), .*htons\\(${port}\\)`).test(l));
    if (at < 0) continue;
    const [, tid, fd] = /^(\d+) +connect\((\d+),/.exec(lines[at])!;
    const mine = (l: string) => l.startsWith(`${tid} `);
    let from = at;
    while (from > 0 && !(mine(lines[from]) && new RegExp(`socket\\(.*\\) = ${fd}$`).test(lines[from]))) from--;
    let to = at;
    while (to < lines.length - 1 && !(mine(lines[to]) && lines[to].includes(`close(${fd})`))) to++;
    result[port] = lines.slice(from, to).some((l) => mine(l) && l.includes(`setsockopt(${fd}, SOL_TCP, TCP_NODELAY, [1]`));
  }
  return result;
}

test("SSH connections turn Nagle's algorithm off (TCP_NODELAY): the target's, and the bastion's when going through one", () => {
  assert.equal(noDelayByPort(['-i', LAB_INVENTORY, '--check', '--json'], [2222]), { 2222: true });
  assert.equal(noDelayByPort(['-i', labHost({ ssh_jump: BASTION }), '--check', '--json'], [2223]), { 2223: true });
});

test('a host whose SSH login fails is not probed: no request reaches its gateway (the token stays home)', async () => {
  const dir = tempDir();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_wrong')]);
  const before = existsSync(ACCESS_LOG) ? readFileSync(ACCESS_LOG).length : 0;
  const run = await converge(['-i', labHost({ ssh_key: join(dir, 'id_wrong') }), '--json'], ENV);
  assert.is(run.code, 1);
  assert.is(hostOf(report(run), 'lab-proxy').status, 'unreachable');
  const logged = existsSync(ACCESS_LOG) ? readFileSync(ACCESS_LOG).subarray(before).toString('utf8') : '';
  assert.is(logged, '', 'requests reached nginx');
});

test('a passphrase-protected key: refused before connecting without ssh_key_passphrase_env, used with it', async () => {
  const passphrase = readFileSync(`${PASS_KEY}.passphrase`, 'utf8');
  const watch = await watcher();
  const without = await converge(['-i', labHost({ ssh_key: PASS_KEY, ssh_port: watch.port }), ...FAST], ENV);
  watch.close();
  assert.is(without.code, 1);
  assert.match(without.stdout, /protected by a passphrase, and ssh_key_passphrase_env is not set/);
  assert.is(watch.count(), 0, 'refused before connecting');

  const inv = labHost({ ssh_key: PASS_KEY, ssh_key_passphrase_env: 'LAB_KEY_PASSPHRASE' });
  const unset = await converge(['-i', inv, ...FAST], ENV);
  assert.is(unset.code, 1);
  assert.match(unset.stdout, /ssh_key_passphrase_env is LAB_KEY_PASSPHRASE, but LAB_KEY_PASSPHRASE is not set/);

  const wrong = await converge(['-i', inv, ...FAST], { ...ENV, LAB_KEY_PASSPHRASE: 'not the passphrase' });
  assert.is(wrong.code, 1);
  assert.match(wrong.stdout, /the passphrase in LAB_KEY_PASSPHRASE does not decrypt the SSH key/);

  const logins0 = mark(SSHD_LOG);
  const run = await converge(['-i', inv, ...FAST], { ...ENV, LAB_KEY_PASSPHRASE: passphrase });
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.is(logins(logins0.since()), 1);
  for (const r of [without, unset, wrong, run]) assert.not.ok((r.stdout + r.stderr).includes(passphrase), 'the passphrase is never printed');
});

test('RSA and ECDSA keys log in too (ssh2 signs rsa-sha2-* with the digest it names)', async () => {
  for (const type of ['rsa', 'ecdsa']) {
    const key = join(CLIENT, `id_${type}`);
    const sshd = mark(SSHD_LOG);
    const run = await converge(['-i', labHost({ ssh_key: key }), ...FAST], ENV);
    assert.is(run.code, 0, run.stdout + run.stderr);
    const lines = sshd.since();
    assert.is(logins(lines), 1);
    assert.ok(lines.some((l) => /Accepted publickey/.test(l) && l.includes(fingerprintOf(`${key}.pub`))), `authenticated with the ${type} key`);
  }
});

test('no key file: the SSH agent is used (a real ssh-agent holding the passphrase-protected key)', async () => {
  const agent = startAgent();
  try {
    agent.add(PASS_KEY, readFileSync(`${PASS_KEY}.passphrase`, 'utf8'));
    const sshd = mark(SSHD_LOG);
    const run = await converge(['-i', labHost({ ssh_key: '/nonexistent/id_ed25519' }), ...FAST], { ...ENV, ...agent.env });
    assert.is(run.code, 0, run.stdout + run.stderr);
    assert.is(hostOf(report(run), 'lab-proxy').status, 'ok');
    const lines = sshd.since();
    assert.is(logins(lines), 1);
    assert.ok(lines.some((l) => l.includes(fingerprintOf(`${PASS_KEY}.pub`))), 'authenticated with the key the agent holds');
  } finally {
    agent.stop();
  }
});

test('a key file other users may read still logs in (OpenSSH would refuse it), and the host\'s notes say so', async () => {
  const key = join(tempDir(), 'id_ed25519');
  copyFileSync(LAB_KEY, key);
  chmodSync(key, 0o644);
  const run = await converge(['-i', labHost({ ssh_key: key }), '--check', '--json'], ENV);
  assert.ok(run.code === 0 || run.code === 2, run.stdout + run.stderr);
  assert.ok(hostOf(report(run), 'lab-proxy').notes.includes(`warning: ssh_key ${key} can be read by users other than its owner (mode 0644): run chmod 600 ${key} (OpenSSH's ssh refuses such a key)`), run.stdout);
});

test('an agent without an authorized key, and no key file: the error names both', async () => {
  const agent = startAgent();
  try {
    const dir = tempDir();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_other')]);
    agent.add(join(dir, 'id_other'));
    const run = await converge(['-i', labHost({ ssh_key: '/nonexistent/id_ed25519' }), ...FAST], { ...ENV, ...agent.env });
    assert.is(run.code, 1);
    const error = hostOf(report(run), 'lab-proxy').error!;
    assert.match(error, /tried: ssh-agent \(SSH_AUTH_SOCK\)/);
    assert.match(error, /not tried: key \/nonexistent\/id_ed25519 \(no such file\)/);
  } finally {
    agent.stop();
  }
  const none = await converge(['-i', labHost({ ssh_key: '/nonexistent/id_ed25519' }), ...FAST], ENV);
  assert.is(none.code, 1);
  assert.match(none.stdout, /no way to authenticate over SSH: key \/nonexistent\/id_ed25519 \(no such file\); ssh-agent \(SSH_AUTH_SOCK is not set\)/);
});

// ---- connection: local -----------------------------------------------------------------

test('connection: local converges the lab nginx on this machine, without SSH', async () => {
  resetLab();
  // Every SSH setting points nowhere: any use of SSH would fail the run.
  const watch = await watcher();
  const inv = labHost({ connection: 'local', ssh_port: watch.port, ssh_key: '/nonexistent/key', ssh_known_hosts: '/nonexistent/known_hosts' });
  const run = await converge(['-i', inv, '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'changed');
  assert.match(readFileSync(MAPS, 'utf8'), `"Bearer ${TOKEN}" 1;`);
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  const before = snapshot();
  const again = await converge(['-i', inv, '--json'], ENV);
  assert.is(again.code, 0, again.stderr);
  assert.is(hostOf(report(again), 'lab-proxy').status, 'ok');
  assert.equal(compare(before, snapshot()), [], 'the second local run writes nothing');
  assert.is(watch.count(), 0, 'no connection to the ssh_port');
  watch.close();
});

test('connection: local also serves drift, verify and rollback (the drift timer runs on the proxy itself)', async () => {
  resetLab();
  const watch = await watcher();
  const inv = labHost({ connection: 'local', ssh_port: watch.port, ssh_key: '/nonexistent/key', ssh_known_hosts: '/nonexistent/known_hosts' });
  assert.is((await converge(['-i', inv, '--json'], ENV)).code, 0);
  const drift = await converge(['-i', inv, '--json'], ENV, 'drift.mjs');
  assert.is(drift.code, 0, drift.stdout + drift.stderr);
  assert.is(JSON.parse(drift.stdout).hosts[0].status, 'ok');
  const verify = await converge(['-i', inv, '--json'], ENV, 'verify.mjs');
  assert.is(verify.code, 0, verify.stdout + verify.stderr);
  const list = await converge(['-i', inv, '--limit', 'lab-proxy', '--list', '--json'], ENV, 'rollback.mjs');
  assert.is(list.code, 0, list.stdout + list.stderr);
  assert.ok(JSON.parse(list.stdout).runs.length >= 1, 'the first converge left a backup run');
  assert.is(watch.count(), 0, 'no connection to the ssh_port');
  watch.close();
});

// ---- ssh_user root -------------------------------------------------------------------------

test('ssh_user root: converges over SSH with no sudo in its commands (minimal images have none), then a no-op', async () => {
  resetLab();
  const inv = labHost({ ssh_user: 'root' });
  const log = mark(SSHD_LOG);
  const run = await converge(['-i', inv, '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.is(hostOf(report(run), 'lab-proxy').status, 'changed');
  assert.match(readFileSync(MAPS, 'utf8'), `"Bearer ${TOKEN}" 1;`);
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.ok(log.since().some((l) => /^Accepted publickey for root from 127\.0\.0\.1/.test(l)), 'root logged in');
  const before = snapshot();
  const again = await converge(['-i', inv], ENV);
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /preflight: root, nginx and includes ok; 0 change\(s\) planned/);
  assert.equal(compare(before, snapshot()), [], 'the no-op writes nothing');
});

// ---- connections that drop ---------------------------------------------------------------

/**
 * An nginx_command that hangs in the middle of preflight (the gather reads
 * `nginx -T`). The runs below are check runs, which take no host lock: the
 * transport is what is under test, and a lock left by a killed session is
 * lock.ts's business (its tests cover the takeover).
 */
const hanging = (seconds: number) => `sleep ${seconds}; nginx -c /var/lib/converge-lab/nginx/nginx.conf`;

/**
 * The user-side sshd process of each lab SSH connection ("sshd: user@notty",
 * the child of the connection's privileged monitor): it holds the socket.
 * Its parent stays alive to reap it at once, so the run's host lock (owned
 * by this process) is seen as abandoned by the next run.
 */
function sessionProcesses(): number[] {
  return childrenOf(labSshdPid()).flatMap((monitor) => childrenOf(monitor));
}

/** The pid of the hanging `sleep` once it runs on the host (or why the run ended before). */
function hangingCommand(runP: Promise<RunResult>, seconds: string): Promise<number> {
  return Promise.race([
    waitFor('the hanging command on the host', () => pidsOf(['sleep', seconds])[0]),
    runP.then((r) => Promise.reject(new Error(`converge ended before the command hung (exit ${r.code}):\n${r.stdout}\n${r.stderr}`))),
  ]);
}

test('the SSH session killed in the middle of a run: the host fails with a clear message, at once', async () => {
  const seconds = '293';
  const runP = convergeWithin(60_000, ['-i', labHost({ nginx_command: hanging(Number(seconds)) }), '--check', '--json'], ENV);
  const sleeper = await hangingCommand(runP, seconds);
  killQuietly(sessionProcesses());
  const run = await runP;
  killQuietly([sleeper]);
  assert.not.equal(run.code, 124, 'converge hung');
  assert.is(run.code, 1, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'failed');
  assert.match(host.error!, /the SSH connection was lost while a command was running/);
  assert.match(host.error!, /sudo -n timeout -k 5 300 sh -c SCRIPT converge/);
  assert.match(host.error!, /run converge again/);
  assert.ok(run.ms < 30_000, `ended ${run.ms} ms after start, long before the ${seconds} s command`);
});

test('a host that stops answering mid-run (frozen sshd): keepalives end the run within ssh_timeout', async () => {
  const seconds = '291';
  const runP = convergeWithin(60_000, ['-i', labHost({ nginx_command: hanging(Number(seconds)), ssh_timeout: 3 }), '--check', '--json'], ENV);
  const sleeper = await hangingCommand(runP, seconds);
  // Freeze the connection's session process: the TCP connection stays open, nothing answers.
  const session = sessionProcesses();
  killQuietly(session, 'SIGSTOP');
  const frozenAt = Date.now();
  let run;
  try {
    run = await runP;
  } finally {
    killQuietly(session, 'SIGKILL');
    killQuietly([sleeper]);
  }
  assert.not.equal(run.code, 124, 'converge hung');
  assert.is(run.code, 1, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'failed');
  assert.match(host.error!, /the SSH connection was lost while a command was running: no answer to 3 keepalives/);
  assert.ok(Date.now() - frozenAt < 20_000, 'well within the deadline');
});

test('the shared bastion connection killed mid-run: every host behind it fails at once, with a clear message', async () => {
  const seconds = '289';
  const inv = writeInventory({ vars: { ...labVars(), ssh_jump: BASTION, nginx_command: hanging(Number(seconds)) }, hosts: { 'entry-a': null, 'entry-b': null } });
  const runP = convergeWithin(60_000, ['-i', inv, '--forks', '2', '--check', '--json'], ENV);
  await hangingCommand(runP, seconds);
  await waitFor('both hosts hanging', () => pidsOf(['sleep', seconds]).length >= 2 || undefined);
  const bastionPid = Number(readFileSync(join(RUN_DIR, 'bastion.pid'), 'utf8').trim());
  const bastionSessions = childrenOf(bastionPid).flatMap((monitor) => childrenOf(monitor));
  assert.is(bastionSessions.length, 1, 'one bastion connection for both hosts');
  killQuietly(bastionSessions);
  const run = await runP;
  killQuietly(pidsOf(['sleep', seconds]));
  assert.not.equal(run.code, 124, 'converge hung');
  assert.is(run.code, 1, run.stdout + run.stderr);
  for (const name of ['entry-a', 'entry-b']) {
    const host = hostOf(report(run), name);
    assert.is(host.status, 'failed');
    assert.match(host.error!, new RegExp(`^\\[${name}\\] .*the SSH connection was lost while a command was running: the connection to the jump host was closed`));
  }
  assert.ok(run.ms < 30_000, `ended ${run.ms} ms after start, long before the ${seconds} s command`);
});

test('after dropped runs, the next run converges normally', async () => {
  resetLab();
  const run = await converge(['-i', labHost(), ...FAST], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.ok(existsSync(MAPS));
});

test.run();

