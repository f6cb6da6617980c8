// lib/gather.ts's read script, run for real on this machine (sh + sudo -n,
// the command line SSH would carry) through the `connection: local`
// transport, against temporary files: what planning compares with must be
// byte-exact, or a no-op run would see changes that are not there.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gather, parseDump, parsePaths } from '../../lib/gather.js';
import { LocalTransport } from '../../lib/transport/local.js';
import { BINARY, LINK_TARGET, longPaths, sampleTree } from './sample-tree.js';
import { tempDir } from '../tempdir.js';

const root = tempDir('converge-gather-');
const remote = async () => ({ host: 'unit', transport: await LocalTransport.connect('unit') });

test('gather: file bytes (no final newline, binary), mode and owner; a link target without a newline; dir; absent; existence probes', async () => {
  const { file, link, dir } = sampleTree(root, 0o640);
  const absent = join(root, 'absent.conf');
  const facts = await gather(await remote(), 'sh -c "exit 0"', [file, link, dir, absent], [file, absent]);
  assert.equal(facts.files.get(file), { path: file, kind: 'file', mode: 0o640, owner: 'root', group: 'root', content: BINARY });
  assert.equal(facts.files.get(link)?.linkTo, LINK_TARGET);
  assert.is(facts.files.get(link)?.kind, 'link');
  assert.equal(facts.files.get(dir), { path: dir, kind: 'dir', mode: 0o750, owner: 'root', group: 'root' });
  assert.equal(facts.files.get(absent), { path: absent, kind: 'absent' });
  assert.equal([...facts.exists], [[file, true], [absent, false]]);
});

test("gather: nginx -T's output exactly (no final newline) and its exit code; a missing nginx is 127 and no dump", async () => {
  const facts = await gather(await remote(), `sh -c 'printf "# configuration file /a.conf:\\nmap x \\$y {}"; exit 3' nginx`, []);
  assert.ok(facts.nginxPresent);
  assert.equal(facts.dump, { code: 3, text: '# configuration file /a.conf:\nmap x $y {}' });
  const none = await gather(await remote(), 'converge-no-such-nginx -c /x.conf', []);
  assert.not.ok(none.nginxPresent);
  assert.equal(none.dump, { code: 127, text: '' });
});

test('gather: a path and a link target longer than 100 bytes; a FIFO is "other", with its mode', async () => {
  const { file, link } = longPaths(root, 'server {}\n');
  const fifo = join(root, 'a-fifo');
  execFileSync('mkfifo', ['-m', '0600', fifo]);
  const facts = await gather(await remote(), 'sh -c "exit 0"', [fifo, file, link]);
  assert.is(facts.files.get(file)?.content?.toString(), 'server {}\n');
  assert.is(facts.files.get(link)?.linkTo, file);
  assert.equal(facts.files.get(fifo), { path: fifo, kind: 'other', mode: 0o600, owner: 'root', group: 'root' });
});

test("parsePaths: a path tar did not read as the kind the shell saw, or tar's failure, is an error, not a guess", () => {
  const file = join(root, 'seen.conf');
  writeFileSync(file, 'x');
  const archive = execFileSync('tar', ['-c', '-P', '--format=gnu', '-b', '1', '-f', '-', file]);
  const held = (code: string) => Buffer.concat([archive, Buffer.from(`${code}\nread done converge-probe-0\n`)]);
  assert.is(parsePaths([file], ['file'], archive, false).get(file)?.content?.toString(), 'x');
  assert.is(parsePaths([file], ['file'], held('0'), true).get(file)?.content?.toString(), 'x');
  assert.throws(() => parsePaths([file], ['link'], archive, false), /did not read .* as the link the shell saw/);
  assert.throws(() => parsePaths([file, '/b'], ['file', 'file'], archive, false), /did not read \/b/);
  assert.throws(() => parsePaths([file], ['file'], held('2'), true), /tar exited 2/);
  assert.throws(() => parsePaths([file], ['file'], archive, true), /tar exited without a code/);
  assert.equal([...parsePaths(['/a'], ['absent'], Buffer.alloc(0), false)], [['/a', { path: '/a', kind: 'absent' }]]);
});

test('gather: the stamp of the watched paths; the expected stamp spares the dump; an edit that keeps size and mtime, or a new file in a watched directory, does not', async () => {
  const dir = tempDir('converge-stamp-');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, 'http { a; }\n');
  const old = new Date('2020-01-01T00:00:00Z');
  utimesSync(conf, old, old);
  const nginx = `sh -c 'printf "# configuration file ${conf}:\\n"; cat ${conf}' nginx`;
  const query = { watch: [dir, conf], expect: '' };
  const first = await gather(await remote(), nginx, [], [], undefined, query);
  assert.match(first.stamp, /^(\d+:\d+:\d+\.\d{9}:\d+\.\d{9} ){3}0$/, 'the binary and both paths, then stat\'s exit code');
  assert.ok(first.clock !== null && Math.abs(first.clock - Date.now() / 1000) < 60);
  assert.equal(first.dump, { code: 0, text: `# configuration file ${conf}:\nhttp { a; }\n` });
  const again = await gather(await remote(), nginx, [], [], undefined, { ...query, expect: first.stamp });
  assert.is(again.dump, null, 'the stamp matched: no dump');
  assert.is(again.stamp, first.stamp);
  assert.is(again.clock, null);
  // Same size, mtime put back: only the ctime tells.
  writeFileSync(conf, 'http { b; }\n');
  utimesSync(conf, old, old);
  const edited = await gather(await remote(), nginx, [], [], undefined, { ...query, expect: first.stamp });
  assert.is.not(edited.stamp, first.stamp);
  assert.equal(edited.dump, { code: 0, text: `# configuration file ${conf}:\nhttp { b; }\n` });
  writeFileSync(join(dir, 'new.conf'), '');
  const added = await gather(await remote(), nginx, [], [], undefined, { ...query, expect: edited.stamp });
  assert.ok(added.dump, 'a new file in a watched directory');
  // A watched path that is gone: stat fails, its exit code is in the stamp, and nginx -T runs.
  const gone = await gather(await remote(), nginx, [], [], undefined, { watch: [join(dir, 'gone.conf')], expect: added.stamp });
  assert.match(gone.stamp, / 1$/);
  assert.ok(gone.dump);
});

test("gather: the stamp's first field is nginx's binary, as command -v finds it in sudo's PATH or by its own path; a replaced binary changes the stamp", async () => {
  const dir = tempDir('converge-binary-');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, 'http { }\n');
  const inode = (stamp: string) => Number(stamp.split(':')[0]);
  const query = { watch: [conf], expect: '' };
  // By name: the binary the host's own `command -v` names (under sudo, as the read runs).
  const found = execFileSync('sudo', ['-n', 'sh', '-c', 'command -v sh'], { encoding: 'utf8' }).trim();
  const byName = await gather(await remote(), `sh -c 'printf "# configuration file ${conf}:\\n"' nginx`, [], [], undefined, query);
  assert.is(inode(byName.stamp), statSync(found).ino);
  // By path: that file; replaced (a package upgrade writes a new file), the stamp no longer matches and nginx -T runs.
  const bin = join(dir, 'nginx');
  const install = (v: string) => {
    writeFileSync(`${bin}.new`, `#!/bin/sh\nprintf '# configuration file ${conf}:\\n${v}'\n`, { mode: 0o755 });
    renameSync(`${bin}.new`, bin);
  };
  install('one');
  const first = await gather(await remote(), `${bin} -c ${conf}`, [], [], undefined, query);
  assert.is(inode(first.stamp), statSync(bin).ino);
  assert.is((await gather(await remote(), `${bin} -c ${conf}`, [], [], undefined, { ...query, expect: first.stamp })).dump, null);
  install('two');
  const upgraded = await gather(await remote(), `${bin} -c ${conf}`, [], [], undefined, { ...query, expect: first.stamp });
  assert.is.not(upgraded.stamp, first.stamp);
  assert.equal(upgraded.dump, { code: 0, text: `# configuration file ${conf}:\ntwo` });
});

test('parseDump: strips exactly the code line it added; a cut payload reads as no dump', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.equal(parseDump(b64('a\n\n0\n')), { code: 0, text: 'a\n' });
  assert.equal(parseDump(b64('nginx: [emerg] x\n\n1\n')), { code: 1, text: 'nginx: [emerg] x\n' });
  assert.equal(parseDump(''), { code: 127, text: '' });
  assert.equal(parseDump(b64('cut short')), { code: 127, text: '' });
});

test.run();
