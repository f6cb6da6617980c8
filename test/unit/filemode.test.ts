import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { looseModeWarning } from '../../lib/filemode.js';
import { tempDir } from '../tempdir.js';

const dir = tempDir('converge-filemode-');

function fileWith(mode: number): string {
  const file = join(dir, `f-${mode.toString(8)}`);
  writeFileSync(file, 'secret');
  chmodSync(file, mode);
  return file;
}

test('only the owner may read and write: no warning', () => {
  for (const mode of [0o600, 0o400, 0o700, 0o200]) assert.is(looseModeWarning(fileWith(mode), 'ssh_key'), undefined, mode.toString(8));
});

test('group or others may read, change, or both: a warning with the variable, the file, the mode and the chmod', () => {
  const cases: [number, string][] = [
    [0o640, 'read'],
    [0o604, 'read'],
    [0o620, 'changed'],
    [0o602, 'changed'],
    [0o660, 'read and changed'],
    [0o777, 'read and changed'],
  ];
  for (const [mode, what] of cases) {
    const file = fileWith(mode);
    const octal = `0${mode.toString(8)}`;
    assert.is(looseModeWarning(file, 'bearer_token_file'), `warning: bearer_token_file ${file} can be ${what} by users other than its owner (mode ${octal}): run chmod 600 ${file}`);
  }
  assert.match(looseModeWarning(fileWith(0o644), 'ssh_key', ' (why)') ?? '', /chmod 600 \S+ \(why\)$/);
});

test.run();
