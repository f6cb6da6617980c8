// ssh2 signs with the key's PEM text, which OpenSSL decodes again for every
// signature: ~0.8 ms of this thread per host here, against ~0.07 ms for a key
// decoded once per run. Same algorithm, same signature bytes.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { ParsedKey } from 'ssh2';

/**
 * The digest of each key type's signatures when ssh2 names none (it names it
 * only for RSA's rsa-sha2-256/512): RFC 4253 (ssh-rsa, ssh-dss), RFC 5656
 * (ECDSA, by curve size) and RFC 8709 (Ed25519 hashes internally).
 */
const DIGEST: Record<string, string | null> = {
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
  'ssh-rsa': 'sha1',
  'ssh-dss': 'sha1',
};

/** The parsed private key, signing with a KeyObject decoded here once (any other key is returned as it is). */
export function decodedOnce(key: ParsedKey): ParsedKey {
  if (!(key.type in DIGEST) || !key.isPrivateKey()) return key;
  let decoded: KeyObject;
  try {
    decoded = createPrivateKey(key.getPrivatePEM());
  } catch {
    return key; // ssh2's own signing will say what is wrong
  }
  const digest = DIGEST[key.type];
  // ssh2 reports a signing failure by the Error it returns, not by a throw.
  key.sign = ((data: Buffer | string, algo?: string) => {
    try {
      return sign(algo || digest, typeof data === 'string' ? Buffer.from(data) : data, decoded);
    } catch (err) {
      return err as Error;
    }
  }) as ParsedKey['sign'];
  return key;
}
