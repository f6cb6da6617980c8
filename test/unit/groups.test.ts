// Groups as a graph and variable precedence for hosts in several groups
// (lib/groups.ts), checked against Ansible's own ansible-inventory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInventory, type HostConfig } from '../../lib/inventory.js';
import { selectHosts } from '../../lib/limit.js';
import { InputError } from '../../lib/errors.js';
import { ansibleFile, ansibleInventory, ansibleSelects } from './ansible.js';

/**
 * Every way two levels can disagree: sibling groups at one depth (zeta after
 * alpha by name), a nested group under a shallower one, a group listed under
 * two parents (its hosts are in both), a group and a host listed twice, and
 * ansible_group_priority.
 */
const INVENTORY = `
all:
  vars: { domain: gw.example.com, backend_ip: 10.0.0.9, http_port: 1, ssh_port: 1 }
  hosts:
    h3: { ssh_port: 3 }
  children:
    zeta:
      vars: { http_port: 2, https_port: 20 }
      hosts:
        h1:
    alpha:
      vars: { http_port: 3, https_port: 30, ollama_port: 31 }
      hosts:
        h1: { ssh_port: 11 }
    outer:
      vars: { http_port: 4, ollama_port: 40 }
      children:
        inner:
          vars: { ollama_port: 41, anythingllm_port: 42 }
          hosts:
            h1:
            h2:
    beta:
      vars: { ollama_port: 50, anythingllm_port: 51, https_port: 52 }
      hosts:
        h2: { ssh_port: 21 }
      children:
        inner:
          vars: { anythingllm_port: 43 }
    low:
      vars: { ansible_group_priority: 0, https_port: 60 }
      hosts:
        h2:
    alpha2:
      vars: { ansible_group_priority: 5, command_timeout: 70 }
      hosts:
        h3:
    zz:
      vars: { command_timeout: 80 }
      hosts:
        h3:
        h1: { ssh_port: 12 }
`;

const HOSTS = parseInventory(INVENTORY, 'inv.yml');
const file = ansibleFile(INVENTORY);
const host = (name: string): HostConfig => HOSTS.find((h) => h.name === name)!;

for (const name of ['h1', 'h2', 'h3']) {
  test(`${name}: every variable has the value Ansible's --host gives it`, () => {
    const ansible = JSON.parse(ansibleInventory(file, '--host', name)) as Record<string, unknown>;
    delete ansible.ansible_group_priority; // Ansible's own, not a variable of the host
    assert.ok(Object.keys(ansible).length >= 5, JSON.stringify(ansible));
    for (const [v, value] of Object.entries(ansible)) assert.is(host(name).vars[v as keyof HostConfig['vars']], value, `${name}: ${v}`);
  });
}

test('the cases spelled out: depth first, then priority, then name; a host listed twice merges its own variables', () => {
  assert.is(host('h1').vars.http_port, 2, 'zeta over alpha and outer: same depth, last by name');
  assert.is(host('h1').vars.ollama_port, 41, 'inner (depth 2) over alpha and outer (depth 1)');
  assert.is(host('h1').vars.ssh_port, 12, 'its own, the later listing winning');
  assert.is(host('h2').vars.anythingllm_port, 43, 'inner, listed twice: its later variables win');
  assert.is(host('h2').vars.https_port, 52, 'beta over low, whose priority 0 puts it first');
  assert.is(host('h3').vars.command_timeout, 70, 'alpha2 (priority 5) over zz');
});

test("a group listed under two parents: its hosts are in both, for --limit as for Ansible", () => {
  assert.equal(host('h1').groups, ['zeta', 'alpha', 'outer', 'beta', 'zz', 'inner']);
  const patterns = ['beta', 'outer', 'inner', 'low', 'zeta:&alpha', 'all,!beta', 'alpha2:zz'];
  const ansible = ansibleSelects(file, patterns);
  patterns.forEach((p, i) => assert.equal(selectHosts(HOSTS, p).map((h) => h.name).sort(), ansible[i], p));
  assert.equal(selectHosts(HOSTS, 'beta').map((h) => h.name), ['h1', 'h2'], 'h1 through inner');
});

test('a host named like a group: the plain name selects the host, its exclusion the group\'s hosts, a glob or regex both (as Ansible)', () => {
  const text = 'all:\n  vars: { domain: d.example.com, backend_ip: 10.0.0.1 }\n  hosts:\n    web:\n    web.old:\n    other:\n  children:\n    web:\n      hosts: { h1: }\n';
  const hosts = parseInventory(text, 'inv.yml');
  const patterns = ['web', 'web*', '~web', 'all,!web', 'web,other', 'web.old', 'all'];
  const ansible = ansibleSelects(ansibleFile(text), patterns);
  patterns.forEach((p, i) => assert.equal(selectHosts(hosts, p).map((h) => h.name).sort(), ansible[i], p));
  assert.equal(selectHosts(hosts, 'web').map((h) => h.name), ['web']);
  assert.equal(selectHosts(hosts, 'all,!web').map((h) => h.name), ['web', 'web.old', 'other']);
});

test('a group that is its own ancestor is refused, naming the loop', () => {
  const text = 'all:\n  vars: { domain: d.example.com, backend_ip: 10.0.0.1 }\n  children:\n    a:\n      children:\n        b:\n          hosts: { h: }\n          children:\n            a:\n';
  try {
    parseInventory(text, 'loop.yml');
    assert.unreachable('expected an InputError');
  } catch (err) {
    assert.instance(err, InputError);
    assert.match((err as InputError).message, /group "a" is its own ancestor: a > b > a/);
    assert.is((err as InputError).where, 'loop.yml');
  }
});

test('a YAML alias that puts a group inside itself is refused with what to do, not a stack overflow; an alias elsewhere is a group listed twice', () => {
  const base = 'all:\n  vars: { domain: d.example.com, backend_ip: 10.0.0.1 }\n';
  for (const [text, group] of [
    ['all: &a\n  vars: { domain: d.example.com, backend_ip: 10.0.0.1 }\n  hosts: { h: }\n  children:\n    x: *a\n', 'x'],
    [`${base}  children:\n    g: &g\n      hosts: { h: }\n      children:\n        sub: *g\n`, 'sub'],
  ]) {
    assert.throws(() => parseInventory(text, 'alias.yml'), (e: unknown) => e instanceof InputError && e.message === `group "${group}" contains itself through a YAML alias` && e.where === 'alias.yml', group);
  }
  const reused = parseInventory(`${base}  children:\n    eu: &eu\n      vars: { http_port: 8080 }\n      hosts: { h: }\n    other:\n      children:\n        eu: *eu\n`, 'alias.yml');
  assert.equal(reused[0].groups, ['other', 'eu'], 'eu is inside other: outermost first');
  assert.is(reused[0].vars.http_port, 8080);
});

test('ansible_group_priority must be an integer', () => {
  const text = 'all:\n  vars: { domain: d.example.com, backend_ip: 10.0.0.1 }\n  children:\n    g:\n      vars: { ansible_group_priority: high }\n      hosts: { h: }\n';
  assert.throws(() => parseInventory(text, 'inv.yml'), (e: unknown) => e instanceof InputError && /ansible_group_priority of group "g" must be an integer, got "high"/.test(e.message));
});

test.run();
