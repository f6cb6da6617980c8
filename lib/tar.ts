// Reads the archive that lib/gather.ts's read script gets from GNU tar
// (`--format=gnu`): one process for every managed file's bytes, mode, owner
// and link target, where a stat and a base64 per file cost ~3x the CPU on the
// host. Only what that command writes is accepted: regular files, symlinks,
// directories, FIFOs and devices, and GNU's long-name and long-link entries.
// (A tar library would bring a stream API and several packages to parse a
// buffer of a few kilobytes.)

export interface TarEntry {
  name: string;
  kind: 'file' | 'link' | 'dir' | 'other';
  mode: number;
  /** The owner's and group's names as tar wrote them, or their numeric ids when the host has no name for them. */
  owner: string;
  group: string;
  content?: Buffer;
  linkTo?: string;
}

const BLOCK = 512;
const KINDS: Record<string, TarEntry['kind']> = { '0': 'file', '\0': 'file', '2': 'link', '5': 'dir', '3': 'other', '4': 'other', '6': 'other' };

const text = (b: Buffer, at: number, len: number) => {
  const field = b.subarray(at, at + len);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? len : end).toString('utf8');
};

function octal(b: Buffer, at: number, len: number, what: string): number {
  const s = text(b, at, len).trim();
  if (!/^[0-7]*$/.test(s)) throw new Error(`tar: bad ${what} field ${JSON.stringify(s)}`);
  return s === '' ? 0 : parseInt(s, 8);
}

/** Header checksum: the sum of its bytes, the checksum field counted as spaces. */
function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === octal(h, 148, 8, 'checksum');
}

/**
 * Every entry of the archive, in order, and where the archive ends (after
 * its zero blocks: what follows is not tar's); throws on anything it was not
 * written to read.
 */
export function readTar(archive: Buffer): { entries: TarEntry[]; end: number } {
  const entries: TarEntry[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let at = 0;
  while (at + BLOCK <= archive.length) {
    const h = archive.subarray(at, at + BLOCK);
    if (h.every((x) => x === 0)) {
      let end = at + BLOCK;
      while (end + BLOCK <= archive.length && archive.subarray(end, end + BLOCK).every((x) => x === 0)) end += BLOCK;
      return { entries, end };
    }
    if (!checksumOk(h)) throw new Error(`tar: bad header checksum at byte ${at}`);
    const size = octal(h, 124, 12, 'size');
    const type = String.fromCharCode(h[156]);
    const data = archive.subarray(at + BLOCK, at + BLOCK + size);
    if (data.length < size) throw new Error('tar: archive cut short');
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'K') {
      const value = text(data, 0, size);
      if (type === 'L') longName = value;
      else longLink = value;
      continue;
    }
    const kind = KINDS[type];
    if (!kind) throw new Error(`tar: unexpected entry type ${JSON.stringify(type)}`);
    const entry: TarEntry = {
      name: longName ?? text(h, 0, 100),
      kind,
      mode: octal(h, 100, 8, 'mode') & 0o7777,
      owner: text(h, 265, 32) || String(octal(h, 108, 8, 'uid')),
      group: text(h, 297, 32) || String(octal(h, 116, 8, 'gid')),
    };
    if (kind === 'file') entry.content = Buffer.from(data);
    if (kind === 'link') entry.linkTo = longLink ?? text(h, 157, 100);
    entries.push(entry);
    longName = longLink = undefined;
  }
  throw new Error('tar: archive cut short (no end-of-archive blocks)');
}
