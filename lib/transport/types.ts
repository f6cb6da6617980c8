// One interface for every way of reaching a host (pyinfra's connectors).
export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface ExecOptions {
  /** Sent on the command's stdin: how secrets travel, never on a command line. */
  stdin?: string | Buffer;
  /**
   * Keeps stdin open (after `stdin`) until this settles. A script that waits
   * for the end of its stdin then knows when converge is done with it, and
   * also when converge or the connection dies (stdin ends then too).
   */
  holdStdin?: Promise<unknown>;
  /** Sees the command's stdout as it comes (e.g. a script saying it is ready). */
  onStdout?: (chunk: Buffer) => void;
}

/** Sends `stdin` and ends it, at once or when `holdStdin` settles. */
export function feedStdin(stdin: NodeJS.WritableStream, opts: ExecOptions): void {
  if (!opts.holdStdin) {
    stdin.end(opts.stdin ?? '');
    return;
  }
  if (opts.stdin !== undefined) stdin.write(opts.stdin);
  const end = () => void stdin.end();
  opts.holdStdin.then(end, end);
}

export interface Transport {
  /** e.g. "deploy@10.0.0.5:22" — for messages. */
  readonly description: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}
