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

/** The token in a deployed maps file, if one is there. */
export function deployedToken(maps: FileFacts | undefined): string | null {
  if (maps?.kind !== 'file' || !maps.content) return null;
  const text = maps.content.toString('utf8');
  const exact = /^\s*"Bearer ([^"\s]+)"\s+1\s*;/m.exec(text);
  if (exact) return exact[1];
  const regex = /^\s*"~\^Bearer ([^"\s]+)\$"\s+1\s*;/m.exec(text);
  return regex ? regex[1].replace(/\\(.)/g, '$1') : null;
}
