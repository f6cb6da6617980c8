import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInventory } from '../../lib/inventory.js';
import { listHostsJson, listHostsText } from '../../lib/listhosts.js';
import { everyStage, parseStageSelection } from '../../lib/tags.js';

const TOKEN = 'secret-token-0123456789abcdef0123456789abcdef';
const HOSTS = parseInventory(
  `
all:
  vars: { domain: gw.example.com, backend_ip: 10.0.0.1, ssh_user: deploy }
  hosts:
    p1: { ssh_host: 10.0.0.5 }
  children:
    eu:
      vars: { ssh_jump: "ops@bastion.example.com:2200", ssh_key_passphrase_env: KEY_PASS }
      hosts:
        p2: { connection: local }
`,
  'inv.yml',
);

test('text: one block per host with every variable, how it is reached and its groups', () => {
  const out = listHostsText(HOSTS, { inventory: 'inv.yml', limit: 'all', stages: everyStage(), envToken: TOKEN, env: { KEY_PASS: 'hunter2' } });
  assert.match(out, /^2 host\(s\) selected from inv\.yml \(--limit all\); nothing was contacted$/m);
  assert.match(out, /^p1 {2}\[ssh deploy@10\.0\.0\.5:22, sudo -n\]$/m);
  const local = process.getuid?.() === 0 ? 'as root, no sudo' : 'sudo -n';
  assert.match(out, new RegExp(`^p2 {2}\\[local \\(this machine, no SSH\\), ${local}\\] {2}groups: eu$`, 'm'));
  assert.match(out, /^ {2}ssh_jump +ops@bastion\.example\.com:2200 +\(group eu\)$/m);
  assert.match(out, /^ {2}listen_address +- +\(default\)$/m);
  assert.match(out, /^ {2}ssh_host +10\.0\.0\.5 +\(the host\)$/m);
  assert.match(out, /^ {2}ssh_user +deploy +\(all\.vars\)$/m);
  assert.match(out, /KEY_PASS is set \(<redacted>\)/);
  assert.not.ok(out.includes('hunter2'), 'no passphrase');
  assert.not.ok(out.includes(TOKEN), 'no token');
});

test('JSON: the effective variables, stages, and no secret', () => {
  const doc = JSON.parse(listHostsJson(HOSTS, { inventory: 'inv.yml', stages: parseStageSelection('maps,vhost'), envToken: TOKEN, env: {} }));
  assert.equal(doc.stages, ['maps', 'vhost']);
  assert.is(doc.bearer_token, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
  assert.is(doc.hosts[1].vars.connection, 'local');
  assert.is(doc.hosts[1].passphrase_set, false);
  assert.is(doc.hosts[0].vars.ssh_port, 22);
  assert.is(doc.hosts[1].origins.connection, 'the host');
  assert.is(doc.hosts[1].origins.ssh_jump, 'group eu');
  assert.is(doc.hosts[0].origins.ssh_port, 'default');
});

test('where each value came from: the level that won, the Ansible name it was written as, the environment, a port in the key', () => {
  const text = `all:
  vars: { domain: gw.example.com, backend_ip: 10.0.0.1, ssh_user: deploy, listen_address: "" }
  hosts:
    "edge:2201": { ansible_user: ops }
  children:
    eu:
      vars: { ssh_jump: "ops@bastion.example.com" }
      hosts:
        edge:
`;
  const [edge] = parseInventory(text, 'inv.yml', { IA_ENSO_BACKEND_IP: '10.9.9.9', DEPLOY_SSH_PROXY_HOST: '' });
  assert.equal(
    { user: edge.origins?.ssh_user, port: edge.origins?.ssh_port, backend: edge.origins?.backend_ip, jump: edge.origins?.ssh_jump, listen: edge.origins?.listen_address, domain: edge.origins?.domain },
    { user: 'the host, as ansible_user', port: "the host's key", backend: 'environment IA_ENSO_BACKEND_IP', jump: 'default (unset by environment DEPLOY_SSH_PROXY_HOST)', listen: 'default (unset by all.vars)', domain: 'all.vars' },
  );
  assert.equal([edge.vars.ssh_user, edge.vars.ssh_port, edge.vars.backend_ip, edge.vars.ssh_jump], ['ops', 2201, '10.9.9.9', null]);
});

test('how privileged commands will run: no sudo for a root login, sudo -n for any other user', () => {
  const [root, other] = parseInventory('all:\n  vars: { domain: gw.example.com, backend_ip: 10.0.0.1 }\n  hosts:\n    r: { ssh_user: root }\n    t: { ssh_user: toor }\n', 'inv.yml');
  const out = listHostsText([root, other], { inventory: 'inv.yml', stages: everyStage(), env: {} });
  assert.match(out, /^r {2}\[ssh root@r:22, as root, no sudo\]$/m);
  assert.match(out, /^t {2}\[ssh toor@t:22, sudo -n\]$/m);
  assert.is(JSON.parse(listHostsJson([root], { inventory: 'inv.yml', stages: everyStage(), env: {} })).hosts[0].reach, 'ssh root@r:22, as root, no sudo');
});

test.run();
