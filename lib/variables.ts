// The host variables: names, defaults and checks, in one table so the README,
// `--list-hosts` and validation cannot drift apart.
import { homedir, userInfo } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';

export interface HostVars {
  ssh_host: string;
  ssh_port: number;
  ssh_user: string;
  ssh_key: string;
  ssh_jump: string | null;
  ssh_known_hosts: string;
  ssh_host_key_checking: 'yes' | 'accept-new';
  ssh_key_passphrase_env: string | null;
  connection: 'ssh' | 'local';
  ssh_timeout: number;
  command_timeout: number;
  domain: string;
  backend_ip: string;
  ollama_port: number;
  anythingllm_port: number;
  listen_address: string | null;
  http_port: number;
  https_port: number;
  nginx_conf: string;
  nginx_conf_d: string;
  nginx_sites_available: string;
  nginx_sites_enabled: string;
  nginx_command: string;
  nginx_reload_command: string;
  letsencrypt_dir: string;
  certbot_webroot: string;
  acme_email: string | null;
  acme_server: string | null;
  acme_ca_bundle: string | null;
  backup_dir: string;
  backup_keep: number;
  bearer_token_file: string | null;
  templates_dir: string | null;
  verify_address: string | null;
  verify_ca: string | null;
  cert_warn_days: number;
}

export type VarName = keyof HostVars;
type Kind = 'string' | 'port' | 'count' | 'ip' | 'hostname' | 'path' | 'jump' | 'command' | 'email' | 'url' | 'choice' | 'envname' | 'seconds';

interface VarSpec {
  kind: Kind;
  /** null: optional, no default. A function: computed per host. */
  default: string | number | null | ((name: string) => string | number);
  required?: boolean;
  /** The accepted values of a 'choice' variable. */
  choices?: string[];
  doc: string;
}

export const VARIABLES: Record<VarName, VarSpec> = {
  ssh_host: { kind: 'hostname', default: (name) => name, doc: 'address or name to SSH to' },
  ssh_port: { kind: 'port', default: 22, doc: 'SSH port' },
  ssh_user: { kind: 'string', default: () => userInfo().username, doc: 'SSH user (needs passwordless sudo, unless root: then no sudo is used)' },
  ssh_key: { kind: 'path', default: () => join(homedir(), '.ssh', 'id_ed25519'), doc: 'private key file' },
  ssh_jump: { kind: 'jump', default: null, doc: 'bastion, user@host[:port]' },
  ssh_known_hosts: { kind: 'path', default: () => join(homedir(), '.ssh', 'known_hosts'), doc: 'OpenSSH known_hosts file' },
  ssh_host_key_checking: { kind: 'choice', choices: ['yes', 'accept-new'], default: 'yes', doc: "unknown host keys: refused (yes) or added to ssh_known_hosts (accept-new); a changed key is always refused" },
  ssh_key_passphrase_env: { kind: 'envname', default: null, doc: 'environment variable holding the passphrase of ssh_key' },
  connection: { kind: 'choice', choices: ['ssh', 'local'], default: 'ssh', doc: 'ssh, or local: run on this machine (no SSH)' },
  ssh_timeout: { kind: 'seconds', default: 15, doc: 'SSH connect timeout; also how long an established connection may stay silent (keepalives) before it counts as lost' },
  command_timeout: { kind: 'seconds', default: 300, doc: 'how long one command may run on the host before the host stops it (timeout: TERM, then KILL 5 s later); the run then fails and rolls back' },
  domain: { kind: 'hostname', default: null, required: true, doc: 'public name of the gateway' },
  backend_ip: { kind: 'ip', default: null, required: true, doc: 'address of the Ollama/AnythingLLM host' },
  ollama_port: { kind: 'port', default: 11434, doc: 'Ollama port on the backend' },
  anythingllm_port: { kind: 'port', default: 3001, doc: 'AnythingLLM port on the backend' },
  listen_address: { kind: 'ip', default: null, doc: 'address nginx listens on (all when unset)' },
  http_port: { kind: 'port', default: 80, doc: 'HTTP port (ACME challenges, redirect)' },
  https_port: { kind: 'port', default: 443, doc: 'HTTPS port' },
  nginx_conf: { kind: 'path', default: '/etc/nginx/nginx.conf', doc: 'main nginx configuration file' },
  nginx_conf_d: { kind: 'path', default: '/etc/nginx/conf.d', doc: 'directory included in http { }' },
  nginx_sites_available: { kind: 'path', default: '/etc/nginx/sites-available', doc: 'where the vhost file goes' },
  nginx_sites_enabled: { kind: 'path', default: '/etc/nginx/sites-enabled', doc: 'where the vhost link goes' },
  nginx_command: { kind: 'command', default: 'nginx', doc: 'nginx binary and options; -t / -T are appended' },
  nginx_reload_command: { kind: 'command', default: 'systemctl reload nginx', doc: 'how to reload nginx' },
  letsencrypt_dir: { kind: 'path', default: '/etc/letsencrypt', doc: "certbot's directory (live/<domain>/ holds the certificate)" },
  certbot_webroot: { kind: 'path', default: '/var/www/certbot', doc: 'webroot for ACME HTTP-01 challenges' },
  acme_email: { kind: 'email', default: null, doc: 'ACME account e-mail (expiry notices); none registers without e-mail' },
  acme_server: { kind: 'url', default: null, doc: "ACME directory URL (certbot's default: Let's Encrypt production)" },
  acme_ca_bundle: { kind: 'path', default: null, doc: 'CA bundle on the proxy trusted for a private or test ACME server' },
  backup_dir: { kind: 'path', default: '/var/backups/converge', doc: 'where replaced files are kept (outside nginx)' },
  backup_keep: { kind: 'count', default: 10, doc: 'how many runs of backups to keep on the host (older ones are pruned)' },
  bearer_token_file: { kind: 'path', default: null, doc: 'file on this machine holding the Bearer token (after IA_ENSO_OLLAMA_BEARER_TOKEN)' },
  templates_dir: { kind: 'path', default: null, doc: "templates to render, on this machine (default: the repository's templates/)" },
  verify_address: { kind: 'ip', default: null, doc: 'address to probe instead of resolving the domain' },
  verify_ca: { kind: 'path', default: null, doc: 'PEM CA file (local) to trust when probing' },
  cert_warn_days: { kind: 'count', default: 21, doc: 'a drift check reports a certificate expiring within this many days' },
};

export const VAR_NAMES = Object.keys(VARIABLES) as VarName[];

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Why a value is not acceptable for its variable; null when it is. */
export function valueProblem(name: VarName, value: unknown): string | null {
  const spec = VARIABLES[name];
  if (value === null || value === undefined || value === '') {
    return spec.required ? 'is required' : null;
  }
  switch (spec.kind) {
    case 'port': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535 ? null : `must be a port number (1-65535), got ${JSON.stringify(value)}`;
    }
    case 'count': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      return Number.isInteger(n) && (n as number) >= 0 ? null : `must be a whole number (0 or more), got ${JSON.stringify(value)}`;
    }
    case 'ip':
      return typeof value === 'string' && isIP(value) !== 0 ? null : `must be an IPv4 or IPv6 address, got ${JSON.stringify(value)}`;
    case 'hostname':
      return typeof value === 'string' && (HOSTNAME.test(value) || isIP(value) !== 0) ? null : `must be a valid host name, got ${JSON.stringify(value)}`;
    case 'jump':
      return typeof value === 'string' && parseJump(value) ? null : `must be user@host[:port], got ${JSON.stringify(value)}`;
    case 'email':
      return typeof value === 'string' && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value) ? null : `must be an e-mail address, got ${JSON.stringify(value)}`;
    case 'url':
      return typeof value === 'string' && /^https:\/\/[^\s]+$/.test(value) ? null : `must be an https:// URL, got ${JSON.stringify(value)}`;
    case 'seconds': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      return Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 3600 ? null : `must be a whole number of seconds (1-3600), got ${JSON.stringify(value)}`;
    }
    case 'choice':
      return typeof value === 'string' && spec.choices!.includes(value) ? null : `must be one of ${spec.choices!.join(', ')}, got ${JSON.stringify(value)}`;
    case 'envname':
      return typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? null : `must be the name of an environment variable, got ${JSON.stringify(value)}`;
    case 'path':
      return typeof value === 'string' && value.length > 0 && !value.includes('\n') ? null : `must be a file path, got ${JSON.stringify(value)}`;
    default:
      return typeof value === 'string' && !value.includes('\n') ? null : `must be a single-line string, got ${JSON.stringify(value)}`;
  }
}

export interface Jump {
  user: string | null;
  host: string;
  port: number;
}

export function parseJump(value: string): Jump | null {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(value);
  if (!m) return null;
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) return null;
  return { user: m[1] ?? null, host: m[2].replace(/^\[|\]$/g, ''), port };
}

/** Turns a checked raw value into its typed form. */
export function coerce(name: VarName, value: unknown): string | number | null {
  if (value === null || value === undefined || value === '') return null;
  const kind = VARIABLES[name].kind;
  return kind === 'port' || kind === 'count' || kind === 'seconds' ? Number(value) : String(value);
}

export function defaultFor(name: VarName, host: string): string | number | null {
  const d = VARIABLES[name].default;
  return typeof d === 'function' ? d(host) : d;
}
