// The tls stage: a proxy without a certificate gets one in the same run that
// installs the gateway (HTTP-only site -> reload -> certbot --webroot), instead
// of the original manual two-pass procedure.
import { applyChange, ensureDirectory, type Journal } from './apply.js';
import { obtainCertificate } from './certbot.js';
import { liveDir, renderHttpOnlySite, siteLinkPath, sitePath, type FileSpec } from './desired.js';
import { ValidationError } from './errors.js';
import type { FileFacts } from './facts.js';
import { nginxErrorLines, nginxTest, reload } from './nginx.js';
import type { Change } from './plan.js';
import type { Remote } from './remote.js';
import type { HostVars } from './variables.js';

export function certificatePaths(v: HostVars): { chain: string; key: string } {
  return { chain: `${liveDir(v)}/fullchain.pem`, key: `${liveDir(v)}/privkey.pem` };
}

/** The plan entry that stands for "certbot will obtain a certificate". */
export function certificateChange(v: HostVars): Change {
  const spec: FileSpec = { stage: 'tls', path: liveDir(v), mode: 0o700, owner: 'root', group: 'root', outsideNginx: true, certificate: true };
  return {
    stage: 'tls',
    path: liveDir(v),
    action: 'create',
    reasons: [`no certificate for ${v.domain}: obtain one with certbot (webroot ${v.certbot_webroot})`],
    diff: '',
    spec,
    before: { path: liveDir(v), kind: 'absent' },
  };
}

function swap(spec: FileSpec, before: FileFacts | undefined): Change {
  return { stage: spec.stage, path: spec.path, action: 'update', reasons: [], diff: '', spec, before: before ?? { path: spec.path, kind: 'absent' } };
}

/**
 * Serves the ACME webroot over HTTP, reloads, and runs certbot. Every write is
 * journaled: on failure the caller's rollback (and reload) restores the host.
 */
export async function bootstrapCertificate(r: Remote, v: HostVars, journal: Journal, facts: Map<string, FileFacts>, onReload: () => void): Promise<void> {
  await ensureDirectory(r, journal, v.certbot_webroot);
  const site: FileSpec = { stage: 'vhost', path: sitePath(v), content: renderHttpOnlySite(v), mode: 0o644, owner: 'root', group: 'root' };
  await applyChange(r, journal, swap(site, facts.get(site.path)));
  const link = facts.get(siteLinkPath(v));
  if (link?.kind !== 'link' || link.linkTo !== site.path) {
    await applyChange(r, journal, swap({ stage: 'enable', path: siteLinkPath(v), linkTo: site.path, mode: 0o777, owner: 'root', group: 'root' }, link));
  }
  const test = await nginxTest(r, v.nginx_command);
  if (!test.ok) {
    throw new ValidationError('the temporary HTTP-only site fails nginx -t, so no certificate could be requested', {
      host: r.host,
      where: `${v.nginx_command} -t`,
      detail: nginxErrorLines(test.output),
      hint: 'fix the error above (often another site on the same port and name); the host was put back as it was',
    });
  }
  await reload(r, v.nginx_reload_command);
  onReload();
  await obtainCertificate(r, v);
}
