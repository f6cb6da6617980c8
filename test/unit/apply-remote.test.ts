// lib/apply.ts's remote scripts, run for real on this machine (sh + sudo -n,
// as over SSH) against temporary files: a write is all or nothing, even when
// its content arrives cut short or a step of it fails, and rollback puts back
// exactly what the run replaced — without rewriting what it never touched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyChange, rollback, type Journal } from '../../lib/apply.js';
import type { FileSpec } from '../../lib/desired.js';
import type { FileFacts } from '../../lib/facts.js';
import type { Change } from '../../lib/plan.js';
import { local } from './local-remote.js';
import { tempDir } from '../tempdir.js';

const root = tempDir('converge-apply-');
let n = 0;

function fresh(): { dir: string; journal: Journal } {
  const dir = join(root, `case-${++n}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  mkdirSync(join(dir, 'sites-enabled'), { recursive: true });
  return { dir, journal: { backupDir: join(dir, 'backups', 'run-1'), entries: [] } };
}

/** What the plan would say for `spec` given what is at its path now. */
function changeFor(spec: FileSpec): Change {
  let before: FileFacts = { path: spec.path, kind: 'absent' };
  if (existsSync(spec.path) || isLink(spec.path)) {
    const st = lstatSync(spec.path);
    before = st.isSymbolicLink()
      ? { path: spec.path, kind: 'link', linkTo: readlinkSync(spec.path), mode: 0o777, owner: 'root', group: 'root' }
      : { path: spec.path, kind: 'file', content: readFileSync(spec.path), mode: st.mode & 0o7777, owner: 'root', group: 'root' };
  }
  return { stage: spec.stage, path: spec.path, action: before.kind === 'absent' ? 'create' : 'update', reasons: [], diff: '', spec, before };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function fileSpec(path: string, content: string, extra: Partial<FileSpec> = {}): FileSpec {
  return { stage: 'maps', path, content, mode: 0o640, owner: 'root', group: 'root', ...extra };
}

/** Identity of a path: inode, bytes, mode, owner and mtime — a rewrite changes at least the inode. */
function identity(p: string): string {
  const st = lstatSync(p);
  const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : readFileSync(p, 'utf8');
  return JSON.stringify({ ino: st.ino, mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtimeMs, what });
}

const tempFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.converge-tmp'));

const OLD = 'map $http_authorization $ia_enso_ollama_authorized {\n    default 0;\n    "Bearer old-token-0123456789abcdef0123456789" 1;\n}\n';
const NEW = 'map $http_authorization $ia_enso_ollama_authorized {\n    default 0;\n    "Bearer new-token-0123456789abcdef0123456789" 1;\n}\n'.repeat(40);

test('applyChange: the new bytes, mode and owner land by rename; the old file is backed up; no temp file is left', async () => {
  const { dir, journal } = fresh();
  const path = join(dir, 'conf.d/maps.conf');
  writeFileSync(path, OLD, { mode: 0o644 });
  await applyChange(local().remote, journal, changeFor(fileSpec(path, NEW)));
  assert.is(readFileSync(path, 'utf8'), NEW);
  assert.is(statSync(path).mode & 0o777, 0o640);
  assert.is(readFileSync(join(journal.backupDir, path), 'utf8'), OLD);
  assert.equal(tempFiles(join(dir, 'conf.d')), []);
  assert.equal(journal.entries.map((e) => e.path), [path]);
});

// `dropped`: the client end goes too (sshd died), so the script's complaint about the short
// content meets a closed pipe: SIGPIPE must not skip the cleanup of its temp file.
for (const dropped of [false, true]) {
  test(`content cut short in transit (connection lost mid-stdin${dropped ? ', its output gone too' : ''}): the target keeps its old bytes, never a truncated file, and no temp file stays`, async () => {
    const { dir, journal } = fresh();
    const path = join(dir, 'conf.d/maps.conf');
    writeFileSync(path, OLD, { mode: 0o640 });
    const before = identity(path);
    const fake = local();
    fake.cutNextStdinAt = Math.floor(Buffer.byteLength(NEW) / 2);
    fake.dropWithCut = dropped;
    let failed = false;
    await applyChange(fake.remote, journal, changeFor(fileSpec(path, NEW))).catch(() => (failed = true));
    assert.ok(failed, 'the write reports the lost connection');
    assert.is(readFileSync(path, 'utf8'), OLD, 'wholly old: a half-received file must not be renamed into place');
    assert.is(identity(path), before);
    assert.equal(tempFiles(join(dir, 'conf.d')), [], 'no half-written temp file (new content, maybe a token) left behind');
  });
}

test('content cut short for a file that did not exist: it stays absent', async () => {
  const { dir, journal } = fresh();
  const path = join(dir, 'conf.d/new.conf');
  const fake = local();
  fake.cutNextStdinAt = 10;
  await applyChange(fake.remote, journal, changeFor(fileSpec(path, NEW))).catch(() => {});
  assert.not.ok(existsSync(path));
  assert.equal(tempFiles(join(dir, 'conf.d')), []);
});

test('a write that fails half-way (chown to an unknown owner) leaves no temp file and the target untouched', async () => {
  const { dir, journal } = fresh();
  const path = join(dir, 'conf.d/maps.conf');
  writeFileSync(path, OLD, { mode: 0o640 });
  const before = identity(path);
  const err = await applyChange(local().remote, journal, changeFor(fileSpec(path, NEW, { owner: 'no-such-user-converge' }))).then(
    () => null,
    (e: Error) => e,
  );
  assert.ok(err, 'the write fails');
  assert.match(String((err as Error & { detail?: string }).detail), /no-such-user-converge/);
  assert.is(identity(path), before);
  assert.equal(tempFiles(join(dir, 'conf.d')), [], 'the temp file (with the new content, maybe a token) is removed');
});

test('every write is recorded in the run\'s journal on the host before the target changes (a killed run can be undone)', async () => {
  const { dir, journal } = fresh();
  const maps = join(dir, 'conf.d/maps.conf');
  const created = join(dir, 'conf.d/created.conf');
  writeFileSync(maps, OLD);
  const r = local().remote;
  await applyChange(r, journal, changeFor(fileSpec(maps, NEW)));
  await applyChange(r, journal, changeFor(fileSpec(created, NEW, { owner: 'no-such-user-converge' }))).catch(() => {});
  assert.is(readFileSync(join(journal.backupDir, 'journal'), 'utf8'), `E ${maps}\nC ${created}\n`, 'the failed write is journaled too');
  assert.is(statSync(join(journal.backupDir, 'journal')).mode & 0o777, 0o600);
});

test('rollback after a failed write leaves the never-replaced target alone (same inode and mtime): nothing to copy, so a full disk cannot fail it', async () => {
  const { dir, journal } = fresh();
  const path = join(dir, 'conf.d/maps.conf');
  writeFileSync(path, OLD, { mode: 0o640 });
  const before = identity(path);
  await applyChange(local().remote, journal, changeFor(fileSpec(path, NEW, { owner: 'no-such-user-converge' }))).catch(() => {});
  assert.is(journal.entries.length, 1, 'journaled before the write');
  const done = await rollback(local().remote, journal);
  assert.is(identity(path), before, 'not rewritten: rewriting needs free space the failure may not have');
  assert.is(done.length, 1);
  assert.match(done[0], /maps\.conf/);
  assert.equal(tempFiles(join(dir, 'conf.d')), []);
});

test('rollback restores replaced files byte-identical (mode, owner, mtime), removes created ones and puts a link back', async () => {
  const { dir, journal } = fresh();
  const maps = join(dir, 'conf.d/maps.conf');
  const created = join(dir, 'conf.d/created.conf');
  const link = join(dir, 'sites-enabled/site.conf');
  writeFileSync(maps, OLD, { mode: 0o600 });
  symlinkSync('../sites-available/site.conf', link);
  const before = { link: readlinkSync(link) };
  const mapsMtime = lstatSync(maps).mtimeMs;
  const r = local().remote;
  await applyChange(r, journal, changeFor(fileSpec(maps, NEW)));
  await applyChange(r, journal, changeFor(fileSpec(created, NEW)));
  await applyChange(r, journal, changeFor({ stage: 'enable', path: link, linkTo: join(dir, 'sites-available/site.conf'), mode: 0o777, owner: 'root', group: 'root' }));
  assert.is(readlinkSync(link), join(dir, 'sites-available/site.conf'));
  const done = await rollback(r, journal);
  assert.is(done.length, 3);
  assert.is(readFileSync(maps, 'utf8'), OLD);
  assert.is(statSync(maps).mode & 0o777, 0o600);
  assert.is(lstatSync(maps).mtimeMs, mapsMtime, 'cp -a keeps the mtime');
  assert.not.ok(existsSync(created));
  assert.is(readlinkSync(link), before.link);
  for (const d of ['conf.d', 'sites-enabled']) assert.equal(tempFiles(join(dir, d)), []);
});

test('rollback of a path whose backup copy is gone fails loudly, naming the path', async () => {
  const { dir, journal } = fresh();
  const path = join(dir, 'conf.d/maps.conf');
  writeFileSync(path, OLD);
  await applyChange(local().remote, journal, changeFor(fileSpec(path, NEW)));
  writeFileSync(join(journal.backupDir, path), ''); // still there: fine
  const gone = { ...journal, entries: journal.entries.map((e) => ({ ...e, backup: `${e.backup}.missing` })) };
  const err = await rollback(local().remote, gone).then(
    () => null,
    (e: Error & { detail?: string }) => e,
  );
  assert.ok(err);
  assert.match(err!.message, /rollback could not restore 1 path/);
  assert.match(String(err!.detail), /maps\.conf: .*is missing/);
});

test.run();
