// lib/backups.ts's remote scripts, run for real on this machine (sh + sudo -n,
// as over SSH): a manifest is whole or absent, even when its bytes arrive cut
// short, and a torn one does not hide the host's other backups.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listBackups, manifestOf, manifestWrite, MANIFEST, writeManifest } from '../../lib/backups.js';
import { nginxTest } from '../../lib/nginx.js';
import type { Journal } from '../../lib/apply.js';
import { local } from './local-remote.js';
import { tempDir } from '../tempdir.js';

const root = tempDir('converge-backups-');
let n = 0;
const META = { host: 'unit', command: 'converge --limit unit', started: '2026-12-01T18:00:00.000Z' };

function journalAt(run: string): Journal {
  const backupDir = join(root, `case-${++n}`, run);
  return { backupDir, entries: [{ path: '/etc/nginx/conf.d/maps.conf', before: { path: '/etc/nginx/conf.d/maps.conf', kind: 'absent' }, backup: null }] };
}

test('writeManifest: the manifest lands whole and root-only, with no temp file beside it', async () => {
  const journal = journalAt('20261201T180000Z-1');
  await writeManifest(local().remote, journal, manifestOf(journal, META, 'applied'));
  const m = JSON.parse(readFileSync(join(journal.backupDir, MANIFEST), 'utf8'));
  assert.is(m.state, 'applied');
  assert.equal(m.entries, [{ path: '/etc/nginx/conf.d/maps.conf', existed: false, backup: null }]);
  assert.is(statSync(join(journal.backupDir, MANIFEST)).mode & 0o777, 0o600);
  assert.equal(readdirSync(journal.backupDir), [MANIFEST]);
});

test('writeManifest cut short in transit: the manifest already there stays as it was, never a torn one', async () => {
  const journal = journalAt('20261201T180000Z-2');
  await writeManifest(local().remote, journal, manifestOf(journal, META, 'applied'));
  const before = readFileSync(join(journal.backupDir, MANIFEST), 'utf8');
  const fake = local();
  fake.cutNextStdinAt = 40;
  await writeManifest(fake.remote, journal, manifestOf(journal, META, 'rolled-back')).catch(() => {});
  assert.is(readFileSync(join(journal.backupDir, MANIFEST), 'utf8'), before);
  assert.equal(readdirSync(journal.backupDir), [MANIFEST], 'no temp file left');
});

// The gate's nginx -t carries the manifest's write (lib/hostrun.ts): one command, two outcomes kept apart.
const FAKE_NGINX = `sh -c 'echo "nginx: [emerg] unknown directive \\"x\\"" >&2; exit 1' nginx`;

test('nginx -t after the manifest: the manifest lands whole; nginx -t runs and its output and verdict are its own', async () => {
  const journal = journalAt('20261201T180000Z-5');
  const res = await nginxTest(local().remote, FAKE_NGINX, manifestWrite(journal, manifestOf(journal, META, 'applied')));
  assert.equal(res.before, { ok: true, output: '' });
  assert.is(JSON.parse(readFileSync(join(journal.backupDir, MANIFEST), 'utf8')).state, 'applied');
  assert.is(res.ok, false);
  assert.is(res.output, 'nginx: [emerg] unknown directive "x"\n', "nothing of the manifest's in nginx's output");
  assert.is((await nginxTest(local().remote, 'sh -c "exit 0" nginx', manifestWrite(journalAt('20261201T180000Z-6'), manifestOf(journal, META, 'applied')))).ok, true);
});

test("nginx -t after a manifest that cannot be written: nginx -t still runs, and the manifest's failure comes with the host's words", async () => {
  const journal = journalAt('20261201T180000Z-7');
  mkdirSync(join(journal.backupDir, '.manifest.tmp'), { recursive: true }); // in the temp file's way
  const res = await nginxTest(local().remote, FAKE_NGINX, manifestWrite(journal, manifestOf(journal, META, 'applied')));
  assert.is(res.before?.ok, false);
  assert.match(String(res.before?.output), /^exit [1-9]\d*: .*manifest\.tmp/);
  assert.is(res.ok, false);
  assert.is(res.output, 'nginx: [emerg] unknown directive "x"\n');
});

test('listBackups: a torn manifest is rebuilt from its journal as an interrupted run; the other runs are still listed', async () => {
  const dir = join(root, `case-${++n}`);
  const good = journalAt('20261201T170000Z-3');
  good.backupDir = join(dir, '20261201T170000Z-3');
  await writeManifest(local().remote, good, manifestOf(good, META, 'applied'));
  const torn = join(dir, '20261201T180000Z-4');
  mkdirSync(torn);
  writeFileSync(join(torn, MANIFEST), '{\n  "version": 1,\n  "run": "2026');
  writeFileSync(join(torn, 'journal'), 'E /etc/nginx/sites-available/gw.conf\n');
  const runs = await listBackups(local().remote, dir);
  assert.equal(runs.map((m) => [m.run, m.state]), [['20261201T170000Z-3', 'applied'], ['20261201T180000Z-4', 'interrupted']]);
  assert.equal(runs[1].entries, [{ path: '/etc/nginx/sites-available/gw.conf', existed: true, backup: join(torn, '/etc/nginx/sites-available/gw.conf') }]);
});

test.run();
