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
  // Ansible's intersections: the plain terms' union, then each &term, then each !term.
  ['eu,&paris', ['proxy-par1', 'proxy-par2']],
  ['proxy-*,&eu,!proxy-par2', ['proxy-ams', 'proxy-par1']],
  ['&us', ['db.example.com', 'proxy-nyc']],
  ['eu:&paris:!proxy-par1', ['proxy-par2']],
  // ~regex, from the start of the name (as Python's re.match), against host and group names.
  ['~proxy-(nyc|ams)', ['proxy-ams', 'proxy-nyc']],
  ['~par', ['proxy-par1', 'proxy-par2']],
  ['~proxy-par[0-9]$,!proxy-par2', ['proxy-par1']],
  ['~(?:db|proxy-nyc)', ['db.example.com', 'proxy-nyc']],
  // A regex keeps its colons; outside one, a colon still separates.
  ['~(?:proxy-ams),standalone:us', ['db.example.com', 'proxy-ams', 'proxy-nyc', 'standalone']],
  // Hosts in no group, as Ansible's implicit group.
  ['ungrouped', ['standalone']],
  ['all,!ungrouped,!us', ['proxy-ams', 'proxy-par1', 'proxy-par2']],
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

for (const pattern of ['nope', 'proxy-x*', 'eu,!eu', '!all', 'paris,&us', '~nope']) {
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

// A term that matches nothing is a typo: a mistyped exclusion would run on the
// very host it meant to spare, a mistyped name silently skip one.
for (const [pattern, unmatched] of [
  ['proxy-nyc,proxy-nycc', ['proxy-nycc']],
  ['all,!proxy-ny', ['proxy-ny']],
  ['eu,&canary', ['canary']],
  ['proxy-*,!old-*,~zzz', ['old-*', '~zzz']],
] as [string, string[]][]) {
  test(`each term that matches nothing is named in the error (${pattern})`, () => {
    const err = (() => {
      try {
        selectHosts(HOSTS, pattern);
      } catch (e) {
        return e;
      }
      return assert.unreachable('expected an error');
    })();
    assert.instance(err, InputError);
    const e = err as InputError;
    for (const t of unmatched) assert.ok(e.message.includes(`"${t}"`), e.message);
    assert.match(e.message, unmatched.length > 1 ? /match no host or group/ : /matches no host or group/);
    assert.match(e.hint ?? '', /groups: eu, paris, us/);
  });
}

test('an invalid regex and an empty & or ! term are input errors that say why', () => {
  assert.throws(() => selectHosts(HOSTS, '~proxy-(nyc'), (e: unknown) => e instanceof InputError && /not a valid regular expression/.test(e.message));
  assert.throws(() => selectHosts(HOSTS, 'eu,!'), (e: unknown) => e instanceof InputError && /"!" names nothing/.test(e.message));
  assert.throws(() => selectHosts(HOSTS, 'eu,&'), (e: unknown) => e instanceof InputError && /"&" names nothing/.test(e.message));
});

test('a large inventory is not listed whole in the hint', () => {
  const many = parseInventory(`all:\n  vars: { domain: gw.example.com, backend_ip: 10.0.0.1 }\n  hosts:\n${Array.from({ length: 30 }, (_, i) => `    h${i}:\n`).join('')}`, 'inv.yml');
  try {
    selectHosts(many, 'nope');
    assert.unreachable('expected an error');
  } catch (err) {
    assert.match((err as InputError).hint ?? '', /h19 and 10 more/);
    assert.not.match((err as InputError).hint ?? '', /h20/);
  }
});

test('an explicit group named ungrouped is that group, not the implicit one', () => {
  const inv = parseInventory(`all:\n  vars: { domain: gw.example.com, backend_ip: 10.0.0.1 }\n  hosts:\n    loose:\n  children:\n    ungrouped:\n      hosts:\n        member:\n`, 'inv.yml');
  assert.equal(selectHosts(inv, 'ungrouped').map((h) => h.name), ['member']);
});

test.run();
