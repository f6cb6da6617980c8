// Signing with a key decoded once (lib/transport/signer.ts) gives what ssh2's
// own signing gives, for every key type, and no longer needs the PEM text.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import ssh2, { type ParsedKey } from 'ssh2';
import { decodedOnce } from '../../lib/transport/signer.js';

const { utils } = ssh2;
const DATA = Buffer.from('session id and userauth request, as ssh2 signs them');

interface Pair {
  priv: ParsedKey;
  pub: ParsedKey;
  /** ssh2's own signature, from a parse of its own (decodedOnce changes the key it is given). */
  ssh2Sign: (algo?: string) => Buffer;
}

function pair(type: 'ed25519' | 'ecdsa' | 'rsa', bits?: number): Pair {
  const k = utils.generateKeyPairSync(type, bits ? { bits } : {});
  const parse = (text: string) => utils.parseKey(text) as ParsedKey;
  return { priv: parse(k.private), pub: parse(k.public), ssh2Sign: (algo) => parse(k.private).sign(DATA, algo) };
}

/** Breaks the PEM text ssh2 signs from: only a key decoded beforehand still signs. */
function breakPem(k: ParsedKey): void {
  const sym = Object.getOwnPropertySymbols(k).find((s) => String((k as never)[s]).includes('PRIVATE KEY'));
  assert.ok(sym, 'ssh2 keeps the private PEM on the key');
  (k as unknown as Record<symbol, string>)[sym] = 'not a key';
}

for (const [type, bits] of [['ed25519'], ['ecdsa', 256], ['ecdsa', 384], ['ecdsa', 521], ['rsa', 2048]] as const) {
  test(`${type}${bits ? ` ${bits}` : ''}: the signature verifies, as ssh2's does, after the PEM text is gone`, () => {
    const { priv, pub, ssh2Sign } = pair(type, bits);
    const reference = ssh2Sign();
    assert.ok(pub.verify(DATA, reference), "ssh2's own signature verifies");
    const fast = decodedOnce(priv);
    breakPem(fast);
    const sig = fast.sign(DATA);
    assert.instance(sig, Buffer);
    assert.ok(pub.verify(DATA, sig), 'the signature of the key decoded once verifies');
    // Ed25519 and RSA PKCS#1 v1.5 signatures are deterministic: the very same bytes.
    if (type !== 'ecdsa') assert.equal(sig, reference);
  });
}

test("rsa: the digest ssh2 names (rsa-sha2-512) is the one used", () => {
  const { priv, pub, ssh2Sign } = pair('rsa', 2048);
  const reference = ssh2Sign('sha512');
  const sig = decodedOnce(priv).sign(DATA, 'sha512');
  assert.equal(sig, reference);
  assert.ok(pub.verify(DATA, sig, 'sha512'));
  assert.not.equal(sig, ssh2Sign(), 'sha512 differs from the default sha1');
});

test('a public key is returned as it is', () => {
  const { pub } = pair('ed25519');
  const sign = pub.sign;
  assert.is(decodedOnce(pub).sign, sign);
});

test.run();
