// How a task reaches a host: `connection: ssh` (default) or `local`. The
// transports are imported on first use, so commands that never connect
// (--help, --list-hosts, bad input) do not load ssh2.
import type { HostConfig } from '../inventory.js';
import type { Transport } from './types.js';

export interface ConnectHostOptions {
  /** Things worth a line in the host's notes (e.g. a host key added by accept-new). */
  onNote?: (note: string) => void;
}

export async function connectHost(host: HostConfig, opts: ConnectHostOptions = {}): Promise<Transport> {
  if (host.vars.connection === 'local') {
    const { LocalTransport } = await import('./local.js');
    return LocalTransport.connect(host.name);
  }
  const { SshTransport } = await import('./ssh.js');
  return SshTransport.connect(host.name, host.vars, { onNote: opts.onNote });
}
