import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { posix } from 'node:path';
import { runStamp, stampTime, tempPathFor } from '../../lib/apply.js';
import { RUN_DIR } from '../../lib/backups.js';

const paths = [
  '/etc/nginx/conf.d/ia-enso-http-maps.conf',
  '/etc/nginx/sites-available/gw.example.com.conf',
  '/etc/nginx/sites-enabled/gw.example.com.conf',
  '/var/lib/converge-lab/nginx/conf.d/x',
];

for (const p of paths) {
  test(`tempPathFor(${p}): hidden, same directory, not *.conf`, () => {
    const t = tempPathFor(p);
    assert.is(posix.dirname(t), posix.dirname(p));
    assert.ok(posix.basename(t).startsWith('.'), t);
    assert.not.ok(t.endsWith('.conf'), t);
    assert.is.not(t, p);
    assert.ok(posix.basename(t).includes(posix.basename(p)), t);
  });
}

test('tempPathFor: exact name', () => {
  assert.is(tempPathFor('/etc/nginx/conf.d/m.conf'), '/etc/nginx/conf.d/.m.conf.converge-tmp');
});

test('tempPathFor: the temp name is not matched by the usual include globs', () => {
  const t = posix.basename(tempPathFor('/etc/nginx/conf.d/m.conf'));
  // nginx uses glob(3): * does not match a leading dot, *.conf needs the suffix.
  assert.not.match(t, /^[^.][^/]*$/);
  assert.not.match(t, /\.conf$/);
});

test('runStamp: compact UTC timestamp to the millisecond, and the pid', () => {
  assert.is(runStamp(new Date('2024-01-02T03:04:05.678Z')), `20240102T030405.678Z-${process.pid}`);
  assert.is(runStamp(new Date('2030-12-31T23:59:59.000Z'), 42), '20301231T235959.000Z-42');
  assert.match(runStamp(), /^\d{8}T\d{6}\.\d{3}Z-\d+$/);
  assert.match(runStamp(), new RegExp(RUN_DIR));
});

test('stampTime reads back what runStamp writes, with or without milliseconds (older run names)', () => {
  const d = new Date('2024-01-02T03:04:05.678Z');
  assert.is(stampTime(runStamp(d)), d.toISOString());
  assert.is(stampTime('20261126T150309Z-1234'), '2026-11-26T15:03:09Z');
  assert.is(stampTime('20261126T150309.123Z'), '2026-11-26T15:03:09.123Z');
  assert.is(stampTime('not-a-run'), null);
  assert.is(stampTime('2026-11-26T15:03:09Z'), null);
});

test('runStamp: sorts in time order and is a single path segment', () => {
  const a = runStamp(new Date('2024-01-02T03:04:05Z'));
  const b = runStamp(new Date('2024-01-02T03:04:06Z'));
  assert.ok(a < b);
  assert.not.ok(a.includes('/'));
  assert.not.ok(a.includes(':'));
});

test('runStamp: two runs in the same second sort in time order, whatever their pids (they wrap at 32768)', () => {
  const runs = [
    runStamp(new Date('2026-12-08T02:43:09.100Z'), 9998),
    runStamp(new Date('2026-12-08T02:43:09.400Z'), 10005),
    runStamp(new Date('2026-12-08T02:43:09.700Z'), 300),
  ];
  assert.equal([...runs].sort(), runs);
});

test.run();
