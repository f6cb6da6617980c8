// Ansible-style host patterns: names, groups, globs, comma lists, !exclusions.
import { InputError } from './errors.js';
import type { HostConfig } from './inventory.js';

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function matches(host: HostConfig, term: string): boolean {
  if (term === 'all' || term === '*') return true;
  const re = globToRegExp(term);
  return re.test(host.name) || host.groups.some((g) => re.test(g));
}

export function selectHosts(hosts: HostConfig[], pattern: string | undefined): HostConfig[] {
  if (!pattern) return hosts;
  const terms = pattern.split(/[,:]/).map((t) => t.trim()).filter(Boolean);
  const include = terms.filter((t) => !t.startsWith('!'));
  const exclude = terms.filter((t) => t.startsWith('!')).map((t) => t.slice(1));
  const selected = hosts.filter(
    (h) => (include.length === 0 || include.some((t) => matches(h, t))) && !exclude.some((t) => matches(h, t)),
  );
  if (selected.length === 0) {
    throw new InputError(`--limit "${pattern}" matches no host`, {
      hint: `hosts in this inventory: ${hosts.map((h) => h.name).join(', ')}`,
    });
  }
  return selected;
}
