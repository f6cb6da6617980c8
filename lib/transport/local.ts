// `connection: local`: the host is the machine converge runs on. Commands run
// through `sh -c` (the same command lines SSH would carry, with `sudo -n` unless converge runs as root),
// content on stdin as over SSH. No SSH, no known_hosts, no keys.
import { spawn } from 'node:child_process';
import { hostname, userInfo } from 'node:os';
import { ConnectionError } from '../errors.js';
import { runningAsRoot } from './root.js';
import { feedStdin, type ExecOptions, type ExecResult, type Transport } from './types.js';

export class LocalTransport implements Transport {
  readonly description: string;
  readonly asRoot = runningAsRoot();
  private closed = false;

  private constructor(private readonly name: string) {
    this.description = `local (${userInfo().username}@${hostname()})`;
  }

  static async connect(name: string): Promise<LocalTransport> {
    return new LocalTransport(name);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`${this.description}: closed`));
    return new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => {
        out.push(d);
        opts.onStdout?.(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        errs.push(d);
        opts.onStderr?.(d);
      });
      // A command that does not read its stdin closes the pipe early: not an error.
      child.stdin.on('error', () => {});
      child.on('error', (err) =>
        reject(new ConnectionError('cannot run a local command', { host: this.name, where: this.description, detail: err.message, hint: 'connection: local needs /bin/sh on this machine' })),
      );
      child.on('close', (code, signal) => {
        const stderr = Buffer.concat(errs).toString('utf8');
        resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr: signal ? `${stderr}killed by signal ${signal}` : stderr });
      });
      feedStdin(child.stdin, opts);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
