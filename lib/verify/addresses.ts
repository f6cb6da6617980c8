// Cursor refuses base URLs that resolve to private addresses (ssrf_blocked):
// say so when the domain does, from where converge runs.
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';

/** RFC 1918, loopback, link-local, CGNAT and their IPv6 counterparts (ULA, ::1, fe80::/10). */
export function isPrivateAddress(ip: string): boolean {
  if (isIPv4(ip)) {
    const [a, b] = ip.split('.').map(Number);
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127) || a === 0;
  }
  const v6 = ip.toLowerCase();
  if (v6.startsWith('::ffff:')) return isPrivateAddress(v6.slice(7));
  return v6 === '::1' || v6 === '::' || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6);
}

/**
 * Names that never resolve publicly (RFC 6761 special-use names and RFC
 * 2606's example domains, .local for mDNS, .home.arpa and .internal for
 * private networks): the suffix, or null.
 * Such a name is not looked up: the answer is known, and the query would only
 * leave this machine for its resolver (from a lab or a test, where nothing should).
 */
export function reservedSuffix(domain: string): string | null {
  const name = domain.toLowerCase().replace(/\.$/, '');
  return RESERVED.find((r) => name === r || name.endsWith(`.${r}`)) ?? null;
}
const RESERVED = ['test', 'example', 'invalid', 'localhost', 'local', 'home.arpa', 'internal', 'example.com', 'example.net', 'example.org'];

export interface Resolution {
  addresses: string[];
  error?: string;
}

export async function resolveDomain(domain: string): Promise<Resolution> {
  try {
    return { addresses: (await lookup(domain, { all: true })).map((a) => a.address) };
  } catch (err) {
    return { addresses: [], error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}
