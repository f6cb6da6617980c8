// The only importer of ssh2 / ssh2-sftp-client. One SSH connection per host
// and run: the SFTP session and every command share it.
import { existsSync, readFileSync } from 'node:fs';
import SftpClient from 'ssh2-sftp-client';
import { Client, type ConnectConfig } from 'ssh2';
import { ConnectionError, InputError } from '../errors.js';
import { blobType, fingerprint, keysFor, lookupName, verifyHostKey, type KnownKey } from '../knownhosts.js';
import { parseJump, type HostVars } from '../variables.js';
import type { ExecOptions, ExecResult, Transport } from './types.js';

const READY_TIMEOUT_MS = 15_000;
const KEEPALIVE_MS = 10_000;

interface Endpoint {
  label: string; // inventory name or "jump host"
  host: string;
  port: number;
  user: string;
}

function knownKeys(file: string, ep: Endpoint): KnownKey[] {
  if (!existsSync(file)) return [];
  return keysFor(readFileSync(file, 'utf8'), ep.host, ep.port);
}

/**
 * Host key checking as OpenSSH's StrictHostKeyChecking=yes: prefer the key
 * types recorded for the host, refuse unknown, changed and revoked keys.
 */
function hostKeyOptions(vars: HostVars, ep: Endpoint, onReject: (msg: string) => void): Partial<ConnectConfig> {
  const known = knownKeys(vars.ssh_known_hosts, ep);
  const types = [...new Set(known.filter((k) => !k.revoked).map((k) => k.type))];
  return {
    algorithms: types.length > 0 ? { serverHostKey: types as never } : undefined,
    hostVerifier: (blob: Buffer) => {
      const verdict = verifyHostKey(known, blob);
      if (verdict.ok) return true;
      const fp = fingerprint(blob);
      const name = lookupName(ep.host, ep.port);
      const what = {
        unknown: `is not in ${vars.ssh_known_hosts}`,
        changed: `does not match the key recorded in ${vars.ssh_known_hosts} (it changed: possible man-in-the-middle, or the host was reinstalled)`,
        revoked: `is marked @revoked in ${vars.ssh_known_hosts}`,
      }[verdict.reason];
      onReject(
        `the ${blobType(blob)} host key of ${name} (${fp}) ${what}; ` +
          `check the fingerprint out of band (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), then ` +
          (verdict.reason === 'unknown' ? `add it: ssh-keyscan -p ${ep.port} ${ep.host} >> ${vars.ssh_known_hosts}` : `replace the old entry: ssh-keygen -R '${name}' -f ${vars.ssh_known_hosts}`),
      );
      return false;
    },
  };
}

function authOptions(vars: HostVars, host: string): Partial<ConnectConfig> {
  const agent = process.env.SSH_AUTH_SOCK || undefined;
  if (existsSync(vars.ssh_key)) {
    try {
      return { privateKey: readFileSync(vars.ssh_key), agent };
    } catch (err) {
      throw new InputError(`cannot read the SSH key: ${(err as Error).message}`, { host, where: vars.ssh_key, hint: 'fix ssh_key or its permissions' });
    }
  }
  if (agent) return { agent };
  throw new InputError('the SSH key file does not exist and no SSH agent is available (SSH_AUTH_SOCK unset)', {
    host,
    where: vars.ssh_key,
    hint: 'set ssh_key (or IA_ENSO_SSH_KEY) to an existing private key, or start an agent with the key loaded',
  });
}

function explain(err: Error, ep: Endpoint, rejected: string | null, authTried: string): ConnectionError {
  const at = `${ep.user}@${ep.host}:${ep.port}`;
  if (rejected) return new ConnectionError(`host key verification failed for ${ep.label}`, { host: ep.label, where: at, detail: rejected });
  const msg = err.message.replace(/^connect: (getConnection: )?/, '');
  if (/authentication methods failed/i.test(msg)) {
    return new ConnectionError(`SSH authentication failed as ${ep.user} (tried: ${authTried})`, { host: ep.label, where: at, detail: msg, hint: `check that the key is in ~${ep.user}/.ssh/authorized_keys on ${ep.host}` });
  }
  if (/passphrase|encrypted/i.test(msg)) {
    return new ConnectionError('the SSH key is protected by a passphrase', { host: ep.label, where: at, detail: msg, hint: 'load the key into ssh-agent, or use a key without passphrase for automation' });
  }
  if (/timed out|ETIMEDOUT/i.test(msg)) {
    return new ConnectionError(`no SSH answer within ${READY_TIMEOUT_MS / 1000}s`, { host: ep.label, where: at, detail: msg, hint: 'check the address, port and any firewall (or ssh_jump)' });
  }
  return new ConnectionError('cannot connect over SSH', { host: ep.label, where: at, detail: msg, hint: 'check ssh_host, ssh_port, ssh_jump and that sshd runs on the host' });
}

function execOn(client: Client, command: string, opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => errs.push(d));
      stream.on('close', (code: number | null, signal?: string) => {
        const stderr = Buffer.concat(errs).toString('utf8');
        resolve({ code: code ?? (signal ? 128 : 255), stdout: Buffer.concat(out), stderr: signal ? `${stderr}killed by signal ${signal}` : stderr });
      });
      stream.on('error', reject);
      stream.end(opts.stdin ?? '');
    });
  });
}

/** ssh2-sftp-client keeps its ssh2 Client public at runtime but not in its types. */
function sshClientOf(sftp: SftpClient): Client {
  return (sftp as unknown as { client: Client }).client;
}

export class SshTransport implements Transport {
  private closed = false;
  private constructor(
    readonly description: string,
    private readonly sftp: SftpClient,
    private readonly jump: Client | null,
    private readonly onDrop: () => string | null,
  ) {}

  static async connect(name: string, vars: HostVars): Promise<SshTransport> {
    const target: Endpoint = { label: name, host: vars.ssh_host, port: vars.ssh_port, user: vars.ssh_user };
    const auth = authOptions(vars, name);
    const authTried = [auth.privateKey ? `key ${vars.ssh_key}` : null, auth.agent ? 'ssh-agent' : null].filter(Boolean).join(', ');
    let jumpClient: Client | null = null;
    let sock: ConnectConfig['sock'];
    if (vars.ssh_jump) {
      const j = parseJump(vars.ssh_jump)!;
      const jep: Endpoint = { label: name, host: j.host, port: j.port, user: j.user ?? vars.ssh_user };
      [jumpClient, sock] = await connectJump(jep, vars, auth, authTried, target);
    }
    let rejected: string | null = null;
    let dropped: string | null = null;
    // ssh2-sftp-client's default listeners console.log() every end/close, which
    // would corrupt --json output; a drop between calls is recorded instead.
    const sftp = new SftpClient(name, {
      error: (err: unknown) => (dropped = err instanceof Error ? err.message : String(err)),
      end: () => (dropped ??= 'the connection was ended by the host'),
      close: () => (dropped ??= 'the connection was closed'),
    });
    try {
      await sftp.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        sock,
        readyTimeout: READY_TIMEOUT_MS,
        keepaliveInterval: KEEPALIVE_MS,
        keepaliveCountMax: 3,
        ...auth,
        ...hostKeyOptions(vars, target, (m) => (rejected = m)),
      });
    } catch (err) {
      jumpClient?.end();
      throw explain(err as Error, target, rejected, authTried);
    }
    const via = vars.ssh_jump ? ` via ${vars.ssh_jump}` : '';
    return new SshTransport(`${target.user}@${target.host}:${target.port}${via}`, sftp, jumpClient, () => dropped);
  }

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const drop = this.onDrop();
    if (drop && !this.closed) throw new ConnectionError(`the SSH connection was lost: ${drop}`, { where: this.description, hint: 'check the network and the host, then run converge again: it resumes from what is on the host' });
    return execOn(sshClientOf(this.sftp), command, opts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.sftp.end();
    } catch {
      // Already gone: nothing to release.
    }
    this.jump?.end();
  }
}

async function connectJump(jep: Endpoint, vars: HostVars, auth: Partial<ConnectConfig>, authTried: string, target: Endpoint): Promise<[Client, ConnectConfig['sock']]> {
  const client = new Client();
  let rejected: string | null = null;
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', (err) => reject(explain(err, { ...jep, label: `${jep.label} (jump host)` }, rejected, authTried)));
    client.connect({
      host: jep.host,
      port: jep.port,
      username: jep.user,
      readyTimeout: READY_TIMEOUT_MS,
      keepaliveInterval: KEEPALIVE_MS,
      ...auth,
      ...hostKeyOptions(vars, jep, (m) => (rejected = m)),
    });
  });
  client.on('error', () => {}); // later errors surface on the forwarded stream
  const stream = await new Promise<ConnectConfig['sock']>((resolve, reject) =>
    client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, s) => {
      if (err) {
        client.end();
        reject(new ConnectionError(`the jump host ${jep.host} could not open a tunnel to ${target.host}:${target.port}`, { host: target.label, detail: err.message, hint: 'check that the bastion allows TCP forwarding (AllowTcpForwarding) and reaches the target' }));
      } else resolve(s);
    }),
  );
  return [client, stream];
}
