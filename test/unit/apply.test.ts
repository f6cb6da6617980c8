import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { posix } from 'node:path';
import { runStamp, tempPathFor } from '../../lib/apply.js';

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

test('runStamp: compact UTC timestamp and the pid', () => {
  assert.is(runStamp(new Date('2024-01-02T03:04:05.678Z')), `20240102T030405Z-${process.pid}`);
  assert.is(runStamp(new Date('2030-12-31T23:59:59.000Z')), `20301231T235959Z-${process.pid}`);
  assert.match(runStamp(), /^\d{8}T\d{6}Z-\d+$/);
});

test('runStamp: sorts in time order and is a single path segment', () => {
  const a = runStamp(new Date('2024-01-02T03:04:05Z'));
  const b = runStamp(new Date('2024-01-02T03:04:06Z'));
  assert.ok(a < b);
  assert.not.ok(a.includes('/'));
  assert.not.ok(a.includes(':'));
});

test.run();
