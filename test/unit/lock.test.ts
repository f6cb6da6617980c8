// lib/lock.ts's lock script, run for real on this machine (sh + sudo -n) on a
// temporary lock path. The owner of a lock is the process the run's commands
// hang from: over SSH the session's sshd (named `sshd` up to OpenSSH 9.7,
// `sshd-session` since 9.8), locally node. A fake session is a shell started
// under that name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireLock, hostClockOf, LOCK_PATH, LockError, lockAndRun, lockNote, releaseLock } from '../../lib/lock.js';
import type { Remote } from '../../lib/remote.js';
import type { ExecOptions, ExecResult } from '../../lib/transport/types.js';
import { tempDir } from '../tempdir.js';

const dir = tempDir('converge-lock-');
let n = 0;
const lockPath = () => join(dir, `case-${++n}`, 'converge.lock');

/**
 * Each command in its own short-lived shell named `name` (a session that ends with the command), or straight under node.
 * `gone`: the client end is closed, as when the connection dies: what the command writes meets a closed pipe.
 */
function remote(via: 'node' | 'sshd' | 'sshd-session', gone = false, env?: NodeJS.ProcessEnv): Remote & { pids: number[] } {
  const shell = via === 'node' ? 'sh' : join(dir, via);
  if (via !== 'node' && !existsSync(shell)) symlinkSync('/bin/sh', shell);
  const pids: number[] = [];
  return {
    host: `unit-${via}`,
    pids,
    transport: {
      description: `local via ${via}`,
      // With its own environment, no sudo: sudo's secure_path would replace its PATH.
      asRoot: env !== undefined,
      exec: (command: string, opts: ExecOptions = {}) =>
        new Promise<ExecResult>((resolve) => {
          // `; exit $?` keeps the shell from exec'ing the command: it stays its parent, as sshd does.
          const child = spawn(shell, ['-c', `${command}\nexit $?`], { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
          pids.push(child.pid!);
          const out: Buffer[] = [];
          let err = '';
          child.stdout.on('data', (d: Buffer) => out.push(d));
          child.stderr.on('data', (d: Buffer) => (err += d));
          if (gone) {
            child.stdout.destroy();
            child.stderr.destroy();
          }
          child.on('close', (code) => resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr: err }));
          child.stdin.end(opts.stdin ?? '');
        }),
      close: async () => {},
    },
  };
}

function holder(path: string): { owner: number; line: string } {
  const [owner, line] = readFileSync(join(path, 'holder'), 'utf8').split('\n');
  return { owner: Number(owner.split(' ')[0]), line };
}

async function refusal(p: Promise<unknown>): Promise<LockError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  assert.instance(err, LockError);
  return err as LockError;
}

/** A lock whose recorded owner is a process that has exited. */
function staleLock(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const dead = spawn('true');
  writeFileSync(join(path, 'holder'), `${dead.pid} 12345\nconverge on old-laptop (pid 4242, user alice, since 2024-01-01T00:00:00.000Z, command: converge --limit lab)\n`);
}

for (const via of ['sshd', 'sshd-session'] as const) {
  test(`a run over an SSH session (${via}) owns the lock; once that session is gone the next run takes it over and says so`, async () => {
    const path = lockPath();
    const r = remote(via);
    assert.is(await acquireLock(r, 'converge first', 0, path), null);
    assert.is(holder(path).owner, r.pids[0], `the owner is the ${via} session, not a long-lived ancestor`);
    assert.match(holder(path).line, new RegExp(`^converge on ${hostname()} \\(pid ${process.pid}, user \\S+, since \\d{4}-\\d\\d-\\d\\dT[^,]+Z, command: converge first\\)$`));
    // The session ended with its command: the lock is stale.
    const note = await acquireLock(remote(via), 'converge second', 0, path);
    assert.match(String(note), /^took over a stale lock \(its run is gone\): converge on .* command: converge first\)$/);
    assert.match(holder(path).line, /command: converge second\)$/);
  });
}

test('a live holder: the second run fails at once with the holder (machine, pid, start time, command) and the lock path', async () => {
  const path = lockPath();
  await acquireLock(remote('node'), 'converge -i prod.yml --limit proxy-1', 0, path); // owner: this (live) process
  const err = await refusal(acquireLock(remote('node'), 'converge again', 0, path));
  assert.is(err.where, path);
  assert.is(err.host, 'unit-node');
  assert.match(err.message, new RegExp(`^another run holds the lock: converge on ${hostname()} \\(pid ${process.pid}, user \\S+, since \\S+Z, command: converge -i prod\\.yml --limit proxy-1\\)$`));
  assert.match(err.hint ?? '', /--lock-timeout/);
  assert.match(holder(path).line, /command: converge -i prod\.yml --limit proxy-1\)$/, 'the holder is untouched');
});

test('a contender whose connection is gone when told the lock is held leaves no half-built lock beside it (SIGPIPE skips no cleanup)', async () => {
  const path = lockPath();
  await acquireLock(remote('node'), 'converge first', 0, path);
  await acquireLock(remote('node', true), 'converge second', 0, path).catch(() => {});
  assert.equal(readdirSync(join(path, '..')), ['converge.lock']);
  assert.match(holder(path).line, /command: converge first\)$/);
});

test('--lock-timeout: waits for the holder to release, then takes the lock', async () => {
  const path = lockPath();
  const r = remote('node');
  await acquireLock(r, 'converge first', 0, path);
  const t0 = Date.now();
  setTimeout(() => void releaseLock(r, path), 1200);
  assert.is(await acquireLock(remote('node'), 'converge waiting', 10, path), null);
  const waited = Date.now() - t0;
  assert.ok(waited >= 1100 && waited < 4000, `waited ${waited} ms`);
  assert.match(holder(path).line, /command: converge waiting\)$/);
});

/** A lock held by a first run, which releases it during the `releaseAt`-th pause of a waiter's sleep. */
async function heldUntilPause(path: string, releaseAt: number, atEachPause = () => {}) {
  const holderRun = remote('node');
  await acquireLock(holderRun, 'converge first', 0, path);
  const pauses: number[] = [];
  const sleep = async (ms: number) => {
    pauses.push(ms);
    atEachPause();
    if (pauses.length === releaseAt) await releaseLock(holderRun, path);
  };
  return { pauses, sleep, waiter: remote('node') };
}

test('--lock-timeout: asks again after 100 ms, then twice as long each time up to 1 s, the last time at the deadline', async () => {
  const path = lockPath();
  const { pauses, sleep, waiter } = await heldUntilPause(path, 6); // the holder finishes during the 6th pause
  assert.is(await acquireLock(waiter, 'converge waiting', 60, path, sleep), null);
  assert.equal(pauses, [100, 200, 400, 800, 1000, 1000]);
  assert.is(waiter.pids.length, 7, 'one try, then one after each pause');
  assert.match(holder(path).line, /command: converge waiting\)$/);

  // Against a real clock, each try costs what this machine gives it: the schedule is checked, not its length.
  const deadline: number[] = [];
  const t0 = Date.now();
  const err = await refusal(acquireLock(remote('node'), 'converge late', 2, path, async (ms) => {
    deadline.push(ms);
    await new Promise((done) => setTimeout(done, ms));
  }));
  const elapsed = Date.now() - t0;
  assert.match(err.message, /command: converge waiting\)$/);
  const schedule = deadline.map((_, i) => Math.min(100 * 2 ** i, 1000));
  assert.equal(deadline.slice(0, -1), schedule.slice(0, -1), `doubling from 100 ms, at most 1 s: ${deadline}`);
  assert.ok(deadline.at(-1)! <= schedule.at(-1)!, `the last pause is cut at the deadline: ${deadline}`);
  assert.ok(deadline.reduce((a, b) => a + b, 0) <= 2000, `no pause beyond the deadline: ${deadline}`);
  assert.ok(elapsed >= 2000, `asked until the deadline, not less: ${elapsed} ms`);
});

test('lockAndRun: the script runs in the same command once the lock is taken, with its own arguments and exit code; never while another run holds it', async () => {
  const path = lockPath();
  const marker = join(dir, `ran-${n}`);
  const then = { script: 'printf \'%s|%s\\n\' "$1" "$2"; echo "$#" > "$3"; exit 7', args: ['first arg', 'second', marker] };
  const { sleep, waiter } = await heldUntilPause(path, 2, () => assert.not.ok(existsSync(marker), 'not run while the lock is held'));
  const { note, result } = await lockAndRun(waiter, 'converge waiting', 60, then, path, sleep);
  assert.is(note, null);
  assert.is(waiter.pids.length, 3, 'two refused tries, then the one that took the lock and ran the script');
  assert.is(result?.code, 7, "the script's exit code");
  assert.is(result?.stdout.toString(), 'first arg|second\n', "its output, without the lock's line");
  assert.is(readFileSync(marker, 'utf8'), '3\n', 'its own arguments');
  assert.match(holder(path).line, /command: converge waiting\)$/);
  await releaseLock(waiter, path);

  staleLock(path);
  const takeover = await lockAndRun(remote('node'), 'converge next', 0, { script: 'echo read', args: [] }, path);
  assert.match(String(takeover.note), /^took over a stale lock \(its run is gone\): converge on old-laptop/);
  assert.is(takeover.result?.stdout.toString(), 'read\n');
});

test('--lock-timeout: gives up after about the timeout with the holder and a hint', async () => {
  const path = lockPath();
  await acquireLock(remote('node'), 'converge first', 0, path);
  const t0 = Date.now();
  const err = await refusal(acquireLock(remote('node'), 'converge waiting', 1, path));
  const waited = Date.now() - t0;
  assert.ok(waited >= 1000 && waited < 3500, `waited ${waited} ms`);
  assert.match(err.message, /command: converge first\)$/);
  assert.match(err.hint ?? '', /did not finish within 1s/);
});

test('a lock left by a dead run (its owner pid gone) is taken over, and the note names the old holder', async () => {
  const path = lockPath();
  staleLock(path);
  const note = await acquireLock(remote('node'), 'converge now', 0, path);
  assert.is(note, 'took over a stale lock (its run is gone): converge on old-laptop (pid 4242, user alice, since 2024-01-01T00:00:00.000Z, command: converge --limit lab)');
  assert.is(holder(path).owner, process.pid);
});

test('a lock whose owner pid now belongs to another process (a different start time) is stale too', async () => {
  const path = lockPath();
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'holder'), `${process.pid} 1\nconverge on old (pid 1, user x, since 2024-01-01T00:00:00.000Z, command: converge)\n`);
  assert.match(String(await acquireLock(remote('node'), 'converge', 0, path)), /^took over a stale lock/);
});

test('a lock whose owner is a zombie (its session died, nobody reaped it) is stale', async () => {
  const path = lockPath();
  // The child exits after its parent has become `sleep`, which never reaps it: a zombie until
  // then. (A child that exits before the exec may be reaped by sh itself.)
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 3'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const zombie = Number((await new Promise<Buffer>((res) => parent.stdout.once('data', res))).toString());
  let stat = '';
  for (let i = 0; i < 100 && !/^\S+ \S+ Z /.test(stat.replace(/^.*\) /, 'x x ')); i++) {
    await new Promise((r) => setTimeout(r, 20));
    stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
  }
  const fields = stat.replace(/^.*\) /, '').split(' ');
  assert.is(fields[0], 'Z', 'the fixture is a zombie');
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'holder'), `${zombie} ${fields[19]}\nconverge on gone (pid 1, user x, since 2024-01-01T00:00:00.000Z, command: converge)\n`);
  try {
    assert.match(String(await acquireLock(remote('node'), 'converge', 0, path)), /^took over a stale lock/);
  } finally {
    parent.kill();
  }
});

test('release removes only the lock of the run releasing it (the same session), never another run\'s', async () => {
  const path = lockPath();
  await acquireLock(remote('node'), 'converge holder', 0, path); // owner: this process
  const other = remote('sshd'); // another session
  await releaseLock(other, path).catch(() => {});
  assert.ok(existsSync(join(path, 'holder')), 'the other run\'s lock is still there');
  assert.match(holder(path).line, /command: converge holder\)$/);
  await releaseLock(remote('node'), path);
  assert.not.ok(existsSync(path), 'its own run releases it');
});

test('release prunes the backup directory to its newest runs first, and only while the lock is its own', async () => {
  const path = lockPath();
  const backups = join(dir, `backups-${n}`);
  const runs = ['20261101T090000Z-11', '20261102T090000Z-12', '20261103T090000Z-13', '20261104T090000Z-14'];
  for (const d of [...runs, 'not-a-run']) mkdirSync(join(backups, d, 'etc'), { recursive: true });
  const prune = { dir: backups, keep: 2 };
  await acquireLock(remote('node'), 'converge holder', 0, path);
  await releaseLock(remote('sshd'), path, prune).catch(() => {}); // another session: refused
  assert.equal(readdirSync(backups).sort(), [...runs, 'not-a-run'].sort(), 'nothing pruned by a run that does not hold the lock');
  assert.equal(await releaseLock(remote('node'), path, prune), runs.slice(0, 2), 'the two oldest runs, oldest first');
  assert.equal(readdirSync(backups).sort(), [...runs.slice(2), 'not-a-run'].sort());
  assert.not.ok(existsSync(path), 'and the lock is released');
});

test('release prunes by time, not by name as text: runs in the same second, pids that wrapped, and older names', async () => {
  const path = lockPath();
  const backups = join(dir, `backups-${n}-same-second`);
  // Oldest first: an older version's name (seconds only), then three runs in one second.
  const runs = ['20261207T235959Z-31000', '20261208T024309.100Z-9998', '20261208T024309.400Z-10005', '20261208T024309.700Z-300'];
  for (const d of runs) mkdirSync(join(backups, d), { recursive: true });
  await acquireLock(remote('node'), 'converge holder', 0, path);
  assert.equal(await releaseLock(remote('node'), path, { dir: backups, keep: 2 }), runs.slice(0, 2), 'the two oldest go');
  assert.equal(readdirSync(backups).sort(), runs.slice(2).sort());
});

test('release of a lock that is already gone is not an error', async () => {
  await releaseLock(remote('node'), lockPath());
});

test('a holder that releases and ends while a run is looking at the lock: a normal hand-over, not a stale takeover', async () => {
  const path = lockPath();
  mkdirSync(path, { recursive: true });
  // The holder file is a FIFO: the run's read of it blocks until this test has
  // removed the lock (as RELEASE does) and its owner is gone, which is exactly
  // the moment a real release can fall into.
  execFileSync('mkfifo', [join(path, 'holder')]);
  const acquiring = acquireLock(remote('node'), 'converge', 0, path);
  const fifo = await open(join(path, 'holder'), 'w');
  await fifo.write(`${process.pid} 12345\nconverge on the previous run (pid 1, user x, since 2024-01-01T00:00:00.000Z, command: converge)\n`);
  rmSync(path, { recursive: true, force: true });
  await fifo.close();
  assert.is(await acquiring, null, 'no "took over a stale lock" note: that run finished, it did not die');
  assert.match(holder(path).line, /command: converge\)$/);
});

/** `k` contenders at once; what each winner was told (null: a free lock, else the takeover note). */
async function race(path: string, k: number): Promise<(string | null)[]> {
  const results = await Promise.all(
    Array.from({ length: k }, (_, i) =>
      acquireLock(remote('node'), `contender ${i}`, 0, path).then(
        (note) => [note],
        (e) => {
          if (!(e instanceof LockError)) throw e;
          return [];
        },
      ),
    ),
  );
  return results.flat();
}

test('contenders for a free lock: exactly one gets it', async () => {
  for (let round = 0; round < 8; round++) {
    const path = lockPath();
    assert.equal(await race(path, 6), [null], `round ${round}`);
  }
});

// The winner must be the one that learns the previous run died: it is the run
// that validates and reloads what that run may have left unreloaded.
test('contenders taking over the same stale lock: exactly one gets it, and it is told of the takeover', async () => {
  for (let round = 0; round < 8; round++) {
    const path = lockPath();
    staleLock(path);
    const won = await race(path, 6);
    assert.is(won.length, 1, `round ${round}: ${won.length} winners`);
    assert.match(String(won[0]), /^took over a stale lock \(its run is gone\): converge on old-laptop /, `round ${round}`);
  }
});

test('a lock directory whose holder file is empty (made by hand, or a crash) is taken over, and the note says so', async () => {
  const path = lockPath();
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'holder'), '');
  assert.is(await acquireLock(remote('node'), 'converge', 0, path), 'took over a stale lock (its run is gone): no holder recorded');
  assert.match(holder(path).line, /command: converge\)$/);
});

/** A remote whose `date`, asked for the run name's format, prints `says` (or fails, with null); any other use is the real date. */
function hostWithClock(says: string | null): Remote & { pids: number[] } {
  const bin = join(dir, `clock-${++n}`);
  mkdirSync(bin);
  const real = execFileSync('sh', ['-c', 'command -v date'], { encoding: 'utf8' }).trim();
  const answer = says === null ? 'exit 1' : `echo '${says}'`;
  writeFileSync(join(bin, 'date'), `#!/bin/sh\ncase "$*" in *%3N*) ${answer} ;; *) exec ${real} "$@" ;; esac\n`, { mode: 0o755 });
  return remote('node', false, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
}

test('taking the lock tells the host\'s clock (runs are named by it), on a free lock and on a takeover', async () => {
  const path = lockPath();
  const before = Date.now();
  const real = await lockAndRun(remote('node'), 'converge now', 0, null, path);
  const after = Date.now();
  assert.ok(real.hostClock, 'GNU date prints milliseconds');
  // The host here is this machine: its clock, to the millisecond, while the lock was taken.
  assert.ok(real.hostClock.getTime() >= before - 1 && real.hostClock.getTime() <= after + 1, `${real.hostClock.toISOString()} within ${before}..${after}`);
  await releaseLock(remote('node'), path);

  const ahead = await lockAndRun(hostWithClock('20300101T000000.123Z'), 'converge skewed', 0, { script: 'echo read', args: [] }, path);
  assert.is(ahead.hostClock?.toISOString(), '2030-01-01T00:00:00.123Z', 'the host\'s clock, not this machine\'s');
  assert.is(ahead.note, null);
  assert.is(ahead.result?.stdout.toString(), 'read\n', 'the script under the lock gets its own output only');
  rmSync(path, { recursive: true });

  staleLock(path);
  const takeover = await lockAndRun(hostWithClock('20291231T235959.999Z'), 'converge next', 0, null, path);
  assert.is(takeover.hostClock?.toISOString(), '2029-12-31T23:59:59.999Z');
  assert.match(String(takeover.note), /^took over a stale lock \(its run is gone\): converge on old-laptop \(pid 4242/);
});

test('a host whose date cannot print milliseconds, or fails: no host clock (the run is named by this machine\'s)', async () => {
  for (const says of ['20261208T101010.%3NZ', '20261208T101010.3NZ', null]) {
    const path = lockPath();
    const taken = await lockAndRun(hostWithClock(says), 'converge old date', 0, null, path);
    assert.is(taken.hostClock, null, String(says));
    assert.is(taken.note, null, 'the lock is taken all the same');
    assert.is(holder(path).owner, process.pid);
  }
});

test('hostClockOf: only a real UTC time to the millisecond', () => {
  assert.is(hostClockOf('20261208T033000.457Z')?.toISOString(), '2026-12-08T03:30:00.457Z');
  for (const bad of ['-', '', '20261308T033000.457Z', '20261208T033000Z', '20261208T033000.457', '2026-12-08T03:30:00.457Z', '20261208T033000.457Z-1', '20260230T000000.000Z', '20261208T246000.000Z']) {
    assert.is(hostClockOf(bad), null, bad);
  }
});

test('lockNote: names the holder from its holder file (second line), or says none is recorded', () => {
  const line = 'converge on laptop (pid 7, user alice, since 2026-01-01T00:00:00.000Z, command: converge -i prod.yml)';
  assert.ok(lockNote(Buffer.from(`123 456\n${line}\n`)).startsWith(`${LOCK_PATH} is held: ${line}. A run is at work, or one died`));
  assert.ok(lockNote(undefined).startsWith(`${LOCK_PATH} is held: no holder recorded.`));
  assert.ok(lockNote(Buffer.from('')).includes('is held: no holder recorded.'));
  assert.match(lockNote(undefined), /--lock-timeout/);
});

test.run();
