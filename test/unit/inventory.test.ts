import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory, parseInventory, type HostConfig } from '../../lib/inventory.js';
import { InputError } from '../../lib/errors.js';
import { tempDir } from '../tempdir.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function host(hosts: HostConfig[], name: string): HostConfig {
  const h = hosts.find((x) => x.name === name);
  if (!h) throw new Error(`no host ${name} in ${hosts.map((x) => x.name).join(', ')}`);
  return h;
}

/** Runs fn, expects an InputError and returns it. */
function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, InputError);
    return err as InputError;
  }
  assert.unreachable('expected an InputError');
  throw new Error('unreachable');
}

const BASE = `
all:
  vars:
    domain: gw.example.com
    backend_ip: 10.0.0.9
  hosts:
    solo:
`;

test('defaults fill everything the inventory leaves out', () => {
  const [h] = parseInventory(BASE, 'inv.yml');
  assert.is(h.name, 'solo');
  assert.equal(h.groups, []);
  assert.is(h.vars.ssh_host, 'solo');
  assert.is(h.vars.ssh_port, 22);
  assert.is(h.vars.ssh_jump, null);
  assert.is(h.vars.domain, 'gw.example.com');
  assert.is(h.vars.backend_ip, '10.0.0.9');
  assert.is(h.vars.ollama_port, 11434);
  assert.is(h.vars.anythingllm_port, 3001);
  assert.is(h.vars.http_port, 80);
  assert.is(h.vars.https_port, 443);
  assert.is(h.vars.listen_address, null);
  assert.is(h.vars.nginx_conf_d, '/etc/nginx/conf.d');
  assert.is(h.vars.verify_ca, null);
});

test('ports given as strings are coerced to numbers', () => {
  const [h] = parseInventory(BASE.replace('hosts:\n    solo:', 'hosts:\n    solo:\n      ssh_port: "2200"'), 'inv.yml');
  assert.is(h.vars.ssh_port, 2200);
});

const NESTED = `
all:
  vars:
    domain: all.example.com
    backend_ip: 10.0.0.1
    ssh_port: 1001
    http_port: 8001
    https_port: 9001
    ollama_port: 7001
  children:
    outer:
      vars:
        ssh_port: 1002
        http_port: 8002
        https_port: 9002
      children:
        inner:
          vars:
            ssh_port: 1003
            http_port: 8003
          hosts:
            h1:
              ssh_port: 1004
            h2:
      hosts:
        h3:
`;

test('precedence: host > nearest group > outer group > all.vars > defaults', () => {
  const hosts = parseInventory(NESTED, 'inv.yml');
  const h1 = host(hosts, 'h1');
  assert.is(h1.vars.ssh_port, 1004); // host
  assert.is(h1.vars.http_port, 8003); // nearest group
  assert.is(h1.vars.https_port, 9002); // outer group
  assert.is(h1.vars.ollama_port, 7001); // all.vars
  assert.is(h1.vars.anythingllm_port, 3001); // default
  const h2 = host(hosts, 'h2');
  assert.is(h2.vars.ssh_port, 1003);
  assert.is(h2.vars.http_port, 8003);
  const h3 = host(hosts, 'h3');
  assert.is(h3.vars.ssh_port, 1002);
  assert.is(h3.vars.http_port, 8002);
  assert.is(h3.vars.https_port, 9002);
});

test('groups are listed outermost first', () => {
  const hosts = parseInventory(NESTED, 'inv.yml');
  assert.equal(host(hosts, 'h1').groups, ['outer', 'inner']);
  assert.equal(host(hosts, 'h3').groups, ['outer']);
});

test('a host in two groups is one entry with both groups and both groups\' vars', () => {
  const text = `
all:
  vars:
    domain: d.example.com
    backend_ip: 10.0.0.1
    ssh_port: 1000
  children:
    web:
      vars:
        http_port: 8080
      hosts:
        shared:
          ollama_port: 5000
        only-web:
    eu:
      vars:
        https_port: 8443
      hosts:
        shared:
`;
  const hosts = parseInventory(text, 'inv.yml');
  assert.equal(hosts.map((h) => h.name).sort(), ['only-web', 'shared']);
  const s = host(hosts, 'shared');
  assert.equal(s.groups, ['web', 'eu']);
  assert.is(s.vars.http_port, 8080);
  assert.is(s.vars.https_port, 8443);
  assert.is(s.vars.ollama_port, 5000);
  assert.is(s.vars.ssh_port, 1000);
  // The other host of `web` is not affected by `eu`.
  assert.is(host(hosts, 'only-web').vars.https_port, 443);
});

test('a host in two groups: a group var still beats all.vars and host vars beat both', () => {
  const text = `
all:
  vars:
    domain: d.example.com
    backend_ip: 10.0.0.1
    http_port: 1
  hosts:
    shared:
      https_port: 4443
  children:
    g:
      vars:
        http_port: 8080
        https_port: 9443
      hosts:
        shared:
`;
  const s = host(parseInventory(text, 'inv.yml'), 'shared');
  assert.is(s.vars.http_port, 8080);
  assert.is(s.vars.https_port, 4443);
  assert.equal(s.groups, ['g']);
});

test('unknown variable: error names it and suggests the close one', () => {
  const err = inputError(() => parseInventory(BASE.replace('hosts:\n    solo:', 'hosts:\n    solo:\n      ssh_hots: 1.2.3.4'), 'inv.yml'));
  assert.match(err.message, /ssh_hots/);
  assert.match(err.message, /did you mean ssh_host\?/);
  assert.match(err.message, /"solo"/);
  assert.is(err.host, 'solo');
  assert.is(err.where, 'inv.yml');
});

test('unknown variable far from every name: no suggestion', () => {
  const err = inputError(() => parseInventory(BASE.replace('backend_ip: 10.0.0.9', 'backend_ip: 10.0.0.9\n    completely_unrelated: 1'), 'inv.yml'));
  assert.match(err.message, /completely_unrelated/);
  assert.not.match(err.message, /did you mean/);
});

test('missing domain / backend_ip: error names the host and the variable', () => {
  const noDomain = inputError(() => parseInventory('all:\n  vars:\n    backend_ip: 10.0.0.1\n  hosts:\n    p1:\n', 'inv.yml'));
  assert.match(noDomain.message, /domain is required/);
  assert.is(noDomain.host, 'p1');
  assert.match(noDomain.describe(), /\[p1\]/);
  const noBackend = inputError(() => parseInventory('all:\n  vars:\n    domain: a.example.com\n  hosts:\n    p2:\n', 'inv.yml'));
  assert.match(noBackend.message, /backend_ip is required/);
  assert.is(noBackend.host, 'p2');
});

test('invalid port and IP values are refused with the host named', () => {
  const port = inputError(() => parseInventory(BASE.replace('hosts:\n    solo:', 'hosts:\n    solo:\n      https_port: 70000'), 'inv.yml'));
  assert.match(port.message, /https_port must be a port number/);
  assert.match(port.message, /70000/);
  assert.is(port.host, 'solo');
  const ip = inputError(() => parseInventory(BASE.replace('10.0.0.9', '10.0.0.999'), 'inv.yml'));
  assert.match(ip.message, /backend_ip must be an IPv4 or IPv6 address/);
  assert.is(ip.host, 'solo');
});

test('YAML syntax error reports the line', () => {
  const text = 'all:\n  vars:\n    domain: a.example.com\n    backend_ip: [10.0.0.1\n  hosts:\n    x:\n';
  const err = inputError(() => parseInventory(text, 'bad.yml'));
  assert.match(err.message, /not valid YAML/);
  assert.match(err.message, /line \d+/);
  assert.is(err.where, 'bad.yml');
});

test('YAML syntax error: the line number is the one with the mistake', () => {
  // A tab used for indentation on line 4.
  const text = 'all:\n  vars:\n    domain: a.example.com\n\tbackend_ip: 10.0.0.1\n';
  const err = inputError(() => parseInventory(text, 'bad.yml'));
  assert.match(err.message, /\(line 4, column \d+\)/);
});

test('missing top-level all: is an error', () => {
  for (const text of ['hosts:\n  x:\n', '', '- a\n- b\n', 'all: 3\n']) {
    const err = inputError(() => parseInventory(text, 'inv.yml'));
    assert.match(err.message, /no top-level `all:` group/, JSON.stringify(text));
  }
});

test('unknown group key is an error naming the group and the key', () => {
  const err = inputError(() => parseInventory('all:\n  vars:\n    domain: a.example.com\n    backend_ip: 10.0.0.1\n  children:\n    web:\n      host:\n        x:\n', 'inv.yml'));
  assert.match(err.message, /group "web" has unknown key\(s\): host/);
});

test('a list where a mapping belongs (hosts, children, vars) is an error naming the group, not hosts "0", "1"', () => {
  for (const [text, message, hint] of [
    ['all:\n  hosts:\n    - proxy-1\n    - proxy-2\n', 'hosts of group "all" must be a mapping of host names, got a list', /not a list \(`- proxy-1`\)/],
    ['all:\n  children:\n    eu:\n      hosts: proxy-1\n', 'hosts of group "eu" must be a mapping of host names, got "proxy-1"', /`proxy-1:`/],
    ['all:\n  children:\n    - eu\n', 'children of group "all" must be a mapping of group names, got a list', /`eu:`/],
    ['all:\n  vars:\n    - domain: a.example.com\n  hosts:\n    x:\n', 'vars of group "all" must be a mapping of variable names, got a list', /name: value/],
  ] as const) {
    const err = inputError(() => parseInventory(text, 'inv.yml'));
    assert.is(err.message, message, text);
    assert.match(err.hint!, hint);
  }
});

test('no host at all is an error', () => {
  const err = inputError(() => parseInventory('all:\n  vars:\n    domain: a.example.com\n', 'inv.yml'));
  assert.match(err.message, /defines no host/);
});

const JUMPY = `
all:
  vars:
    domain: gw.example.com
    backend_ip: 10.0.0.9
    ssh_user: alice
    ssh_jump: carol@jump.example.com:2200
  hosts:
    p:
`;

test('env: IA_ENSO_* override the inventory', () => {
  const [h] = parseInventory(JUMPY, 'inv.yml', {
    IA_ENSO_PROXY_HOST: '203.0.113.7',
    IA_ENSO_PROXY_USER: 'deployer',
    IA_ENSO_SSH_KEY: '/keys/k',
    IA_ENSO_BACKEND_IP: '10.9.9.9',
  });
  assert.is(h.vars.ssh_host, '203.0.113.7');
  assert.is(h.vars.ssh_user, 'deployer');
  assert.is(h.vars.ssh_key, '/keys/k');
  assert.is(h.vars.backend_ip, '10.9.9.9');
  assert.is(h.vars.ssh_jump, 'carol@jump.example.com:2200');
});

test('env: without overrides the inventory values stay', () => {
  const [h] = parseInventory(JUMPY, 'inv.yml', {});
  assert.is(h.vars.ssh_host, 'p');
  assert.is(h.vars.ssh_user, 'alice');
  assert.is(h.vars.ssh_jump, 'carol@jump.example.com:2200');
});

test('env: an invalid override is refused', () => {
  const err = inputError(() => parseInventory(JUMPY, 'inv.yml', { IA_ENSO_BACKEND_IP: 'not-an-ip' }));
  assert.match(err.message, /backend_ip/);
});

test('env: DEPLOY_SSH_PROXY_HOST="" removes ssh_jump', () => {
  const [h] = parseInventory(JUMPY, 'inv.yml', { DEPLOY_SSH_PROXY_HOST: '' });
  assert.is(h.vars.ssh_jump, null);
});

test('env: DEPLOY_SSH_PROXY_HOST + DEPLOY_SSH_PROXY_USER set the jump', () => {
  const [h] = parseInventory(JUMPY, 'inv.yml', { DEPLOY_SSH_PROXY_HOST: 'bastion', DEPLOY_SSH_PROXY_USER: 'bob' });
  assert.is(h.vars.ssh_jump, 'bob@bastion');
});

test('env: DEPLOY_SSH_PROXY_HOST alone uses the SSH user for the jump', () => {
  const [h] = parseInventory(JUMPY, 'inv.yml', { DEPLOY_SSH_PROXY_HOST: 'bastion' });
  assert.is(h.vars.ssh_jump, 'alice@bastion');
  const [h2] = parseInventory(JUMPY, 'inv.yml', { DEPLOY_SSH_PROXY_HOST: 'bastion', IA_ENSO_PROXY_USER: 'deployer' });
  assert.is(h2.vars.ssh_jump, 'deployer@bastion');
});

test('env: DEPLOY_SSH_PROXY_USER alone rewrites the user of the existing jump', () => {
  const [h] = parseInventory(JUMPY, 'inv.yml', { DEPLOY_SSH_PROXY_USER: 'bob' });
  assert.is(h.vars.ssh_jump, 'bob@jump.example.com:2200');
});

test('env: DEPLOY_SSH_PROXY_USER alone does nothing without a jump', () => {
  const [h] = parseInventory(BASE, 'inv.yml', { DEPLOY_SSH_PROXY_USER: 'bob' });
  assert.is(h.vars.ssh_jump, null);
});

test('env: DEPLOY_SSH_PROXY_USER alone keeps an IPv6 jump host valid', () => {
  const text = JUMPY.replace('carol@jump.example.com:2200', '"carol@[fd00::1]:2200"');
  const [before] = parseInventory(text, 'inv.yml', {});
  assert.is(before.vars.ssh_jump, 'carol@[fd00::1]:2200');
  const [h] = parseInventory(text, 'inv.yml', { DEPLOY_SSH_PROXY_USER: 'bob' });
  assert.is(h.vars.ssh_jump, 'bob@[fd00::1]:2200');
});

test('an empty-string port falls back to its default (never a null port)', () => {
  let hosts: HostConfig[] | null = null;
  try {
    hosts = parseInventory(BASE.replace('hosts:\n    solo:', 'hosts:\n    solo:\n      ssh_port: ""'), 'inv.yml');
  } catch (err) {
    // Refusing the value is acceptable too.
    assert.instance(err, InputError);
    return;
  }
  assert.is(hosts[0].vars.ssh_port, 22);
});

test('loadInventory: reads a file, and a missing file is an InputError', () => {
  const dir = tempDir('converge-inv-');
  try {
    const file = join(dir, 'inv.yml');
    writeFileSync(file, BASE);
    const [h] = loadInventory(file, {});
    assert.is(h.vars.domain, 'gw.example.com');
    const err = inputError(() => loadInventory(join(dir, 'nope.yml'), {}));
    assert.match(err.message, /cannot read the inventory/);
    assert.is(err.where, join(dir, 'nope.yml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inventory/lab.yml parses: lab-proxy on 2222 for gateway.converge.test', () => {
  const hosts = loadInventory(join(ROOT, 'inventory', 'lab.yml'), {});
  const lab = host(hosts, 'lab-proxy');
  assert.is(lab.vars.ssh_port, 2222);
  assert.is(lab.vars.domain, 'gateway.converge.test');
  assert.is(lab.vars.ssh_host, '127.0.0.1');
  assert.is(lab.vars.https_port, 18443);
});

test('inventory/production.yml parses when it exists', () => {
  const file = join(ROOT, 'inventory', 'production.yml');
  if (!existsSync(file)) return; // not written yet
  const hosts = loadInventory(file, {});
  assert.ok(hosts.length > 0);
  for (const h of hosts) {
    assert.type(h.vars.domain, 'string');
    assert.type(h.vars.ssh_port, 'number');
  }
});

test.run();
