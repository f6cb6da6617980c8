// lib/tar.ts against archives this machine's GNU tar writes with the read
// script's own options: what it parses is what planning compares with, so it
// must be byte-exact, and anything it was not written for must be refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chownSync, linkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTar } from '../../lib/tar.js';
import { BINARY, LINK_TARGET, longPaths, sampleTree } from './sample-tree.js';
import { tempDir } from '../tempdir.js';

const root = tempDir('converge-tar-');
const tar = (...paths: string[]) => execFileSync('tar', ['-c', '-P', '--no-recursion', '--hard-dereference', '--format=gnu', '-b', '1', '-f', '-', '--', ...paths]);

test('readTar: bytes, mode and owner of a file; a link target; a directory (named with a final slash); a FIFO', () => {
  const { file, link, dir } = sampleTree(root, 0o4640);
  const fifo = join(root, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const [f, l, d, p] = readTar(tar(file, link, dir, fifo)).entries;
  assert.equal(f, { name: file, kind: 'file', mode: 0o4640, owner: 'root', group: 'root', content: BINARY });
  assert.equal(l, { name: link, kind: 'link', mode: 0o777, owner: 'root', group: 'root', linkTo: LINK_TARGET });
  assert.equal(d, { name: `${dir}/`, kind: 'dir', mode: 0o750, owner: 'root', group: 'root' });
  assert.is(p.kind, 'other');
});

test('readTar: a name and a link target longer than 100 bytes (GNU long-name entries); hard links read as files', () => {
  const { file, link } = longPaths(root, 'hook\n');
  const hard = join(root, 'hard');
  linkSync(file, hard);
  const { entries } = readTar(tar(file, link, hard));
  assert.ok(file.length > 100 && entries[0].name === file);
  assert.is(entries[1].linkTo, file);
  assert.equal([entries[2].kind, entries[2].content?.toString()], ['file', 'hook\n']);
});

test('readTar: an owner and group the host has no name for read as their numeric ids', () => {
  const file = join(root, 'orphan');
  writeFileSync(file, 'x');
  chownSync(file, 54321, 54322);
  const [e] = readTar(tar(file)).entries;
  assert.equal([e.owner, e.group], ['54321', '54322']);
});

test('readTar: a corrupted header, a cut archive and an unknown entry type are refused', () => {
  const file = join(root, 'plain');
  writeFileSync(file, 'plain text\n');
  const good = tar(file);
  const corrupt = Buffer.from(good);
  corrupt[10] ^= 1;
  assert.throws(() => readTar(corrupt), /bad header checksum/);
  assert.throws(() => readTar(good.subarray(0, 600)), /cut short/);
  assert.throws(() => readTar(good.subarray(0, 1024)), /no end-of-archive/);
  const sparse = Buffer.from(good);
  sparse[156] = 'S'.charCodeAt(0);
  let sum = 0;
  sparse.fill(0x20, 148, 156);
  for (let i = 0; i < 512; i++) sum += sparse[i];
  sparse.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  assert.throws(() => readTar(sparse), /unexpected entry type "S"/);
});

test.run();

test("readTar: the archive's end, after its zero blocks, is where the bytes that follow it start", () => {
  const file = join(root, 'ends');
  writeFileSync(file, 'a\n');
  const archive = tar(file);
  assert.is(archive.length % 512, 0, 'tar -b 1 pads to whole blocks only');
  const { entries, end } = readTar(Buffer.concat([archive, Buffer.from('0\nread done x\n')]));
  assert.is(entries.length, 1);
  assert.is(end, archive.length);
  assert.is(readTar(archive).end, archive.length);
});
