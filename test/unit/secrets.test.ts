import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assertValidToken, generateToken, redact, REDACTED, tokenProblem } from '../../lib/secrets.js';
import { InputError } from '../../lib/errors.js';

const HEX64 = 'a3f1'.repeat(16);
const B64 = 'Zm9vYmFyYmF6cXV4+/Zm9vYmFyYmF6cXV4Zm9v-._~AB==';

const valid: [string, string][] = [
  ['64 hex chars', HEX64],
  ['base64-ish with + / and ==', B64],
  ['exactly 32 chars', 'x'.repeat(32)],
  ['exactly 512 chars', 'y'.repeat(512)],
  ['single trailing =', 'A'.repeat(40) + '='],
];

for (const [what, token] of valid) {
  test(`tokenProblem accepts ${what}`, () => {
    assert.is(tokenProblem(token), null);
    assertValidToken(token, 'env'); // does not throw
  });
}

// Each bad token embeds a recognisable 40-char run so a leak would be visible.
const MARK = 'LeakCheckLeakCheckLeakCheckLeakCheck0000';
const invalid: [string, string, RegExp][] = [
  ['too short (31)', 'z'.repeat(31), /31 characters, at least 32/],
  ['too long (513)', 'z'.repeat(513), /513 characters, at most 512/],
  ['double quote', `${MARK}"x`, /outside RFC 6750/],
  ['single quote', `${MARK}'x`, /outside RFC 6750/],
  ['backslash', `${MARK}\\x`, /outside RFC 6750/],
  ['space', `${MARK} x`, /outside RFC 6750/],
  ['dollar', `${MARK}$x`, /outside RFC 6750/],
  ['semicolon', `${MARK};x`, /outside RFC 6750/],
  ['open brace', `${MARK}{x`, /outside RFC 6750/],
  ['close brace', `${MARK}}x`, /outside RFC 6750/],
  ['newline inside', `${MARK}\nx`, /outside RFC 6750/],
  ['trailing newline', `${MARK}\n`, /outside RFC 6750/],
  ['tab', `${MARK}\tx`, /outside RFC 6750/],
  ['non-ASCII é', `${MARK}é`, /outside RFC 6750/],
  ['= in the middle', `${MARK}=x`, /outside RFC 6750/],
];

for (const [what, token, re] of invalid) {
  test(`tokenProblem refuses ${what}, without quoting the token`, () => {
    const p = tokenProblem(token);
    assert.type(p, 'string');
    assert.match(p!, re);
    assert.not.ok(p!.includes(token), 'the problem quotes the token');
    assert.not.ok(p!.includes(token.slice(0, 16)), 'the problem quotes part of the token');
    try {
      assertValidToken(token, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
      assert.unreachable('expected an InputError');
    } catch (err) {
      assert.instance(err, InputError);
      const text = (err as InputError).describe();
      assert.match(text, /Bearer token is invalid/);
      assert.match(text, /IA_ENSO_OLLAMA_BEARER_TOKEN/);
      assert.not.ok(text.includes(token.slice(0, 16)), 'the error quotes the token');
    }
  });
}

test('generateToken: 64 lowercase hex chars, valid, different each time', () => {
  const a = generateToken();
  const b = generateToken();
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.match(b, /^[0-9a-f]{64}$/);
  assert.is(tokenProblem(a), null);
  assert.is.not(a, b);
});

test('redact replaces every occurrence of every secret', () => {
  const s1 = 'secret-one-123456';
  const s2 = 'another-secret-xyz';
  const text = `a ${s1} b ${s2} c ${s1}${s1}\n${s2}`;
  const out = redact(text, [s1, s2]);
  assert.is(out, `a ${REDACTED} b ${REDACTED} c ${REDACTED}${REDACTED}\n${REDACTED}`);
});

test('redact ignores secrets shorter than 8 characters and empty ones', () => {
  const text = 'the root user runs 1234567 jobs';
  assert.is(redact(text, ['root', '1234567', '', 'e']), text);
  assert.is(redact(text, ['12345678']), text);
  assert.is(redact('x 12345678 y', ['12345678']), `x ${REDACTED} y`);
});

test('redact accepts any iterable and leaves text without secrets alone', () => {
  const set = new Set(['abcdefghij']);
  assert.is(redact('--abcdefghij--', set), `--${REDACTED}--`);
  assert.is(redact('nothing here', set), 'nothing here');
});

test('redact: no part of a secret survives when another secret is its prefix', () => {
  const long = 'PrefixPrefixPrefix-SuffixOfTheLongerSecret';
  const short = 'PrefixPrefixPrefix';
  for (const order of [[short, long], [long, short]]) {
    const out = redact(`token=${long}`, order);
    assert.not.ok(out.includes('SuffixOfTheLongerSecret'), `leaks part of the secret: ${out}`);
  }
});

test.run();
