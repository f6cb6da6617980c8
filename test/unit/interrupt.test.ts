// Ctrl-C while a privileged command runs: the pieces alone, then for real on
// this machine (`sudo -n timeout` through the local transport, the command
// line SSH would carry). A command still running INTERRUPT_GRACE_S after the
// interrupt is stopped with what it waits on, its cleanup runs; one that ends
// in time, or starts after the interrupt (the rollback's), is left alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CommandInterruptedError, CommandStoppedError } from '../../lib/errors.js';
import { INTERRUPT_GRACE_S, PidListener, STOP_SCRIPT, stopIfInterrupted, withoutPidLine } from '../../lib/interrupt.js';
import { privilegedOk, privilegedRun, type Remote } from '../../lib/remote.js';
import { LocalTransport } from '../../lib/transport/local.js';
import { alive, HANGS } from './local-remote.js';
import { tempDir } from '../tempdir.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('PidListener reads the pid line even when it comes in pieces, or after a warning of sudo', () => {
  const l = new PidListener();
  l.onStderr(Buffer.from('converge-command-'));
  assert.is(l.pid, null);
  l.onStderr(Buffer.from('pid 4242\nnginx: [emerg] '));
  assert.is(l.pid, 4242);
  const warned = new PidListener();
  warned.onStderr(Buffer.from('sudo: unable to resolve host proxy-1: Name or service not known\nconverge-command-pid 7\n'));
  assert.is(warned.pid, 7);
  const refused = new PidListener();
  refused.onStderr(Buffer.from('sudo: a password is required\n'));
  assert.is(refused.pid, null);
  const late = new PidListener();
  late.onStderr(Buffer.from('x'.repeat(5000)));
  late.onStderr(Buffer.from('\nconverge-command-pid 9\n'));
  assert.is(late.pid, null, 'only near the start');
});

test('withoutPidLine cuts the pid line only', () => {
  assert.is(withoutPidLine('converge-command-pid 12\nnginx: [emerg] bad\n'), 'nginx: [emerg] bad\n');
  assert.is(withoutPidLine('converge-command-pid 12\n'), '');
  assert.is(withoutPidLine('sudo: unable to resolve host h\nconverge-command-pid 12\nerr\n'), 'sudo: unable to resolve host h\nerr\n');
  assert.is(withoutPidLine('sudo: no\n'), 'sudo: no\n');
});

test('stopIfInterrupted: stops after the grace once aborted; not before, not after dispose, not when already aborted', async () => {
  const stops: string[] = [];
  const a = new AbortController();
  const s = stopIfInterrupted(a.signal, () => stops.push('a'), 0.1);
  await sleep(150);
  assert.equal(stops, [], 'no interrupt, no stop');
  a.abort();
  await sleep(50);
  assert.equal(stops, [], 'within the grace');
  await sleep(100);
  assert.equal(stops, ['a']);
  s.dispose();

  const b = new AbortController();
  const sb = stopIfInterrupted(b.signal, () => stops.push('b'), 0.1);
  b.abort();
  sb.dispose(); // the command ended within the grace
  const c = new AbortController();
  c.abort();
  stopIfInterrupted(c.signal, () => stops.push('c'), 0.05); // started after the interrupt: the rollback's
  stopIfInterrupted(undefined, () => stops.push('d'), 0.05).dispose();
  await sleep(200);
  assert.equal(stops, ['a']);
});

test('STOP_SCRIPT signals only a `timeout` process, never a pid reused by something else', () => {
  const other = spawn('sleep', ['30']);
  try {
    let code = 0;
    try {
      execFileSync('sh', ['-c', STOP_SCRIPT, 'stop', String(other.pid)]);
    } catch (err) {
      code = (err as { status: number }).status;
    }
    assert.is(code, 3);
    assert.is(other.exitCode, null);
    assert.is(other.signalCode, null, 'the sleep was left alone');
  } finally {
    other.kill();
  }
});

const dir = tempDir('converge-interrupt-');

async function remote(interrupt: AbortSignal): Promise<Remote> {
  return { host: 'unit', transport: await LocalTransport.connect('unit'), commandTimeout: 300, interrupt };
}

test(`interrupted, a command still running ${INTERRUPT_GRACE_S}s later is stopped on the host with its child, its EXIT trap runs, long before command_timeout`, async () => {
  rmSync(join(dir, 'cleaned'), { force: true });
  const a = new AbortController();
  const r = await remote(a.signal);
  const running = privilegedOk(r, 'reloading nginx (test)', HANGS, [dir]).catch((e) => e);
  await sleep(300);
  const interrupted = Date.now();
  a.abort();
  const err = await running;
  const ms = Date.now() - interrupted;
  assert.instance(err, CommandInterruptedError);
  assert.instance(err, CommandStoppedError, 'a stopped command: the run knows a reload may have reached nginx');
  assert.match(err.message, /^reloading nginx \(test\) was still running 5s after the run was interrupted \(Ctrl-C or SIGTERM\): the host stopped it$/);
  assert.ok(ms >= INTERRUPT_GRACE_S * 1000 && ms < INTERRUPT_GRACE_S * 1000 + 3000, `after the grace: ${ms} ms`);
  assert.is(readFileSync(join(dir, 'cleaned'), 'utf8'), 'cleaned\n', 'the EXIT trap ran');
  const child = Number(readFileSync(join(dir, 'child'), 'utf8'));
  assert.not.ok(alive(child), `the child ${child} was stopped with the script`);
});

test('interrupted, a command that ends within the grace keeps its own result; the pid line is not in its stderr', async () => {
  const a = new AbortController();
  const r = await remote(a.signal);
  const running = privilegedRun(r, 'sleep 1; echo out; echo err >&2; exit 3');
  await sleep(200);
  a.abort();
  const res = await running;
  assert.is(res.code, 3);
  assert.is(res.stdout.toString(), 'out\n');
  assert.is(res.stderr, 'err\n');
});

test('a command started after the interrupt (the rollback) runs to its end, past the grace', async () => {
  const a = new AbortController();
  a.abort();
  const res = await privilegedRun(await remote(a.signal), `sleep ${INTERRUPT_GRACE_S + 1}; echo restored`);
  assert.is(res.code, 0);
  assert.is(res.stdout.toString(), 'restored\n');
});

test.run();
