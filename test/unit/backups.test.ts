// lib/backups.ts (pure parts): a run that never wrote its manifest is rebuilt
// from the journal its writes left, so tasks/rollback.mjs can still undo it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manifestFromJournal } from '../../lib/backups.js';

const RUN = '20261126T150309Z-1234'; // as versions before milliseconds named runs

test('manifestFromJournal: each path once, in order, existed paths with their backup copy, created ones without', () => {
  const m = manifestFromJournal('/var/backups/converge', RUN, [
    'C /etc/letsencrypt/renewal-hooks/deploy/gw-nginx-reload',
    'E /etc/nginx/conf.d/ia-enso-http-maps.conf',
    'E /etc/nginx/sites-available/gw.conf',
    'E /etc/nginx/sites-available/gw.conf', // written twice (tls bootstrap): the first backup is the one
    '',
  ].join('\n'));
  assert.is(m.state, 'interrupted');
  assert.is(m.run, RUN);
  assert.is(m.started, '2026-11-26T15:03:09Z');
  assert.match(m.command, /did not finish/);
  assert.equal(m.entries, [
    { path: '/etc/letsencrypt/renewal-hooks/deploy/gw-nginx-reload', existed: false, backup: null },
    { path: '/etc/nginx/conf.d/ia-enso-http-maps.conf', existed: true, backup: `/var/backups/converge/${RUN}/etc/nginx/conf.d/ia-enso-http-maps.conf` },
    { path: '/etc/nginx/sites-available/gw.conf', existed: true, backup: `/var/backups/converge/${RUN}/etc/nginx/sites-available/gw.conf` },
  ]);
});

test("manifestFromJournal: an interrupted run's start comes from its name, to the millisecond when the name has it", () => {
  assert.is(manifestFromJournal('/b', '20261208T024309.457Z-10005', 'C /etc/x').started, '2026-12-08T02:43:09.457Z');
  assert.is(manifestFromJournal('/b', RUN, 'C /etc/x').started, '2026-11-26T15:03:09Z', 'a name of an older version');
});

test('manifestFromJournal: a torn last line or junk is ignored; relative paths are refused', () => {
  const m = manifestFromJournal('/b', RUN, 'E /etc/nginx/a.conf\nX /etc/nginx/b.conf\nE etc/relative\nC /etc/ngi');
  assert.equal(m.entries.map((e) => e.path), ['/etc/nginx/a.conf', '/etc/ngi']);
});

test('manifestFromJournal: a manifest written before the run died is completed with the paths written after it', () => {
  const manifest = {
    version: 1 as const,
    run: RUN,
    host: 'proxy-1',
    command: 'converge --limit proxy-1',
    started: '2026-11-26T15:03:09.123Z',
    state: 'applied' as const,
    entries: [{ path: '/etc/nginx/conf.d/ia-enso-http-maps.conf', existed: true, backup: `/b/${RUN}/etc/nginx/conf.d/ia-enso-http-maps.conf` }],
  };
  const m = manifestFromJournal('/b', RUN, 'E /etc/nginx/conf.d/ia-enso-http-maps.conf\nE /etc/nginx/sites-available/gw.conf\n', manifest);
  assert.is(m.state, 'applied');
  assert.is(m.command, 'converge --limit proxy-1');
  assert.equal(m.entries.map((e) => [e.path, e.backup]), [
    ['/etc/nginx/conf.d/ia-enso-http-maps.conf', `/b/${RUN}/etc/nginx/conf.d/ia-enso-http-maps.conf`],
    ['/etc/nginx/sites-available/gw.conf', `/b/${RUN}/etc/nginx/sites-available/gw.conf`],
  ]);
  assert.equal(manifestFromJournal('/b', RUN, '', manifest), manifest, 'no journal: the manifest as is');
});

test.run();
