// test/tempdir.ts: the tests' temporary directories go when the test process
// does, even when it fails, unless CONVERGE_KEEP_TEST_DIRS asks to keep them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../tempdir.js', import.meta.url));

/** Runs a node process that makes a directory with a file in it, then `then`; returns the directory. */
function makeIn(then: string, env: Record<string, string> = {}): { dir: string; status: number | null } {
  const script = `import { tempDir } from ${JSON.stringify(MODULE)}; import { writeFileSync } from 'node:fs';
    const dir = tempDir('converge-tempdir-test-'); writeFileSync(dir + '/key', 'secret'); console.log(dir); ${then}`;
  const env0 = { ...process.env };
  delete env0.CONVERGE_KEEP_TEST_DIRS;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...env0, ...env }, encoding: 'utf8' });
  const dir = res.stdout.trim();
  assert.ok(dir.includes('converge-tempdir-test-'), res.stderr);
  return { dir, status: res.status };
}

test('tempDir: the directory and what is in it are gone once the process exits', () => {
  const { dir, status } = makeIn('');
  assert.is(status, 0);
  assert.not.ok(existsSync(dir));
});

test('tempDir: also when the process dies of an uncaught error', () => {
  const { dir, status } = makeIn(`throw new Error('a failing test');`);
  assert.is.not(status, 0);
  assert.not.ok(existsSync(dir));
});

test('tempDir: CONVERGE_KEEP_TEST_DIRS=1 keeps it, to look at what a failing test left', () => {
  const { dir } = makeIn('', { CONVERGE_KEEP_TEST_DIRS: '1' });
  try {
    assert.ok(existsSync(`${dir}/key`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
