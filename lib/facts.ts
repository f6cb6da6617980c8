// What a managed path looks like on the host, as gathered before planning.
export type FileKind = 'absent' | 'file' | 'link' | 'dir' | 'other';

export interface FileFacts {
  path: string;
  kind: FileKind;
  mode?: number;
  owner?: string;
  group?: string;
  /** Regular files only. */
  content?: Buffer;
  /** Links only. */
  linkTo?: string;
}

/** Every Bearer key of a maps file (exact or anchored-regex form), in file order. */
export function deployedTokens(maps: FileFacts | undefined): string[] {
  if (maps?.kind !== 'file' || !maps.content) return [];
  const found: string[] = [];
  const re = /^\s*"(~\^)?Bearer ([^"\s]+?)(\$)?"\s+1\s*;/gm;
  for (const m of maps.content.toString('utf8').matchAll(re)) found.push(m[1] ? m[2].replace(/\\(.)/g, '$1') : m[2]);
  return found;
}

/** The token in a deployed maps file, if one is there. */
export function deployedToken(maps: FileFacts | undefined): string | null {
  return deployedTokens(maps)[0] ?? null;
}
