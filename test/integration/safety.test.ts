// Secrets, locks and backups against the lab, through the real CLI: where the
// token comes from and that it never leaks, rotation, the host lock, backups
// and tasks/rollback.mjs, and every bad input refused before connecting.
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { compare, fileMode, gateway, LAB, LAB_INVENTORY, labInventory, MAPS, resetLab, SITE, snapshot, TOKEN, workerPids } from './lab.js';
import {
  BACKUPS,
  deadPid,
  HOOK,
  leaks,
  LOCK,
  logOffsets,
  plantLock,
  procStart,
  record,
  removeLock,
  run,
  secret,
  sleep,
  sshLogins,
  sudoLog,
  STACK,
  start,
  state,
  until,
  watchCommandLines,
  watchProbeFileAndLock,
} from './safetylab.js';
import { tempDir } from '../tempdir.js';

const OFFSETS = logOffsets();
const FILE_TOKEN = 'file-token-0123456789abcdef0123456789abcdef';
const ENV_TOKEN = 'env-token-0123456789abcdef0123456789abcdefgh';
const NEXT_TOKEN = 'next-token-0123456789abcdef0123456789abcdef';
secret(TOKEN, FILE_TOKEN, ENV_TOKEN, NEXT_TOKEN);

const tmp = tempDir('converge-safety-');
function tokenFile(name: string, content: string): string {
  const p = join(tmp, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

const ok = (token: string) => gateway('/ollama/v1/models', { Authorization: `Bearer ${token}` }).then((r) => r.status);
const noToken = (r: { stdout: string; stderr: string }, t: string) => !r.stdout.includes(t) && !r.stderr.includes(t);
const json = (r: { stdout: string }) => JSON.parse(r.stdout).hosts[0];
const backupRuns = () => (existsSync(BACKUPS) ? readdirSync(BACKUPS).filter((d) => /^\d{8}T\d{6}\.\d{3}Z-\d+$/.test(d)).sort() : []);

// ---- where the token comes from ---------------------------------------------------

test('bearer_token_file is used when IA_ENSO_OLLAMA_BEARER_TOKEN is unset: the gateway answers 200 with it', async () => {
  resetLab();
  const inv = labInventory({ bearer_token_file: tokenFile('token', `${FILE_TOKEN}\n`) });
  const r = await run(['-i', inv, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(json(r).status, 'changed');
  assert.not.match(r.stderr, /shown once/, 'a token from a file is not "generated"');
  assert.is(await ok(FILE_TOKEN), 200);
  assert.is(fileMode(MAPS), '640 0:0');
  assert.ok(noToken(r, FILE_TOKEN));
  assert.not.ok(json(r).notes.some((n: string) => n.includes('bearer_token_file')), 'mode 0600: no warning');
  // Kept on the next run without any change; a file others may read is still used, with a warning.
  chmodSync(join(tmp, 'token'), 0o644);
  const again = await run(['-i', inv, '--json']);
  assert.is(json(again).status, 'ok');
  assert.ok(json(again).notes.includes(`warning: bearer_token_file ${join(tmp, 'token')} can be read by users other than its owner (mode 0644): run chmod 600 ${join(tmp, 'token')}`), JSON.stringify(json(again).notes));
  assert.ok(noToken(again, FILE_TOKEN));
  const text = await run(['-i', inv]);
  assert.match(text.stdout, /note: warning: bearer_token_file \S+ can be read by users other than its owner \(mode 0644\)/);
});

test('IA_ENSO_OLLAMA_BEARER_TOKEN wins over bearer_token_file', async () => {
  const inv = labInventory({ bearer_token_file: tokenFile('token', `${FILE_TOKEN}\n`) });
  const r = await run(['-i', inv, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: ENV_TOKEN });
  assert.is(r.code, 0, r.stderr);
  assert.equal(json(r).changes.map((c: { path: string }) => c.path), [MAPS]);
  assert.match(json(r).changes[0].reasons.join(), /the Bearer token changes/);
  assert.is(await ok(ENV_TOKEN), 200);
  assert.is(await ok(FILE_TOKEN), 401);
  assert.is(fileMode(MAPS), '640 0:0');
  assert.ok(noToken(r, ENV_TOKEN) && noToken(r, FILE_TOKEN));
});

/** A token-source error: exit 1, one line naming the host and the file, no stack, no SSH login, nothing changed. */
async function refusedBeforeConnecting(inv: string, where: string, why: RegExp, secretValue?: string) {
  const before = snapshot();
  const logins = sshLogins();
  const r = await run(['-i', inv], {}, 'converge.mjs', 20_000);
  assert.is(r.signal, null, `the run hung after its error and was killed: ${r.stderr}`);
  assert.is(r.code, 1);
  assert.match(r.stderr, new RegExp(`^converge: \\[lab-proxy\\] ${where.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `, 'm'));
  assert.match(r.stderr, why);
  assert.not.match(r.stderr, STACK);
  assert.is(r.stdout, '', 'not even the progress view started');
  assert.is(sshLogins(), logins, 'no SSH connection was made');
  assert.equal(compare(before, snapshot()), []);
  if (secretValue) assert.ok(noToken(r, secretValue), 'the invalid token is not printed');
}

test('a bearer_token_file that does not exist: exit 1 before any connection, naming the host and the file', async () => {
  const missing = join(tmp, 'no-such-token');
  await refusedBeforeConnecting(labInventory({ bearer_token_file: missing }), missing, /cannot read bearer_token_file: ENOENT/);
});

test('a bearer_token_file that cannot be read (a directory): exit 1 before any connection', async () => {
  const d = join(tmp, 'a-directory');
  mkdirSync(d, { recursive: true });
  await refusedBeforeConnecting(labInventory({ bearer_token_file: d }), d, /cannot read bearer_token_file: EISDIR/);
});

test('an invalid token in bearer_token_file: exit 1 before any connection, the rule broken named, the token never printed', async () => {
  const bad = 'has "quotes" and spaces; $(rm -rf /) 0123456789abcdef';
  const f = tokenFile('bad', `${bad}\n`);
  secret(bad);
  await refusedBeforeConnecting(labInventory({ bearer_token_file: f }), f, /the Bearer token is invalid: it contains a character outside RFC 6750/, bad);
  const short = tokenFile('short', 'short-token-12345\n');
  await refusedBeforeConnecting(labInventory({ bearer_token_file: short }), short, /it has 17 characters, at least 32 are required/);
});

test('the token is checked before connecting: with a closed SSH port the error is the token error, not "connection refused"', async () => {
  const f = tokenFile('bad2', 'not valid {token} 0123456789abcdef0123456789\n');
  const r = await run(['-i', labInventory({ bearer_token_file: f, ssh_port: 1 })]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /\[lab-proxy\] .*bad2: the Bearer token is invalid/);
  assert.not.match(r.stdout + r.stderr, /connection refused|unreachable/);
});

// ---- rotation ---------------------------------------------------------------------------

test('--rotate-token: a new token shown once on stderr (never on stdout or in JSON); the old one gets 401, the new one 200', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  const watch = watchCommandLines([TOKEN]);
  const r = await run(['-i', LAB_INVENTORY, '--rotate-token', '--json']);
  const onCommandLines = watch.stop();
  assert.is(r.code, 0, r.stderr);
  const m = /shown once, converge keeps no copy of it:\n\s+([0-9a-f]{64})\n/.exec(r.stderr);
  assert.ok(m, 'the new token is on stderr');
  const fresh = m![1];
  assert.is(r.stderr.split(fresh).length - 1, 1, 'exactly once');
  assert.not.ok(r.stdout.includes(fresh), 'not in the JSON report');
  assert.ok(noToken(r, TOKEN), 'the old token is not printed either');
  const host = json(r);
  assert.is(host.status, 'changed');
  const retired = host.probes.find((p: { id: string }) => p.id === 'gate-retired-token');
  assert.ok(retired, 'verify checked the replaced token');
  assert.is(retired.status, 401);
  assert.ok(retired.ok);
  assert.match(host.changes[0].diff, /<redacted:previous-bearer-token>/);
  assert.is(await ok(TOKEN), 401);
  assert.is(await ok(fresh), 200);
  assert.is(fileMode(MAPS), '640 0:0');
  assert.equal(onCommandLines, [], 'the token was on no command line while the run lasted');
  // The next run keeps the rotated token, silently.
  const again = await run(['-i', LAB_INVENTORY]);
  assert.is(again.code, 0);
  assert.not.match(again.stderr, /shown once/);
  assert.is(await ok(fresh), 200);
});

test('--rotate-token with IA_ENSO_OLLAMA_BEARER_TOKEN set to a new value: that one is deployed, not shown, the old one gets 401', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  const r = await run(['-i', LAB_INVENTORY, '--rotate-token', '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: NEXT_TOKEN });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /shown once/, 'the operator chose it: nothing to show');
  assert.ok(noToken(r, NEXT_TOKEN) && noToken(r, TOKEN));
  assert.is(json(r).probes.find((p: { id: string }) => p.id === 'gate-retired-token')?.status, 401);
  assert.is(await ok(NEXT_TOKEN), 200);
  assert.is(await ok(TOKEN), 401);
});

test('--rotate-token --check: says a new token would replace the deployed one, generates nothing, changes nothing', async () => {
  const before = snapshot();
  const r = await run(['-i', LAB_INVENTORY, '--rotate-token', '--check', '--json']);
  assert.is(r.code, 2, r.stderr);
  assert.ok(json(r).notes.some((n: string) => /a new Bearer token would replace the deployed one/.test(n)));
  assert.not.match(r.stderr, /shown once/);
  assert.equal(compare(before, snapshot()), []);
});

// A new token generated while bearer_token_file still holds the deployed one
// would be put back by the next plain run (clients with the new one: 401).
test('--rotate-token while bearer_token_file holds the deployed token: refused before anything changes, saying what to do', async () => {
  resetLab();
  const path = tokenFile('rot', `${FILE_TOKEN}\n`);
  const inv = labInventory({ bearer_token_file: path });
  assert.is((await run(['-i', inv])).code, 0);
  const before = snapshot();
  const r = await run(['-i', inv, '--rotate-token', '--json']);
  assert.is(r.code, 1, r.stdout + r.stderr);
  const h = json(r);
  assert.is(h.status, 'failed');
  assert.ok(h.error.startsWith(`[lab-proxy] ${path}: --rotate-token: the token in bearer_token_file is the one already deployed`), h.error);
  assert.match(h.error, /write the new token to bearer_token_file first/);
  assert.not.match(r.stderr, /shown once/);
  assert.ok(noToken(r, FILE_TOKEN));
  assert.equal(compare(before, snapshot()), [], 'nothing changed');
  assert.is(await ok(FILE_TOKEN), 200, 'the deployed token still works');
});

// ---- maps file mode -----------------------------------------------------------------

test('the maps file is put back to 0640 root:root when its mode or owner drifted', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  chmodSync(MAPS, 0o644);
  chownSync(MAPS, 1000, 1000);
  const r = await run(['-i', LAB_INVENTORY, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(r.code, 0, r.stderr);
  assert.match(json(r).changes[0].reasons.join('; '), /mode 0644 -> 0640/);
  assert.is(fileMode(MAPS), '640 0:0');
  assert.is(await ok(TOKEN), 200);
});

// ---- the host lock ------------------------------------------------------------------

const SLOW = { nginx_command: `sleep 1; nginx -c ${LAB}/nginx/nginx.conf` };

test('two converges at once: the second fails at once with the holder (machine, pid, start time, command); nothing from it', async () => {
  resetLab();
  const inv = labInventory(SLOW);
  const first = start(['-i', inv, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  try {
    assert.ok(await until(() => existsSync(join(LOCK, 'holder')), 15_000), 'the first run took the lock');
    const logins = sshLogins();
    const second = await run(['-i', inv, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
    assert.is(second.code, 1);
    assert.is(sshLogins(), logins + 1, 'the second run connected once (to find the lock)');
    const h = json(second);
    assert.is(h.status, 'failed');
    assert.equal(h.changes, [], 'the second run planned nothing: it stopped at the lock');
    assert.match(h.error, new RegExp(`^\\[lab-proxy\\] ${LOCK}: another run holds the lock: converge on ${hostname()} \\(pid ${first.pid}, user root, since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z, command: converge -i \\S+ --json\\)`));
    assert.match(h.error, /--lock-timeout/);
    assert.ok(noToken(second, TOKEN));
  } finally {
    const r = await first.done;
    assert.is(r.code, 0, r.stdout);
  }
  assert.not.ok(existsSync(LOCK), 'released at the end of the first run');
});

test('a no-op converge reads without the lock: one privileged command, no lock taken; a run with changes locks and reads again in one command, and releases', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  const before = sudoLog().length;
  const noop = await run(['-i', LAB_INVENTORY, '--json', '--skip-tags', 'verify'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(noop.code, 0, noop.stderr);
  assert.is(json(noop).status, 'ok');
  const noopCommands = sudoLog().slice(before);
  assert.is(noopCommands.length, 1, noopCommands.map((l) => l.slice(0, 200)).join('\n'));
  assert.not.match(noopCommands[0], /claim\(\)/, 'the one command is the read, not the lock');

  writeFileSync(SITE, readFileSync(SITE, 'utf8') + '# edited by hand\n');
  const mark = sudoLog().length;
  const fix = await run(['-i', LAB_INVENTORY, '--json', '--skip-tags', 'verify'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(fix.code, 0, fix.stderr);
  assert.is(json(fix).status, 'changed');
  const commands = sudoLog().slice(mark);
  const lockAt = commands.findIndex((l) => /claim\(\)/.test(l));
  const reads = commands.map((l, i) => (/nginx_cmd=\$1 nprobes=\$2/.test(l) ? i : -1)).filter((i) => i >= 0);
  assert.ok(lockAt > 0, 'the lock was taken after a first read');
  assert.equal(reads, [0, lockAt], 'read, then lock and read again in one command');
  assert.ok(commands[lockAt].indexOf('claim()') < commands[lockAt].indexOf('nginx_cmd=$1'), 'the lock first');
  assert.not.ok(existsSync(LOCK), 'released');
  assert.ok(sudoLog().every((l) => !l.includes(TOKEN)), 'the token never reaches a command line');
});

// Every privileged command is a round trip to the host: over a WAN, what a
// first converge costs. The manifest is written once, by the gate's nginx -t;
// the reload waits for the new workers in the same command that sends it.
test('a first converge: the manifest is written once, after the last write, by the command of the gate\'s nginx -t; one command reloads and waits for the new workers; the release of the lock prunes', async () => {
  resetLab();
  const mark = sudoLog().length;
  const first = await run(['-i', LAB_INVENTORY, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(first.code, 0, first.stdout);
  const commands = sudoLog().slice(mark);
  const listing = commands.map((l) => l.slice(l.indexOf('COMMAND='), l.indexOf('COMMAND=') + 120)).join('\n');
  const at = (re: RegExp) => commands.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);
  const writes = at(/path=\$1 tmp=\$2 backup=\$3/);
  const manifests = at(/\.manifest\.tmp/);
  assert.is(writes.length, 4, listing);
  assert.equal(manifests.length, 1, listing);
  assert.ok(manifests[0] > writes[3], `the manifest after the last write:\n${listing}`);
  assert.match(commands[manifests[0]], /eval "\$nginx_cmd -t"/, 'the same command runs the gate\'s nginx -t');
  const workerChecks = at(/ps -eo pid=,args=/);
  assert.is(workerChecks.length, 1, listing);
  assert.match(commands[workerChecks[0]], /eval "\$1" \|\| exit.* -s reload/, 'the same command sends the reload');
  assert.match(commands.at(-1)!, /lock=\$1 backups=\$2 keep=\$3.* \/\S+\/backups 10$/, 'the last command releases the lock and prunes the backups (backup_keep 10)');
  assert.equal(at(/ls -1 \| grep -E/).length, 1, 'no pruning of its own');
  assert.ok(commands.length <= 11, `${commands.length} privileged commands:\n${listing}`);
  const [dir] = backupRuns();
  const manifest = JSON.parse(readFileSync(join(BACKUPS, dir, 'manifest.json'), 'utf8'));
  assert.is(manifest.state, 'applied');
  assert.is(manifest.entries.length, 4);
});

// A no-op's probes start once the host is connected (lib/verify/early.ts):
// what they see may only be used when the run reloads nothing, and their
// probe file only be written once the run is known to change nothing. The
// host's read writes it then, when converge tells it to (lib/gather.ts).
// The token may be known before the read (the environment) or only from it (the host's own).
for (const [source, env] of [['a token from the environment', { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN }], ['the token on the host', {}]] as const) {
  test(`a no-op verifies with the probes it started while reading (${source}); its one privileged command, the read, places the ACME probe file`, async () => {
    resetLab();
    assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
    const mark = sudoLog().length;
    const watcher = watchProbeFileAndLock();
    let noop;
    let left;
    try {
      noop = await run(['-i', LAB_INVENTORY], env);
      await sleep(100); // the last inotify events
      left = readdirSync(watcher.dir);
    } finally {
      watcher.stop();
    }
    assert.is(noop.code, 0, noop.stderr);
    assert.match(noop.stdout, /verify: 10\/11 probes passed \(probed while the host was read: no change to wait for\)/);
    const commands = sudoLog().slice(mark);
    assert.is(commands.length, 1, commands.map((l) => l.slice(0, 160)).join('\n'));
    assert.match(commands[0], /nginx_cmd=\$1 nprobes=\$2/);
    const probeFile = watcher.events.filter((e) => e.startsWith('probe-file rename converge-probe-'));
    assert.is(probeFile.length, 2, `written, then removed: ${watcher.events.join(', ')}`);
    assert.not.ok(watcher.events.some((e) => e.startsWith('lock')), 'no lock');
    assert.equal(left, [], 'the probe file is gone');
  });
}

test('a run with changes drops its early probes (they saw the broken gateway), writes no probe file before its lock, and verifies after its reload', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  // A hand edit that breaks /ollama/, made live: the early probes get 502.
  writeFileSync(SITE, readFileSync(SITE, 'utf8').replace('proxy_pass http://127.0.0.1:31434/;', 'proxy_pass http://127.0.0.1:31499/;'));
  execFileSync('nginx', ['-c', join(LAB, 'nginx/nginx.conf'), '-s', 'reload'], { stdio: 'ignore' });
  let status = 0;
  for (let i = 0; i < 100; i++) {
    status = await ok(TOKEN);
    if (status === 502) break;
    await sleep(100);
  }
  assert.is(status, 502, 'the broken site is live');
  const watcher = watchProbeFileAndLock();
  let fix;
  try {
    fix = await run(['-i', LAB_INVENTORY, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
    await sleep(100);
  } finally {
    watcher.stop();
  }
  assert.is(fix.code, 0, fix.stdout + fix.stderr);
  const host = json(fix);
  assert.is(host.status, 'changed');
  assert.ok(host.probes.every((p: { ok: boolean; warning?: boolean }) => p.ok || p.warning), JSON.stringify(host.probes));
  assert.is(await ok(TOKEN), 200);
  const lockAt = watcher.events.findIndex((e) => e.startsWith('lock'));
  const fileAt = watcher.events.findIndex((e) => e.startsWith('probe-file'));
  assert.ok(lockAt >= 0 && fileAt > lockAt, `the probe file only after the lock: ${watcher.events.join(', ')}`);
  assert.is(watcher.events.filter((e) => e.startsWith('probe-file rename')).length, 2, 'one probe file, after the reload');
});

test('two converges at once with --lock-timeout: the second waits for the first, then runs (a no-op)', async () => {
  resetLab();
  const inv = labInventory(SLOW);
  const first = start(['-i', inv], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.ok(await until(() => existsSync(join(LOCK, 'holder')), 15_000));
  const second = start(['-i', inv, '--json', '--lock-timeout', '60'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  const a = await first.done;
  const b = await second.done;
  assert.is(a.code, 0, a.stdout);
  assert.is(b.code, 0, b.stderr);
  assert.is(json(b).status, 'ok', 'it planned after the first run had converged the host');
  assert.ok(second.startedAt + b.ms > first.startedAt + a.ms, 'the second finished after the first');
  assert.not.ok(existsSync(LOCK));
});

test('a lock left by a dead run is taken over, and the run says so', async () => {
  resetLab();
  const line = 'converge on old-laptop (pid 4242, user alice, since 2024-05-01T10:00:00.000Z, command: converge --limit lab-proxy)';
  plantLock(deadPid(), line, '12345');
  try {
    const r = await run(['-i', LAB_INVENTORY, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
    assert.is(r.code, 0, r.stderr);
    assert.ok(json(r).notes.includes(`took over a stale lock (its run is gone): ${line}; nginx is validated and reloaded so that it serves the files on disk`), JSON.stringify(json(r).notes));
    assert.not.ok(existsSync(LOCK), 'released at the end');
  } finally {
    removeLock();
  }
});

test('--check takes no lock: it runs while another run holds it; an apply run does not', async () => {
  resetLab();
  const line = `converge on ${hostname()} (pid ${process.pid}, user root, since 2026-01-01T00:00:00.000Z, command: the test holding the lock)`;
  plantLock(process.pid, line); // owned by this live process
  try {
    const before = snapshot();
    const check = await run(['-i', LAB_INVENTORY, '--check', '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
    assert.is(check.code, 2, check.stderr);
    assert.is(json(check).status, 'drift');
    assert.ok(json(check).notes.some((n: string) => n.startsWith(`${LOCK} is held: ${line}. A run is at work, or one died`)), JSON.stringify(json(check).notes));
    assert.equal(compare(before, snapshot()), []);
    assert.is(readFileSync(join(LOCK, 'holder'), 'utf8').split('\n')[1], line, 'the lock is untouched');
    const apply = await run(['-i', LAB_INVENTORY, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
    assert.is(apply.code, 1);
    assert.ok(json(apply).error.includes(`another run holds the lock: ${line}`));
    assert.equal(compare(before, snapshot()), []);
    assert.is(readFileSync(join(LOCK, 'holder'), 'utf8').split('\n')[1], line, 'a refused run does not release another run\'s lock');
    assert.ok(procStart(process.pid));
  } finally {
    removeLock();
  }
});

// ---- backups and tasks/rollback.mjs -----------------------------------------------------

test('an apply that replaces files keeps the old ones under backup_dir/<run>/ with a manifest (paths, never content); backup_keep prunes', async () => {
  resetLab();
  const inv = labInventory({ backup_keep: 2 });
  assert.is((await run(['-i', inv], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  const runs: string[][] = [];
  const sites: string[] = [];
  for (const edit of ['# edit 1\n', '# edit 2\n', '# edit 3\n']) {
    writeFileSync(SITE, readFileSync(SITE, 'utf8') + edit);
    sites.push(readFileSync(SITE, 'utf8'));
    const r = await run(['-i', inv, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
    assert.is(r.code, 0, r.stderr);
    runs.push(backupRuns());
  }
  // The first run (creating everything) and the three replacing ones, pruned to the last two.
  assert.is(runs[0].length, 2);
  assert.is(runs[1].length, 2, 'backup_keep 2');
  assert.is(runs[2].length, 2);
  assert.not.ok(runs[2].includes(runs[0][0]), 'the oldest run was pruned');
  const last = runs[2][1];
  const saved = join(BACKUPS, last, SITE);
  assert.is(readFileSync(saved, 'utf8'), sites[2], 'the replaced vhost, byte-identical');
  // Old maps files hold old tokens: every directory of a backup run is root-only.
  for (let d = dirname(saved); d.length >= join(BACKUPS, last).length; d = dirname(d)) {
    assert.is(statSync(d).mode & 0o777, 0o700, `${d} is 0700`);
  }
  const manifest = JSON.parse(readFileSync(join(BACKUPS, last, 'manifest.json'), 'utf8'));
  assert.is(manifest.version, 1);
  assert.is(manifest.run, last);
  assert.is(manifest.host, 'lab-proxy');
  assert.is(manifest.state, 'applied');
  assert.match(manifest.command, /^converge -i \S+ --json$/);
  assert.equal(manifest.entries, [{ path: SITE, existed: true, backup: saved }]);
  const text = readFileSync(join(BACKUPS, last, 'manifest.json'), 'utf8');
  assert.not.ok(text.includes(TOKEN), 'paths only');
  assert.not.ok(text.includes('server {'), 'no file content');
});

/** NODE_OPTIONS for a converge whose machine's clock is `ms` ahead (new Date() and Date.now(); dates given stay as given). */
function clockAhead(ms: number): Record<string, string> {
  const file = join(tmp, 'clock-ahead.cjs');
  writeFileSync(file, `const Real = Date;
globalThis.Date = class extends Real {
  constructor(...a) { if (a.length === 0) super(Real.now() + ${ms}); else super(...a); }
  static now() { return Real.now() + ${ms}; }
};
`);
  return { NODE_OPTIONS: `--require ${file}` };
}

test('two operators whose clocks disagree: their runs are named by the host\'s clock, so the latest is the one the host saw last', async () => {
  resetLab();
  const HOUR = 3_600_000;
  const ahead = await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN, ...clockAhead(HOUR) });
  assert.is(ahead.code, 0, ahead.stdout + ahead.stderr);
  writeFileSync(SITE, readFileSync(SITE, 'utf8') + '# hand edit\n', { mode: 0o644 });
  const before = Date.now();
  const later = await run(['-i', LAB_INVENTORY, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(later.code, 0, later.stdout + later.stderr);
  const runs = backupRuns();
  assert.is(runs.length, 2);
  const manifests = runs.map((r) => JSON.parse(readFileSync(join(BACKUPS, r, 'manifest.json'), 'utf8')));
  // The first operator's machine was an hour ahead (its manifest says when it started by that clock) ...
  assert.ok(Date.parse(manifests[0].started) >= before + HOUR / 2, `started ${manifests[0].started} by a clock an hour ahead`);
  // ... yet its run sorts first: named by the host, as every run on it.
  assert.match(manifests[1].command, / --json$/, 'the later run is the latest');
  assert.ok(Date.parse(runs[0].replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\.\d{3}Z).*/, '$1-$2-$3T$4:$5:$6$7')) < before, `${runs[0]}: the host's time`);
  const list = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--list', '--json'], {}, 'rollback.mjs');
  assert.equal(JSON.parse(list.stdout).runs.map((m: { run: string }) => m.run), runs, 'rollback.mjs sees them in the same order');
  // Rollback to the latest puts the hand edit back: the state before the later run.
  const rb = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy'], {}, 'rollback.mjs');
  assert.is(rb.code, 0, rb.stdout + rb.stderr);
  assert.match(readFileSync(SITE, 'utf8'), /# hand edit\n$/);
});

test('rollback.mjs --list shows the kept runs; rollback restores the vhost byte-identical and the token from before a rotation', async () => {
  resetLab();
  const none = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--list'], {}, 'rollback.mjs');
  assert.is(none.code, 0, none.stderr);
  assert.is(none.stdout, `lab-proxy: no backup run in ${join(LAB, 'backups')} (converge keeps one for each run that changes a file)\n`);
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  writeFileSync(SITE, readFileSync(SITE, 'utf8') + '# hand edit kept by the backup\n', { mode: 0o644 });
  const editedSite = state(SITE);
  const editedMaps = state(MAPS);
  const rot = await run(['-i', LAB_INVENTORY, '--rotate-token']);
  assert.is(rot.code, 0, rot.stdout);
  const fresh = rot.shown!;
  assert.ok(fresh);
  assert.is(await ok(TOKEN), 401);

  const list = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--list'], {}, 'rollback.mjs');
  assert.is(list.code, 0, list.stderr);
  const [header, ...lines] = list.stdout.trim().split('\n');
  assert.is(header, `lab-proxy: 2 backup run(s) in ${join(LAB, 'backups')}, oldest first; restore one with --to RUN (default: the latest applied)`);
  assert.is(lines.length, 2);
  assert.match(lines[0], /^\d{8}T\d{6}\.\d{3}Z-\d+ {2}applied {6}4 path\(s\) {2}converge -i \S+$/);
  assert.match(lines[1], /^\d{8}T\d{6}\.\d{3}Z-\d+ {2}applied {6}2 path\(s\) {2}converge -i \S+ --rotate-token$/);
  const listJson = JSON.parse((await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--list', '--json'], {}, 'rollback.mjs')).stdout);
  assert.equal(listJson.runs.map((m: { run: string }) => m.run), backupRuns());

  const pids = workerPids();
  const rb = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--json'], {}, 'rollback.mjs');
  assert.is(rb.code, 0, rb.stderr);
  const h = json(rb);
  assert.is(h.status, 'changed');
  assert.ok(h.notes.some((n: string) => n.startsWith(`restoring backup run ${lines[1].split(' ')[0]}`)));
  assert.is(state(SITE), editedSite, 'the vhost as it was before the rotation run, byte-identical (mode and owner too)');
  assert.is(state(MAPS), editedMaps);
  assert.is.not(workerPids(), pids, 'reloaded');
  assert.is(await ok(TOKEN), 200, 'the token from before the rotation works again');
  assert.is(await ok(fresh), 401);
  assert.ok(noToken(rb, TOKEN) && noToken(rb, fresh));
  assert.is(backupRuns().length, 3, 'the restore is a run with its own backup');
});

test('rollback.mjs --to RUN restores that run; --check shows the restore and touches nothing; an unknown run is refused', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  const versions: string[] = [];
  for (const n of [1, 2]) {
    writeFileSync(SITE, readFileSync(SITE, 'utf8') + `# version ${n}\n`);
    versions.push(state(SITE));
    assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  }
  const [, firstReplacing] = backupRuns();
  const before = snapshot();
  const kept = backupRuns();
  const check = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--to', firstReplacing, '--check', '--diff'], {}, 'rollback.mjs');
  assert.is(check.code, 2, check.stderr);
  assert.match(check.stdout, /would update \S+gateway\.converge\.test\.conf: content differs/);
  assert.match(check.stdout, /\+# version 1/);
  assert.equal(compare(before, snapshot()), [], 'check touches nothing');
  assert.equal(backupRuns(), kept, 'and backs nothing up');

  const rb = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--to', firstReplacing], {}, 'rollback.mjs');
  assert.is(rb.code, 0, rb.stdout);
  assert.is(state(SITE), versions[0]);

  const unknown = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--to', '20200101T000000Z-1'], {}, 'rollback.mjs');
  assert.is(unknown.code, 1);
  assert.match(unknown.stdout, /no backup run 20200101T000000Z-1 on the host/);
  assert.match(unknown.stdout, new RegExp(`kept runs: .*${firstReplacing} \\(applied\\)`));
});

/** A copy of the lab's certificate under another letsencrypt_dir: a vhost made with it breaks once the copy is gone. */
function certificateCopy(name: string): string {
  const le = join(tmp, name);
  rmSync(le, { recursive: true, force: true });
  mkdirSync(join(le, 'live/gateway.converge.test'), { recursive: true });
  for (const f of ['fullchain.pem', 'privkey.pem']) {
    writeFileSync(join(le, 'live/gateway.converge.test', f), readFileSync(join(LAB, 'letsencrypt/live/gateway.converge.test', f)));
  }
  return le;
}

test('a rollback whose candidate fails nginx -t is refused on a scratch copy: nothing written, no backup, no reload', async () => {
  resetLab();
  const le = certificateCopy('le-scratch');
  assert.is((await run(['-i', labInventory({ letsencrypt_dir: le })], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  rmSync(le, { recursive: true }); // what the older vhost needs is gone
  const before = snapshot();
  const hook = state(HOOK);
  const pids = workerPids();
  const runsBefore = backupRuns();
  const rb = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--json'], {}, 'rollback.mjs');
  assert.is(rb.code, 1);
  const h = json(rb);
  assert.is(h.status, 'failed', rb.stdout);
  assert.match(h.error, /the candidate configuration fails nginx -t \(tested on a scratch copy: nothing was changed\)/);
  assert.match(h.error, /cannot load certificate .*le-scratch/);
  assert.equal(compare(before, snapshot()), [], 'the live configuration is untouched');
  assert.is(state(HOOK), hook, 'the renewal hook (which the restore would remove) is untouched');
  assert.is(workerPids(), pids, 'not reloaded');
  assert.equal(backupRuns(), runsBefore, 'no backup: nothing was written');
  assert.is(await ok(TOKEN), 200);
});

test('a rollback rejected by the live nginx -t (no scratch test possible) is itself undone: byte-identical, not reloaded', async () => {
  resetLab();
  // A vhost directory outside nginx's tree rules out the scratch test: the live nginx -t is the gate.
  const outside = join(LAB, 'sites-outside-safety');
  rmSync(outside, { recursive: true, force: true });
  mkdirSync(outside);
  try {
    const le = certificateCopy('le-live');
    assert.is((await run(['-i', labInventory({ nginx_sites_available: outside, letsencrypt_dir: le })], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
    const inv = labInventory({ nginx_sites_available: outside });
    assert.is((await run(['-i', inv], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
    rmSync(le, { recursive: true });
    const before = [snapshot(), snapshot(outside)];
    const hook = state(HOOK);
    const pids = workerPids();
    const rb = await run(['-i', inv, '--limit', 'lab-proxy', '--json'], {}, 'rollback.mjs');
    assert.is(rb.code, 1);
    const h = json(rb);
    assert.match(h.error, /nginx -t rejected the new configuration/);
    assert.match(h.error, /cannot load certificate .*le-live/);
    assert.ok(h.notes.some((n: string) => /^rolled back: restored \S+sites-outside-safety\/gateway\.converge\.test\.conf.*nginx -t is back to its previous result \(ok\); not reloaded$/.test(n)), JSON.stringify(h.notes));
    assert.equal(compare(before[0], snapshot()), []);
    assert.equal(compare(before[1], snapshot(outside)), []);
    assert.is(state(HOOK), hook);
    assert.is(workerPids(), pids, 'not reloaded');
    const last = backupRuns().at(-1)!;
    assert.is(JSON.parse(readFileSync(join(BACKUPS, last, 'manifest.json'), 'utf8')).state, 'rolled-back', 'the undone restore is recorded as such');
    assert.is(await ok(TOKEN), 200);
  } finally {
    rmSync(outside, { recursive: true, force: true });
    resetLab();
  }
});

test('rolling back a run that changed only the renewal hook restores it without nginx -t or a reload', async () => {
  resetLab();
  assert.is((await run(['-i', LAB_INVENTORY], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN })).code, 0);
  const hook = state(HOOK);
  const inv = labInventory({ nginx_reload_command: `nginx -c ${LAB}/nginx/nginx.conf -s reload && true` });
  const changed = await run(['-i', inv, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.equal(json(changed).changes.map((c: { path: string }) => c.path), [HOOK]);
  const pids = workerPids();
  const rb = await run(['-i', LAB_INVENTORY, '--limit', 'lab-proxy', '--json'], {}, 'rollback.mjs');
  assert.is(rb.code, 0, rb.stdout);
  assert.is(state(HOOK), hook);
  assert.is(workerPids(), pids, 'the hook is not nginx configuration: no reload');
  assert.not.ok(json(rb).notes.some((n: string) => /candidate not tested on a scratch copy/.test(n)));
});

// ---- bad input: one clear error, before any connection ----------------------------------------

function inventoryText(hostVars: string, extra = ''): string {
  const base = readFileSync(LAB_INVENTORY, 'utf8');
  return base.replace(/^ {4}lab-proxy:\s*$/m, `    lab-proxy:\n${hostVars}`) + extra;
}

function writeInventory(name: string, text: string): string {
  const p = join(tmp, `${name}.yml`);
  writeFileSync(p, text);
  return p;
}

const BAD: { what: string; args: () => string[]; env?: Record<string, string | undefined>; error: RegExp; host?: boolean }[] = [
  { what: 'an inventory that does not exist', args: () => ['-i', join(tmp, 'nope.yml')], error: /converge: \S+nope\.yml: cannot read the inventory: ENOENT/ },
  { what: 'an inventory that is a directory', args: () => ['-i', tmp], error: /cannot read the inventory: EISDIR/ },
  {
    what: 'malformed YAML (with its line)',
    args: () => ['-i', writeInventory('malformed', 'all:\n  hosts:\n    lab-proxy: { domain: x.example.com\n  vars:\n    ssh_port: 2222\n')],
    error: /malformed\.yml: the inventory is not valid YAML \(line \d+, column \d+\)/,
  },
  {
    what: 'an unknown variable (a typo)',
    args: () => ['-i', writeInventory('typo', inventoryText('      ssh_hots: 127.0.0.1'))],
    error: /\[lab-proxy\] \S+typo\.yml: unknown variable\(s\) for host "lab-proxy": ssh_hots \(did you mean ssh_host\?\)/,
    host: true,
  },
  {
    what: 'a missing domain',
    args: () => ['-i', writeInventory('nodomain', readFileSync(LAB_INVENTORY, 'utf8').replace(/^ {4}domain: .*\n/m, ''))],
    error: /\[lab-proxy\] \S+nodomain\.yml: variable domain is required/,
    host: true,
  },
  {
    what: 'a missing backend_ip',
    args: () => ['-i', writeInventory('nobackend', readFileSync(LAB_INVENTORY, 'utf8').replace(/^ {4}backend_ip: .*\n/m, ''))],
    error: /\[lab-proxy\] \S+nobackend\.yml: variable backend_ip is required/,
    host: true,
  },
  { what: 'an invalid IP', args: () => ['-i', labInventory({ backend_ip: '10.0.0.300' })], error: /\[lab-proxy\] \S+: variable backend_ip must be an IPv4 or IPv6 address, got "10\.0\.0\.300"/, host: true },
  { what: 'an invalid port', args: () => ['-i', labInventory({ ssh_port: 70000 })], error: /\[lab-proxy\] \S+: variable ssh_port must be a port number \(1-65535\), got 70000/, host: true },
  { what: 'port 0', args: () => ['-i', labInventory({ https_port: 0 })], error: /variable https_port must be a port number \(1-65535\), got 0/, host: true },
  { what: 'a domain that is not a host name', args: () => ['-i', labInventory({ domain: 'gate_way!.example.com' })], error: /\[lab-proxy\] \S+: variable domain must be a valid host name, got "gate_way!\.example\.com"/, host: true },
  { what: 'a --limit that matches nothing', args: () => ['-i', LAB_INVENTORY, '--limit', 'no-such-proxy'], error: /converge: --limit "no-such-proxy": "no-such-proxy" matches no host or group\n.*hosts in this inventory: lab-proxy/ },
  { what: 'two inventories (-i twice)', args: () => ['-i', LAB_INVENTORY, '-i', LAB_INVENTORY], error: /converge: --inventory was given 2 times \(\S+lab\.yml, \S+lab\.yml\): give it once/ },
  { what: 'a --forks that is not a number', args: () => ['-i', LAB_INVENTORY, '--forks', 'ten'], error: /converge: --forks must be a positive integer, got "ten"/ },
  { what: 'a negative --lock-timeout', args: () => ['-i', LAB_INVENTORY, '--lock-timeout', '-1'], error: /--lock-timeout must be a number of seconds, got -1/ },
  { what: 'an invalid token in the environment', args: () => ['-i', LAB_INVENTORY], env: { IA_ENSO_OLLAMA_BEARER_TOKEN: 'bad token; with spaces 0123456789abcdef' }, error: /IA_ENSO_OLLAMA_BEARER_TOKEN: the Bearer token is invalid/ },
];

for (const c of BAD) {
  test(`bad input — ${c.what}: exit 1, one clear error${c.host ? ' naming the host and the field' : ''}, no stack trace, no connection`, async () => {
    const logins = sshLogins();
    const r = await run(c.args(), c.env ?? {}, 'converge.mjs', 20_000);
    assert.is(r.signal, null, `the run hung after its error and was killed: ${r.stderr}`);
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, c.error);
    assert.match(r.stderr, /^converge: /, 'one error, from the CLI');
    assert.is(r.stderr.split('\n').filter((l) => l.startsWith('converge: ')).length, 1, 'a single error');
    assert.not.match(r.stderr, STACK);
    assert.is(r.stdout, '');
    assert.is(sshLogins(), logins, 'no SSH connection');
  });
}

test('bad input — a missing key file and no agent: the host fails naming the key file, before connecting', async () => {
  const logins = sshLogins();
  const key = join(tmp, 'no-such-key');
  const r = await run(['-i', labInventory({ ssh_key: key }), '--json'], { SSH_AUTH_SOCK: undefined });
  assert.is(r.code, 1);
  const h = json(r);
  assert.is(h.status, 'failed');
  assert.match(h.error, new RegExp(`^\\[lab-proxy\\] ${key}: no way to authenticate over SSH: key ${key} \\(no such file\\); ssh-agent \\(SSH_AUTH_SOCK is not set\\)`));
  assert.not.match(r.stdout + r.stderr, STACK);
  assert.is(sshLogins(), logins, 'no SSH connection');
});

// ---- nothing leaked ------------------------------------------------------------------------------

test('the token scan: no token in any output of this file (stdout, stderr, JSON), the lab logs or the backup manifests', () => {
  assert.ok(record.runs.length > 30, `${record.runs.length} runs recorded`);
  assert.ok(record.tokens.size >= 6);
  assert.ok(record.manifests.size > 0, 'manifests were seen');
  assert.equal(leaks(OFFSETS), []);
});

test.after(() => {
  removeLock();
  resetLab();
  rmSync(tmp, { recursive: true, force: true });
});

test.run();
