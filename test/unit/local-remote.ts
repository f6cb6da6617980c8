// A Remote whose commands run on this machine through sh (sudo -n included, as
// for an SSH user other than root: the
// command line SSH would carry): no SSH, the same scripts, and a connection
// that can be made to fail mid-transfer.
import { execFileSync, spawn } from 'node:child_process';
import type { Remote } from '../../lib/remote.js';
import { EXIT_ON_SIGNALS } from '../../lib/shell.js';
import type { ExecOptions, ExecResult } from '../../lib/transport/types.js';

export interface Fake {
  remote: Remote;
  /** Cut the stdin of the next command after this many bytes, as a connection lost mid-transfer would. */
  cutNextStdinAt: number | null;
  /** With the cut, the client end is gone too, as when sshd dies: what the script writes then meets a closed pipe (SIGPIPE). */
  dropWithCut: boolean;
}

/** A Remote whose commands run here through sh (sudo -n included): no SSH, same scripts. */
export function local(): Fake {
  const fake: Fake = {
    cutNextStdinAt: null,
    dropWithCut: false,
    remote: {
      host: 'unit',
      transport: {
        description: 'local sh',
        asRoot: false,
        exec: (command: string, opts: ExecOptions = {}) =>
          new Promise<ExecResult>((resolve, reject) => {
            const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
            const out: Buffer[] = [];
            let err = '';
            child.stdout.on('data', (d: Buffer) => out.push(d));
            child.stderr.on('data', (d: Buffer) => (err += d));
            child.stdin.on('error', () => {});
            const cut = fake.cutNextStdinAt;
            fake.cutNextStdinAt = null;
            if (cut !== null && fake.dropWithCut) {
              child.stdout.destroy();
              child.stderr.destroy();
            }
            child.on('close', (code) => {
              if (cut !== null) reject(new Error('the SSH connection was lost while a command was running'));
              else resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr: err });
            });
            const data = Buffer.from(opts.stdin ?? '');
            child.stdin.end(cut === null ? data : data.subarray(0, cut));
          }),
        close: async () => {},
      },
    },
  };
  return fake;
}

/** Whether process `pid` still exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^Z/.test(execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim());
  } catch {
    return false;
  }
}

/** A script that starts a child and waits on it, with the cleanup a managed-file write has (its EXIT trap writes $1/cleaned; $1/child is the child's pid). */
export const HANGS = `
trap 'echo cleaned > "$1/cleaned"' EXIT
${EXIT_ON_SIGNALS}
sleep 600 &
echo $! > "$1/child"
wait
`;
