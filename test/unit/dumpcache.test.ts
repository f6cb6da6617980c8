// lib/dumpcache.ts: which paths vouch for a dump, when a stamp may be kept,
// and the store. The host side of the handshake is in gather-remote.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DumpCache, queryOf, SETTLE_S, settle, watchList, type DumpCacheEntry } from '../../lib/dumpcache.js';
import { tempDir } from '../tempdir.js';

const DUMP = `nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
# configuration file /etc/nginx/nginx.conf:
include mime.types;
http {
    include /etc/nginx/conf.d/*.conf; # the maps
    # include /etc/unused/*.conf;
    include "sites-enabled/*";
    include /opt/empty-dir/*.conf;
}

# configuration file /etc/nginx/mime.types:
types { text/html html; }

# configuration file /etc/nginx/conf.d/ia-enso-http-maps.conf:
map $http_upgrade $connection_upgrade { default upgrade; }

# configuration file /etc/nginx/sites-enabled/app.conf:
server { listen 80; }
`;

const WATCH = [
  '/etc/nginx',
  '/etc/nginx/conf.d',
  '/etc/nginx/conf.d/ia-enso-http-maps.conf',
  '/etc/nginx/mime.types',
  '/etc/nginx/nginx.conf',
  '/etc/nginx/sites-enabled',
  '/etc/nginx/sites-enabled/app.conf',
  '/opt/empty-dir',
];

test('watchList: the loaded files, their directories and each glob include directory (relative ones from nginx.conf), sorted; commented includes ignored', () => {
  assert.equal(watchList(DUMP), WATCH);
});

test('watchList: a glob in a directory name, or a dump without files, cannot be vouched for by a stamp', () => {
  assert.is(watchList('# configuration file /etc/nginx/nginx.conf:\nhttp { include /etc/nginx/*/enabled.conf; }\n'), null);
  assert.is(watchList('nginx: [emerg] unexpected end of file\n'), null);
});

/** A stamp as the read script prints it: one field per path (the binary first), then stat's exit code. */
const stampOf = (n: number, ctime: number, code = 0) => [...Array.from({ length: n + 1 }, (_, i) => `${100 + i}:4096:1700000000.000000000:${ctime}.123456789`), String(code)].join(' ');
const NOW = 1_800_000_000;
const files = (text: string) => (text.includes('$connection_upgrade') ? ['/etc/nginx/conf.d/ia-enso-http-maps.conf'] : []);
const learned: DumpCacheEntry = { version: 1, watch: WATCH, stamp: null, mapVarFiles: [] };

test('settle: a first dump is learned without a stamp (none was taken before it); the next one is stamped', () => {
  const first = settle(null, { stamp: '', clock: null, dump: { code: 0, text: DUMP } }, files);
  assert.equal(first, { mapVarFiles: ['/etc/nginx/conf.d/ia-enso-http-maps.conf'], next: { ...learned, mapVarFiles: first.mapVarFiles } });
  const stamp = stampOf(WATCH.length, NOW - SETTLE_S - 1);
  const second = settle(learned, { stamp, clock: NOW, dump: { code: 0, text: DUMP } }, files);
  assert.equal(second.next, { ...learned, stamp, mapVarFiles: ['/etc/nginx/conf.d/ia-enso-http-maps.conf'] });
  assert.equal(queryOf(second.next as DumpCacheEntry), { watch: WATCH, expect: stamp });
});

test('settle: a stamp is not kept when a file changed within the settle time, a path was missing, or the dump loads other files', () => {
  const recent = settle(learned, { stamp: stampOf(WATCH.length, NOW - 1), clock: NOW, dump: { code: 0, text: DUMP } }, files);
  assert.is((recent.next as DumpCacheEntry).stamp, null, 'two writes in one clock tick can leave the same times');
  const missing = settle(learned, { stamp: stampOf(WATCH.length, NOW - 60, 1), clock: NOW, dump: { code: 0, text: DUMP } }, files);
  assert.is((missing.next as DumpCacheEntry).stamp, null);
  const short = settle(learned, { stamp: stampOf(WATCH.length - 1, NOW - 60), clock: NOW, dump: { code: 0, text: DUMP } }, files);
  assert.is((short.next as DumpCacheEntry).stamp, null);
  const more = `${DUMP}\n# configuration file /etc/nginx/conf.d/new.conf:\nmap $http_upgrade $connection_upgrade { default close; }\n`;
  const moved = settle(learned, { stamp: stampOf(WATCH.length, NOW - 60), clock: NOW, dump: { code: 0, text: more } }, files);
  assert.is((moved.next as DumpCacheEntry).stamp, null);
  assert.ok((moved.next as DumpCacheEntry).watch.includes('/etc/nginx/conf.d/new.conf'));
});

test('settle: a matched stamp answers from the entry and keeps it; a failed dump or one a stamp cannot vouch for forgets the host', () => {
  const entry = { ...learned, stamp: 'x', mapVarFiles: ['/other.conf'] };
  assert.equal(settle(entry, { stamp: 'x', clock: null, dump: null }, files), { mapVarFiles: ['/other.conf'], next: 'keep' });
  assert.throws(() => settle(null, { stamp: 'x', clock: null, dump: null }, files), /does not have/);
  assert.equal(settle(entry, { stamp: 'y', clock: NOW, dump: { code: 1, text: 'nginx: [emerg] x' } }, files), { mapVarFiles: [], next: null });
  assert.equal(settle(entry, { stamp: 'y', clock: NOW, dump: { code: 0, text: 'no file headers' } }, files), { mapVarFiles: [], next: null });
});

test('DumpCache: CONVERGE_CACHE_DIR, XDG_CACHE_HOME, ~/.cache; empty turns it off', () => {
  assert.is(DumpCache.fromEnv({ CONVERGE_CACHE_DIR: '' }), null);
  assert.is(DumpCache.fromEnv({ CONVERGE_CACHE_DIR: '/c' })?.dir, '/c/nginx-dump');
  assert.is(DumpCache.fromEnv({ XDG_CACHE_HOME: '/x' })?.dir, '/x/converge/nginx-dump');
  assert.match(DumpCache.fromEnv({})?.dir ?? '', /\/\.cache\/converge\/nginx-dump$/);
  assert.is.not(DumpCache.key('a', 'u@h:22', 'nginx'), DumpCache.key('a', 'u@h:22', 'nginx -c /x'));
});

test('DumpCache: an entry round-trips (0600); a corrupt or foreign file reads as none; null forgets; an unwritable directory costs only a dump', () => {
  const root = tempDir('converge-dumpcache-');
  const cache = new DumpCache(join(root, 'nginx-dump'));
  const entry = { ...learned, stamp: stampOf(1, NOW) };
  cache.update('k', entry);
  assert.equal(cache.load('k'), entry);
  assert.is(statSync(join(root, 'nginx-dump/k.json')).mode & 0o777, 0o600);
  cache.update('k', 'keep');
  assert.equal(cache.load('k'), entry);
  writeFileSync(join(root, 'nginx-dump/bad.json'), '{"version":1,');
  assert.is(cache.load('bad'), null);
  writeFileSync(join(root, 'nginx-dump/old.json'), JSON.stringify({ ...entry, version: 0 }));
  assert.is(cache.load('old'), null);
  cache.update('k', null);
  assert.is(cache.load('k'), null);
  // Root ignores permissions: a file where the directory should be makes writing fail for anyone.
  const blocked = join(root, 'blocked');
  writeFileSync(blocked, '');
  new DumpCache(join(blocked, 'nginx-dump')).update('k', entry);
  assert.is(new DumpCache(join(blocked, 'nginx-dump')).load('k'), null);
});

test.run();
