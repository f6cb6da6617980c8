// What a failed probe most likely means and what to do next: the original
// README's troubleshooting table, extended. Pure.
import type { HostVars } from '../variables.js';
import type { ProbeResult } from './probes.js';

export interface Diagnosis {
  cause: string;
  next: string;
}

/** Whether the backend answers from the proxy, per service (undefined: not checked). */
export interface BackendReach {
  ollama?: boolean;
  anythingllm?: boolean;
}

const OLLAMA: ProbeResult['id'][] = ['models', 'tags', 'stream'];

export function serviceOf(p: ProbeResult): 'ollama' | 'anythingllm' | null {
  if (OLLAMA.includes(p.id)) return 'ollama';
  if (p.id === 'anythingllm' || p.id === 'websocket' || p.id === 'anythingllm-redirect') return 'anythingllm';
  return null;
}

function transport(p: ProbeResult, v: HostVars): Diagnosis | null {
  const e = p.error ?? '';
  const where = `${v.verify_address ?? v.domain}:${p.name.startsWith('GET http://') || p.id === 'acme-webroot' ? v.http_port : v.https_port}`;
  if (/ECONNREFUSED/.test(e)) return { cause: `connection refused at ${where}: nginx is not listening there`, next: 'check that nginx runs (systemctl status nginx) and listens on that port (listen_address, http_port, https_port, firewall)' };
  if (/ENOTFOUND|EAI_AGAIN/.test(e)) return { cause: `${v.domain} does not resolve from here`, next: 'fix the DNS record, or set verify_address to probe the proxy directly' };
  if (/CERT|certificate|self[- ]signed|altnames|SSL|TLS|EPROTO/i.test(e)) {
    const trust = v.verify_ca ? `check that verify_ca (${v.verify_ca}) is the CA that issued it` : 'for a private CA set verify_ca';
    return { cause: `TLS failed: the certificate is missing, expired, untrusted or not issued for ${v.domain}`, next: `check ${v.letsencrypt_dir}/live/${v.domain}/ on the proxy (the tls stage obtains one); ${trust}` };
  }
  if (/ETIMEDOUT|timeout|no answer|stalled/i.test(e)) return { cause: `no answer from ${where}`, next: 'check firewalls between here and the proxy, and verify_address' };
  if (e) return { cause: e, next: 'see the error above' };
  return null;
}

export function diagnose(p: ProbeResult, v: HostVars, reach: BackendReach = {}): Diagnosis {
  const t = transport(p, v);
  if (t) return t;
  const s = p.status ?? 0;
  const backendPort = serviceOf(p) === 'anythingllm' ? v.anythingllm_port : v.ollama_port;
  if (s === 502 || s === 504) {
    const up = reach[serviceOf(p) ?? 'ollama'];
    if (up === false) return { cause: `${serviceOf(p) === 'anythingllm' ? 'AnythingLLM' : 'Ollama'} at ${v.backend_ip}:${backendPort} does not answer from the proxy (stopped, firewall, or wrong backend_ip)`, next: `start it on the backend, allow ${backendPort}/tcp from the proxy, or fix backend_ip` };
    if (up === true) return { cause: `the backend answers from the proxy, but nginx gets ${s}: the vhost's proxy_pass address or path is wrong`, next: 'compare the vhost with templates/nginx/site.conf' };
    return { cause: `${s} from nginx: the backend at ${v.backend_ip}:${backendPort} did not answer`, next: 'check the backend service, the firewall and backend_ip' };
  }
  switch (p.id) {
    case 'gate-retired-token':
      return s >= 200 && s < 300
        ? { cause: 'the replaced token still works: the new maps file is not what nginx serves', next: 'check that the maps file was reloaded (nginx -T | grep ia_enso) and that no other map defines $ia_enso_ollama_authorized' }
        : { cause: `expected 401, got ${s}`, next: 'check location /ollama/ in the vhost' };
    case 'gate-anonymous':
    case 'gate-wrong-token':
      return s >= 200 && s < 300
        ? { cause: 'the gate is open: /ollama/ answers without the right token', next: 'the vhost must `return 401` unless $ia_enso_ollama_authorized; check location /ollama/ and that the maps file is loaded' }
        : { cause: `expected 401, got ${s}`, next: 'check location /ollama/ in the vhost' };
    case 'models':
    case 'tags':
      if (s === 401) return { cause: '401 with the right token: the token in the maps file differs from the one clients use, or the Authorization header is malformed', next: 'rotate or re-deploy the token (IA_ENSO_OLLAMA_BEARER_TOKEN) and update the clients; the header must be exactly "Authorization: Bearer <token>"' };
      if (s === 403 && /authorization/i.test(p.detail ?? '')) return { cause: 'the backend refused a forwarded Authorization header: the vhost passes the Bearer token to Ollama', next: 'location /ollama/ must have proxy_set_header Authorization "";' };
      if (s === 404) return { cause: 'route not found: location /ollama/ or its proxy_pass path is wrong', next: 'proxy_pass must end with / so that /ollama/ is stripped' };
      if (s === 200) return { cause: 'answered 200 but not with the JSON Ollama gives', next: 'check that backend_ip and ollama_port point at Ollama' };
      return { cause: `unexpected ${s}`, next: 'check the backend and the vhost' };
    case 'stream':
      if (p.warning) return { cause: p.detail ?? 'streaming not checked', next: 'run tasks/verify.mjs again while a model is loaded (ollama ps lists them)' };
      if (s === 200 && p.events === 0) return { cause: 'the answer carried no server-sent events: the backend did not stream', next: 'check that backend_ip and ollama_port point at Ollama, whose OpenAI-compatible API streams with "stream": true' };
      if (s === 200) return { cause: 'the streamed completion never paused with the stream open, it arrived all at once: the proxy buffers', next: 'location /ollama/ needs proxy_buffering off (and no cache); check for X-Accel-Buffering or a buffering CDN in front' };
      return { cause: `streaming request failed with ${s}`, next: 'see the models probe' };
    case 'anythingllm':
    case 'anythingllm-redirect':
      return { cause: `AnythingLLM route answered ${s}`, next: 'check location /anythingllm/ (proxy_pass with trailing /) and location = /anythingllm (301)' };
    case 'websocket':
      return { cause: `the websocket upgrade got ${s} instead of 101`, next: 'location /anythingllm/ needs proxy_http_version 1.1, proxy_set_header Upgrade $http_upgrade and Connection $connection_upgrade (map in conf.d)' };
    case 'http-redirect':
      return { cause: `plain HTTP answered ${s} instead of a 301 to https`, next: 'the port-80 server must `return 301 https://...`' };
    case 'acme-webroot':
      return { cause: `the ACME webroot is not served over HTTP (got ${s}): certificate renewals will fail`, next: `the port-80 server needs location ^~ /.well-known/acme-challenge/ { root ${v.certbot_webroot}; }` };
    case 'public-dns':
      return { cause: p.detail ?? 'the domain does not resolve to a public address', next: 'clients such as Cursor need a public DNS name pointing at the proxy (or its NAT)' };
  }
}
