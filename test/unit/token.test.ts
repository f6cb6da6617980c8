// Where the Bearer token comes from before any connection (lib/token.ts):
// IA_ENSO_OLLAMA_BEARER_TOKEN, else bearer_token_file, each checked, and
// never quoted in an error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, InputError } from '../../lib/errors.js';
import { parseInventory } from '../../lib/inventory.js';
import { localToken } from '../../lib/token.js';
import { tempDir } from '../tempdir.js';

const dir = tempDir('converge-token-');
const GOOD = 'file-token-0123456789abcdef0123456789abcdef';
const ENV_TOKEN = 'env-token-0123456789abcdef0123456789abcdef';

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

function host(tokenFile?: string) {
  const extra = tokenFile ? `, bearer_token_file: ${JSON.stringify(tokenFile)}` : '';
  return parseInventory(`all:\n  hosts:\n    proxy-7: { domain: gw.example.com, backend_ip: 10.0.0.1${extra} }\n`, 'inv.yml')[0];
}

/** The InputError localToken throws; its full text never holds `secret`. */
function refusal(h: ReturnType<typeof host>, env: NodeJS.ProcessEnv, secret: string): InputError {
  try {
    localToken(h, env);
  } catch (err) {
    assert.instance(err, InputError);
    const text = describeError(err) + JSON.stringify(err) + String((err as Error).stack);
    if (secret) assert.not.ok(text.includes(secret), `the token is quoted in: ${text}`);
    return err as InputError;
  }
  return assert.unreachable('expected an InputError') as never;
}

test('no environment variable and no bearer_token_file: no local token (the host or a new one decides)', () => {
  assert.is(localToken(host(), {}), null);
  assert.is(localToken(host(), { IA_ENSO_OLLAMA_BEARER_TOKEN: '' }), null, 'empty means unset');
});

test('bearer_token_file is used when the environment variable is unset', () => {
  assert.equal(localToken(host(file('plain', GOOD)), {}), { value: GOOD, source: 'file', origin: join(dir, 'plain') });
});

test('bearer_token_file: one trailing newline (LF or CRLF) is not part of the token', () => {
  assert.equal(localToken(host(file('lf', `${GOOD}\n`)), {}), { value: GOOD, source: 'file', origin: join(dir, 'lf') });
  assert.equal(localToken(host(file('crlf', `${GOOD}\r\n`)), {}), { value: GOOD, source: 'file', origin: join(dir, 'crlf') });
});

test('bearer_token_file: a second line or surrounding spaces are refused, not silently trimmed into another token', () => {
  for (const [name, content] of [
    ['two-lines', `${GOOD}\n\n`],
    ['leading-space', ` ${GOOD}`],
    ['trailing-space', `${GOOD} \n`],
    ['two-tokens', `${GOOD}\n${GOOD}\n`],
  ]) {
    const err = refusal(host(file(name, content)), {}, GOOD);
    assert.match(err.message, /the Bearer token is invalid: it contains a character outside RFC 6750/, name);
  }
});

test('the environment variable wins over bearer_token_file (which is then not even read)', () => {
  assert.equal(localToken(host(file('ignored', GOOD)), { IA_ENSO_OLLAMA_BEARER_TOKEN: ENV_TOKEN }), { value: ENV_TOKEN, source: 'environment', origin: 'IA_ENSO_OLLAMA_BEARER_TOKEN' });
  // Unreadable and invalid files do not matter when the environment decides.
  assert.equal(localToken(host(join(dir, 'no-such-file')), { IA_ENSO_OLLAMA_BEARER_TOKEN: ENV_TOKEN }), { value: ENV_TOKEN, source: 'environment', origin: 'IA_ENSO_OLLAMA_BEARER_TOKEN' });
  assert.equal(localToken(host(file('bad-but-ignored', 'short')), { IA_ENSO_OLLAMA_BEARER_TOKEN: ENV_TOKEN })?.source, 'environment');
});

test('a missing bearer_token_file: error names the host, the file and the reason', () => {
  const missing = join(dir, 'missing-token');
  const err = refusal(host(missing), {}, '');
  assert.is(err.host, 'proxy-7');
  assert.is(err.where, missing);
  assert.match(err.message, /cannot read bearer_token_file: ENOENT/);
  assert.match(describeError(err), new RegExp(`^\\[proxy-7\\] ${missing}: cannot read bearer_token_file`));
  assert.match(err.hint ?? '', /unset bearer_token_file/);
});

test('a bearer_token_file that is a directory, or unreadable: the same clear error', () => {
  const d = join(dir, 'a-directory');
  mkdirSync(d);
  assert.match(refusal(host(d), {}, '').message, /cannot read bearer_token_file: EISDIR/);
  const locked = file('locked', GOOD);
  chmodSync(locked, 0o000);
  if (process.getuid?.() !== 0) {
    // root reads anything: this part only means something for another user.
    assert.match(refusal(host(locked), {}, GOOD).message, /cannot read bearer_token_file: EACCES/);
  }
});

test('a bearer_token_file other users may read is used, with the warning of lib/filemode.ts; a 0600 one, or the environment variable, gets none', () => {
  const open = file('open', GOOD);
  chmodSync(open, 0o644);
  const t = localToken(host(open), {});
  assert.is(t?.value, GOOD);
  assert.is(t?.warning, `warning: bearer_token_file ${open} can be read by users other than its owner (mode 0644): run chmod 600 ${open}`);
  assert.is(localToken(host(file('closed', GOOD)), {})?.warning, undefined);
  assert.is(localToken(host(open), { IA_ENSO_OLLAMA_BEARER_TOKEN: ENV_TOKEN })?.warning, undefined, 'the environment variable wins: the file is not read');
});

const INVALID: [string, string, RegExp][] = [
  ['empty', '', /it has 0 characters, at least 32/],
  ['too short', 'abc123', /it has 6 characters, at least 32/],
  ['too long', 'a'.repeat(513), /it has 513 characters, at most 512/],
  ['a quote', `${GOOD}"`, /outside RFC 6750/],
  ['a backslash', `${GOOD}\\`, /outside RFC 6750/],
  ['a space', `${GOOD.slice(0, 20)} ${GOOD.slice(20)}`, /outside RFC 6750/],
  ['a dollar', `${GOOD}$x`, /outside RFC 6750/],
  ['a semicolon', `${GOOD};`, /outside RFC 6750/],
  ['a brace', `${GOOD}}`, /outside RFC 6750/],
  ['an embedded newline', `${GOOD.slice(0, 20)}\n${GOOD.slice(20)}`, /outside RFC 6750/],
  ['non-ASCII', `${GOOD}é`, /outside RFC 6750/],
  ['= not at the end', `${GOOD}=x`, /outside RFC 6750/],
];

for (const [what, token, why] of INVALID) {
  test(`an invalid token in bearer_token_file (${what}) is refused, naming the host and the file, never quoting it`, () => {
    const p = file(`invalid-${what.replace(/\W/g, '-')}`, token);
    const err = refusal(host(p), {}, token.length >= 8 ? token : '');
    assert.match(err.message, /^the Bearer token is invalid: /);
    assert.match(err.message, why);
    assert.is(err.host, 'proxy-7');
    assert.is(err.where, p);
  });

  test(`an invalid token in IA_ENSO_OLLAMA_BEARER_TOKEN (${what}) is refused, naming the variable, never quoting it`, () => {
    if (token === '') return; // empty is "unset"
    const err = refusal(host(file('unused', GOOD)), { IA_ENSO_OLLAMA_BEARER_TOKEN: token }, token.length >= 8 ? token : '');
    assert.match(err.message, why);
    assert.is(err.where, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
    assert.is(err.host, 'proxy-7');
  });
}

test('the longest and the padded valid tokens are accepted from a file', () => {
  const long = 'A'.repeat(510) + '==';
  assert.equal(localToken(host(file('long', long)), {}), { value: long, source: 'file', origin: join(dir, 'long') });
  const b64 = 'Zm9vYmFy-._~+/0123456789abcdefghij=';
  assert.equal(localToken(host(file('b64', `${b64}\n`)), {}), { value: b64, source: 'file', origin: join(dir, 'b64') });
});

test('a token file holding binary junk is refused without echoing it', () => {
  const junk = Buffer.from([0xff, 0xfe, 0x00, 0x41, ...Buffer.from(GOOD)]);
  const err = refusal(host(file('binary', junk)), {}, GOOD);
  assert.match(err.message, /outside RFC 6750/);
});

test.run();
