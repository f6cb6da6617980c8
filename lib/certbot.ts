// The first certificate: certbot --webroot on the proxy, as root.
import { posix } from 'node:path';
import type { HostVars } from './variables.js';
import { RemoteCommandError } from './errors.js';
import { privilegedRun, type Remote } from './remote.js';

/** certbot's own arguments for a webroot certificate (no secret among them). */
export function certbotArgs(v: HostVars): string[] {
  return [
    'certonly', '--webroot', '-w', v.certbot_webroot, '-d', v.domain,
    '--non-interactive', '--agree-tos',
    ...(v.acme_email ? ['--email', v.acme_email] : ['--register-unsafely-without-email']),
    ...(v.acme_server ? ['--server', v.acme_server] : []),
    '--config-dir', v.letsencrypt_dir,
  ];
}

// $1 CA bundle ('' = system trust), then certbot's arguments. command_timeout
// bounds a stuck ACME server, as every command; certbot's messages go to stderr.
const CERTBOT = `
bundle=$1; shift
if [ -n "$bundle" ]; then export REQUESTS_CA_BUNDLE="$bundle"; fi
command -v certbot >/dev/null 2>&1 || { echo "certbot: command not found" >&2; exit 127; }
exec certbot "$@"
`;

/** certbot's lines worth showing: its error summary, without the progress chatter. */
function certbotMessage(output: string): string {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter(Boolean);
  const useful = lines.filter((l) => !/^(Saving debug log|Requesting a certificate|Account registered|Ask for help|- - - -)/.test(l));
  return (useful.length > 0 ? useful : lines).slice(-12).join('\n');
}

export async function obtainCertificate(r: Remote, v: HostVars): Promise<void> {
  const res = await privilegedRun(r, CERTBOT, [v.acme_ca_bundle ?? '', ...certbotArgs(v)], undefined, { what: `certbot (a certificate for ${v.domain})` });
  if (res.code === 0) return;
  throw new RemoteCommandError(`certbot could not obtain a certificate for ${v.domain} (exit ${res.code})`, {
    host: r.host,
    where: `certbot certonly --webroot -w ${v.certbot_webroot} -d ${v.domain}`,
    detail: certbotMessage(res.stderr + '\n' + res.stdout.toString('utf8')),
    hint: res.code === 127
      ? 'install certbot on the proxy (apt-get install certbot)'
      : `likely causes: the DNS of ${v.domain} does not point at this proxy, or port ${v.http_port} is not reachable from the ACME server (HTTP-01 fetches http://${v.domain}/.well-known/acme-challenge/ from ${posix.join(v.certbot_webroot, '.well-known/acme-challenge')}); ` +
        `for a private or test ACME server check acme_server and acme_ca_bundle. The host was put back as it was.`,
  });
}
