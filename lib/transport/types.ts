// One interface for every way of reaching a host (pyinfra's connectors).
export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface ExecOptions {
  /** Sent on the command's stdin: how secrets travel, never on a command line. */
  stdin?: string | Buffer;
}

export interface Transport {
  /** e.g. "deploy@10.0.0.5:22" — for messages. */
  readonly description: string;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}
