import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { globRegExp, selectHosts, splitPattern, withLimitFiles } from '../../lib/limit.js';
import { parseInventory } from '../../lib/inventory.js';
import { InputError } from '../../lib/errors.js';
import { ansibleFile, ansibleSelects } from './ansible.js';

const INVENTORY = `
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
`;
const HOSTS = parseInventory(INVENTORY, 'inv.yml');

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
  // A regex keeps its colons (Ansible would cut them: see EXTENSIONS).
  ['~(?:proxy-ams),standalone', ['proxy-ams', 'standalone']],
  ['~(?:db|proxy-nyc)', ['db.example.com', 'proxy-nyc']],
  // Globs as Python's fnmatch: classes and negated classes.
  ['proxy-[np]*', ['proxy-nyc', 'proxy-par1', 'proxy-par2']],
  ['proxy-par[!1]', ['proxy-par2']],
  ['proxy-[a-m]??', ['proxy-ams']],
  // Hosts in no group, as Ansible's implicit group.
  ['ungrouped', ['standalone']],
  ['all,!ungrouped,!us', ['proxy-ams', 'proxy-par1', 'proxy-par2']],
];

for (const [pattern, expected] of cases) {
  test(`selectHosts(${JSON.stringify(pattern)})`, () => {
    assert.equal(names(pattern), expected);
  });
}

/** Where converge takes what Ansible refuses: a regex with a colon, which Ansible cuts into two invalid ones. */
const EXTENSIONS = ['~(?:db|proxy-nyc)'];

test("every pattern above selects what Ansible's own InventoryManager selects on the same inventory", () => {
  const patterns = cases.map(([p]) => p).filter((p): p is string => Boolean(p));
  const ansible = ansibleSelects(ansibleFile(INVENTORY), patterns);
  patterns.forEach((p, i) => {
    const theirs = ansible[i];
    if (EXTENSIONS.includes(p)) assert.match(JSON.stringify(theirs), /Invalid host list pattern/, `Ansible refuses ${p}`);
    else assert.equal(names(p), theirs, `--limit ${JSON.stringify(p)}`);
  });
});

test('splitPattern: with a comma, commas alone separate (as Ansible); without, colons too, except in brackets, an IPv6 address or a regex', () => {
  assert.equal(splitPattern('eu,us:canary'), ['eu', 'us:canary']);
  assert.equal(splitPattern('eu:&paris:!old'), ['eu', '&paris', '!old']);
  assert.equal(splitPattern(' eu , us '), ['eu', 'us']);
  assert.equal(splitPattern('2001:db8::5'), ['2001:db8::5']);
  assert.equal(splitPattern('!fe80::1'), ['!fe80::1']);
  assert.equal(splitPattern('[2001:db8::5]'), ['[2001:db8::5]']);
  assert.equal(splitPattern('web[0:2]:db'), ['web[0:2]', 'db']);
  assert.equal(splitPattern('~(?:a|b):c'), ['~(?:a|b):c']);
});

test('a colon after a comma is part of the term, as in Ansible: "us:standalone" names no host and is refused', () => {
  assert.throws(() => selectHosts(HOSTS, 'proxy-nyc,us:standalone'), (e: unknown) => e instanceof InputError && /"us:standalone" matches no host or group/.test(e.message));
});

test("Ansible's subscripts (the nth hosts of a group) are refused with what to write instead", () => {
  for (const p of ['eu[0]', 'eu[-1]', 'paris[0:1]', 'us[1-]']) {
    assert.throws(
      () => selectHosts(HOSTS, p),
      (e: unknown) => e instanceof InputError && e.message.includes(`"${p}" is an Ansible subscript`) && /name the hosts, or use a glob/.test(e.hint ?? ''),
      p,
    );
  }
});

test('globRegExp: fnmatch rules for [ and ]', () => {
  assert.ok(globRegExp('a[]]b').test('a]b'), 'a ] first in a class is a member');
  assert.ok(globRegExp('a[!]]b').test('axb'));
  assert.not.ok(globRegExp('a[!]]b').test('a]b'));
  assert.ok(globRegExp('a[b').test('a[b'), 'an unclosed [ is literal');
  assert.ok(globRegExp('x[\\^]').test('x^'), 'backslash and caret are members');
  assert.ok(globRegExp('x[\\^]').test('x\\'));
  assert.ok(globRegExp('a.b').test('a.b'));
  assert.not.ok(globRegExp('a.b').test('axb'), 'a dot is literal');
});

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

test('a mistyped name gets the nearest host or group as a suggestion; a glob or regex gets none', () => {
  const message = (pattern: string) => {
    try {
      selectHosts(HOSTS, pattern);
    } catch (e) {
      return (e as InputError).message;
    }
    return assert.unreachable('expected an error') as never;
  };
  assert.match(message('all,!proxy-ny'), /"proxy-ny" \(did you mean proxy-nyc\?\) matches no host or group/);
  assert.match(message('pariss'), /"pariss" \(did you mean paris\?\)/);
  assert.match(message('eu,&canary'), /"canary" matches no host or group/);
  assert.match(message('proxy-x*'), /"proxy-x\*" matches no host or group/);
});

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

test('--limit @FILE: the file\'s lines (blank ones and # comments skipped) stand for the term, beside the others', () => {
  const files: Record<string, string> = { retry: '# failed last time\nproxy-nyc\n\n  proxy-ams  \n', empty: '# nothing\n\n' };
  const read = (f: string) => {
    if (!(f in files)) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
    return files[f];
  };
  assert.is(withLimitFiles('@retry', read), 'proxy-nyc,proxy-ams');
  assert.is(withLimitFiles('eu,@retry,!proxy-par1', read), 'eu,proxy-nyc,proxy-ams,!proxy-par1');
  assert.is(withLimitFiles('eu', read), 'eu', 'no @: as given');
  assert.is(withLimitFiles(undefined, read), undefined);
  assert.equal(selectHosts(HOSTS, withLimitFiles('@retry', read)).map((h) => h.name), ['proxy-ams', 'proxy-nyc']);
  assert.throws(() => withLimitFiles('@missing', read), (e: unknown) => e instanceof InputError && /--limit @missing: cannot read the file: ENOENT/.test(e.message) && e.where === 'missing');
  assert.throws(() => withLimitFiles('@empty', read), (e: unknown) => e instanceof InputError && /the file names no host/.test(e.message));
});

test.run();
