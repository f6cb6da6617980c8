// Secret files on the machine running converge (the token file, the SSH key):
// whether users other than their owner may read or change them, as OpenSSH
// checks a private key's mode.
import { statSync } from 'node:fs';

/**
 * A warning naming the file, its mode and the fix, or undefined when only its
 * owner may read and write it. `variable` is the inventory variable that
 * points at it; `why` is appended (e.g. what OpenSSH would do).
 */
export function looseModeWarning(file: string, variable: string, why = ''): string | undefined {
  const mode = statSync(file).mode & 0o777;
  const others = [mode & 0o044 ? 'read' : '', mode & 0o022 ? 'changed' : ''].filter(Boolean).join(' and ');
  if (!others) return undefined;
  return `warning: ${variable} ${file} can be ${others} by users other than its owner (mode ${mode.toString(8).padStart(4, '0')}): run chmod 600 ${file}${why}`;
}
