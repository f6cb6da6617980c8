// The dump cache against the lab's real nginx (lib/dumpcache.ts): a no-op
// whose host shows that nothing nginx loads has changed does not run
// `nginx -T`; anything that could change what it found makes the next read
// dump again, and the plan follows. `nginx -T` runs are counted by an nginx
// command that logs its arguments before running the lab's nginx.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTLE_S } from '../../lib/dumpcache.js';
import { converge, labInventory, MAPS, NGINX_DIR, resetLab, TOKEN, WEBSOCKET_MAP, withConfD } from './lab.js';
import { tempDir } from '../tempdir.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
const CONF = join(NGINX_DIR, 'nginx.conf');

const dir = tempDir('converge-counting-nginx-');
const calls = join(dir, 'calls');
const wrapper = join(dir, 'nginx');
writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${calls}'\nexec nginx "$@"\n`);
chmodSync(wrapper, 0o755);
const inventory = labInventory({ nginx_command: `${wrapper} -c ${CONF}` });

/** The wrapped nginx's arguments, one line per run so far. */
const nginxCalls = (): string[] => {
  try {
    return readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};
/** How many times `nginx -T` ran so far. */
const dumps = () => nginxCalls().filter((l) => / -T$/.test(l)).length;
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

// The read under the lock dumps whatever the cache holds: nginx -T's exit code
// is the baseline a rollback must get back to, so no separate nginx -t runs
// before the first write; the gate after the writes is the live tree's one.
test('a run with changes dumps under the lock for its baseline: the live tree is tested once, by the gate after the writes', async () => {
  assert.is((await converge(['-i', inventory], ENV)).code, 0);
  await warm();
  const site = join(NGINX_DIR, 'sites-available/gateway.converge.test.conf');
  writeFileSync(site, readFileSync(site, 'utf8') + '# hand edit\n');
  const mark = nginxCalls().length;
  const fix = await converge(['-i', inventory, '--json'], ENV);
  assert.is(fix.code, 0, fix.stdout);
  assert.is(JSON.parse(fix.stdout).hosts[0].status, 'changed');
  const calls = nginxCalls().slice(mark);
  const live = calls.map((l, i) => (l === `-c ${CONF} -t` ? i : -1)).filter((i) => i >= 0);
  assert.is(live.length, 1, `one nginx -t of the live tree, the gate:\n${calls.join('\n')}`);
  assert.ok(calls.slice(0, live[0]).some((l) => l === `-c ${CONF} -T`), `a dump before it:\n${calls.join('\n')}`);
});

test.run();
