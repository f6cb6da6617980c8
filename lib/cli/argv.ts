import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The arguments after a task script's own path: under zx, argv also holds zx's path before it. */
export function scriptArgs(scriptUrl: string, argv: string[] = process.argv): string[] {
  const self = fileURLToPath(scriptUrl);
  const at = argv.findIndex((a, i) => i > 0 && resolve(a) === self);
  return argv.slice(at < 0 ? 2 : at + 1);
}
