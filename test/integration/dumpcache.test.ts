// The dump cache against the lab's real nginx (lib/dumpcache.ts): a no-op
// whose host shows that nothing nginx loads has changed does not run
// `nginx -T`; anything that could change what it found makes the next read
// dump again, and the plan follows. `nginx -T` runs are counted by an nginx
// command that logs its arguments before running the lab's nginx.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTLE_S } from '../../lib/dumpcache.js';
import { converge, labInventory, MAPS, NGINX_DIR, resetLab, TOKEN, WEBSOCKET_MAP, withConfD } from './lab.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
const CONF = join(NGINX_DIR, 'nginx.conf');

const dir = mkdtempSync(join(tmpdir(), 'converge-counting-nginx-'));
const calls = join(dir, 'calls');
const wrapper = join(dir, 'nginx');
writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${calls}'\nexec nginx "$@"\n`);
chmodSync(wrapper, 0o755);
const inventory = labInventory({ nginx_command: `${wrapper} -c ${CONF}` });

/** How many times `nginx -T` ran so far. */
const dumps = () => {
  try {
    return readFileSync(calls, 'utf8').split('\n').filter((l) => / -T$/.test(l)).length;
  } catch {
    return 0;
  }
};
const settle = () => new Promise((done) => setTimeout(done, (SETTLE_S + 0.5) * 1000));

/** Two reads once the lab's files are older than the settle time: the first learns what nginx loads, the second stamps it. */
async function warm(): Promise<void> {
  await settle();
  for (let i = 0; i < 2; i++) assert.is((await converge(['-i', inventory, '--check'], ENV)).code, 0);
}

test('no-op runs reuse what nginx -T found while nothing it loads changes', async () => {
  resetLab();
  const first = await converge(['-i', inventory], ENV);
  assert.is(first.code, 0, first.stdout);
  await warm();
  const before = dumps();
  const check = await converge(['-i', inventory, '--check'], ENV);
  assert.is(check.code, 0, check.stdout);
  const noop = await converge(['-i', inventory, '--json'], ENV);
  assert.is(noop.code, 0, noop.stdout);
  assert.is(JSON.parse(noop.stdout).hosts[0].status, 'ok');
  assert.is(dumps(), before, 'neither --check nor the no-op ran nginx -T');
  const fresh = await converge(['-i', inventory, '--check'], { ...ENV, CONVERGE_CACHE_DIR: '' });
  assert.is(fresh.code, 0);
  assert.is(dumps(), before + 1, 'CONVERGE_CACHE_DIR= turns the cache off');
});

test('a new file in an include directory is read at once: its $connection_upgrade changes the plan', async () => {
  await warm();
  const before = dumps();
  // Loaded after the maps file: one loaded before it would also make its map_hash_bucket_size a duplicate.
  await withConfD('zz-websocket.conf', WEBSOCKET_MAP, async () => {
    const check = await converge(['-i', inventory, '--check'], ENV);
    assert.is(check.code, 2, check.stdout);
    assert.match(check.stdout, /already defined in .*zz-websocket\.conf/);
    assert.ok(dumps() > before);
    assert.match(readFileSync(MAPS, 'utf8'), /\$connection_upgrade/, 'check mode changed nothing');
  });
});

test('an edit of a loaded file that keeps its size and mtime still makes the next read dump (its ctime moved)', async () => {
  await warm();
  const before = dumps();
  const text = readFileSync(CONF, 'utf8');
  const { atime, mtime, ino } = statSync(CONF);
  // Same length, same inode, mtime put back: what a careless sync tool or `touch -r` could leave.
  writeFileSync(CONF, text.replace(/events \{/, 'events{ '));
  utimesSync(CONF, atime, mtime);
  try {
    assert.is(statSync(CONF).ino, ino);
    assert.is(statSync(CONF).size, Buffer.byteLength(text));
    const check = await converge(['-i', inventory, '--check'], ENV);
    assert.is(check.code, 0, check.stdout);
    assert.is(dumps(), before + 1);
  } finally {
    writeFileSync(CONF, text);
    resetLab();
  }
});

test.run();
