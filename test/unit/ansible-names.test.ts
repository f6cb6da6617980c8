// An Ansible inventory as it is: Ansible's names for the connection
// variables (lib/ansible-names.ts), through parseInventory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInventory, type HostConfig } from '../../lib/inventory.js';
import { InputError } from '../../lib/errors.js';
import { ansibleFile, ansibleInventory } from './ansible.js';

const inventory = (vars: string, hostVars: string, env: NodeJS.ProcessEnv = {}): HostConfig =>
  parseInventory(`all:\n  vars:\n    domain: gw.example.com\n    backend_ip: 10.0.0.9\n${vars}  hosts:\n    p1:\n${hostVars}`, 'inv.yml', env)[0];

function refused(vars: string, hostVars: string): InputError {
  try {
    inventory(vars, hostVars);
  } catch (err) {
    assert.instance(err, InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

test("Ansible's connection variables are converge's ssh_* and connection", () => {
  const h = inventory('', '      ansible_host: 10.0.0.5\n      ansible_port: 2200\n      ansible_user: deploy\n      ansible_ssh_private_key_file: /keys/deploy\n      ansible_connection: ssh\n');
  assert.is(h.vars.ssh_host, '10.0.0.5');
  assert.is(h.vars.ssh_port, 2200);
  assert.is(h.vars.ssh_user, 'deploy');
  assert.is(h.vars.ssh_key, '/keys/deploy');
  assert.is(h.vars.connection, 'ssh');
  // The older spellings Ansible still reads.
  const old = inventory('', '      ansible_ssh_host: 10.0.0.6\n      ansible_ssh_port: "2201"\n      ansible_ssh_user: ops\n      ansible_private_key_file: /keys/ops\n');
  assert.equal([old.vars.ssh_host, old.vars.ssh_port, old.vars.ssh_user, old.vars.ssh_key], ['10.0.0.6', 2201, 'ops', '/keys/ops']);
});

test('one variable under two names: the nearer level wins whichever name each uses', () => {
  assert.is(inventory('    ssh_user: group-user\n', '      ansible_user: host-user\n').vars.ssh_user, 'host-user');
  assert.is(inventory('    ansible_user: group-user\n', '      ssh_user: host-user\n').vars.ssh_user, 'host-user');
  assert.is(inventory('    ansible_port: 2200\n', '').vars.ssh_port, 2200, 'all.vars under its Ansible name');
  // The original script's environment variables still override either name.
  assert.is(inventory('', '      ansible_host: 10.0.0.5\n', { IA_ENSO_PROXY_HOST: '10.9.9.9' }).vars.ssh_host, '10.9.9.9');
});

test('one level setting both names is refused: which one wins would be a guess', () => {
  const err = refused('', '      ssh_host: 10.0.0.1\n      ansible_host: 10.0.0.2\n');
  assert.match(err.message, /^host "p1": ansible_host and ssh_host are the same variable: keep one$/);
  assert.is(err.host, 'p1');
  assert.is(err.where, 'inv.yml');
  assert.match(refused('    ansible_ssh_user: a\n    ansible_user: b\n', '').message, /ansible_user and ansible_ssh_user are the same variable/);
  assert.match(refused('', '      ansible_user: a\n      ssh_user: b\n').message, /ssh_user and ansible_user are the same variable/);
});

test('ansible_connection: smart and paramiko are ssh, local is local, others are refused', () => {
  assert.is(inventory('', '      ansible_connection: smart\n').vars.connection, 'ssh');
  assert.is(inventory('', '      ansible_connection: paramiko\n').vars.connection, 'ssh');
  assert.is(inventory('', '      ansible_connection: local\n').vars.connection, 'local');
  assert.match(refused('', '      ansible_connection: docker\n').message, /ansible_connection docker is not one converge has: it connects over ssh \(ssh, smart, paramiko\) or runs local/);
});

test('Ansible-only variables are accepted and ignored, unless they ask for what converge does not do', () => {
  const h = inventory('    ansible_python_interpreter: /usr/bin/python3\n    ansible_become: true\n    ansible_become_method: sudo\n', '      ansible_become_user: root\n');
  assert.not.ok(Object.keys(h.vars).some((k) => k.startsWith('ansible_')), 'none of them is a variable of the host');
  assert.match(refused('', '      ansible_become_user: postgres\n').message, /ansible_become_user postgres: converge runs its commands as root only/);
  assert.match(refused('', '      ansible_become_method: su\n').message, /ansible_become_method su: converge becomes root with sudo -n only/);
});

test('an Ansible password variable is refused, saying converge uses keys and passwordless sudo, never quoting it', () => {
  for (const name of ['ansible_password', 'ansible_ssh_pass', 'ansible_become_password', 'ansible_become_pass']) {
    const err = refused('', `      ${name}: hunter2-secret\n`);
    assert.match(err.message, new RegExp(`^host "p1": ${name}: converge never uses a password, for SSH or for sudo: log in with a key`));
    assert.not.ok(err.message.includes('hunter2') || (err.hint ?? '').includes('hunter2'), 'the password is not shown');
  }
});

test('an Ansible variable converge does not read: named, with the ones it reads; a typo gets a suggestion', () => {
  const err = refused('', '      ansible_ssh_pipelining: true\n');
  assert.match(err.message, /unknown variable\(s\) for host "p1": ansible_ssh_pipelining/);
  assert.match(err.hint ?? '', /ansible_host, ansible_ssh_host, ansible_port/);
  assert.match(refused('', '      ansible_hots: 10.0.0.5\n').message, /ansible_hots \(did you mean ansible_host\?\)/);
});

test('a bad value says the name it was written under', () => {
  const err = refused('', '      ansible_port: 70000\n');
  assert.match(err.message, /^variable ssh_port \(ansible_port in the inventory\) must be a port number/);
  assert.match(refused('', '      ssh_port: 70000\n').message, /^variable ssh_port must be/);
});

// ---- against Ansible's own ansible-inventory ----------------------------------------

/** An INI inventory (Ansible's other format) with values set at every level. */
const INI = `[all:vars]
ansible_user=everyone
https_port=443
domain=default.example.com
backend_ip=10.0.0.9

[proxies]
proxy-1 ansible_host=10.0.0.5 domain=ia.example.com
proxy-2 ansible_host=10.0.0.6 ansible_port=2200 ansible_user=p2user

[proxies:vars]
ansible_user=deploy
https_port=9443

[eu:children]
proxies

[eu:vars]
ssh_jump=deploy@bastion.example.com
https_port=8443
ansible_python_interpreter=/usr/bin/python3
`;

const iniFile = ansibleFile(INI, 'hosts.ini');

const CANONICAL: Record<string, string> = { ansible_host: 'ssh_host', ansible_port: 'ssh_port', ansible_user: 'ssh_user' };

for (const how of [['--export'], []]) {
  test(`an INI inventory as ansible-inventory --list --yaml ${how.join(' ')} prints it: every host has the values Ansible gives it`, () => {
    const hosts = parseInventory(ansibleInventory(iniFile, '--list', '--yaml', ...how), 'exported.yml');
    assert.equal(hosts.map((h) => h.name).sort(), ['proxy-1', 'proxy-2']);
    for (const h of hosts) {
      assert.equal(h.groups, ['eu', 'proxies']);
      // Ansible's own merge of the levels (`--host`), variable by variable.
      const ansible = JSON.parse(ansibleInventory(iniFile, '--host', h.name)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(ansible)) {
        if (name === 'ansible_python_interpreter') continue; // accepted and ignored
        const v = (CANONICAL[name] ?? name) as keyof HostConfig['vars'];
        assert.is(h.vars[v], value, `${h.name}: ${name}`);
      }
    }
    const p2 = hosts.find((h) => h.name === 'proxy-2')!;
    assert.equal([p2.vars.ssh_user, p2.vars.ssh_port, p2.vars.https_port], ['p2user', 2200, 9443], 'the host, then the nearest group');
  });
}

test.run();
