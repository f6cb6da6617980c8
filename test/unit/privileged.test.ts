// Who runs privileged commands: sudo for a user other than root, nothing for
// root (minimal images have no sudo). Real shells run the real command lines
// (bash and dash, as a login shell would), with a PATH that lacks sudo or
// timeout, so that the errors are checked against the shells' own words.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PreflightError } from '../../lib/errors.js';
import { notFound, privilegedOk, type Remote } from '../../lib/remote.js';
import type { ExecResult } from '../../lib/transport/types.js';
import { tempDir } from '../tempdir.js';

/** A directory for PATH holding only these tools of this machine. */
function pathWith(...tools: string[]): string {
  const dir = tempDir('converge-path-');
  for (const t of tools) symlinkSync(['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p)) ?? t, join(dir, t));
  return dir;
}

/** A Remote whose commands `shell` runs with `path` as PATH, as a login shell over SSH would. */
function remote(shell: string, asRoot: boolean, path: string): Remote & { commands: string[] } {
  const commands: string[] = [];
  return {
    host: 'unit',
    commands,
    transport: {
      description: `${shell} (PATH=${path})`,
      asRoot,
      close: async () => {},
      exec: (command) =>
        new Promise<ExecResult>((resolve) => {
          commands.push(command);
          const child = spawn(shell, ['-c', command], { env: { PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
          const out: Buffer[] = [];
          let err = '';
          child.stdout.on('data', (d: Buffer) => out.push(d));
          child.stderr.on('data', (d: Buffer) => (err += d));
          child.on('close', (code) => resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr: err }));
        }),
    },
  };
}

const SHELLS = ['/bin/bash', '/bin/sh'];
const asRootHere = process.getuid?.() === 0;

test('as root: the command runs without sudo, which the host may not have', async () => {
  if (!asRootHere) return; // the script's own id is what is checked
  for (const shell of SHELLS) {
    const r = remote(shell, true, pathWith('timeout', 'sh', 'id'));
    assert.is((await privilegedOk(r, 'who am I', 'id -u')).toString().trim(), '0', shell);
    assert.not.match(r.commands[0], /\bsudo\b/);
  }
});

test('not root, and no sudo on the host: the error says so and offers a root login', async () => {
  for (const shell of SHELLS) {
    const r = remote(shell, false, pathWith('timeout', 'sh'));
    const err = await privilegedOk(r, 'reading the host', 'true').catch((e) => e);
    assert.instance(err, PreflightError, shell);
    assert.match(err.message, /the host has no `sudo`/);
    assert.match(err.detail, /sudo/, 'the shell’s own words');
    assert.match(err.hint, /ssh_user: root/);
  }
});

test('as root, and no timeout on the host: the error names coreutils', async () => {
  for (const shell of SHELLS) {
    const r = remote(shell, true, pathWith('sh'));
    const err = await privilegedOk(r, 'reading the host', 'true').catch((e) => e);
    assert.instance(err, PreflightError, shell);
    assert.match(err.message, /no `timeout` command/);
    assert.match(err.hint, /coreutils/);
  }
});

test('notFound: the words of bash, dash and zsh, and not a script that merely mentions the name', () => {
  assert.ok(notFound('sudo', 'bash: line 1: sudo: command not found\n'));
  assert.ok(notFound('sudo', 'bash: sudo: command not found\n'));
  assert.ok(notFound('sudo', 'sh: 1: sudo: not found\n'));
  assert.ok(notFound('sudo', 'zsh:1: command not found: sudo\n'));
  assert.not.ok(notFound('sudo', 'sudo: timeout: command not found\n'));
  assert.not.ok(notFound('sudo', 'sh: 1: pseudo: not found\n'));
  assert.not.ok(notFound('timeout', 'nginx: [emerg] upstream timed out\n'));
});

test.run();
