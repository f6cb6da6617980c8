// Host keys that stand for several hosts or carry a port (lib/hostpattern.ts),
// checked against Ansible's own ansible-inventory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expandHostKey, HostPatternError } from '../../lib/hostpattern.js';
import { parseInventory } from '../../lib/inventory.js';
import { InputError } from '../../lib/errors.js';
import { ansibleFile, ansibleInventory } from './ansible.js';

const INVENTORY = `
all:
  vars: { domain: gw.example.com, backend_ip: 10.0.0.9 }
  hosts:
    proxy-[01:03]:
    web-[a:c]:
    db-[0:10:5]:
    edge:2201:
    "[2001:db8::5]:2202":
    "2001:db8::6":
    x-[1:2]-[a:b]:
    pinned:2203: { ansible_port: 2204 }
    range-[1:2]:2205:
  children:
    eu:
      hosts:
        proxy-[02:03]: { http_port: 8080 }
`;

test("every host key expands to the hosts, and the ports, that Ansible's ansible-inventory finds", () => {
  const ansible = JSON.parse(ansibleInventory(ansibleFile(INVENTORY), '--list')) as { _meta: { hostvars: Record<string, { ansible_port?: number; http_port?: number }> } };
  const hosts = parseInventory(INVENTORY, 'inv.yml');
  assert.equal(hosts.map((h) => h.name).sort(), Object.keys(ansible._meta.hostvars).sort());
  for (const h of hosts) {
    const theirs = ansible._meta.hostvars[h.name];
    assert.is(h.vars.ssh_port, theirs.ansible_port ?? 22, `${h.name}: port`);
    assert.is(h.vars.http_port, theirs.http_port ?? 80, `${h.name}: a group listing part of a range`);
  }
  assert.equal(hosts.slice(0, 3).map((h) => h.name), ['proxy-01', 'proxy-02', 'proxy-03']);
});

test('expandHostKey: ranges, steps, letters, nesting, ports', () => {
  assert.equal(expandHostKey('p-[8:11]'), { names: ['p-8', 'p-9', 'p-10', 'p-11'], port: null });
  assert.equal(expandHostKey('p-[08:11]').names, ['p-08', 'p-09', 'p-10', 'p-11']);
  assert.equal(expandHostKey('p-[:2]').names, ['p-0', 'p-1', 'p-2'], 'the begin defaults to 0');
  assert.equal(expandHostKey('p-[y:B]').names, ['p-y', 'p-z', 'p-A', 'p-B'], "Python's ascii_letters order");
  assert.equal(expandHostKey('p-[a:e:2]').names, ['p-a', 'p-c', 'p-e']);
  assert.equal(expandHostKey('[1:2].[a:b].example.com').names, ['1.a.example.com', '1.b.example.com', '2.a.example.com', '2.b.example.com']);
  assert.equal(expandHostKey('p-[1:2]:2222'), { names: ['p-1', 'p-2'], port: 2222 });
  assert.is(expandHostKey('p-[1:10000]').names.length, 10_000, 'the most one key may stand for');
  assert.equal(expandHostKey('10.0.0.5:22'), { names: ['10.0.0.5'], port: 22 });
  assert.equal(expandHostKey('fe80::1'), { names: ['fe80::1'], port: null });
  assert.equal(expandHostKey('[fe80::1]'), { names: ['fe80::1'], port: null });
});

test('a host key that is not a range or a port is refused, naming the key', () => {
  for (const [key, why] of [
    ['p-[1:2', /a \[ without its \]/],
    ['p-[1]', /a range is \[begin:end\] or \[begin:end:step\], got \[1\]/],
    ['p-[1:]', /has no end/],
    ['p-[01:100]', /the same width/],
    ['p-[c:a]', /ends before it begins/],
    ['p-[1:3:0]', /step .* must be a positive integer/],
    ['p-[a:5]', /neither a range of numbers nor of letters/],
    ['edge:70000', /70000 is not a port number/],
    ['p-[1:100000]', /stands for 100000 hosts, more than the 10000 one key may/],
    ['p-[1:200]-[1:100]', /stands for 20000 hosts, more than the 10000 one key may/],
  ] as [string, RegExp][]) {
    assert.throws(() => expandHostKey(key), (e: unknown) => e instanceof HostPatternError && why.test(e.message) && e.message.includes(key), key);
  }
  assert.throws(
    () => parseInventory('all:\n  vars: { domain: d.example.com, backend_ip: 10.0.0.1 }\n  hosts:\n    p-[1:\n', 'bad.yml'),
    (e: unknown) => e instanceof InputError && e.where === 'bad.yml' && /proxy-\[01:20\]/.test(e.hint ?? ''),
  );
});

test.run();
