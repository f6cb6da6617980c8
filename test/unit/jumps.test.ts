// The bastion connection pool: shared while hosts hold it, ended by the last
// one, never handed out again once it failed or dropped. Pure (fake connections).
import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JumpPool } from '../../lib/transport/jumps.js';

class FakeConnection extends EventEmitter {
  ended = 0;
  end(): void {
    this.ended++;
    this.emit('close');
  }
}

function opener(fail?: Error) {
  const made: FakeConnection[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  return {
    made,
    /** Lets the pending open finish (so that several hosts wait on it first). */
    finish: () => release(),
    open: async () => {
      const c = new FakeConnection();
      made.push(c);
      await gate;
      if (fail) throw fail;
      return c;
    },
  };
}

test('hosts that ask at once share one connection; the last one out ends it, once', async () => {
  const pool = new JumpPool<FakeConnection>();
  const o = opener();
  const pending = [pool.acquire('b', o.open), pool.acquire('b', o.open), pool.acquire('b', o.open)];
  o.finish();
  const leases = await Promise.all(pending);
  assert.is(o.made.length, 1, 'one login');
  assert.ok(leases.every((l) => l.client === o.made[0]));
  leases[0].release();
  leases[0].release(); // idempotent: does not count twice
  leases[1].release();
  assert.is(o.made[0].ended, 0, 'a host still holds it');
  const late = await pool.acquire('b', o.open);
  assert.is(late.client, o.made[0], 'a host that comes while it is open shares it too');
  leases[2].release();
  late.release();
  assert.is(o.made[0].ended, 1);
  assert.is(pool.size, 0);
  const again = opener();
  again.finish();
  const next = await pool.acquire('b', again.open);
  assert.is.not(next.client, o.made[0], 'after the last release, a new connection');
  next.release();
});

test('different keys (another bastion, key file or known_hosts) never share', async () => {
  const pool = new JumpPool<FakeConnection>();
  const o = opener();
  o.finish();
  const [a, b] = await Promise.all([pool.acquire('bastion-1', o.open), pool.acquire('bastion-2', o.open)]);
  assert.is(o.made.length, 2);
  assert.is.not(a.client, b.client);
  a.release();
  assert.is(o.made[0].ended, 1);
  assert.is(o.made[1].ended, 0);
  b.release();
});

test('a failed open fails every host waiting for it, and the next host tries again', async () => {
  const pool = new JumpPool<FakeConnection>();
  const o = opener(new Error('host key verification failed'));
  const waiting = [pool.acquire('b', o.open), pool.acquire('b', o.open)].map((p) => p.then(() => 'connected', (e: Error) => e.message));
  o.finish();
  assert.equal(await Promise.all(waiting), ['host key verification failed', 'host key verification failed']);
  assert.is(o.made.length, 1, 'one attempt for the hosts that waited together');
  assert.is(pool.size, 0, 'the failure is not kept');
  const retry = opener();
  retry.finish();
  const lease = await pool.acquire('b', retry.open);
  assert.is(retry.made.length, 1);
  lease.release();
});

test('a connection that dropped is not handed out again; releasing it later is harmless', async () => {
  const pool = new JumpPool<FakeConnection>();
  const o = opener();
  o.finish();
  const first = await pool.acquire('b', o.open);
  o.made[0].emit('close'); // the bastion went away under a host
  const fresh = opener();
  fresh.finish();
  const second = await pool.acquire('b', fresh.open);
  assert.is(second.client, fresh.made[0], 'a new connection, not the dropped one');
  first.release();
  assert.is(fresh.made[0].ended, 0, "the old lease's release does not end the new connection");
  second.release();
  assert.is(fresh.made[0].ended, 1);
});

test('many hosts on one connection: no MaxListeners warning from their drop listeners', async () => {
  const pool = new JumpPool<FakeConnection>();
  const o = opener();
  o.finish();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const leases = await Promise.all(Array.from({ length: 25 }, () => pool.acquire('b', o.open)));
  for (const l of leases) l.client.on('close', () => {});
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.equal(warnings.map((w) => w.name), []);
  for (const l of leases) l.release();
});

test.run();
