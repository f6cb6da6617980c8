// command_timeout, for real on this machine: `timeout` through the local
// transport (the command line SSH would carry; as root here, without sudo). A command past its time
// is stopped with what it waits on, its cleanup runs, and the error says what
// and for how long; a command within its time, or one that exits 124 itself,
// is left alone; a command that outlives even the host's KILL is given up on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandTimeoutError, PreflightError } from '../../lib/errors.js';
import { privilegedOk, privilegedRun, withGiveUp, type Remote } from '../../lib/remote.js';
import { LocalTransport } from '../../lib/transport/local.js';
import { alive, HANGS } from './local-remote.js';
import type { ExecResult, Transport } from '../../lib/transport/types.js';
import { tempDir } from '../tempdir.js';

const dir = tempDir('converge-timeout-');

async function remote(commandTimeout: number): Promise<Remote> {
  return { host: 'unit', transport: await LocalTransport.connect('unit'), commandTimeout };
}


test('a command past command_timeout is stopped with its child, its EXIT trap runs, and the error says what and how long', async () => {
  const started = Date.now();
  const err = await privilegedOk(await remote(1), 'reloading nginx (test)', HANGS, [dir]).catch((e) => e);
  const ms = Date.now() - started;
  assert.instance(err, CommandTimeoutError);
  assert.match(err.message, /^reloading nginx \(test\) did not finish within 1s \(command_timeout\): the host stopped it$/);
  assert.match(err.hint, /raise command_timeout/);
  assert.ok(ms >= 1000 && ms < 4000, `stopped at the limit (${ms} ms), not after the KILL grace`);
  assert.is(readFileSync(join(dir, 'cleaned'), 'utf8'), 'cleaned\n', 'the EXIT trap ran');
  const child = Number(readFileSync(join(dir, 'child'), 'utf8'));
  assert.not.ok(alive(child), `the child ${child} was stopped with the script`);
});

test('a command within command_timeout is untouched, exit code and output as they were', async () => {
  const res = await privilegedRun(await remote(5), 'sleep 0.2; echo done; exit 3');
  assert.is(res.code, 3);
  assert.is(res.stdout.toString(), 'done\n');
});

test("a command's own exit 124 before the limit is its own, not a stop", async () => {
  // As the proxy-side reachability check, which runs its own `timeout`.
  const res = await privilegedRun(await remote(30), 'timeout 0.2 sleep 5');
  assert.is(res.code, 124);
});

test('a script that ignores TERM is killed 5 s later, and still reported as stopped', async () => {
  const err = await privilegedRun(await remote(1), `trap '' TERM; sleep 600 & echo $! > "$1/stubborn"; while :; do sleep 0.1; done`, [dir]).catch((e) => e);
  assert.instance(err, CommandTimeoutError);
  assert.match(err.message, /did not finish within 1s/);
  assert.not.ok(alive(Number(readFileSync(join(dir, 'stubborn'), 'utf8'))), 'its child went with the KILL');
});

/** A transport whose command never ends: what a process stuck in the kernel looks like from converge. */
function stuck(): { transport: Transport; settle: (r: ExecResult | Error) => void } {
  let settle: (r: ExecResult | Error) => void = () => {};
  const transport: Transport = {
    description: 'stuck',
    asRoot: false,
    exec: () => new Promise<ExecResult>((resolve, reject) => (settle = (r) => (r instanceof Error ? reject(r) : resolve(r)))),
    close: async () => {},
  };
  return { transport, settle: (r) => settle(r) };
}

test('a command that outlives even the KILL is given up on: an error that says it may still run, and its late end goes unnoticed', async () => {
  const s = stuck();
  const r: Remote = { host: 'unit', transport: s.transport };
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const started = Date.now();
    const err = await withGiveUp(r, 'reading the host', 0.1, s.transport.exec('x'), 0.1).catch((e) => e);
    assert.instance(err, CommandTimeoutError);
    assert.ok(Date.now() - started >= 190, 'not before the limit and the grace');
    assert.match(err.message, /^reading the host did not end 0\.2s after it started, although the host was to stop it at 0\.1s/);
    assert.match(err.hint, /may still be running on the host/);
    // The connection closes later: the command's own rejection must not crash converge.
    s.settle(new Error('the connection was closed'));
    await new Promise((done) => setTimeout(done, 20));
    assert.equal(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('a command that ends in time is not given up on', async () => {
  const s = stuck();
  const running = withGiveUp({ host: 'unit', transport: s.transport }, 'x', 0.05, s.transport.exec('x'), 0.05);
  s.settle({ code: 0, stdout: Buffer.from('ok'), stderr: '' });
  assert.is((await running).stdout.toString(), 'ok');
});

test('a host without `timeout`: a preflight error that says so, not "sudo does not work"', async () => {
  const r: Remote = {
    host: 'unit',
    transport: { description: 'test', asRoot: false, exec: async () => ({ code: 1, stdout: Buffer.alloc(0), stderr: 'sudo: timeout: command not found\n' }), close: async () => {} },
  };
  const err = await privilegedRun(r, 'true').catch((e) => e);
  assert.instance(err, PreflightError);
  assert.match(err.message, /no `timeout` command/);
  assert.match(err.hint, /coreutils/);
});

test.run();
