// The drift report: wording, exit codes, "since when" from earlier reports,
// redaction, and the atomic files and history it is kept in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { earlierReports, historyFiles, historyName, saveHistory, writeAtomic } from '../../lib/drift/files.js';
import { applySince, driftEntries, exitCodeOf, jsonDriftReport, textDriftReport, type DriftEntry, type DriftReport, type HostReport } from '../../lib/drift/report.js';
import type { HostOutcome } from '../../lib/hostrun.js';
import type { Change } from '../../lib/plan.js';
import { tempDir } from '../tempdir.js';

const TOKEN = 'secret-token-0123456789abcdef0123456789abcdef';

function outcome(changes: Partial<Change>[], findings: { path: string; reason: string }[] = []): HostOutcome {
  return { host: 'p1', status: 'drift', changes: changes as Change[], notes: [], probes: [], findings };
}

test('a removed site link reads as a disabled site; other reasons are kept', () => {
  const link: Partial<Change> = { path: '/e/sites-enabled/gw.conf', action: 'create', reasons: ['absent'], diff: '', spec: { stage: 'enable', path: '/e/sites-enabled/gw.conf', linkTo: '/e/sites-available/gw.conf', mode: 0o777, owner: 'root', group: 'root' }, before: { path: '/e/sites-enabled/gw.conf', kind: 'absent' } };
  const mode: Partial<Change> = { path: '/e/conf.d/maps.conf', action: 'update', reasons: ['mode 0644 -> 0640'], diff: '', spec: { stage: 'maps', path: '/e/conf.d/maps.conf', content: 'x', mode: 0o640, owner: 'root', group: 'root' }, before: { path: '/e/conf.d/maps.conf', kind: 'file' } };
  const entries = driftEntries(outcome([link, mode], [{ path: '/e/nginx.conf', reason: 'not live yet' }]), 'T0');
  assert.equal(entries.map((e) => [e.action, e.path]), [['create', '/e/sites-enabled/gw.conf'], ['update', '/e/conf.d/maps.conf'], ['none', '/e/nginx.conf']]);
  assert.match(entries[0].reasons[0], /^the site is disabled: the symlink \/e\/sites-enabled\/gw\.conf -> \/e\/sites-available\/gw\.conf was removed/);
  assert.equal(entries[1].reasons, ['mode 0644 -> 0640']);
  assert.ok(entries.every((e) => e.since === 'T0'));
});

const entry = (path: string, since: string, action: DriftEntry['action'] = 'update'): DriftEntry => ({ path, action, reasons: ['r'], diff: '', since });
const host = (name: string, status: HostReport['status'], drift: DriftEntry[] = [], extra: Partial<HostReport> = {}): HostReport => ({ host: name, status, duration_seconds: 1, drift, notes: [], ...extra });
function report(timestamp: string, hosts: HostReport[]): DriftReport {
  return { kind: 'converge-drift', version: 1, timestamp, duration_seconds: 1, inventory: '/i', limit: null, remediate: false, exit_code: exitCodeOf(hosts), summary: { hosts: hosts.length, ok: 0, drift: 0, failed: 0, unreachable: 0 }, warnings: [], hosts };
}

test('exit codes: 1 beats 2 beats 0; a failed remediation is 1', () => {
  assert.is(exitCodeOf([host('a', 'ok')]), 0);
  assert.is(exitCodeOf([host('a', 'ok'), host('b', 'drift')]), 2);
  assert.is(exitCodeOf([host('a', 'unreachable'), host('b', 'drift')]), 1);
  assert.is(exitCodeOf([host('a', 'failed')]), 1);
  assert.is(exitCodeOf([host('a', 'ok', [], { remediation: { status: 'failed', found: [], repaired: [], notes: [] } })]), 1);
  assert.is(exitCodeOf([host('a', 'drift', [], { remediation: { status: 'incomplete', found: [], repaired: [], notes: [] } })]), 2);
});

test('since: carried from the latest report that checked the host; new drift starts now', () => {
  const now = report('2026-11-26T13:00:00.000Z', [host('p1', 'drift', [entry('/a', '2026-11-26T13:00:00.000Z'), entry('/b', '2026-11-26T13:00:00.000Z'), entry('/c', '2026-11-26T13:00:00.000Z', 'none')]), host('p2', 'drift', [entry('/a', '2026-11-26T13:00:00.000Z')])]);
  const earlier = [
    // newest first: p1 unreachable then (skipped), p2 clean then (its drift is new)
    report('2026-11-26T12:45:00.000Z', [host('p1', 'unreachable'), host('p2', 'ok')]),
    report('2026-11-26T12:30:00.000Z', [host('p1', 'drift', [entry('/a', '2026-11-26T11:00:00.000Z'), entry('/c', '2026-11-26T12:00:00.000Z', 'none')]), host('p2', 'drift', [entry('/a', '2026-11-26T10:00:00.000Z')])]),
  ];
  applySince(now, earlier);
  const p1 = now.hosts[0].drift;
  assert.is(p1[0].since, '2026-11-26T11:00:00.000Z');
  assert.is(p1[1].since, '2026-11-26T13:00:00.000Z', '/b is new');
  assert.is(p1[2].since, '2026-11-26T12:00:00.000Z');
  assert.is(now.hosts[1].drift[0].since, '2026-11-26T13:00:00.000Z', 'p2 was clean in between');
});

test('since: drift repaired by a remediation counts as seen', () => {
  const now = report('2026-11-26T13:00:00.000Z', [host('p1', 'drift', [entry('/a', '2026-11-26T13:00:00.000Z')])]);
  const prev = report('2026-11-26T12:45:00.000Z', [host('p1', 'drift', [entry('/a', '2026-11-26T12:45:00.000Z')], { remediation: { status: 'incomplete', found: [entry('/a', '2026-11-26T12:00:00.000Z')], repaired: [], notes: [] } })]);
  applySince(now, [prev]);
  assert.is(now.hosts[0].drift[0].since, '2026-11-26T12:00:00.000Z');
});

test('JSON and text reports never show a secret', () => {
  const r = report('2026-11-26T13:00:00.000Z', [host('p1', 'failed', [{ ...entry('/maps', 'T'), diff: `+ "Bearer ${TOKEN}" 1;` }], { error: `failed near ${TOKEN}`, notes: [TOKEN] })]);
  for (const text of [jsonDriftReport(r, [TOKEN]), textDriftReport(r, [TOKEN], true)]) {
    assert.not.ok(text.includes(TOKEN));
    assert.match(text, /<redacted:bearer-token>/);
  }
  const text = textDriftReport(r, [TOKEN], false);
  assert.match(text, /would update \/maps: r \(since T\)/);
  assert.match(text, /exit 1: a host could not be checked/);
});

test('writeAtomic: whole file or nothing, mode kept, no temp file left, clear error when it cannot write', () => {
  const dir = tempDir('converge-atomic-');
  try {
    const file = join(dir, 'sub', 'm.prom');
    writeAtomic(file, 'one\n', 0o644);
    writeAtomic(file, 'two\n', 0o640);
    assert.is(readFileSync(file, 'utf8'), 'two\n');
    assert.is(statSync(file).mode & 0o777, 0o640);
    assert.equal(readdirSync(join(dir, 'sub')), ['m.prom']);
    writeFileSync(join(dir, 'plain'), '');
    assert.throws(() => writeAtomic(join(dir, 'plain', 'x.json'), '{}'), /cannot write .*plain\/x\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('history: sortable names, the last N kept, foreign files left alone, earlier reports newest first', () => {
  const dir = tempDir('converge-history-');
  try {
    assert.is(historyName('2026-11-26T12:00:05.250Z'), 'drift-2026-11-26T12-00-05.250Z.json');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const stamps = ['2026-11-26T12:00:00.000Z', '2026-11-26T12:15:00.000Z', '2026-11-26T12:30:00.000Z', '2026-11-26T12:45:00.000Z'];
    for (const t of stamps) saveHistory(dir, report(t, []), JSON.stringify(report(t, [])), 3);
    // Same timestamp twice: both kept under distinct names.
    saveHistory(dir, report(stamps[3], []), JSON.stringify(report(stamps[3], [])), 3);
    const files = historyFiles(dir);
    assert.is(files.length, 3);
    assert.ok(readdirSync(dir).includes('notes.txt'));
    writeFileSync(join(dir, 'drift-2026-11-26T12-50-00.000Z.json'), 'not json');
    const earlier = earlierReports(historyFiles(dir));
    assert.equal(earlier.map((r) => r.timestamp), [stamps[3], stamps[3], stamps[2]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
