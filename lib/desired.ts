// Host variables + templates -> the files and link the host must have (pure).
import { posix } from 'node:path';
import type { HostVars } from './variables.js';
import { readTemplate, render } from './templates.js';
import { tokenRegex } from './secrets.js';

export type Stage = 'tls' | 'maps' | 'vhost' | 'enable';

export interface FileSpec {
  stage: Stage;
  path: string;
  /** Regular file content, or the target of a symbolic link. */
  content?: string;
  linkTo?: string;
  mode: number;
  owner: string;
  group: string;
  /** The content holds the Bearer token: redact it everywhere. */
  secret?: boolean;
  /** Not part of nginx's configuration: no nginx -t or reload for it. */
  outsideNginx?: boolean;
  /** Not a file converge writes: the certificate certbot obtains in the tls stage. */
  certificate?: boolean;
  /** The path must not exist (restoring a run that created it). */
  absent?: boolean;
}

/** Parts of the maps file that another loaded file may already provide. */
export interface MapsFlags {
  /** False when another loaded file already defines $connection_upgrade. */
  websocketMap: boolean;
  /** False when a map loaded before ours already fixed map_hash_bucket_size. */
  bucketSize: boolean;
  /** False when that fixed size is too small for the key: match it with an anchored regex instead. */
  hashKey: boolean;
}

export interface DesiredOptions extends MapsFlags {
  token: string;
}

export const MAPS_FILE = 'ia-enso-http-maps.conf';

export function mapsPath(v: HostVars): string {
  return posix.join(v.nginx_conf_d, MAPS_FILE);
}
export function sitePath(v: HostVars): string {
  return posix.join(v.nginx_sites_available, `${v.domain}.conf`);
}
export function siteLinkPath(v: HostVars): string {
  return posix.join(v.nginx_sites_enabled, `${v.domain}.conf`);
}

/** nginx needs a bucket that holds the whole "Bearer <token>" key. */
export function mapBucketSize(token: string): number {
  let size = 256;
  while (size < `Bearer ${token}`.length + 32) size *= 2;
  return size;
}

export function renderMaps(token: string, flags: MapsFlags, dir: string | null = null): string {
  return render(
    readTemplate('nginx/ia-enso-http-maps.conf', dir),
    { BEARER_TOKEN: token, BEARER_TOKEN_REGEX: tokenRegex(token), MAP_HASH_BUCKET_SIZE: mapBucketSize(token) },
    { websocket_map: flags.websocketMap, bucket_size: flags.bucketSize && flags.hashKey, hash_key: flags.hashKey, regex_key: !flags.hashKey },
    'templates/nginx/ia-enso-http-maps.conf',
  );
}

export function siteValues(v: HostVars): Record<string, string | number> {
  const listen = v.listen_address ? (v.listen_address.includes(':') ? `[${v.listen_address}]:` : `${v.listen_address}:`) : '';
  return {
    DOMAIN: v.domain,
    BACKEND_IP: v.backend_ip.includes(':') ? `[${v.backend_ip}]` : v.backend_ip,
    OLLAMA_PORT: v.ollama_port,
    ANYTHINGLLM_PORT: v.anythingllm_port,
    LISTEN_PREFIX: listen,
    HTTP_PORT: v.http_port,
    HTTPS_PORT: v.https_port,
    HTTPS_PORT_SUFFIX: v.https_port === 443 ? '' : `:${v.https_port}`,
    LETSENCRYPT_DIR: v.letsencrypt_dir.replace(/\/+$/, ''),
    CERTBOT_WEBROOT: v.certbot_webroot,
  };
}

export function renderSite(v: HostVars): string {
  return render(readTemplate('nginx/site.conf', v.templates_dir), siteValues(v), {}, 'templates/nginx/site.conf');
}

/** The site served while the first certificate is obtained: port 80 and the ACME webroot only. */
export function renderHttpOnlySite(v: HostVars): string {
  return render(readTemplate('nginx/site-http-only.conf', v.templates_dir), siteValues(v), {}, 'templates/nginx/site-http-only.conf');
}

export function liveDir(v: HostVars): string {
  return posix.join(v.letsencrypt_dir, 'live', v.domain);
}

/** certbot runs every executable here after a renewal (with RENEWED_DOMAINS set). */
export function deployHookPath(v: HostVars): string {
  return posix.join(v.letsencrypt_dir, 'renewal-hooks', 'deploy', `${v.domain}-nginx-reload`);
}

export function renderDeployHook(v: HostVars): string {
  return render(
    readTemplate('certbot/deploy-hook.sh', v.templates_dir),
    { DOMAIN: v.domain, NGINX_COMMAND: v.nginx_command, NGINX_RELOAD_COMMAND: v.nginx_reload_command },
    {},
    'templates/certbot/deploy-hook.sh',
  );
}

export function desiredFiles(v: HostVars, opts: DesiredOptions): FileSpec[] {
  return [
    { stage: 'tls', path: deployHookPath(v), content: renderDeployHook(v), mode: 0o755, owner: 'root', group: 'root', outsideNginx: true },
    { stage: 'maps', path: mapsPath(v), content: renderMaps(opts.token, opts, v.templates_dir), mode: 0o640, owner: 'root', group: 'root', secret: true },
    { stage: 'vhost', path: sitePath(v), content: renderSite(v), mode: 0o644, owner: 'root', group: 'root' },
    { stage: 'enable', path: siteLinkPath(v), linkTo: sitePath(v), mode: 0o777, owner: 'root', group: 'root' },
  ];
}
