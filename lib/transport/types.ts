// One interface for every way of reaching a host (pyinfra's connectors).
export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface ExecOptions {
  /** Sent on the command's stdin: how secrets travel, never on a command line. */
  stdin?: string | Buffer;
  /** Keeps stdin open after `stdin`, for the caller to write more and end it (see HeldStdin). */
  holdStdin?: HeldStdin;
  /** Sees the command's stdout as it comes (e.g. a script saying it is ready). */
  onStdout?: (chunk: Buffer) => void;
  /** Sees the command's stderr as it comes (e.g. the pid a script reports first, see lib/interrupt.ts). */
  onStderr?: (chunk: Buffer) => void;
}

/**
 * A command's stdin that stays open until the caller ends it. A script that
 * reads its stdin thus learns what converge decided while it ran, and when
 * converge is done with it; stdin also ends when converge or the connection
 * dies, so such a script always gets to clean up.
 */
export class HeldStdin {
  private stream: NodeJS.WritableStream | null = null;
  private readonly queued: string[] = [];
  private ended = false;

  /** Written now, or as soon as the command runs. Nothing once ended. */
  write(data: string): void {
    if (this.ended) return;
    if (this.stream) this.stream.write(data);
    else this.queued.push(data);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream?.end();
  }

  /** The transport hands over the running command's stdin. */
  attach(stream: NodeJS.WritableStream): void {
    this.stream = stream;
    for (const data of this.queued.splice(0)) stream.write(data);
    if (this.ended) stream.end();
  }
}

/** Sends `stdin`, then ends it at once, or hands it to `holdStdin`. */
export function feedStdin(stdin: NodeJS.WritableStream, opts: ExecOptions): void {
  if (!opts.holdStdin) {
    stdin.end(opts.stdin ?? '');
    return;
  }
  if (opts.stdin !== undefined) stdin.write(opts.stdin);
  opts.holdStdin.attach(stdin);
}

export interface Transport {
  /** e.g. "deploy@10.0.0.5:22" — for messages. */
  readonly description: string;
  /**
   * Commands already run as root (ssh_user root, or converge itself running as
   * root with connection: local): privileged commands then go without sudo,
   * which minimal images with only a root login do not have.
   */
  readonly asRoot: boolean;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}
