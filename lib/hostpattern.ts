// A host's key in the inventory, as Ansible's inventory plugins read it:
// `proxy-[01:20]` (a range, zero-padded, or letters, with an optional step)
// stands for several hosts, and `name:port` sets the host's SSH port.
import { isIP } from 'node:net';

export class HostPatternError extends Error {}

export interface HostKey {
  names: string[];
  /** From `name:port` or `[ipv6]:port`; the host's own ssh_port still wins. */
  port: number | null;
}

export function expandHostKey(key: string): HostKey {
  const { pattern, port } = splitPort(key);
  return { names: pattern.includes('[') ? expandRange(pattern) : [pattern], port };
}

/** `name:port`, `[ipv6]:port`; a bare IPv6 address (several colons) has no port. */
function splitPort(key: string): { pattern: string; port: number | null } {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(key) ?? /^\[([^\]]*:[^\]]*)\]$/.exec(key);
  if (bracketed && isIP(bracketed[1]) === 6) return { pattern: bracketed[1], port: bracketed[2] ? portOf(bracketed[2], key) : null };
  // The name may hold ranges, whose colons are not the port's: p-[1:2]:2222.
  const withPort = /^((?:[^:[\]]|\[[^\]]*\])+):(\d+)$/.exec(key);
  if (withPort) return { pattern: withPort[1], port: portOf(withPort[2], key) };
  return { pattern: key, port: null };
}

function portOf(text: string, key: string): number {
  const port = Number(text);
  if (port < 1 || port > 65535) throw new HostPatternError(`host "${key}": ${text} is not a port number (1-65535)`);
  return port;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The most hosts one range may stand for (nested ranges multiply: each is checked). */
export const MAX_EXPANSION = 10_000;

/** Ansible's expand_hostname_range: the first [begin:end(:step)], then any further ones in each result. */
function expandRange(pattern: string): string[] {
  const m = /^([^[]*)\[([^\]]*)\](.*)$/s.exec(pattern);
  if (!m) throw new HostPatternError(`host "${pattern}": a [ without its ]`);
  const [, head, range, tail] = m;
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) throw new HostPatternError(`host "${pattern}": a range is [begin:end] or [begin:end:step], got [${range}]`);
  const [begin = '', end, stepText = '1'] = bounds;
  const beg = begin || '0';
  if (!end) throw new HostPatternError(`host "${pattern}": the range [${range}] has no end`);
  const step = Number(stepText);
  if (!Number.isInteger(step) || step < 1) throw new HostPatternError(`host "${pattern}": the step of [${range}] must be a positive integer`);
  let items: string[];
  if (LETTERS.includes(beg) && LETTERS.includes(end) && beg.length === 1 && end.length === 1) {
    const [a, b] = [LETTERS.indexOf(beg), LETTERS.indexOf(end)];
    if (a > b) throw new HostPatternError(`host "${pattern}": the range [${range}] ends before it begins`);
    items = [...LETTERS.slice(a, b + 1)].filter((_, i) => i % step === 0);
  } else if (/^\d+$/.test(beg) && /^\d+$/.test(end)) {
    // A leading zero sets the width, which the end must share: [01:20].
    const width = beg.length > 1 && beg.startsWith('0') ? beg.length : 0;
    if (width && end.length !== width) throw new HostPatternError(`host "${pattern}": [${range}] must give its begin and end the same width`);
    const count = Math.floor((Number(end) - Number(beg)) / step) + 1;
    // A slip of the keyboard ([1:100000]) would otherwise become that many hosts to wait for.
    if (count > MAX_EXPANSION) throw new HostPatternError(`host "${pattern}": [${range}] stands for ${count} hosts, more than the ${MAX_EXPANSION} one key may`);
    items = [];
    for (let i = Number(beg); i <= Number(end); i += step) items.push(String(i).padStart(width, '0'));
  } else {
    throw new HostPatternError(`host "${pattern}": [${range}] is neither a range of numbers nor of letters`);
  }
  const names = items.flatMap((item) => {
    const name = `${head}${item}${tail}`;
    return name.includes('[') ? expandRange(name) : [name];
  });
  if (names.length > MAX_EXPANSION) throw new HostPatternError(`host "${pattern}" stands for ${names.length} hosts, more than the ${MAX_EXPANSION} one key may`);
  return names;
}
