// The only importer of ssh2. One SSH connection per host and run: every
// command is an exec channel on it. A jump host is one more connection, shared
// by the run's hosts behind it (jumps.ts), whose forwarded streams
// (forwardOut) carry the targets'. Never a prompt: keys,
// passphrases (from an environment variable) and the agent only.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { looseModeWarning } from '../filemode.js';
import { dirname } from 'node:path';
import ssh2, { type AnyAuthMethod, type AuthenticationType, type Client, type ClientChannel, type ConnectConfig, type ParsedKey } from 'ssh2';
import { ConnectionError, forHost, InputError } from '../errors.js';
import { blobType, fingerprint, hostKeyAlgorithms, keysFor, knownHostsLine, lookupName, verifyHostKey, type KnownKey } from '../knownhosts.js';
import { parseJump, type HostVars } from '../variables.js';
import { JumpPool, type JumpLease } from './jumps.js';
import { decodedOnce } from './signer.js';
import { feedStdin, type ExecOptions, type ExecResult, type Transport } from './types.js';
import { runsAsRoot } from './root.js';

// ssh2 is CommonJS: only its default export is reliable under ESM.
const { Client: SshClient, utils } = ssh2;

/** Unanswered keepalives before a silent connection counts as lost. */
const KEEPALIVE_COUNT = 3;

export interface ConnectOptions {
  /** Told about things worth a line in the host's notes (a host key added by accept-new). */
  onNote?: (note: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Where bastion connections are shared (default: the process's own). */
  jumps?: JumpPool<Client>;
}

interface Endpoint {
  /** Inventory name: errors are about this host. */
  name: string;
  /** "the jump host" or "" (for messages). */
  role: string;
  host: string;
  port: number;
  user: string;
}

const at = (ep: Endpoint) => `${ep.user}@${ep.host}:${ep.port}`;

// ---- authentication ------------------------------------------------------------

interface AuthMethodPlan {
  /** e.g. "key /root/.ssh/id_ed25519", "ssh-agent (SSH_AUTH_SOCK)". */
  label: string;
  make: (username: string) => AnyAuthMethod;
}

interface AuthPlan {
  methods: AuthMethodPlan[];
  /** What was ruled out before connecting, and why (shown when authentication fails). */
  skipped: string[];
  /** Said in the host's notes: a key file other users may read. */
  warnings: string[];
}

/** A key file read and decoded, and the warning its mode calls for (see filemode.ts). */
type Loaded = { key: Buffer; parsed: ReturnType<typeof utils.parseKey>; loose: string | undefined };
const loadedKeys = new Map<string, Loaded>();

/** A key file is read and decoded once per run, however many hosts use it. */
function loadKey(keyFile: string, passphrase: string | undefined): Loaded {
  const id = `${keyFile}\0${passphrase ?? ''}`;
  let loaded = loadedKeys.get(id);
  if (!loaded) {
    const key = readFileSync(keyFile);
    const parsed = utils.parseKey(key, passphrase);
    // One key signs with a KeyObject decoded once; a file of several goes to ssh2 as it is.
    loaded = {
      key,
      parsed: parsed instanceof Error || Array.isArray(parsed) ? parsed : decodedOnce(parsed),
      loose: looseModeWarning(keyFile, 'ssh_key', " (OpenSSH's ssh refuses such a key)"),
    };
    loadedKeys.set(id, loaded);
  }
  return loaded;
}

/**
 * What to offer, in order: the key file (decrypted with the passphrase from
 * ssh_key_passphrase_env when set), then the agent. Anything unusable is
 * refused here, before connecting, with a message saying why.
 */
export function authPlan(vars: HostVars, host: string, env: NodeJS.ProcessEnv = process.env): AuthPlan {
  const methods: AuthMethodPlan[] = [];
  const skipped: string[] = [];
  const warnings: string[] = [];
  const agent = env.SSH_AUTH_SOCK || undefined;
  const keyFile = vars.ssh_key;
  if (!existsSync(keyFile)) skipped.push(`key ${keyFile} (no such file)`);
  else {
    let passphrase: string | undefined;
    const passEnv = vars.ssh_key_passphrase_env;
    if (passEnv) {
      passphrase = env[passEnv] || undefined;
      if (!passphrase) {
        throw new InputError(`ssh_key_passphrase_env is ${passEnv}, but ${passEnv} is not set in the environment (or empty)`, {
          host,
          where: keyFile,
          hint: `export ${passEnv} with the passphrase of ${keyFile} before running converge (or unset ssh_key_passphrase_env)`,
        });
      }
    }
    let loaded: Loaded;
    try {
      loaded = loadKey(keyFile, passphrase);
    } catch (err) {
      throw new InputError(`cannot read the SSH key: ${(err as Error).message}`, { host, where: keyFile, hint: 'fix ssh_key or the file permissions' });
    }
    const parsed = loaded.parsed;
    const problem = parsed instanceof Error ? parsed.message : Array.isArray(parsed) ? null : parsed.isPrivateKey() ? null : 'this is a public key';
    if (problem && /no passphrase given/i.test(problem)) {
      const why = 'protected by a passphrase, and ssh_key_passphrase_env is not set';
      if (!agent) {
        throw new InputError(`the SSH key is ${why}`, {
          host,
          where: keyFile,
          hint: 'set ssh_key_passphrase_env to the name of an environment variable holding the passphrase, or load the key into ssh-agent (SSH_AUTH_SOCK); converge never prompts',
        });
      }
      skipped.push(`key ${keyFile} (${why})`);
    } else if (problem && /bad passphrase|integrity check failed|decrypt/i.test(problem)) {
      throw new InputError(`the passphrase in ${passEnv} does not decrypt the SSH key`, { host, where: keyFile, detail: problem, hint: `check the value of ${passEnv} (the passphrase of ${keyFile})` });
    } else if (problem) {
      throw new InputError('the SSH key file is not a private key converge can use', {
        host,
        where: keyFile,
        detail: problem,
        hint: 'point ssh_key at an OpenSSH or PEM private key (not the .pub file)',
      });
    } else {
      const key = Array.isArray(parsed) ? loaded.key : (parsed as ParsedKey);
      methods.push({ label: `key ${keyFile}`, make: (username) => ({ type: 'publickey', username, key, passphrase }) });
      if (loaded.loose) warnings.push(loaded.loose);
    }
  }
  if (agent) {
    methods.push({ label: 'ssh-agent (SSH_AUTH_SOCK)', make: (username) => ({ type: 'agent', username, agent }) });
  } else {
    skipped.push('ssh-agent (SSH_AUTH_SOCK is not set)');
  }
  if (methods.length === 0) {
    throw new InputError(`no way to authenticate over SSH: ${skipped.join('; ')}`, {
      host,
      where: keyFile,
      hint: 'set ssh_key (or IA_ENSO_SSH_KEY) to an existing private key, or start ssh-agent with the key loaded',
    });
  }
  return { methods, skipped, warnings };
}

/** Offers the plan's methods in order and records what was tried and what the server accepts. */
class AuthAttempt {
  readonly tried: string[] = [];
  readonly agentErrors: string[] = [];
  serverMethods: AuthenticationType[] | null = null;
  private readonly queue: AuthMethodPlan[];

  constructor(private readonly plan: AuthPlan, private readonly username: string) {
    this.queue = [...plan.methods];
  }

  readonly handler = (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: (m: AnyAuthMethod | false) => void): void => {
    if (methodsLeft) this.serverMethods = methodsLeft;
    const m = this.queue.shift();
    if (!m) return next(false);
    this.tried.push(m.label);
    next(m.make(this.username));
  };

  describe(): string {
    const agentNote = this.agentErrors.length > 0 ? ` (agent error: ${this.agentErrors.join('; ')})` : '';
    const parts = [`tried: ${this.tried.join(', ') || 'nothing'}${agentNote}`];
    if (this.plan.skipped.length > 0) parts.push(`not tried: ${this.plan.skipped.join('; ')}`);
    if (this.serverMethods) parts.push(`the server accepts: ${this.serverMethods.join(', ')}`);
    return parts.join('; ');
  }
}

// ---- host keys -------------------------------------------------------------------

/**
 * The file's text; empty when it does not exist (no host known yet). One that
 * exists but cannot be read is an error: read as empty, every host would be
 * "not in" it, and the advice to add its key would be wrong.
 */
function readKnownHosts(file: string, host: string): string {
  if (!existsSync(file)) return '';
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ssh_known_hosts: ${(err as Error).message}`, {
      host,
      where: file,
      hint: 'make the file readable by the user running converge, or point ssh_known_hosts at another one',
    });
  }
}

function knownKeys(file: string, ep: Endpoint): KnownKey[] {
  return keysFor(readKnownHosts(file, ep.name), ep.host, ep.port);
}

/**
 * accept-new: append the key, as ssh(1) does. The file is read again first
 * (another connection of this run, e.g. to a shared bastion, may have added
 * it) and the read-check-append runs synchronously, so one process never adds
 * a key twice. Returns the note to show, or a refusal.
 */
function acceptNew(file: string, ep: Endpoint, blob: Buffer): { note: string } | { refused: string } {
  const again = verifyHostKey(knownKeys(file, ep), blob);
  if (again.ok) return { note: '' };
  if (again.reason !== 'unknown') return { refused: again.reason };
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const text = readKnownHosts(file, ep.name);
    const sep = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
    appendFileSync(file, sep + knownHostsLine(ep.host, ep.port, blob), { mode: 0o600 });
  } catch (err) {
    return { refused: `unknown, and it could not be added: ${(err as Error).message}` };
  }
  return { note: `added the ${blobType(blob)} host key of ${lookupName(ep.host, ep.port)}${ep.role ? ` (${ep.role})` : ''} (${fingerprint(blob)}) to ${file} (ssh_host_key_checking: accept-new)` };
}

/**
 * Host key checking as OpenSSH's StrictHostKeyChecking=yes (or accept-new):
 * prefer the key types recorded for the host; refuse unknown (unless
 * accept-new), changed and revoked keys.
 */
function hostKeyOptions(vars: HostVars, ep: Endpoint, state: { rejected: string | null }, onNote: (n: string) => void): Partial<ConnectConfig> {
  const file = vars.ssh_known_hosts;
  const known = knownKeys(file, ep);
  const types = [...new Set(known.filter((k) => !k.revoked).map((k) => k.type))];
  return {
    algorithms: types.length > 0 ? { serverHostKey: hostKeyAlgorithms(types) as never } : undefined,
    hostVerifier: (blob: Buffer) => {
      let verdict = verifyHostKey(known, blob);
      let extra = '';
      if (!verdict.ok && verdict.reason === 'unknown' && vars.ssh_host_key_checking === 'accept-new') {
        const res = acceptNew(file, ep, blob);
        if ('note' in res) {
          if (res.note) onNote(res.note);
          return true;
        }
        if (res.refused === 'changed' || res.refused === 'revoked') verdict = { ok: false, reason: res.refused };
        else extra = ` (${res.refused})`;
      }
      if (verdict.ok) return true;
      const fp = fingerprint(blob);
      const name = lookupName(ep.host, ep.port);
      const what = {
        unknown: `is not in ${file}${extra}`,
        changed: `does not match the key recorded in ${file} (it changed: possible man-in-the-middle, or the host was reinstalled)`,
        revoked: `is marked @revoked in ${file}`,
      }[verdict.reason];
      const next =
        verdict.reason === 'unknown'
          ? `add it: ssh-keyscan -p ${ep.port} ${ep.host} >> ${file} (or set ssh_host_key_checking: accept-new to add unknown hosts on first contact)`
          : verdict.reason === 'changed'
            ? `replace the old entry: ssh-keygen -R '${name}' -f ${file} (accept-new never replaces a changed key)`
            : `remove the @revoked line only if the key is trustworthy again`;
      state.rejected =
        `the ${blobType(blob)} host key of ${name} (${fp}) ${what}; ` +
        `check the fingerprint out of band (ssh-keygen -lf /etc/ssh/ssh_host_${blobType(blob).replace(/^ssh-|-.*$/g, '')}_key.pub on the host), then ${next}`;
      return false;
    },
  };
}

// ---- connecting --------------------------------------------------------------------

function explain(err: Error & { level?: string }, ep: Endpoint, rejected: string | null, auth: AuthAttempt, timeoutS: number): ConnectionError {
  const ctx = { host: ep.name, where: at(ep) };
  const whose = ep.role ? `the ${ep.role}` : ep.name;
  if (rejected) return new ConnectionError(`host key verification failed for ${whose}`, { ...ctx, detail: rejected });
  const msg = err.message;
  if (/authentication methods failed/i.test(msg) || err.level === 'client-authentication') {
    return new ConnectionError(`SSH authentication failed for ${whose} as ${ep.user}`, {
      ...ctx,
      detail: auth.describe(),
      hint: `authorize the key on ${ep.host} (its .pub in ~${ep.user}/.ssh/authorized_keys), or load an authorized key into ssh-agent; check ssh_user`,
    });
  }
  if (/timed out|ETIMEDOUT/i.test(msg) || err.level === 'client-timeout') {
    return new ConnectionError(`no SSH answer from ${whose} within ${timeoutS}s (ssh_timeout)`, { ...ctx, detail: msg, hint: 'check the address, the port, firewalls on the way and ssh_jump' });
  }
  if (/ECONNREFUSED/.test(msg)) {
    return new ConnectionError(`connection refused by ${whose}: nothing listens on ${ep.host}:${ep.port}`, { ...ctx, detail: msg, hint: 'check ssh_host and ssh_port, and that sshd runs there' });
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(msg)) {
    return new ConnectionError(`cannot resolve ${ep.host}`, { ...ctx, detail: msg, hint: 'fix ssh_host (or ssh_jump), or the DNS record' });
  }
  return new ConnectionError(`cannot connect over SSH to ${whose}`, { ...ctx, detail: msg, hint: 'check ssh_host, ssh_port, ssh_jump and that sshd runs on the host' });
}

/** Opens and authenticates one SSH connection (over `sock` when given: a forwarded stream). */
function open(ep: Endpoint, vars: HostVars, plan: AuthPlan, onNote: (n: string) => void, sock?: ClientChannel): Promise<Client> {
  const timeoutS = vars.ssh_timeout;
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    const auth = new AuthAttempt(plan, ep.user);
    const keys = { rejected: null as string | null };
    let settled = false;
    client.on('error', (err: Error & { level?: string }) => {
      if (err.level === 'agent') {
        auth.agentErrors.push(err.message); // ssh2 goes on with the next method
        return;
      }
      if (settled) return;
      settled = true;
      client.end();
      reject(explain(err, ep, keys.rejected, auth, timeoutS));
    });
    client.once('close', () => {
      if (settled) return;
      settled = true;
      reject(explain(new Error('the connection was closed during the SSH handshake'), ep, keys.rejected, auth, timeoutS));
    });
    client.once('ready', () => {
      settled = true;
      resolve(client);
    });
    client.connect({
      host: ep.host,
      port: ep.port,
      username: ep.user,
      sock,
      readyTimeout: timeoutS * 1000,
      keepaliveInterval: Math.max(1, Math.floor(timeoutS / KEEPALIVE_COUNT)) * 1000,
      keepaliveCountMax: KEEPALIVE_COUNT,
      authHandler: auth.handler as never,
      ...hostKeyOptions(vars, ep, keys, onNote),
    });
    // ssh2 leaves Nagle's algorithm on. The handshake sends small messages
    // back to back (e.g. NEWKEYS, then the auth service request): the second
    // waited for the server's delayed ACK, ~40 ms on Linux, once or twice per
    // login (on the lab, a login and one command took 115-150 ms with Nagle,
    // 71-80 ms without). A forwarded stream has no socket of its own: the
    // bastion's connection, opened here too, has it set.
    client.setNoDelay(true);
  });
}

/** The bastion connections of this process: a CLI process is one run. */
const runJumps = new JumpPool<Client>();

/** RFC 4254 channel open failure reasons, as the bastion reports them. */
const OPEN_FAILURE: Record<number, string> = {
  1: 'administratively prohibited: the bastion does not allow this tunnel (AllowTcpForwarding, PermitOpen)',
  2: 'connect failed: the bastion cannot reach the target',
  3: 'unknown channel type',
  4: 'resource shortage on the bastion',
};

/**
 * A tunnel from the bastion to the target. The bastion answers once its own
 * TCP connect ends, which for a target that drops SYNs is minutes away: the
 * wait is bounded by ssh_timeout, like the SSH handshake that follows.
 */
function forward(jump: Client, jep: Endpoint, target: Endpoint, timeoutS: number): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const fail = (message: string, detail: string) =>
      reject(
        new ConnectionError(message, {
          host: target.name,
          where: at(jep),
          detail,
          hint: 'check that the bastion allows TCP forwarding to the target (AllowTcpForwarding, PermitOpen) and reaches it (ssh_host and ssh_port are as seen from the bastion)',
        }),
      );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      fail(`the jump host ${jep.host}:${jep.port} could not open a tunnel to ${target.host}:${target.port} within ${timeoutS}s (ssh_timeout)`, 'the bastion was still connecting to the target: nothing answers there, or a firewall drops the packets');
    }, timeoutS * 1000);
    jump.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => {
      clearTimeout(timer);
      if (timedOut) {
        stream?.close(); // too late: the host has failed already
        return;
      }
      if (!err) return resolve(stream);
      const reason = OPEN_FAILURE[(err as Error & { reason?: number }).reason ?? 0];
      fail(`the jump host ${jep.host}:${jep.port} could not open a tunnel to ${target.host}:${target.port}`, reason ? `${err.message} (${reason})` : err.message);
    });
  });
}

/** The command as shown in messages: the program and its path arguments, not the (long) script. */
function commandSummary(command: string): string {
  const short = command.replace(/ sh -c '(?:[^']|'\\'')*'/, ' sh -c SCRIPT');
  return short.length > 160 ? `${short.slice(0, 157)}...` : short;
}

export class SshTransport implements Transport {
  private closed = false;
  private lost: string | null = null;
  /** Rejecters of the commands in flight: a lost connection fails them at once. */
  private readonly inFlight = new Set<(reason: string) => void>();
  /** Stops listening to the bastion's connection, which other hosts may still use (set by the constructor). */
  private unlistenJump = () => {};

  private constructor(
    readonly description: string,
    readonly asRoot: boolean,
    private readonly name: string,
    private readonly client: Client,
    private readonly jump: JumpLease<Client> | null,
  ) {
    const drop = (reason: string) => {
      if (this.closed) return;
      this.lost ??= reason;
      for (const fail of [...this.inFlight]) fail(this.lost);
    };
    client.on('error', (err: Error) => drop(/keepalive/i.test(err.message) ? `no answer to ${KEEPALIVE_COUNT} keepalives (the host or the network stopped responding)` : err.message));
    client.on('end', () => drop('the host closed the connection'));
    client.on('close', () => drop('the connection was closed'));
    if (jump) {
      // The bastion's connection is shared with other hosts: stop listening to it when done.
      const onError = (err: Error) => drop(`the jump host connection failed: ${err.message}`);
      const onClose = () => drop('the connection to the jump host was closed');
      jump.client.on('error', onError);
      jump.client.on('close', onClose);
      this.unlistenJump = () => {
        jump.client.off('error', onError);
        jump.client.off('close', onClose);
      };
    }
  }

  static async connect(name: string, vars: HostVars, opts: ConnectOptions = {}): Promise<SshTransport> {
    const onNote = opts.onNote ?? (() => {});
    const env = opts.env ?? process.env;
    const target: Endpoint = { name, role: '', host: vars.ssh_host, port: vars.ssh_port, user: vars.ssh_user };
    const plan = authPlan(vars, name, env);
    for (const w of plan.warnings) onNote(w);
    let jump: JumpLease<Client> | null = null;
    let sock: ClientChannel | undefined;
    if (vars.ssh_jump) {
      const j = parseJump(vars.ssh_jump)!;
      const jep: Endpoint = { name, role: 'jump host', host: j.host, port: j.port, user: j.user ?? vars.ssh_user };
      // Hosts share the bastion's connection only when they would open the same one.
      const key = JSON.stringify([at(jep), vars.ssh_key, vars.ssh_key_passphrase_env, vars.ssh_known_hosts, vars.ssh_host_key_checking, vars.ssh_timeout, env.SSH_AUTH_SOCK]);
      try {
        jump = await (opts.jumps ?? runJumps).acquire(key, () => open(jep, vars, plan, onNote));
      } catch (err) {
        // A shared bastion connection that failed fails every host waiting for it.
        throw forHost(err, name);
      }
      try {
        sock = await forward(jump.client, jep, target, vars.ssh_timeout);
      } catch (err) {
        jump.release();
        throw err;
      }
    }
    let client: Client;
    try {
      client = await open(target, vars, plan, onNote, sock);
    } catch (err) {
      jump?.release();
      throw err;
    }
    const via = vars.ssh_jump ? ` via ${vars.ssh_jump}` : '';
    return new SshTransport(`${at(target)}${via}`, runsAsRoot(vars), name, client, jump);
  }

  private lostError(reason: string, command?: string): ConnectionError {
    return new ConnectionError(`the SSH connection was lost${command ? ' while a command was running' : ''}: ${reason}`, {
      host: this.name,
      where: this.description,
      detail: command ? `command: ${commandSummary(command)}` : undefined,
      hint: command
        ? 'the command may or may not have finished on the host; check the host and the network, then run converge again: it starts from what is on the host'
        : 'check the host and the network, then run converge again: it starts from what is on the host',
    });
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`${this.description}: the connection was closed by converge`));
    if (this.lost) return Promise.reject(this.lostError(this.lost));
    return new Promise((resolve, reject) => {
      let done = false;
      const fail = (reason: string) => {
        if (done) return;
        done = true;
        this.inFlight.delete(fail);
        reject(this.lostError(reason, command));
      };
      this.inFlight.add(fail);
      this.client.exec(command, (err, stream) => {
        if (err) {
          if (this.lost) return fail(this.lost);
          done = true;
          this.inFlight.delete(fail);
          return reject(new ConnectionError('the host refused to run a command over SSH', { host: this.name, where: this.description, detail: err.message, hint: 'check MaxSessions in the host\'s sshd_config' }));
        }
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        let exit: { code: number | null; signal?: string } | null = null;
        stream.on('data', (d: Buffer) => {
          out.push(d);
          opts.onStdout?.(d);
        });
        stream.stderr.on('data', (d: Buffer) => {
          errs.push(d);
          opts.onStderr?.(d);
        });
        stream.on('exit', (code: number | null, signal?: string) => (exit = { code, signal }));
        stream.on('error', (e: Error) => fail(e.message));
        stream.on('close', () => {
          // No exit status: the channel died with the connection.
          if (!exit) return fail(this.lost ?? 'the channel closed without an exit status');
          if (done) return;
          done = true;
          this.inFlight.delete(fail);
          const stderr = Buffer.concat(errs).toString('utf8');
          const { code, signal } = exit as { code: number | null; signal?: string };
          resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr: signal ? `${stderr}killed by signal ${signal}` : stderr });
        });
        feedStdin(stream, opts);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
    this.unlistenJump();
    this.jump?.release();
  }
}

