// Temporary directories for tests and the benchmark, removed when the process
// exits, whether its tests passed or not: a suite run made about a hundred,
// some holding private keys and passphrases, and left them all in the
// system's temporary directory. CONVERGE_KEEP_TEST_DIRS=1 keeps them, to look
// at what a failing test left.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/** A new directory under the system's temporary directory, named `prefix` and a random suffix. */
export function tempDir(prefix = 'converge-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (made.push(dir) === 1 && !process.env.CONVERGE_KEEP_TEST_DIRS) process.on('exit', removeAll);
  return dir;
}

function removeAll(): void {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      // Not a failure of the tests: say which directory is left, and why.
      process.stderr.write(`could not remove the test directory ${dir}: ${(err as Error).message}\n`);
    }
  }
}
