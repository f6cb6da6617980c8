import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isChange, makePlan, planFile, type Change, type Noop } from '../../lib/plan.js';
import { desiredFiles, renderMaps, type FileSpec, type MapsFlags } from '../../lib/desired.js';
import type { FileFacts } from '../../lib/facts.js';
import { parseInventory } from '../../lib/inventory.js';

const VARS = parseInventory('all:\n  vars:\n    domain: gw.example.com\n    backend_ip: 10.0.0.2\n  hosts:\n    p:\n', 'inv.yml')[0].vars;
const OLD_TOKEN = 'old0'.repeat(16);
const NEW_TOKEN = 'new1'.repeat(16);
const ON: MapsFlags = { websocketMap: true, bucketSize: true, hashKey: true };
const [, MAPS, SITE, LINK] = desiredFiles(VARS, { token: NEW_TOKEN, ...ON });

function asChange(r: Change | Noop): Change {
  assert.ok(isChange(r), `expected a change, got ${JSON.stringify(r)}`);
  return r as Change;
}
function asNoop(r: Change | Noop): Noop {
  assert.not.ok(isChange(r), `expected a noop, got ${JSON.stringify((r as Change).reasons)}`);
  return r as Noop;
}

function fileFacts(spec: FileSpec, over: Partial<FileFacts> = {}): FileFacts {
  return { path: spec.path, kind: 'file', mode: spec.mode, owner: 'root', group: 'root', content: Buffer.from(spec.content ?? ''), ...over };
}

test('absent -> create with reason "absent", diff from /dev/null', () => {
  const c = asChange(planFile(SITE, { path: SITE.path, kind: 'absent' }));
  assert.is(c.action, 'create');
  assert.equal(c.reasons, ['absent']);
  assert.is(c.path, SITE.path);
  assert.is(c.stage, 'vhost');
  assert.is(c.spec, SITE);
  assert.match(c.diff, /^--- \/dev\/null$/m);
  assert.ok(c.diff.includes(`+++ ${SITE.path}`));
  assert.ok(c.diff.includes('+    server_name gw.example.com;'));
});

test('absent link -> create', () => {
  const c = asChange(planFile(LINK, { path: LINK.path, kind: 'absent' }));
  assert.is(c.action, 'create');
  assert.equal(c.reasons, ['absent']);
  assert.ok(c.diff.includes(`+-> ${SITE.path}`));
});

test('absent secret file: the diff shows the label, never the token', () => {
  const c = asChange(planFile(MAPS, { path: MAPS.path, kind: 'absent' }));
  assert.not.ok(c.diff.includes(NEW_TOKEN));
  assert.ok(c.diff.includes('"Bearer <redacted:bearer-token>" 1;'));
});

test('same content, mode and owner -> noop', () => {
  for (const spec of [MAPS, SITE]) {
    const n = asNoop(planFile(spec, fileFacts(spec)));
    assert.is(n.path, spec.path);
    assert.is(n.stage, spec.stage);
    assert.is(n.why, 'content, mode and owner match');
  }
});

test('content differs -> update "content differs"', () => {
  const c = asChange(planFile(SITE, fileFacts(SITE, { content: Buffer.from(SITE.content!.replaceAll('10.0.0.2', '10.0.0.3')) })));
  assert.is(c.action, 'update');
  assert.equal(c.reasons, ['content differs']);
  assert.ok(c.diff.includes('-        proxy_pass http://10.0.0.3:11434/;'));
  assert.ok(c.diff.includes('+        proxy_pass http://10.0.0.2:11434/;'));
  assert.ok(c.diff.startsWith(`--- ${SITE.path}\n+++ ${SITE.path}\n`), c.diff);
});

test('regular file without readable content -> content differs', () => {
  const c = asChange(planFile(SITE, fileFacts(SITE, { content: undefined })));
  assert.equal(c.reasons, ['content differs']);
});

test('token change: reason says so, diff shows both labels and neither token', () => {
  const before = fileFacts(MAPS, { content: Buffer.from(renderMaps(OLD_TOKEN, ON)) });
  const c = asChange(planFile(MAPS, before));
  assert.is(c.action, 'update');
  assert.equal(c.reasons, ['content differs (the Bearer token changes)']);
  assert.ok(c.diff.includes('-    "Bearer <redacted:previous-bearer-token>" 1;'), c.diff);
  assert.ok(c.diff.includes('+    "Bearer <redacted:bearer-token>" 1;'), c.diff);
  assert.not.ok(c.diff.includes(OLD_TOKEN));
  assert.not.ok(c.diff.includes(NEW_TOKEN));
});

test('same token, other maps change: plain "content differs", token still hidden', () => {
  const before = fileFacts(MAPS, { content: Buffer.from(renderMaps(NEW_TOKEN, { ...ON, websocketMap: false })) });
  const c = asChange(planFile(MAPS, before));
  assert.equal(c.reasons, ['content differs']);
  assert.ok(c.diff.includes('+map $http_upgrade $connection_upgrade {'));
  assert.not.ok(c.diff.includes(NEW_TOKEN));
  assert.not.ok(c.diff.includes('previous-bearer-token'));
});

test('a token is hidden even when it is the only thing in common with the old file', () => {
  const before = fileFacts(MAPS, { content: Buffer.from(`# hand-written\n# ${NEW_TOKEN}\n`) });
  const c = asChange(planFile(MAPS, before));
  assert.not.ok(c.diff.includes(NEW_TOKEN), c.diff);
});

test('every Bearer key of the old maps file is hidden, not only the first', () => {
  const extra = 'hand0added0second0client0token00'.repeat(2);
  const old = renderMaps(OLD_TOKEN, ON).replace(`"Bearer ${OLD_TOKEN}" 1;`, `"Bearer ${OLD_TOKEN}" 1;\n    "Bearer ${extra}" 1;`);
  assert.ok(old.includes(extra));
  const c = asChange(planFile(MAPS, fileFacts(MAPS, { content: Buffer.from(old) })));
  assert.not.ok(c.diff.includes(OLD_TOKEN), c.diff);
  assert.not.ok(c.diff.includes(NEW_TOKEN), c.diff);
  assert.not.ok(c.diff.includes(extra), c.diff);
});

test('regex-key maps file: the diff hides the token in its escaped form too', () => {
  // A base64 token: + and . are escaped in the anchored regex key.
  const oldTok = 'Old+Tok.en/abc'.repeat(3) + '==';
  const newTok = 'New+Tok.en/xyz'.repeat(3) + '==';
  const regexFlags: MapsFlags = { ...ON, hashKey: false };
  const [, maps] = desiredFiles(VARS, { token: newTok, ...regexFlags });
  const esc = (t: string) => t.replace(/[.+]/g, '\\$&');
  assert.ok(maps.content!.includes(esc(newTok)), 'fixture: the escaped token is in the file');
  for (const before of [{ path: maps.path, kind: 'absent' } as FileFacts, fileFacts(maps, { content: Buffer.from(renderMaps(oldTok, regexFlags)) })]) {
    const c = asChange(planFile(maps, before));
    for (const secret of [oldTok, newTok, esc(oldTok), esc(newTok), 'Tok\\.en/xyz', 'Tok\\.en/abc']) {
      assert.not.ok(c.diff.includes(secret), `the diff (${before.kind}) shows ${secret}:\n${c.diff}`);
    }
  }
});

test('mode differs -> "mode 0644 -> 0640"', () => {
  const c = asChange(planFile(MAPS, fileFacts(MAPS, { mode: 0o644 })));
  assert.is(c.action, 'update');
  assert.equal(c.reasons, ['mode 0644 -> 0640']);
  assert.not.ok(c.diff.includes(NEW_TOKEN));
});

test('owner differs -> owner reason', () => {
  const c = asChange(planFile(SITE, fileFacts(SITE, { owner: 'www-data', group: 'adm' })));
  assert.equal(c.reasons, ['owner www-data:adm -> root:root']);
  const g = asChange(planFile(SITE, fileFacts(SITE, { group: 'nginx' })));
  assert.equal(g.reasons, ['owner root:nginx -> root:root']);
});

test('several differences give several reasons, in order', () => {
  const c = asChange(planFile(SITE, fileFacts(SITE, { content: Buffer.from('x'), mode: 0o600, owner: 'bob' })));
  assert.equal(c.reasons, ['content differs', 'mode 0600 -> 0644', 'owner bob:root -> root:root']);
});

test('link as expected -> noop', () => {
  const n = asNoop(planFile(LINK, { path: LINK.path, kind: 'link', linkTo: SITE.path, mode: 0o777, owner: 'root', group: 'root' }));
  assert.is(n.why, `links to ${SITE.path}`);
});

test('link pointing elsewhere -> update with the reason', () => {
  const c = asChange(planFile(LINK, { path: LINK.path, kind: 'link', linkTo: '/etc/nginx/sites-available/old.conf' }));
  assert.is(c.action, 'update');
  assert.equal(c.reasons, [`points to /etc/nginx/sites-available/old.conf, expected ${SITE.path}`]);
  assert.ok(c.diff.includes('--> /etc/nginx/sites-available/old.conf'));
  assert.ok(c.diff.includes(`+-> ${SITE.path}`));
});

test('regular file where a link is expected -> replace', () => {
  const c = asChange(planFile(LINK, { path: LINK.path, kind: 'file', mode: 0o644, owner: 'root', group: 'root', content: Buffer.from('server {}\n') }));
  assert.is(c.action, 'replace');
  assert.equal(c.reasons, ['is a file, expected a symlink']);
  assert.ok(c.diff.includes('-server {}'));
});

test('directory where a file is expected -> replace', () => {
  const c = asChange(planFile(SITE, { path: SITE.path, kind: 'dir', mode: 0o755, owner: 'root', group: 'root' }));
  assert.is(c.action, 'replace');
  assert.equal(c.reasons, ['is a dir, expected a regular file']);
});

test('link where a file is expected -> replace', () => {
  const c = asChange(planFile(SITE, { path: SITE.path, kind: 'link', linkTo: '/tmp/x' }));
  assert.is(c.action, 'replace');
  assert.equal(c.reasons, ['is a link, expected a regular file']);
});

test('makePlan: missing facts mean absent; changes and noops split in spec order', () => {
  const facts = new Map<string, FileFacts>([
    [SITE.path, fileFacts(SITE)],
    [LINK.path, { path: LINK.path, kind: 'link', linkTo: '/elsewhere' }],
  ]);
  const plan = makePlan('p', [MAPS, SITE, LINK], facts);
  assert.is(plan.host, 'p');
  assert.equal(plan.changes.map((c) => [c.path, c.action]), [
    [MAPS.path, 'create'],
    [LINK.path, 'update'],
  ]);
  assert.equal(plan.noops.map((n) => n.path), [SITE.path]);
});

test('makePlan: everything in place -> no changes', () => {
  const facts = new Map<string, FileFacts>([
    [MAPS.path, fileFacts(MAPS)],
    [SITE.path, fileFacts(SITE)],
    [LINK.path, { path: LINK.path, kind: 'link', linkTo: SITE.path }],
  ]);
  const plan = makePlan('p', [MAPS, SITE, LINK], facts);
  assert.is(plan.changes.length, 0);
  assert.is(plan.noops.length, 3);
});

test.run();
