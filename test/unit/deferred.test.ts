import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deferred } from '../../lib/deferred.js';

test('deferred: settled from outside, with a value or an error', async () => {
  const ok = deferred<number>();
  ok.resolve(7);
  assert.is(await ok.promise, 7);
  const ko = deferred();
  ko.reject(new Error('login failed'));
  await ko.promise.then(() => assert.unreachable('resolved'), (err: Error) => assert.is(err.message, 'login failed'));
});

test('deferred: a rejection nobody awaits is not an unhandled rejection (it would end the process)', async () => {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    deferred().reject(new Error('nobody listens'));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test.run();
