// The only importer of `diff`. Every diff is redacted before it leaves here.
import { createRequire } from 'node:module';
import { redact } from './secrets.js';

// Loaded on the first diff: a run with nothing to change never pays for it.
let diffModule: typeof import('diff') | null = null;
const loadDiff = () => (diffModule ??= createRequire(import.meta.url)('diff') as typeof import('diff'));

export interface SecretLabel {
  value: string;
  label: string;
}

/** Longest secret first, so one that begins another cannot leave the other's tail behind. */
function mask(text: string, secrets: SecretLabel[]): string {
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.value.length - a.value.length)) out = redact(out, [s.value], s.label);
  return out;
}

/**
 * A unified diff of a file's old and new content. Secrets are replaced by
 * their labels first, so a changed token shows as a change of label.
 */
export function unifiedDiff(path: string, before: string | null, after: string | null, secrets: SecretLabel[] = []): string {
  const a = before === null ? '' : mask(before, secrets);
  const b = after === null ? '' : mask(after, secrets);
  const patch = loadDiff().createTwoFilesPatch(before === null ? '/dev/null' : path, after === null ? '/dev/null' : path, a, b, '', '', { context: 3 });
  // Drop the "Index:"/"====" preamble: a plain `diff -u` header is what operators read.
  return patch.split('\n').filter((l) => !l.startsWith('Index: ') && !/^=+$/.test(l)).join('\n');
}
