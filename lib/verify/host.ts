// The parts of verification that run on the proxy itself: the ACME probe
// file, and whether the backend answers from there.
import { posix } from 'node:path';
import type { HostVars } from '../variables.js';
import { commandFailed, privilegedRun, type Remote } from '../remote.js';
import { EXIT_ON_SIGNALS } from '../shell.js';
import { HeldStdin, type ExecResult } from '../transport/types.js';

// Places $dir/$name holding $content (a random probe, not a secret), says
// "placed", then waits for the end of its stdin: converge ends it once the
// probe is fetched, and it ends too if converge or the connection dies.
// Either way the file goes, with the directories it created (innermost first).
// Shell builtins wherever they do (umask in place of a subshell, read in
// place of cat), and one rmdir for all the directories it created (rmdir,
// not rm: a file in the way of one stays): each process costs the host, and
// some VMs take 2-3 ms to start one.
export const PLACE_FILE = `
set --
d=$dir
while [ -n "$d" ] && [ ! -d "$d" ]; do set -- "$@" "$d"; d=\${d%/*}; done
trap 'rm -f -- "$dir/$name"; [ $# -eq 0 ] || rmdir -- "$@" 2>/dev/null || true' EXIT
${EXIT_ON_SIGNALS}
umask 022
[ $# -eq 0 ] || mkdir -p -m 0755 -- "$dir" || exit 1
printf '%s\\n' "$content" > "$dir/$name" || exit 1
echo placed
while IFS= read -r line; do :; done
`;

const PLACE = `dir=$1 name=$2 content=$3\n${PLACE_FILE}`;

export interface ChallengeFile {
  dir: string;
  name: string;
  content: string;
}

export const challengeDir = (v: HostVars): string => posix.join(v.certbot_webroot, '.well-known', 'acme-challenge');

/** The longest line HeldCommand.until can wait for. */
const MARKER_MAX = 64;

/** A privileged command that keeps its stdin open and tells when it has printed a given line. */
export class HeldCommand {
  readonly stdin = new HeldStdin();
  readonly result: Promise<ExecResult>;
  private readonly out: Buffer[] = [];
  /**
   * The short lines printed so far (markers such as "placed"), and where the
   * next marker is looked for: after the last one found, so that the data a
   * command prints before its marker (a read's archive) cannot pass for the
   * markers that follow it.
   */
  private readonly lines: string[] = [];
  private from = 0;
  private partial = '';
  private readonly waiting: (() => void)[] = [];

  constructor(r: Remote, script: string, args: string[], what: string) {
    this.result = privilegedRun(r, script, args, undefined, {
      what,
      holdStdin: this.stdin,
      onStdout: (chunk) => {
        this.out.push(chunk);
        const parts = (this.partial + chunk.toString('latin1')).split('\n');
        // Only the end of a long line is kept: it cannot be a marker, and copying it would cost.
        this.partial = parts.pop()!.slice(-MARKER_MAX - 1);
        for (const line of parts) if (line.length <= MARKER_MAX) this.lines.push(line);
        for (const check of this.waiting.splice(0)) check();
      },
    });
    // Awaited by whoever ends the command; a connection lost before then must not go unhandled.
    this.result.catch(() => undefined);
  }

  /** What the command printed so far. */
  stdout(): Buffer {
    return Buffer.concat(this.out);
  }

  /** Null once the command has printed `line`, or the command's result if it ended first. */
  until(line: string): Promise<ExecResult | null> {
    const seen = new Promise<null>((resolve) => {
      const check = () => {
        const at = this.lines.indexOf(line, this.from);
        if (at < 0) {
          this.waiting.push(check);
          return;
        }
        this.from = at + 1;
        resolve(null);
      };
      check();
    });
    return Promise.race([seen, this.result]);
  }
}

/** Waits for the command to say "placed"; the returned function ends it, which removes the file. */
async function placed(r: Remote, cmd: HeldCommand, f: ChallengeFile): Promise<() => Promise<void>> {
  const args = [f.dir, f.name, f.content];
  // The command only ends early if it could not place the file.
  const ended = await cmd.until('placed').catch((err) => {
    cmd.stdin.end();
    throw err;
  });
  if (ended) {
    cmd.stdin.end();
    throw commandFailed(r, `writing the ACME probe file in ${f.dir}`, args, ended);
  }
  return async () => {
    cmd.stdin.end();
    const res = await cmd.result;
    if (res.code !== 0) throw commandFailed(r, `removing the ACME probe file from ${f.dir}`, args, res);
  };
}

/**
 * Writes a challenge file in the webroot; the returned function removes it
 * (and any directory it created). One privileged command holds the file for
 * the probe's length, so a run that dies, or loses its connection, leaves
 * nothing behind.
 */
export function placeChallenge(r: Remote, v: HostVars, name: string, content: string): Promise<() => Promise<void>> {
  const f = { dir: challengeDir(v), name, content };
  return placed(r, new HeldCommand(r, PLACE, [f.dir, f.name, f.content], `holding the ACME probe file in ${f.dir}`), f);
}

/**
 * The host's read (lib/gather.ts), still running once its output is
 * complete, so that a run found to change nothing can place the ACME probe
 * file without a second privileged command.
 */
export class HeldChallenge {
  constructor(private readonly r: Remote, private readonly cmd: HeldCommand, private readonly f: ChallengeFile) {}

  /** Tells the read to place the file (as placeChallenge does). */
  place(): Promise<() => Promise<void>> {
    this.cmd.stdin.write('place\n');
    return placed(this.r, this.cmd, this.f);
  }

  /** Ends the read; if it placed the file, that removes it. Safe to call again. */
  async dismiss(): Promise<void> {
    this.cmd.stdin.end();
    await this.cmd.result.catch(() => undefined);
  }
}

/** Whether a TCP connection from the proxy to ip:port succeeds within 5 s. */
export async function reachableFromHost(r: Remote, ip: string, port: number): Promise<boolean> {
  const res = await privilegedRun(r, 'timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null', [ip, String(port)], undefined, { what: `connecting from the proxy to ${ip}:${port}` });
  return res.code === 0;
}
