// What a host must offer before converge changes anything on it.
import { PreflightError } from './errors.js';
import { mapsPath, siteLinkPath } from './desired.js';
import { httpIncludes, type HostFacts } from './gather.js';
import type { HostVars } from './variables.js';

export function checkHost(host: string, v: HostVars, facts: HostFacts): void {
  if (!facts.nginxPresent) {
    throw new PreflightError(`nginx is not installed (command not found: ${v.nginx_command.split(' ')[0]})`, {
      host,
      where: v.nginx_command,
      hint: 'install nginx on the host (apt-get install nginx) or set nginx_command',
    });
  }
  const conf = facts.files.get(v.nginx_conf);
  if (conf?.kind !== 'file' || !conf.content) {
    throw new PreflightError('the main nginx configuration file is missing', { host, where: v.nginx_conf, hint: 'check nginx_conf' });
  }
  const text = conf.content.toString('utf8');
  const needs: [string, string][] = [
    [mapsPath(v), `include ${v.nginx_conf_d}/*.conf;`],
    [siteLinkPath(v), `include ${v.nginx_sites_enabled}/*;`],
  ];
  for (const [file, line] of needs) {
    if (!httpIncludes(text, v.nginx_conf, file)) {
      throw new PreflightError(`its http { } block does not include ${file}`, {
        host,
        where: v.nginx_conf,
        hint: `add the line \`${line}\` inside http { } in ${v.nginx_conf}; nothing was changed`,
      });
    }
  }
}
