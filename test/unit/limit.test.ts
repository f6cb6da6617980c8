import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectHosts } from '../../lib/limit.js';
import { parseInventory } from '../../lib/inventory.js';
import { InputError } from '../../lib/errors.js';

const HOSTS = parseInventory(
  `
all:
  vars:
    domain: gw.example.com
    backend_ip: 10.0.0.1
  hosts:
    standalone:
  children:
    eu:
      children:
        paris:
          hosts:
            proxy-par1:
            proxy-par2:
      hosts:
        proxy-ams:
    us:
      hosts:
        proxy-nyc:
        db.example.com:
`,
  'inv.yml',
);

const names = (pattern: string | undefined) => selectHosts(HOSTS, pattern).map((h) => h.name).sort();

const ALL = ['db.example.com', 'proxy-ams', 'proxy-nyc', 'proxy-par1', 'proxy-par2', 'standalone'];

const cases: [string | undefined, string[]][] = [
  [undefined, ALL],
  ['', ALL],
  ['all', ALL],
  ['*', ALL],
  ['proxy-nyc', ['proxy-nyc']],
  ['db.example.com', ['db.example.com']],
  ['us', ['db.example.com', 'proxy-nyc']],
  ['eu', ['proxy-ams', 'proxy-par1', 'proxy-par2']], // nested group members are in the outer group
  ['paris', ['proxy-par1', 'proxy-par2']],
  ['proxy-*', ['proxy-ams', 'proxy-nyc', 'proxy-par1', 'proxy-par2']],
  ['proxy-par?', ['proxy-par1', 'proxy-par2']],
  ['*.example.com', ['db.example.com']],
  ['proxy-nyc,standalone', ['proxy-nyc', 'standalone']],
  ['proxy-nyc, standalone', ['proxy-nyc', 'standalone']],
  ['proxy-nyc:standalone', ['proxy-nyc', 'standalone']],
  ['paris,us', ['db.example.com', 'proxy-nyc', 'proxy-par1', 'proxy-par2']],
  ['eu,!paris', ['proxy-ams']],
  ['all,!eu', ['db.example.com', 'proxy-nyc', 'standalone']],
  ['!us', ['proxy-ams', 'proxy-par1', 'proxy-par2', 'standalone']],
  ['proxy-*,!proxy-par1', ['proxy-ams', 'proxy-nyc', 'proxy-par2']],
  ['proxy-nyc,proxy-nyc', ['proxy-nyc']],
];

for (const [pattern, expected] of cases) {
  test(`selectHosts(${JSON.stringify(pattern)})`, () => {
    assert.equal(names(pattern), expected);
  });
}

test('the dot in a name pattern is literal, not a regex wildcard', () => {
  assert.throws(() => selectHosts(HOSTS, 'proxy-par.'), (e: unknown) => e instanceof InputError);
  assert.throws(() => selectHosts(HOSTS, 'db.example.co.'), (e: unknown) => e instanceof InputError);
});

test('selection keeps the inventory order and the host objects', () => {
  const sel = selectHosts(HOSTS, 'proxy-*');
  const order = HOSTS.filter((h) => h.name.startsWith('proxy-'));
  assert.equal(sel, order);
  assert.is(sel[0], order[0]);
});

for (const pattern of ['nope', 'proxy-x*', 'eu,!eu', '!all']) {
  test(`no match -> InputError (${pattern})`, () => {
    try {
      selectHosts(HOSTS, pattern);
      assert.unreachable('expected an error');
    } catch (err) {
      assert.instance(err, InputError);
      const e = err as InputError;
      assert.ok(e.message.includes(pattern), e.message);
      assert.match(e.hint ?? '', /proxy-nyc/);
    }
  });
}

test.run();
