import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredFiles, mapBucketSize, MAPS_FILE, mapsPath, renderMaps, renderSite, siteLinkPath, sitePath, type MapsFlags } from '../../lib/desired.js';
import { tokenRegex } from '../../lib/secrets.js';
import { parseInventory } from '../../lib/inventory.js';
import type { HostVars } from '../../lib/variables.js';

function vars(extra = ''): HostVars {
  const text = `
all:
  vars:
    domain: gw.example.com
    backend_ip: 10.1.2.3
  hosts:
    p:
${extra.replace(/^/gm, '      ')}
`;
  return parseInventory(text, 'inv.yml')[0].vars;
}

const TOKEN64 = '0123456789abcdef'.repeat(4);
const TOKEN500 = 'Ab0-'.repeat(125);
const ALL_ON: MapsFlags = { websocketMap: true, bucketSize: true, hashKey: true };
const NO_WS: MapsFlags = { ...ALL_ON, websocketMap: false };

test('renderMaps holds the exact token line', () => {
  const out = renderMaps(TOKEN64, ALL_ON);
  assert.ok(out.includes(`    "Bearer ${TOKEN64}" 1;\n`), out);
  assert.match(out, /map \$http_authorization \$ia_enso_ollama_authorized \{\n\s+default 0;/);
});

test('renderMaps: bucket size 256 for a 64-char token', () => {
  assert.match(renderMaps(TOKEN64, ALL_ON), /^map_hash_bucket_size 256;$/m);
});

test('renderMaps: a bigger power of two for a 500-char token, large enough for the key', () => {
  const m = /^map_hash_bucket_size (\d+);$/m.exec(renderMaps(TOKEN500, ALL_ON));
  assert.ok(m);
  const size = Number(m![1]);
  assert.ok(size > 256, String(size));
  assert.is(size & (size - 1), 0, `${size} is not a power of two`);
  assert.ok(size >= `Bearer ${TOKEN500}`.length, String(size));
});

test('mapBucketSize grows with the token', () => {
  assert.is(mapBucketSize(TOKEN64), 256);
  assert.is(mapBucketSize('x'.repeat(512)), 1024);
  assert.ok(mapBucketSize('x'.repeat(300)) >= 512);
});

test('renderMaps: websocket map present only when asked', () => {
  const withMap = renderMaps(TOKEN64, ALL_ON);
  const without = renderMaps(TOKEN64, NO_WS);
  assert.match(withMap, /map \$http_upgrade \$connection_upgrade \{/);
  assert.not.match(without, /\$connection_upgrade/);
  // The token map is there either way.
  assert.ok(without.includes(`"Bearer ${TOKEN64}" 1;`));
  assert.not.match(withMap, /#@(if|end)/);
  assert.not.match(without, /#@(if|end)/);
});

test('renderMaps: without bucketSize the map_hash_bucket_size directive is left out', () => {
  const out = renderMaps(TOKEN64, { ...ALL_ON, bucketSize: false });
  assert.not.match(out, /^\s*map_hash_bucket_size/m);
  assert.ok(out.includes(`"Bearer ${TOKEN64}" 1;`));
});

test('renderMaps: regex key mode (hashKey false) uses an anchored, escaped regex and no bucket size', () => {
  const token = 'abc.def+ghi/jkl-mno_pqr~stu0123456789==';
  const out = renderMaps(token, { websocketMap: true, bucketSize: true, hashKey: false });
  assert.ok(out.includes('    "~^Bearer abc\\.def\\+ghi/jkl-mno_pqr~stu0123456789==$" 1;'), out);
  assert.not.ok(out.includes(`"Bearer ${token}" 1;`));
  assert.not.match(out, /^\s*map_hash_bucket_size/m);
  assert.not.match(out, /__[A-Z]/);
  assert.not.match(out, /#@(if|end)/);
});

test('tokenRegex escapes only the PCRE-special token characters . and +', () => {
  assert.is(tokenRegex('a.b+c'), 'a\\.b\\+c');
  assert.is(tokenRegex('A-Z_a~z/0=='), 'A-Z_a~z/0==');
  const token = 'x.y+z'.repeat(8);
  assert.ok(new RegExp(`^Bearer ${tokenRegex(token)}$`).test(`Bearer ${token}`));
  assert.not.ok(new RegExp(`^Bearer ${tokenRegex(token)}$`).test(`Bearer ${token.replace('.', 'Q')}`));
});

test('renderSite: no leftover markers; domain, backend and ports from the vars', () => {
  const v = vars('ollama_port: 31434\nanythingllm_port: 33001');
  const out = renderSite(v);
  assert.not.match(out, /__[A-Z]/);
  assert.match(out, /server_name gw\.example\.com;/);
  assert.ok(out.includes('proxy_pass http://10.1.2.3:31434/;'), out);
  assert.ok(out.includes('proxy_pass http://10.1.2.3:33001/;'), out);
  assert.ok(out.includes('ssl_certificate     /etc/letsencrypt/live/gw.example.com/fullchain.pem;'));
  assert.ok(out.includes('ssl_certificate_key /etc/letsencrypt/live/gw.example.com/privkey.pem;'));
  assert.ok(out.includes('root /var/www/certbot;'));
});

test('renderSite: default ports, listen on all addresses', () => {
  const out = renderSite(vars());
  assert.ok(out.includes('proxy_pass http://10.1.2.3:11434/;'));
  assert.ok(out.includes('proxy_pass http://10.1.2.3:3001/;'));
  assert.match(out, /^\s+listen 80;$/m);
  assert.match(out, /^\s+listen 443 ssl;$/m);
  assert.ok(out.includes('return 301 https://$host$request_uri;'), out);
});

test('renderSite: non-default https port appears in the redirect', () => {
  const out = renderSite(vars('https_port: 18443'));
  assert.ok(out.includes('return 301 https://$host:18443$request_uri;'), out);
  assert.match(out, /^\s+listen 18443 ssl;$/m);
});

test('renderSite: listen_address prefixes both listens', () => {
  const out = renderSite(vars('listen_address: 127.0.0.1\nhttp_port: 18080\nhttps_port: 18443'));
  assert.match(out, /^\s+listen 127\.0\.0\.1:18080;$/m);
  assert.match(out, /^\s+listen 127\.0\.0\.1:18443 ssl;$/m);
  assert.not.match(out, /^\s+listen 80;$/m);
});

test('renderSite: IPv6 listen address and backend are bracketed', () => {
  const out = renderSite(vars('listen_address: "::1"\nbackend_ip: "fd00::7"'));
  assert.match(out, /^\s+listen \[::1\]:80;$/m);
  assert.ok(out.includes('proxy_pass http://[fd00::7]:11434/;'), out);
  assert.ok(out.includes('proxy_pass http://[fd00::7]:3001/;'), out);
});

test('renderSite: a trailing slash on letsencrypt_dir does not double up', () => {
  const out = renderSite(vars('letsencrypt_dir: /srv/le/'));
  assert.ok(out.includes('/srv/le/live/gw.example.com/fullchain.pem;'), out);
  assert.not.ok(out.includes('//live'));
});

test('renderSite: Ollama never sees the token and streams unbuffered', () => {
  const out = renderSite(vars());
  const ollama = /location \/ollama\/ \{[\s\S]*?\n    \}/.exec(out)?.[0] ?? '';
  assert.ok(ollama.length > 0);
  assert.ok(ollama.includes('proxy_set_header Authorization "";'));
  assert.ok(ollama.includes('proxy_buffering off;'));
  assert.ok(ollama.includes('if ($ia_enso_ollama_authorized = 0)'));
  assert.ok(ollama.includes('return 401;'));
});

test('paths of the managed files', () => {
  const v = vars('nginx_conf_d: /x/conf.d\nnginx_sites_available: /x/sa\nnginx_sites_enabled: /x/se');
  assert.is(MAPS_FILE, 'ia-enso-http-maps.conf');
  assert.is(mapsPath(v), '/x/conf.d/ia-enso-http-maps.conf');
  assert.is(sitePath(v), '/x/sa/gw.example.com.conf');
  assert.is(siteLinkPath(v), '/x/se/gw.example.com.conf');
});

test('desiredFiles: certbot deploy hook (0755, outside nginx), maps (secret 0640), vhost (0644), link to the vhost', () => {
  const v = vars();
  const files = desiredFiles(v, { token: TOKEN64, ...NO_WS });
  assert.is(files.length, 4);
  const [hook, maps, site, link] = files;

  assert.is(hook.stage, 'tls');
  assert.is(hook.path, '/etc/letsencrypt/renewal-hooks/deploy/gw.example.com-nginx-reload');
  assert.is(hook.mode, 0o755);
  assert.is(hook.outsideNginx, true);
  assert.match(hook.content!, /^#!\/bin\/sh\n/);
  // nginx -t must gate the reload, and only this domain's renewal triggers it.
  assert.match(hook.content!, /\*" gw\.example\.com "\*\) ;;/);
  assert.ok(hook.content!.indexOf('nginx -t -q') < hook.content!.indexOf('systemctl reload nginx'));
  assert.not.ok(hook.content!.includes(TOKEN64));

  assert.is(maps.stage, 'maps');
  assert.is(maps.path, '/etc/nginx/conf.d/ia-enso-http-maps.conf');
  assert.is(maps.mode, 0o640);
  assert.is(maps.secret, true);
  assert.is(maps.owner, 'root');
  assert.is(maps.group, 'root');
  assert.is(maps.content, renderMaps(TOKEN64, NO_WS));
  assert.is(maps.linkTo, undefined);

  assert.is(site.stage, 'vhost');
  assert.is(site.path, '/etc/nginx/sites-available/gw.example.com.conf');
  assert.is(site.mode, 0o644);
  assert.not.ok(site.secret);
  assert.is(site.content, renderSite(v));
  assert.not.ok(site.content!.includes(TOKEN64));

  assert.is(link.stage, 'enable');
  assert.is(link.path, '/etc/nginx/sites-enabled/gw.example.com.conf');
  assert.is(link.linkTo, site.path);
  assert.is(link.content, undefined);
});

test.run();
