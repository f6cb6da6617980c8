// Fleets against the lab: group variable precedence, --limit, an unreachable
// host next to a healthy one, --list-hosts (which contacts nothing) and
// --tags / --skip-tags (a stage others need is never skipped silently).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, converge, gateway, LAB, LAB_INVENTORY, LINK, MAPS, resetLab, SITE, snapshot, TOKEN, workerPids } from './lab.js';
import { BASTION_LOG, CLOSED_PORT, connections, hostOf, labHost, labVars, logins, mark, report, SSHD_LOG, tempDir, watcher, writeInventory } from './fleetlab.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN, SSH_AUTH_SOCK: undefined };

/**
 * Three levels of variables. Only the nearest group (lab) and the host itself
 * hold the right values: if precedence were wrong, lab-proxy would be
 * unreachable (port 2299 or 2298) or its site would listen on the wrong port.
 */
function fleetInventory(extraHosts: Record<string, unknown> = {}): string {
  return writeInventory({
    vars: { ...labVars(), ssh_port: CLOSED_PORT, https_port: 1 },
    hosts: { 'decoy-all': null, ...extraHosts },
    children: {
      fleet: {
        vars: { ssh_port: CLOSED_PORT - 1, https_port: 2 },
        hosts: { 'decoy-fleet': null },
        children: {
          lab: {
            vars: { ssh_port: 2222 },
            hosts: { 'lab-proxy': { https_port: 18443 } },
          },
        },
      },
      // Listed a second time: still one host, in every group it is listed in.
      also: { hosts: { 'lab-proxy': null } },
    },
  });
}

// ---- --list-hosts ------------------------------------------------------------------

test('--list-hosts shows each selected host once with its effective variables, and contacts nothing', async () => {
  const watch = await watcher();
  const sshd = mark(SSHD_LOG);
  const bastion = mark(BASTION_LOG);
  try {
    const inv = fleetInventory({ watched: { ssh_port: watch.port, ssh_jump: 'converge-lab@127.0.0.1:2223' } });
    const run = await converge(['-i', inv, '--list-hosts', '--json'], ENV);
    assert.is(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout) as { hosts: { host: string; groups: string[]; vars: Record<string, unknown> }[] };
    assert.equal(doc.hosts.map((h) => h.host).sort(), ['decoy-all', 'decoy-fleet', 'lab-proxy', 'watched']);
    const vars = (name: string) => doc.hosts.find((h) => h.host === name)!.vars;
    assert.is(vars('decoy-all').ssh_port, CLOSED_PORT, 'all.vars');
    assert.is(vars('decoy-fleet').ssh_port, CLOSED_PORT - 1, 'the group beats all.vars');
    assert.is(vars('lab-proxy').ssh_port, 2222, 'the nearest group beats the outer one');
    assert.is(vars('lab-proxy').https_port, 18443, 'the host beats its groups');
    assert.is(vars('decoy-fleet').https_port, 2);
    assert.is(vars('lab-proxy').ssh_timeout, 15, 'defaults are filled in');
    assert.equal(doc.hosts.find((h) => h.host === 'lab-proxy')!.groups, ['fleet', 'also', 'lab'], 'outermost first: lab is nested in fleet');
    assert.not.ok(run.stdout.includes(TOKEN), 'the token is not shown');
    // Text form, --limit applied, token redacted.
    const text = await converge(['-i', inv, '--list-hosts', '--limit', 'fleet,!decoy-*'], ENV);
    assert.is(text.code, 0, text.stderr);
    assert.match(text.stdout, /^1 host\(s\) selected from .* \(--limit fleet,!decoy-\*\); nothing was contacted$/m);
    assert.match(text.stdout, /^lab-proxy {2}\[ssh converge-lab@127\.0\.0\.1:2222, sudo -n\] {2}groups: fleet, also, lab$/m);
    // Each value says which level it came from.
    assert.match(text.stdout, /^ {2}ssh_port +2222 +\(group lab\)$/m);
    assert.match(text.stdout, /^ {2}https_port +18443 +\(the host\)$/m);
    assert.match(text.stdout, /^ {2}http_port +18080 +\(all\.vars\)$/m);
    assert.match(text.stdout, /bearer token: from IA_ENSO_OLLAMA_BEARER_TOKEN \(<redacted>\)/);
    assert.not.ok(text.stdout.includes(TOKEN));
    assert.is(watch.count(), 0, 'no connection to the listed host');
    assert.is(connections(sshd.since()), 0, 'no connection to the lab sshd');
    assert.is(connections(bastion.since()), 0, 'no connection to the bastion');
  } finally {
    watch.close();
  }
});

test('--list-hosts on the production inventory lists it without connecting anywhere', async () => {
  const run = await converge(['--list-hosts'], ENV);
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /nothing was contacted/);
  assert.match(run.stdout, /^\S+ {2}\[ssh \S+@\S+:22 via \S+@\S+, sudo -n\]/m);
});

// ---- selection and precedence, for real ----------------------------------------------

test('--limit with a group, a nested group and a glob exclusion converges exactly the selected host, with its effective variables', async () => {
  resetLab();
  const sshd = mark(SSHD_LOG);
  const run = await converge(['-i', fleetInventory(), '--limit', 'fleet,!decoy-*', '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const r = report(run);
  assert.equal(r.hosts.map((h) => h.host), ['lab-proxy']);
  assert.is(r.hosts[0].status, 'changed');
  // The site listens on the host-level https_port (18443), not a group's.
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.is(logins(sshd.since()), 1, 'one SSH connection for the one host');
});

test("an Ansible inventory as it is: ansible_host/port/user/ssh_private_key_file reach the lab, Ansible-only variables are ignored", async () => {
  resetLab();
  const { ssh_host, ssh_port, ssh_user, ssh_key, ...rest } = labVars();
  const inv = writeInventory({
    vars: { ...rest, ansible_python_interpreter: '/usr/bin/python3', ansible_become: true },
    children: {
      // A group's Ansible names under a host's: the host's ansible_port wins over the group's.
      proxies: {
        vars: { ansible_user: ssh_user, ansible_ssh_private_key_file: ssh_key, ansible_port: CLOSED_PORT },
        hosts: { 'lab-proxy': { ansible_host: ssh_host, ansible_port: ssh_port, ansible_connection: 'smart' } },
      },
    },
  });
  const sshd = mark(SSHD_LOG);
  const run = await converge(['-i', inv, '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.is(hostOf(report(run), 'lab-proxy').status, 'changed');
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.ok(sshd.since().some((l) => new RegExp(`^Accepted publickey for ${ssh_user} from 127\\.0\\.0\\.1`).test(l)), 'logged in as ansible_user with its key');
});

test('a --limit that matches nothing is an error before any connection', async () => {
  const watch = await watcher();
  const run = await converge(['-i', fleetInventory({ watched: { ssh_port: watch.port } }), '--limit', 'nothing-*,!lab'], ENV);
  watch.close();
  assert.is(watch.count(), 0);
  assert.is(run.code, 1);
  assert.match(run.stderr, /--limit "nothing-\*,!lab": "nothing-\*" matches no host or group/);
  for (const h of ['decoy-all', 'decoy-fleet', 'lab-proxy', 'watched']) assert.ok(run.stderr.includes(h), 'the hint lists the hosts');
});

test('a mistyped exclusion is an error before any connection, not a run on the host it meant to spare', async () => {
  const watch = await watcher();
  const run = await converge(['-i', fleetInventory({ watched: { ssh_port: watch.port } }), '--limit', 'all,!wacthed'], ENV);
  watch.close();
  assert.is(watch.count(), 0, 'no host was contacted');
  assert.is(run.code, 1);
  assert.match(run.stderr, /--limit "all,!wacthed": "wacthed" \(did you mean watched\?\) matches no host or group/);
});

// Every command in flight listens for Ctrl-C: more than 10 hosts at once must not make Node warn of a leak.
test('16 hosts at once (--forks 16): each gets its result, and the output has no warning of Node', async () => {
  const hosts = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`entry-${i + 1}`, null]));
  const run = await converge(['-i', writeInventory({ vars: labVars(), hosts }), '--check', '--forks', '16', '--json'], ENV);
  assert.ok(run.code === 0 || run.code === 2, run.stderr);
  assert.is(report(run).hosts.length, 16);
  assert.not.match(run.stderr, /Warning|\(node:\d+\)/, run.stderr);
});

test('an unreachable host next to a healthy one: the healthy one converges, exit 1, each status reported', async () => {
  resetLab();
  const run = await converge(['-i', fleetInventory(), '--limit', 'lab-proxy,decoy-all', '--forks', '2', '--json'], ENV);
  assert.is(run.code, 1, run.stdout + run.stderr);
  const r = report(run);
  assert.is(hostOf(r, 'lab-proxy').status, 'changed');
  assert.is(hostOf(r, 'lab-proxy').error, undefined);
  assert.equal(r.summary, { hosts: 2, ok: 0, changed: 1, failed: 0, unreachable: 1, exit_code: 1, retry_limit: 'decoy-all' });
  const dead = hostOf(r, 'decoy-all');
  assert.is(dead.status, 'unreachable');
  assert.match(dead.error!, /\[decoy-all\] converge-lab@127\.0\.0\.1:2299: connection refused/);
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 200);
  // The text recap says the same.
  const text = await converge(['-i', fleetInventory(), '--limit', 'lab-proxy,decoy-all', '--skip-tags', 'verify'], ENV);
  assert.is(text.code, 1);
  assert.match(text.stdout, /^ {2}lab-proxy {2}ok {10}0 change\(s\)$/m);
  assert.match(text.stdout, /^ {2}decoy-all {2}unreachable 0 change\(s\)$/m);
  assert.match(text.stdout, /error: \[decoy-all\] .*connection refused/);
  assert.ok(text.stdout.endsWith('\nto run again on the host(s) that failed: --limit decoy-all\n\n2 host(s): 1 ok, 1 unreachable; exit 1\n'), text.stdout);
  // Ansible's --limit @FILE: a file of the hosts to run on again.
  const retry = join(tempDir(), 'retry-hosts');
  writeFileSync(retry, '# failed last time\ndecoy-all\n\n');
  const again = await converge(['-i', fleetInventory(), '--limit', `@${retry}`, '--list-hosts', '--json'], ENV);
  assert.is(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).hosts.map((h: { host: string }) => h.host), ['decoy-all']);
  // The two hosts' progress lines interleave: each stage line says whose it is.
  const plain = text.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  const stageLines = plain.split('\n').filter((l) => /^[❯✔✖↓] /u.test(l) && !/^\S (lab-proxy|decoy-all) \(/u.test(l));
  assert.ok(stageLines.length >= 10, plain);
  for (const l of stageLines) assert.match(l, /^\S \[(lab-proxy|decoy-all)\] (preflight|tls|maps|vhost|enable|validate|reload|verify)\b/u);
  assert.ok(stageLines.includes('↓ [lab-proxy] verify [SKIPPED: not selected (--skip-tags verify)]'), plain);
});

test('hosts serving one domain given different tokens are each told, in a note that shows no token; one shared token, no note', async () => {
  resetLab();
  const dir = tempDir();
  const tokens = { a: 'entry-a-token-0123456789abcdef0123456789abcdef', b: 'entry-b-token-0123456789abcdef0123456789abcdef' };
  for (const [k, t] of Object.entries(tokens)) writeFileSync(join(dir, k), `${t}\n`, { mode: 0o600 });
  const withFiles = (a: string, b: string) => writeInventory({ vars: labVars(), hosts: { 'entry-a': { bearer_token_file: join(dir, a) }, 'entry-b': { bearer_token_file: join(dir, b) } } });
  const env = { ...ENV, IA_ENSO_OLLAMA_BEARER_TOKEN: undefined };
  const apart = await converge(['-i', withFiles('a', 'b'), '--check', '--json'], env);
  assert.is(apart.code, 2, apart.stdout + apart.stderr);
  for (const h of report(apart).hosts) {
    assert.ok(h.notes.includes('warning: the hosts serving gateway.converge.test (entry-a, entry-b) do not have one Bearer token after this run, so a client gets 401 from some of them: give them the same one with IA_ENSO_OLLAMA_BEARER_TOKEN or one bearer_token_file, and run again'), JSON.stringify(h.notes));
  }
  assert.not.ok(apart.stdout.includes(tokens.a) || apart.stdout.includes(tokens.b) || apart.stderr.includes(tokens.a), 'no token shown');
  const shared = await converge(['-i', withFiles('a', 'a'), '--check', '--json'], env);
  assert.is(shared.code, 2, shared.stdout + shared.stderr);
  assert.not.ok(report(shared).hosts.some((h) => h.notes.some((n) => n.includes('one Bearer token'))), 'one token: no note');
});

test('several entries for one machine wait for its lock in turn (--lock-timeout), each host disconnecting when done', async () => {
  resetLab();
  const first = await converge([...INV, '--skip-tags', 'verify'], ENV);
  assert.is(first.code, 0, first.stdout);
  const inv = writeInventory({ vars: labVars(), hosts: { 'entry-a': null, 'entry-b': null, 'entry-c': null } });
  const sshd = mark(SSHD_LOG);
  const run = await converge(['-i', inv, '--forks', '3', '--lock-timeout', '60', '--skip-tags', 'verify', '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  assert.equal(report(run).hosts.map((h) => h.status), ['ok', 'ok', 'ok']);
  assert.is(logins(sshd.since()), 3, 'one connection per entry');
});

// ---- --tags / --skip-tags --------------------------------------------------------------

const INV = ['-i', LAB_INVENTORY];

test('--tags maps: only the maps file is written; validate is kept, reload and verify skipped, and the notes say why', async () => {
  resetLab();
  const pids = workerPids();
  const run = await converge([...INV, '--tags', 'maps', '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'changed');
  assert.equal(host.changes.map((c) => c.path), [MAPS]);
  assert.ok(existsSync(MAPS));
  assert.not.ok(existsSync(SITE) || existsSync(LINK), 'vhost and enable did not run');
  assert.is(workerPids(), pids, 'not reloaded');
  const notes = host.notes.join('\n');
  assert.match(notes, /stages \(--tags maps\): ran preflight, maps, validate; skipped tls, vhost, enable, reload, verify/);
  assert.match(notes, /skipped vhost \(not selected \(--tags maps\)\): left undone: create \S+gateway\.converge\.test\.conf/);
  assert.match(notes, /kept validate although not selected .*nginx -t/);
  assert.match(notes, /skipped reload .*not live; reload nginx yourself/);
});

test('--tags vhost while the maps file it needs is not on the host: refused, nothing written', async () => {
  resetLab();
  const before = snapshot();
  const run = await converge([...INV, '--tags', 'vhost', '--json'], ENV);
  assert.is(run.code, 1);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'failed');
  assert.match(host.error!, /the selected stages cannot run safely on this host: vhost without maps/);
  assert.match(host.error!, /nothing was changed/);
  assert.equal(compare(before, snapshot()), []);
});

test('--skip-tags validate while files change: validate still runs, and a failing nginx -t still rolls back', async () => {
  resetLab();
  // A vhost directory outside nginx's tree rules out the scratch test; a corrupt certificate fails nginx -t.
  const outside = join(LAB, 'sites-outside-tags');
  mkdirSync(outside, { recursive: true });
  const le = join(LAB, 'corrupt-letsencrypt-tags');
  mkdirSync(join(le, 'live/gateway.converge.test'), { recursive: true });
  for (const f of ['fullchain.pem', 'privkey.pem']) writeFileSync(join(le, 'live/gateway.converge.test', f), 'not a PEM file\n');
  try {
    const before = snapshot();
    const pids = workerPids();
    const run = await converge(['-i', labHost({ nginx_sites_available: outside, letsencrypt_dir: le }), '--skip-tags', 'validate', '--json'], ENV);
    assert.is(run.code, 1, run.stdout + run.stderr);
    const host = hostOf(report(run), 'lab-proxy');
    assert.match(host.notes.join('\n'), /kept validate although not selected \(--skip-tags validate\)/);
    assert.match(host.error!, /nginx -t rejected the new configuration/);
    assert.match(host.notes.join('\n'), /rolled back: /);
    assert.equal(compare(before, snapshot()), []);
    assert.is(workerPids(), pids);
  } finally {
    rmSync(outside, { recursive: true, force: true });
    rmSync(le, { recursive: true, force: true });
  }
});

test('--skip-tags reload: the files are written and validated but not live; verify is skipped with the reason', async () => {
  resetLab();
  const pids = workerPids();
  const run = await converge([...INV, '--skip-tags', 'reload', '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy');
  assert.is(host.status, 'changed');
  assert.ok(existsSync(SITE) && existsSync(MAPS) && existsSync(LINK));
  assert.is(workerPids(), pids, 'not reloaded');
  const notes = host.notes.join('\n');
  assert.match(notes, /skipped reload \(not selected \(--skip-tags reload\)\): the tls, maps, vhost, enable change\(s\)|skipped reload .*are on disk but not live/);
  assert.match(notes, /skipped verify: the reload was skipped/);
  assert.equal((host as { probes?: unknown[] }).probes ?? [], [], 'no probe ran');
  await gateway('/ollama/v1/models').then(
    () => assert.unreachable('the new site is not live yet'),
    () => {},
  );
});

test('--tags verify on a converged host: only preflight and verify run', async () => {
  resetLab();
  const first = await converge([...INV, '--skip-tags', 'verify'], ENV);
  assert.is(first.code, 0, first.stdout);
  const before = snapshot();
  const run = await converge([...INV, '--tags', 'verify', '--json'], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = hostOf(report(run), 'lab-proxy') as ReturnType<typeof hostOf> & { probes: { ok: boolean }[] };
  assert.is(host.status, 'ok');
  assert.ok(host.probes.length > 0 && host.probes.some((p) => p.ok), 'the probes ran');
  assert.match(host.notes.join('\n'), /ran preflight, verify; skipped tls, maps, vhost, enable, validate, reload/);
  assert.equal(compare(before, snapshot()), []);
});

test('an unknown stage is refused before connecting', async () => {
  const watch = await watcher();
  const run = await converge(['-i', labHost({ ssh_port: watch.port }), '--skip-tags', 'verify,mapz'], ENV);
  watch.close();
  assert.is(run.code, 1);
  assert.match(run.stderr, /--skip-tags: unknown stage "mapz"/);
  assert.match(run.stderr, /preflight, tls, maps, vhost, enable, validate, reload, verify/);
  assert.is(watch.count(), 0);
});

test.after(() => resetLab());

test.run();

