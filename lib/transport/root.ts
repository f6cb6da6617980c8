// Whether a host's commands already run as root, so that privileged commands
// go without sudo (Transport.asRoot): one rule for the transports and for
// --list-hosts, which says so before anything is contacted.
import type { HostVars } from '../variables.js';

/** connection: local runs as the user running converge. */
export const runningAsRoot = (): boolean => process.getuid?.() === 0;

/**
 * An SSH user is root by name: asking the host for its uid would cost a round
 * trip. Another uid-0 account (a "toor") keeps going through sudo, which
 * works for it too.
 */
export function runsAsRoot(v: Pick<HostVars, 'connection' | 'ssh_user'>): boolean {
  return v.connection === 'local' ? runningAsRoot() : v.ssh_user === 'root';
}
