// OpenSSH known_hosts, read the way ssh(1) does: plain and [host]:port names,
// hashed |1| entries, negation, @revoked. Pure: the caller reads the file.
import { createHash, createHmac } from 'node:crypto';

export interface KnownKey {
  type: string;
  /** base64 of the key blob, as written in the file. */
  key: string;
  revoked: boolean;
}

/** The name ssh(1) looks up: plain for port 22, [host]:port otherwise. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function nameMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function hostListMatches(list: string, name: string): boolean {
  let matched = false;
  for (const p of list.split(',')) {
    if (p.startsWith('!')) {
      if (nameMatches(p.slice(1), name)) return false;
    } else if (nameMatches(p, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Keys recorded for a host, in file order (revoked ones flagged). */
export function keysFor(text: string, host: string, port: number): KnownKey[] {
  const name = lookupName(host, port);
  const out: KnownKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0].startsWith('@')) {
      const marker = fields.shift();
      if (marker === '@revoked') revoked = true;
      else continue; // @cert-authority: certificates are not supported; ignore the line.
    }
    const [hosts, type, key] = fields;
    if (!hosts || !type || !key) continue;
    if (hostListMatches(hosts, name)) {
      out.push({ type, key, revoked });
    }
  }
  return out;
}

/** SHA256:... as `ssh-keygen -lf` prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type written inside a public key blob. */
export function blobType(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('ascii');
}

export type Verdict = { ok: true } | { ok: false; reason: 'unknown' | 'changed' | 'revoked' };

export function verifyHostKey(known: KnownKey[], blob: Buffer): Verdict {
  const b64 = blob.toString('base64');
  if (known.some((k) => k.revoked && k.key === b64)) return { ok: false, reason: 'revoked' };
  const trusted = known.filter((k) => !k.revoked);
  if (trusted.some((k) => k.key === b64)) return { ok: true };
  return { ok: false, reason: trusted.length === 0 ? 'unknown' : 'changed' };
}

/** The line `ssh` appends to known_hosts for a newly accepted key (plain, not hashed). */
export function knownHostsLine(host: string, port: number, blob: Buffer): string {
  return `${lookupName(host, port)} ${blobType(blob)} ${blob.toString('base64')}\n`;
}

/**
 * The host key algorithms to ask the server for, given the key types recorded
 * for it: an `ssh-rsa` key is negotiated as rsa-sha2-512/256 (OpenSSH >= 8.8
 * refuses SHA-1 signatures), the others by their own name.
 */
export function hostKeyAlgorithms(types: string[]): string[] {
  return [...new Set(types.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t])))];
}
