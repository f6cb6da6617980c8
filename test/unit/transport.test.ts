// What converge offers to authenticate, decided before connecting (lib/transport/ssh.ts),
// and the known_hosts helpers accept-new relies on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../lib/errors.js';
import { parseInventory } from '../../lib/inventory.js';
import { hostKeyAlgorithms, keysFor, knownHostsLine, verifyHostKey } from '../../lib/knownhosts.js';
import { authPlan } from '../../lib/transport/ssh.js';
import { tempDir } from '../tempdir.js';

const dir = tempDir('converge-auth-');
const PLAIN = join(dir, 'plain');
const LOCKED = join(dir, 'locked');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', PLAIN]);
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-f', LOCKED]);

function vars(extra: string) {
  return parseInventory(`all:\n  vars: { domain: gw.example.com, backend_ip: 10.0.0.1 }\n  hosts:\n    h: { ${extra} }\n`, 'inv.yml')[0].vars;
}
function refusal(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, InputError);
    return err as InputError;
  }
  return assert.unreachable('expected an InputError') as never;
}

test('a plain key, then the agent when SSH_AUTH_SOCK is set', () => {
  const plan = authPlan(vars(`ssh_key: ${PLAIN}`), 'h', { SSH_AUTH_SOCK: '/tmp/agent.sock' });
  assert.equal(plan.methods.map((m) => m.label), [`key ${PLAIN}`, 'ssh-agent (SSH_AUTH_SOCK)']);
  assert.equal(plan.skipped, []);
  assert.is(plan.methods[0].make('deploy').type, 'publickey');
  assert.is(plan.methods[1].make('deploy').username, 'deploy');
});

test('a key file other users may read is used, with a warning (OpenSSH would refuse it); a 0600 one gets none', () => {
  assert.equal(authPlan(vars(`ssh_key: ${PLAIN}`), 'h', {}).warnings, []);
  const open = join(dir, 'readable');
  copyFileSync(PLAIN, open);
  chmodSync(open, 0o644);
  const plan = authPlan(vars(`ssh_key: ${open}`), 'h', {});
  assert.equal(plan.methods.map((m) => m.label), [`key ${open}`]);
  assert.equal(plan.warnings, [`warning: ssh_key ${open} can be read by users other than its owner (mode 0644): run chmod 600 ${open} (OpenSSH's ssh refuses such a key)`]);
  // The mode is read with the key, once per run (a file of its own here).
  const writable = join(dir, 'writable');
  copyFileSync(PLAIN, writable);
  chmodSync(writable, 0o602);
  assert.match(authPlan(vars(`ssh_key: ${writable}`), 'h', {}).warnings[0], /can be changed by users other than its owner \(mode 0602\)/);
  assert.equal(authPlan(vars(`ssh_key: ${open}`), 'h', {}).warnings, plan.warnings, 'each host using the key is told');
});

test('no key file: the agent alone, the missing file noted', () => {
  const plan = authPlan(vars('ssh_key: /nonexistent/key'), 'h', { SSH_AUTH_SOCK: '/tmp/agent.sock' });
  assert.equal(plan.methods.map((m) => m.label), ['ssh-agent (SSH_AUTH_SOCK)']);
  assert.equal(plan.skipped, ['key /nonexistent/key (no such file)']);
});

test('no key file and no agent: refused, saying both', () => {
  const e = refusal(() => authPlan(vars('ssh_key: /nonexistent/key'), 'h', {}));
  assert.match(e.message, /no way to authenticate over SSH: key \/nonexistent\/key \(no such file\); ssh-agent \(SSH_AUTH_SOCK is not set\)/);
  assert.is(e.host, 'h');
});

test('a passphrase-protected key: decrypted with ssh_key_passphrase_env', () => {
  const plan = authPlan(vars(`ssh_key: ${LOCKED}, ssh_key_passphrase_env: KEY_PASS`), 'h', { KEY_PASS: 'correct horse' });
  assert.equal(plan.methods.map((m) => m.label), [`key ${LOCKED}`, ]);
  assert.is((plan.methods[0].make('u') as { passphrase?: string }).passphrase, 'correct horse');
});

test('a passphrase-protected key without ssh_key_passphrase_env: refused, or left to the agent', () => {
  const e = refusal(() => authPlan(vars(`ssh_key: ${LOCKED}`), 'h', {}));
  assert.match(e.message, /protected by a passphrase, and ssh_key_passphrase_env is not set/);
  assert.match(e.hint ?? '', /never prompts/);
  const plan = authPlan(vars(`ssh_key: ${LOCKED}`), 'h', { SSH_AUTH_SOCK: '/tmp/agent.sock' });
  assert.equal(plan.methods.map((m) => m.label), ['ssh-agent (SSH_AUTH_SOCK)']);
  assert.match(plan.skipped[0], /protected by a passphrase/);
});

test('a wrong passphrase, an unset variable, a public key: each refused with its own message, never the passphrase', () => {
  const wrong = refusal(() => authPlan(vars(`ssh_key: ${LOCKED}, ssh_key_passphrase_env: KEY_PASS`), 'h', { KEY_PASS: 'battery staple' }));
  assert.match(wrong.message, /the passphrase in KEY_PASS does not decrypt the SSH key/);
  assert.not.ok(wrong.describe().includes('battery staple'));
  const unset = refusal(() => authPlan(vars(`ssh_key: ${LOCKED}, ssh_key_passphrase_env: KEY_PASS`), 'h', {}));
  assert.match(unset.message, /KEY_PASS is not set/);
  const pub = refusal(() => authPlan(vars(`ssh_key: ${PLAIN}.pub`), 'h', {}));
  assert.match(pub.message, /not a private key converge can use/);
});

test('ssh_key_passphrase_env must name an environment variable; the new choices are checked', () => {
  assert.throws(() => vars('ssh_key_passphrase_env: "not a name"'), /must be the name of an environment variable/);
  assert.throws(() => vars('ssh_host_key_checking: no'), /must be one of yes, accept-new/);
  assert.throws(() => vars('connection: winrm'), /must be one of ssh, local/);
  assert.throws(() => vars('ssh_timeout: 0'), /whole number of seconds/);
  assert.is(vars('ssh_timeout: "7"').ssh_timeout, 7);
});

test('knownHostsLine: what accept-new appends is found again, for port 22 and others', () => {
  const blob = Buffer.from(readFileSync(`${PLAIN}.pub`, 'utf8').split(' ')[1], 'base64');
  for (const [host, port] of [['10.0.0.5', 22], ['127.0.0.1', 2222], ['::1', 2200]] as const) {
    const line = knownHostsLine(host, port, blob);
    assert.match(line, /\n$/);
    assert.ok(verifyHostKey(keysFor(line, host, port), blob).ok, line);
  }
  assert.match(knownHostsLine('127.0.0.1', 2222, blob), /^\[127\.0\.0\.1\]:2222 ssh-ed25519 AAAA/);
});

test('hostKeyAlgorithms: ssh-rsa is negotiated with SHA-2 signatures first', () => {
  assert.equal(hostKeyAlgorithms(['ssh-ed25519']), ['ssh-ed25519']);
  assert.equal(hostKeyAlgorithms(['ssh-rsa', 'ecdsa-sha2-nistp256']), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256']);
});

test.run();
