// Plain nginx files with __PLACEHOLDER__ markers and `#@if flag` / `#@end`
// sections. Rendering refuses to leave a marker behind: a typo in a template
// must fail here, not as a confusing `nginx -t` error on a proxy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from './errors.js';
import { projectPath } from './paths.js';

export const TEMPLATE_DIR = projectPath('templates') + '/';

/** A template from `dir` (an operator's customised copy) or the built-in ones. */
export function readTemplate(name: string, dir: string | null = null): string {
  const path = dir ? join(dir, name) : TEMPLATE_DIR + name;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read the template: ${(err as Error).message}`, { where: path, hint: 'check templates_dir: it must hold the same files as templates/' });
  }
}

export type Values = Record<string, string | number>;

export function render(template: string, values: Values, flags: Record<string, boolean> = {}, name = 'template'): string {
  const kept = keepSections(template, flags, name);
  const out = kept.replace(/__([A-Z][A-Z0-9_]*?)__/g, (marker, key: string) => {
    if (!(key in values)) throw new Error(`${name}: no value for placeholder ${marker}`);
    return String(values[key]);
  });
  return out;
}

function keepSections(template: string, flags: Record<string, boolean>, name: string): string {
  const out: string[] = [];
  let inside: string | null = null;
  let keep = true;
  for (const line of template.split('\n')) {
    const open = /^\s*#@if\s+(\w+)\s*$/.exec(line);
    if (open) {
      if (inside) throw new Error(`${name}: nested #@if ${open[1]} inside #@if ${inside}`);
      if (!(open[1] in flags)) throw new Error(`${name}: unknown flag ${open[1]}`);
      [inside, keep] = [open[1], flags[open[1]]];
      continue;
    }
    if (/^\s*#@end\s*$/.test(line)) {
      if (!inside) throw new Error(`${name}: #@end without #@if`);
      [inside, keep] = [null, true];
      continue;
    }
    if (keep) out.push(line);
  }
  if (inside) throw new Error(`${name}: #@if ${inside} is never closed`);
  return out.join('\n');
}
