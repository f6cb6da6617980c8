import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exitCode, EXIT_CHANGES, EXIT_FAILED, EXIT_OK, jsonReport, newTokenNotice, retryLimit, textRecap } from '../../lib/report.js';
import type { HostOutcome, Mode, Status } from '../../lib/hostrun.js';
import { RemoteCommandError, RollbackError } from '../../lib/errors.js';
import { isChange, planFile, type Change } from '../../lib/plan.js';
import type { FileSpec } from '../../lib/desired.js';

const TOKEN = 'c0ffee'.repeat(11); // 66 chars
const OTHER = 'beef'.repeat(16);

function outcome(host: string, status: Status, extra: Partial<HostOutcome> = {}): HostOutcome {
  return { host, status, changes: [], notes: [], probes: [], findings: [], ...extra };
}

/** A change whose diff deliberately carries the raw token (as a careless caller might). */
function leakyChange(): Change {
  const spec: FileSpec = { stage: 'vhost', path: '/etc/nginx/sites-available/gw.conf', content: `# ${TOKEN}\nserver {}\n`, mode: 0o644, owner: 'root', group: 'root' };
  const c = planFile(spec, { path: spec.path, kind: 'absent' });
  assert.ok(isChange(c));
  const change = c as Change;
  assert.ok(change.diff.includes(TOKEN), 'fixture: the diff should carry the raw token');
  return change;
}

const exitCases: [Mode, Status[], number][] = [
  ['apply', [], EXIT_OK],
  ['apply', ['ok'], EXIT_OK],
  ['apply', ['ok', 'changed'], EXIT_OK],
  ['apply', ['changed', 'failed'], EXIT_FAILED],
  ['apply', ['ok', 'unreachable'], EXIT_FAILED],
  ['apply', ['drift'], EXIT_OK],
  ['check', ['ok'], EXIT_OK],
  ['check', ['ok', 'drift'], EXIT_CHANGES],
  ['check', ['drift', 'failed'], EXIT_FAILED],
  ['check', ['unreachable'], EXIT_FAILED],
];

test('exit code constants', () => {
  assert.equal([EXIT_OK, EXIT_FAILED, EXIT_CHANGES], [0, 1, 2]);
});

for (const [mode, statuses, code] of exitCases) {
  test(`exitCode(${mode}, [${statuses.join(', ')}]) = ${code}`, () => {
    assert.is(exitCode(mode, statuses.map((s, i) => outcome(`h${i}`, s))), code);
  });
}

test('jsonReport: documented shape', () => {
  const change = leakyChange();
  const probe = { id: 'gate-anonymous' as const, name: 'GET https://gw/ollama/ no token', ok: true, expected: '401', status: 401, ms: 12 };
  const doc = JSON.parse(
    jsonReport('check', [outcome('a', 'drift', { changes: [change], notes: ['n1'], probes: [probe] }), outcome('b', 'ok')], []),
  );
  assert.is(doc.mode, 'check');
  assert.equal(doc.summary, { hosts: 2, ok: 1, drift: 1, failed: 0, unreachable: 0, exit_code: 2 });
  assert.equal(Object.keys(doc), ['mode', 'summary', 'hosts']);
  assert.is(doc.hosts.length, 2);
  const [a, b] = doc.hosts;
  assert.is(a.host, 'a');
  assert.is(a.status, 'drift');
  assert.equal(Object.keys(a.changes[0]).sort(), ['action', 'diff', 'path', 'reasons']);
  assert.equal(a.changes[0].path, change.path);
  assert.equal(a.changes[0].action, 'create');
  assert.equal(a.changes[0].reasons, ['absent']);
  assert.type(a.changes[0].diff, 'string');
  assert.equal(a.notes, ['n1']);
  assert.equal(a.probes, [probe]);
  assert.not.ok('error' in a);
  assert.is(b.host, 'b');
  assert.equal(b.changes, []);
});

test('jsonReport: secrets redacted from diffs, errors and rollback errors; still valid JSON', () => {
  const err = new RemoteCommandError(`nginx -t failed near "Bearer ${TOKEN}"`, { host: 'a', detail: `line with ${TOKEN}`, where: 'nginx -t' });
  const rb = new RollbackError('rollback could not restore 1 path(s)', { host: 'a', detail: `cp: ${OTHER}` });
  const text = jsonReport('apply', [outcome('a', 'failed', { changes: [leakyChange()], error: err, rollbackError: rb })], [TOKEN, OTHER]);
  assert.not.ok(text.includes(TOKEN));
  assert.not.ok(text.includes(OTHER));
  const doc = JSON.parse(text);
  const h = doc.hosts[0];
  assert.ok(h.changes[0].diff.includes('<redacted:bearer-token>'));
  assert.match(h.error, /nginx -t failed near/);
  assert.match(h.error, /<redacted:bearer-token>/);
  assert.match(h.rollback_error, /rollback could not restore/);
  assert.match(h.rollback_error, /<redacted:bearer-token>/);
});

test('jsonReport: the summary counts the statuses an apply run gives, and its exit code', () => {
  const doc = JSON.parse(jsonReport('apply', [outcome('a', 'ok'), outcome('b', 'changed'), outcome('c', 'unreachable'), outcome('d', 'changed')], []));
  assert.equal(doc.summary, { hosts: 4, ok: 1, changed: 2, failed: 0, unreachable: 1, exit_code: 1, retry_limit: 'c' });
});

test('jsonReport: a plain Error and a thrown string are reported too', () => {
  const doc = JSON.parse(jsonReport('apply', [outcome('a', 'failed', { error: new Error(`boom ${TOKEN}`) }), outcome('b', 'failed', { error: 'str' })], [TOKEN]));
  assert.is(doc.hosts[0].error, 'boom <redacted:bearer-token>');
  assert.is(doc.hosts[1].error, 'str');
});

test('textRecap: one line per host, check-mode wording, redacted', () => {
  const err = new RemoteCommandError(`failed with ${TOKEN}`, { host: 'bb', hint: 'look' });
  const text = textRecap('check', [outcome('a', 'drift', { changes: [leakyChange()], notes: [`note ${TOKEN}`] }), outcome('bb', 'failed', { error: err })], [TOKEN], true);
  assert.not.ok(text.includes(TOKEN));
  assert.match(text, /RECAP \(check mode: nothing was changed\)/);
  assert.match(text, /^  a   drift\s+1 change\(s\)$/m);
  assert.match(text, /^  bb  failed\s+0 change\(s\)$/m);
  assert.match(text, /would create \/etc\/nginx\/sites-available\/gw\.conf: absent/);
  assert.match(text, /note <redacted:bearer-token>/);
  assert.match(text, /error: \[bb\] failed with <redacted:bearer-token>/);
  assert.match(text, /^    \+# <redacted:bearer-token>$/m);
  assert.ok(text.endsWith('\n\n2 host(s): 1 drift, 1 failed; exit 1\n'), 'the counts come last');
});

test('textRecap: the last line counts the hosts by status, with the exit code', () => {
  const fleet = [outcome('a', 'ok'), outcome('b', 'changed'), outcome('c', 'ok'), outcome('d', 'unreachable')];
  assert.ok(textRecap('apply', fleet, [], false).endsWith('\n4 host(s): 2 ok, 1 changed, 1 unreachable; exit 1\n'));
  assert.ok(textRecap('check', [outcome('a', 'ok'), outcome('b', 'drift')], [], false).endsWith('\n2 host(s): 1 ok, 1 drift; exit 2\n'));
  assert.ok(textRecap('apply', [outcome('a', 'changed')], [], false).endsWith('\n1 host(s): 1 changed; exit 0\n'));
});

test('textRecap: when some of several hosts failed, a --limit of those, before the counts', () => {
  const fleet = [outcome('a', 'ok'), outcome('b', 'failed'), outcome('c', 'changed'), outcome('d', 'unreachable')];
  assert.ok(textRecap('apply', fleet, [], false).endsWith('\nto run again on the host(s) that failed: --limit b,d\n\n4 host(s): 1 ok, 1 changed, 1 failed, 1 unreachable; exit 1\n'));
  assert.is(retryLimit(fleet), 'b,d');
  assert.is(retryLimit([outcome('a', 'failed'), outcome('b', 'unreachable')]), null, 'all failed: the same command again');
  assert.is(retryLimit([outcome('a', 'ok'), outcome('b', 'drift')]), null);
  assert.not.match(textRecap('check', [outcome('a', 'ok'), outcome('b', 'drift')], [], false), /to run again/);
});

test('textRecap: apply wording; diffs only when asked', () => {
  const text = textRecap('apply', [outcome('a', 'changed', { changes: [leakyChange()] })], [TOKEN], false);
  assert.match(text, /RECAP \(apply\)/);
  assert.match(text, /^  create \/etc\/nginx\/sites-available\/gw\.conf: absent$/m);
  assert.not.match(text, /would /);
  assert.not.match(text, /^\s+\+\+\+ /m);
});

test('textRecap: rollback failures are called out', () => {
  const rb = new RollbackError('rollback could not restore 1 path(s)', { host: 'a', detail: `x ${TOKEN}` });
  const text = textRecap('apply', [outcome('a', 'failed', { rollbackError: rb })], [TOKEN], false);
  assert.match(text, /ROLLBACK FAILED/);
  assert.not.ok(text.includes(TOKEN));
});

test('newTokenNotice: only for a changed host with a generated token', () => {
  const changed = outcome('gw1', 'changed', { newToken: TOKEN });
  const notice = newTokenNotice(changed, 'gw.example.com', 443);
  assert.ok(notice);
  assert.ok(notice!.includes(`  ${TOKEN}\n`));
  assert.ok(notice!.includes('https://gw.example.com/ollama/v1'));
  assert.ok(notice!.includes('gw1'));
  assert.ok(newTokenNotice(changed, 'gw.example.com', 18443)!.includes('https://gw.example.com:18443/ollama/v1'));
  for (const s of ['ok', 'drift', 'failed', 'unreachable'] as Status[]) {
    assert.is(newTokenNotice(outcome('gw1', s, { newToken: TOKEN }), 'gw.example.com', 443), null, s);
  }
  assert.is(newTokenNotice(outcome('gw1', 'changed'), 'gw.example.com', 443), null);
});

test.run();
