// Files a read of the host must render exactly, for the tests of lib/tar.ts
// (the archive) and lib/gather.ts (the whole read): made in a temporary
// directory on this machine.
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes with no final newline, a NUL and a non-UTF-8 byte. */
export const BINARY = Buffer.from([0x6d, 0x61, 0x70, 0x0a, 0x00, 0xff, 0x20, 0x7b]);
export const LINK_TARGET = '../sites-available/gw example.conf';

/** A binary file with `fileMode`, a link whose target has a space (and no final newline), a 0750 directory. */
export function sampleTree(root: string, fileMode: number): { file: string; link: string; dir: string } {
  const file = join(root, 'maps.conf');
  writeFileSync(file, BINARY);
  chmodSync(file, fileMode);
  const link = join(root, 'site-link.conf');
  symlinkSync(LINK_TARGET, link);
  const dir = join(root, 'a-dir');
  mkdirSync(dir);
  chmodSync(dir, 0o750);
  return { file, link, dir };
}

/** A file whose path is longer than 100 bytes (tar's name field), holding `content`, and a link to it by that path. */
export function longPaths(root: string, content: string): { file: string; link: string } {
  const deep = join(root, 'd'.repeat(60), 'e'.repeat(60));
  mkdirSync(deep, { recursive: true });
  const file = join(deep, 'gateway.example.test-nginx-reload');
  writeFileSync(file, content);
  const link = join(root, 'long-link');
  symlinkSync(file, link);
  return { file, link };
}
