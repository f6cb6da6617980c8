import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { blobType, fingerprint, keysFor, lookupName, verifyHostKey, type KnownKey } from '../../lib/knownhosts.js';
import { tempDir } from '../tempdir.js';

/** A hashed known_hosts name, as `ssh-keygen -H` / HashKnownHosts write it. */
function hashed(name: string, salt = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${mac}`;
}

/** A fake but well-formed ssh-ed25519 public key blob. */
function ed25519Blob(seed: number): Buffer {
  const type = Buffer.from('ssh-ed25519');
  const key = Buffer.alloc(32, seed);
  const lenT = Buffer.alloc(4);
  lenT.writeUInt32BE(type.length);
  const lenK = Buffer.alloc(4);
  lenK.writeUInt32BE(key.length);
  return Buffer.concat([lenT, type, lenK, key]);
}

const A = ed25519Blob(1).toString('base64');
const B = ed25519Blob(2).toString('base64');
const C = ed25519Blob(3).toString('base64');
const D = ed25519Blob(4).toString('base64');

const keys = (text: string, host: string, port = 22) => keysFor(text, host, port).map((k) => k.key);

test('lookupName: plain for 22, [host]:port otherwise', () => {
  assert.is(lookupName('gw.example.com', 22), 'gw.example.com');
  assert.is(lookupName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  assert.is(lookupName('::1', 2200), '[::1]:2200');
});

test('keysFor: plain host on port 22', () => {
  const text = `gw.example.com ssh-ed25519 ${A}\nother.example.com ssh-ed25519 ${B}\n`;
  assert.equal(keys(text, 'gw.example.com'), [A]);
  assert.equal(keys(text, 'other.example.com'), [B]);
  assert.equal(keys(text, 'nope.example.com'), []);
});

test('keysFor: host names match case-insensitively', () => {
  assert.equal(keys(`GW.Example.COM ssh-ed25519 ${A}`, 'gw.example.com'), [A]);
});

test('keysFor: a plain entry does not match a non-22 port, [host]:port does', () => {
  const text = `127.0.0.1 ssh-ed25519 ${A}\n[127.0.0.1]:2222 ssh-ed25519 ${B}\n`;
  assert.equal(keys(text, '127.0.0.1', 2222), [B]);
  assert.equal(keys(text, '127.0.0.1', 22), [A]);
  assert.equal(keys(text, '127.0.0.1', 2200), []);
});

test('keysFor: the dot is literal, not a wildcard', () => {
  assert.equal(keys(`10.0.0.1 ssh-ed25519 ${A}`, '10x0x0x1'), []);
});

test('keysFor: comma lists', () => {
  const text = `gw,gw.example.com,10.0.0.5 ssh-ed25519 ${A}\n`;
  assert.equal(keys(text, 'gw'), [A]);
  assert.equal(keys(text, 'gw.example.com'), [A]);
  assert.equal(keys(text, '10.0.0.5'), [A]);
  assert.equal(keys(text, '10.0.0.50'), []);
});

test('keysFor: wildcards', () => {
  const text = `*.example.com ssh-ed25519 ${A}\nproxy-? ssh-ed25519 ${B}\n`;
  assert.equal(keys(text, 'gw.example.com'), [A]);
  assert.equal(keys(text, 'example.com'), []);
  assert.equal(keys(text, 'proxy-1'), [B]);
  assert.equal(keys(text, 'proxy-12'), []);
});

test('keysFor: negation excludes a host even when another pattern matches', () => {
  const text = `*.example.com,!bad.example.com ssh-ed25519 ${A}\n`;
  assert.equal(keys(text, 'gw.example.com'), [A]);
  assert.equal(keys(text, 'bad.example.com'), []);
  // A negation alone never selects anything.
  assert.equal(keys(`!bad.example.com ssh-ed25519 ${B}\n`, 'good.example.com'), []);
});

test('keysFor: hashed |1| entries (port 22 and [host]:port)', () => {
  const text = [
    `${hashed('gw.example.com')} ssh-ed25519 ${A}`,
    `${hashed('[127.0.0.1]:2222')} ssh-ed25519 ${B}`,
    `${hashed('someone.else')} ssh-ed25519 ${C}`,
  ].join('\n');
  assert.equal(keys(text, 'gw.example.com'), [A]);
  assert.equal(keys(text, '127.0.0.1', 2222), [B]);
  assert.equal(keys(text, '127.0.0.1', 22), []);
  assert.equal(keys(text, 'GW.example.com.'), []);
});

test('keysFor: a malformed hashed entry matches nothing', () => {
  assert.equal(keys(`|1|onlysalt ssh-ed25519 ${A}`, 'gw'), []);
});

test('keysFor: @revoked entries are returned flagged; @cert-authority ignored', () => {
  const text = [
    `@revoked gw.example.com ssh-ed25519 ${A}`,
    `@cert-authority *.example.com ssh-ed25519 ${B}`,
    `gw.example.com ssh-ed25519 ${C}`,
  ].join('\n');
  const found = keysFor(text, 'gw.example.com', 22);
  assert.equal(found, [
    { type: 'ssh-ed25519', key: A, revoked: true },
    { type: 'ssh-ed25519', key: C, revoked: false },
  ]);
});

test('keysFor: comments, blank lines, trailing comments, CRLF and short lines', () => {
  const text = [
    '# a comment',
    `# gw.example.com ssh-ed25519 ${D}`,
    '',
    '   ',
    `gw.example.com ssh-ed25519 ${A} root@somewhere`,
    'gw.example.com ssh-ed25519',
    `  gw.example.com ssh-rsa ${B}\r`,
  ].join('\n');
  assert.equal(keysFor(text, 'gw.example.com', 22), [
    { type: 'ssh-ed25519', key: A, revoked: false },
    { type: 'ssh-rsa', key: B, revoked: false },
  ]);
});

test('verifyHostKey: ok / unknown / changed / revoked', () => {
  const blobA = ed25519Blob(1);
  const k = (key: string, revoked = false): KnownKey => ({ type: 'ssh-ed25519', key, revoked });
  assert.equal(verifyHostKey([k(A)], blobA), { ok: true });
  assert.equal(verifyHostKey([k(B), k(A)], blobA), { ok: true });
  assert.equal(verifyHostKey([], blobA), { ok: false, reason: 'unknown' });
  assert.equal(verifyHostKey([k(B)], blobA), { ok: false, reason: 'changed' });
  assert.equal(verifyHostKey([k(A, true)], blobA), { ok: false, reason: 'revoked' });
  // Revocation wins over a trusted entry for the same key.
  assert.equal(verifyHostKey([k(A), k(A, true)], blobA), { ok: false, reason: 'revoked' });
  // Only a revoked other key: nothing trusted -> unknown.
  assert.equal(verifyHostKey([k(B, true)], blobA), { ok: false, reason: 'unknown' });
});

test('verifyHostKey end to end with keysFor', () => {
  const text = `[127.0.0.1]:2222 ssh-ed25519 ${A}\n`;
  assert.equal(verifyHostKey(keysFor(text, '127.0.0.1', 2222), ed25519Blob(1)), { ok: true });
  assert.equal(verifyHostKey(keysFor(text, '127.0.0.1', 2222), ed25519Blob(2)), { ok: false, reason: 'changed' });
  assert.equal(verifyHostKey(keysFor(text, '127.0.0.1', 22), ed25519Blob(1)), { ok: false, reason: 'unknown' });
});

test('fingerprint and blobType agree with ssh-keygen on a real key', () => {
  const dir = tempDir('converge-kh-');
  try {
    const key = join(dir, 'k');
    execFileSync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-f', key, '-q']);
    const [type, b64] = readFileSync(`${key}.pub`, 'utf8').trim().split(/\s+/);
    const blob = Buffer.from(b64, 'base64');
    const out = execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' });
    const expected = /SHA256:[A-Za-z0-9+/]+/.exec(out)?.[0];
    assert.ok(expected, out);
    assert.is(fingerprint(blob), expected);
    assert.is(blobType(blob), type);
    assert.is(blobType(blob), 'ssh-ed25519');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fingerprint has no base64 padding; blobType reads the length prefix', () => {
  const fp = fingerprint(ed25519Blob(9));
  assert.match(fp, /^SHA256:[A-Za-z0-9+/]{43}$/);
  const rsaLike = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 3])]);
  assert.is(blobType(rsaLike), 'ssh-rsa');
});

test.run();
