// Ansible-style host patterns (`--limit`): names, groups, globs, `~regex`,
// comma lists, `&intersections`, `!exclusions` and `@FILE`s of them,
// evaluated as Ansible does: the plain terms' union, then each intersection,
// then each exclusion.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { closest } from './closest.js';
import { InputError } from './errors.js';
import type { HostConfig } from './inventory.js';

interface Term {
  op: 'or' | 'and' | 'not';
  text: string;
  test: (name: string) => boolean;
  /** A plain term that is a host's name (see selects). */
  exactHost: boolean;
  /** Whether it looks at host names too (see selects). */
  hostNames: boolean;
}

/**
 * The terms of a pattern, split as Ansible's split_host_pattern does: with a
 * comma, commas alone separate them (`eu,us:x` is "eu" and "us:x"); without,
 * so do colons, Ansible's older separator, except inside brackets and in an
 * IPv6 address. One extension: a `~regex` keeps its colons (`~(?:a|b)`),
 * which Ansible would cut into an invalid regex.
 */
export function splitPattern(pattern: string): string[] {
  const parts = pattern.includes(',') ? pattern.split(',') : colonList(pattern.trim());
  return parts.map((t) => t.trim()).filter(Boolean);
}

function colonList(pattern: string): string[] {
  if (/^[!&]?~/.test(pattern) || isIP(pattern.replace(/^[!&]/, '').replace(/^\[(.*)\]$/, '$1')) === 6) return [pattern];
  return pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
}

function parseTerm(raw: string, pattern: string, groupNames: Set<string>, hostNames: Set<string>): Term {
  const op = raw.startsWith('!') ? 'not' : raw.startsWith('&') ? 'and' : 'or';
  const text = op === 'or' ? raw : raw.slice(1).trim();
  if (text === '') throw new InputError(`--limit "${pattern}": "${raw}" names nothing`, { hint: 'write !NAME to exclude and &NAME to intersect, e.g. eu,&canary,!proxy-old' });
  const test = matcher(text, pattern);
  return { op, text, test, exactHost: op === 'or' && hostNames.has(text), hostNames: /^~|[.?*[]/.test(text) || ![...groupNames].some(test) };
}

/** `~regex` (matched from the start of a name, as Ansible's re.match), a glob, or a literal name. */
function matcher(text: string, pattern: string): (name: string) => boolean {
  if (text.startsWith('~')) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${text.slice(1)})`);
    } catch (err) {
      throw new InputError(`--limit "${pattern}": "${text}" is not a valid regular expression (${(err as Error).message})`, { hint: 'a term that starts with ~ is a JavaScript regular expression, matched from the start of host and group names' });
    }
    return (name) => re.test(name);
  }
  if (text === 'all' || text === '*') return () => true;
  // Ansible reads `eu[0]`, `eu[-1]`, `eu[0:2]` as the nth hosts of a group, in an order converge does not keep.
  if (/^.+\[(?:-?[0-9]+|[0-9]+[:-][0-9]*)\]$/.test(text)) {
    throw new InputError(`--limit "${pattern}": "${text}" is an Ansible subscript (the nth hosts of a group), which converge does not take`, { hint: 'name the hosts, or use a glob (proxy-par*) or a regex (~proxy-par[12])' });
  }
  const glob = globRegExp(text);
  return (name) => glob.test(name);
}

/**
 * A shell glob as Python's fnmatch (which Ansible uses): `*`, `?`, `[seq]`
 * and `[!seq]`; a `[` that is never closed is literal.
 */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    const close = c === '[' ? glob.indexOf(']', glob[i + 1] === '!' ? i + 3 : i + 2) : -1;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (close > 0) {
      const set = glob.slice(i + 1, close);
      re += `[${set.startsWith('!') ? `^${escapeClass(set.slice(1))}` : escapeClass(set)}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** A class's members as fnmatch takes them: ranges (a-z) kept; a backslash, a caret or a `]` (first, as in `[]a]`) literal. */
function escapeClass(set: string): string {
  return set.replace(/[\\\]^]/g, '\\$&');
}

/**
 * Whether a term selects the host, as Ansible's InventoryManager decides: a
 * plain term that is a host's name selects that host alone (even beside a
 * group of that name); otherwise the hosts of the groups it matches
 * (Ansible's implicit `ungrouped` too) and, unless a group matched a plain
 * name (no glob, regex or dot), the hosts it names.
 */
function selects(term: Term, host: HostConfig, groupNames: Set<string>): boolean {
  if (term.exactHost) return host.name === term.text;
  if (term.text === 'all' || host.groups.some(term.test)) return true;
  if (term.text === 'ungrouped' && !groupNames.has('ungrouped')) return host.groups.length === 0;
  return term.hostNames && term.test(host.name);
}

/**
 * The hosts a pattern selects, in inventory order. Every term must match
 * some host: a mistyped exclusion would otherwise quietly run on the very
 * host it meant to spare, and a mistyped name quietly skip one.
 */
export function selectHosts(hosts: HostConfig[], pattern: string | undefined): HostConfig[] {
  if (!pattern || pattern.trim() === '') return hosts;
  const groupNames = new Set(hosts.flatMap((h) => h.groups));
  const names = new Set(hosts.map((h) => h.name));
  const terms = splitPattern(pattern).map((t) => parseTerm(t, pattern, groupNames, names));
  const unmatched = terms.filter((t) => !hosts.some((h) => selects(t, h, groupNames)));
  if (unmatched.length > 0) {
    const known = [...names, ...groupNames];
    const named = unmatched.map((t) => {
      const near = /^~|[?*[]/.test(t.text) ? null : closest(t.text, known);
      return `"${t.text}"${near ? ` (did you mean ${near}?)` : ''}`;
    });
    throw new InputError(`--limit "${pattern}": ${named.join(', ')} ${unmatched.length === 1 ? 'matches' : 'match'} no host or group`, {
      hint: `check the spelling (converge's --list-hosts shows what a pattern selects); hosts in this inventory: ${listed(hosts.map((h) => h.name))}${groupNames.size > 0 ? `; groups: ${listed([...groupNames])}` : ''}`,
    });
  }
  const ors = terms.filter((t) => t.op === 'or');
  const selected = hosts.filter(
    (h) =>
      (ors.length === 0 || ors.some((t) => selects(t, h, groupNames))) &&
      terms.every((t) => t.op === 'or' || (t.op === 'and') === selects(t, h, groupNames)),
  );
  if (selected.length === 0) {
    throw new InputError(`--limit "${pattern}" selects no host: its exclusions or intersections remove every host its other terms match`, {
      hint: `hosts in this inventory: ${listed(hosts.map((h) => h.name))}; try converge's --list-hosts with parts of the pattern`,
    });
  }
  return selected;
}

/**
 * The pattern with each `@FILE` term replaced by the file's lines, as
 * Ansible's `--limit @file` reads a retry file: one host or pattern a line
 * (blank lines and `#` comments skipped). A relative path is from the
 * current directory.
 */
export function withLimitFiles(pattern: string | undefined, read: (file: string) => string = (f) => readFileSync(f, 'utf8')): string | undefined {
  if (!pattern || !pattern.includes('@')) return pattern;
  return splitPattern(pattern)
    .flatMap((term) => {
      if (!term.startsWith('@')) return [term];
      const file = term.slice(1);
      let text: string;
      try {
        text = read(file);
      } catch (err) {
        throw new InputError(`--limit ${term}: cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { where: file, hint: 'give @FILE a file of host names or patterns, one a line (the failed hosts a run prints, for example)' });
      }
      const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      if (lines.length === 0) throw new InputError(`--limit ${term}: the file names no host`, { where: file, hint: 'one host name or pattern a line' });
      return lines;
    })
    .join(',');
}

/** A list for a hint, cut short in a large fleet. */
function listed(names: string[], max = 20): string {
  return names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', ');
}
