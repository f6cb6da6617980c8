// The Prometheus textfile, read back by a strict parser of the text
// exposition format: HELP then TYPE before each family's samples, each family
// once, one sample per series, escaped label values, no timestamps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeLabel, renderMetrics } from '../../lib/drift/metrics.js';
import type { DriftReport, HostReport } from '../../lib/drift/report.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text format strictly; throws on anything promtool or node_exporter would refuse. */
function parseStrict(text: string): { families: Map<string, { help: string; type: string }>; samples: Sample[] } {
  if (!text.endsWith('\n')) throw new Error('the file must end with a newline');
  const families = new Map<string, { help: string; type: string }>();
  const samples: Sample[] = [];
  const series = new Set<string>();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  let current: string | null = null;
  let help: string | null = null;
  const closed = new Set<string>();
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    const at = `line ${i + 1}: ${JSON.stringify(line)}`;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      if (families.has(m[1]) || closed.has(m[1])) throw new Error(`${at}: family declared twice`);
      if (current) closed.add(current);
      if (/\\[^\\n]/.test(m[2].replace(/\\\\/g, ''))) throw new Error(`${at}: bad escape in HELP`);
      current = m[1];
      help = m[2];
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      if (m[1] !== current || help === null) throw new Error(`${at}: TYPE must follow the family's HELP`);
      families.set(m[1], { help, type: m[2] });
      help = null;
    } else if ((m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`).exec(line))) {
      if (m[1] !== current || !families.has(m[1])) throw new Error(`${at}: sample outside its family (HELP/TYPE first, families not interleaved)`);
      const labels: Record<string, string> = {};
      let rest = m[2] ?? '';
      while (rest.length) {
        const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
        if (!l) throw new Error(`${at}: malformed labels`);
        if (l[1] in labels) throw new Error(`${at}: label ${l[1]} twice`);
        labels[l[1]] = l[2].replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(l[0].length);
      }
      if (!/^(NaN|[+-]Inf|[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/.test(m[3])) throw new Error(`${at}: bad value (or a timestamp)`);
      const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
      if (series.has(key)) throw new Error(`${at}: a second sample of the same series`);
      series.add(key);
      samples.push({ name: m[1], labels, value: Number(m[3].replace('Inf', 'Infinity')) });
    } else {
      throw new Error(`${at}: not HELP, TYPE or a sample`);
    }
  }
  if (help !== null) throw new Error('HELP without TYPE at the end');
  return { families, samples };
}

function host(name: string, status: HostReport['status'], drift = 0, extra: Partial<HostReport> = {}): HostReport {
  const entry = { path: '/etc/nginx/x', action: 'update' as const, reasons: ['content differs'], diff: '', since: '2026-11-26T12:00:00.000Z' };
  return { host: name, status, duration_seconds: 1.25, drift: Array.from({ length: drift }, () => entry), notes: [], ...extra };
}

function report(hosts: HostReport[], remediate = false): DriftReport {
  return {
    kind: 'converge-drift',
    version: 1,
    timestamp: '2026-11-26T12:00:05.250Z',
    duration_seconds: 5.25,
    inventory: '/inv.yml',
    limit: null,
    remediate,
    exit_code: 1,
    summary: { hosts: hosts.length, ok: 0, drift: 0, failed: 0, unreachable: 0 },
    warnings: [],
    hosts,
  };
}

const value = (samples: Sample[], name: string, h?: string) => samples.find((s) => s.name === name && s.labels.host === h)?.value;

test('the textfile is valid: HELP/TYPE per family, one sample per series, values per host', () => {
  const text = renderMetrics(report([host('p1', 'ok'), host('p2', 'drift', 3), host('p3', 'unreachable'), host('p4', 'failed')]));
  const { families, samples } = parseStrict(text);
  assert.equal([...families.keys()], ['converge_drift', 'converge_drift_resources', 'converge_check_success', 'converge_check_duration_seconds', 'converge_last_check_timestamp_seconds']);
  for (const f of families.values()) assert.is(f.type, 'gauge');
  assert.is(value(samples, 'converge_drift', 'p1'), 0);
  assert.is(value(samples, 'converge_drift', 'p2'), 1);
  assert.is(value(samples, 'converge_drift_resources', 'p2'), 3);
  assert.is(value(samples, 'converge_drift', 'p3'), undefined, 'drift of an unchecked host is unknown, not 0');
  assert.is(value(samples, 'converge_check_success', 'p1'), 1);
  assert.is(value(samples, 'converge_check_success', 'p3'), 0);
  assert.is(value(samples, 'converge_check_success', 'p4'), 0);
  assert.is(value(samples, 'converge_check_duration_seconds', 'p4'), 1.25);
  assert.is(value(samples, 'converge_last_check_timestamp_seconds'), Date.UTC(2026, 10, 26, 12, 0, 5, 250) / 1000);
});

test('label values are escaped (backslash, quote, newline) and read back intact', () => {
  const odd = 'we"ird\\host\nname';
  assert.is(escapeLabel(odd), 'we\\"ird\\\\host\\nname');
  const { samples } = parseStrict(renderMetrics(report([host(odd, 'drift', 1)])));
  assert.is(value(samples, 'converge_drift', odd), 1);
});

test('--remediate adds the repaired count', () => {
  const text = renderMetrics(report([host('p1', 'ok', 0, { remediation: { status: 'repaired', found: [], repaired: ['/a', '/b'], notes: [] } }), host('p2', 'ok')], true));
  const { samples } = parseStrict(text);
  assert.is(value(samples, 'converge_drift_repaired_resources', 'p1'), 2);
  assert.is(value(samples, 'converge_drift_repaired_resources', 'p2'), 0);
  assert.not.match(renderMetrics(report([host('p1', 'ok')])), /repaired/);
});

test('the strict parser refuses what the format forbids (so the tests above can fail)', () => {
  const ok = '# HELP a x\n# TYPE a gauge\na{host="h"} 1\n';
  parseStrict(ok);
  assert.throws(() => parseStrict(ok + 'a{host="h"} 2\n'), /second sample of the same series/);
  assert.throws(() => parseStrict('a 1\n'), /sample outside its family/);
  assert.throws(() => parseStrict('# TYPE a gauge\na 1\n'), /TYPE must follow/);
  assert.throws(() => parseStrict('# HELP a x\n# TYPE a gauge\na{host="h"q"} 1\n'), /malformed labels/);
  assert.throws(() => parseStrict('# HELP a x\n# TYPE a gauge\na 1 1700000000000\n'), /not HELP, TYPE or a sample/);
  assert.throws(() => parseStrict(ok + '# HELP b y\n# TYPE b gauge\nb 1\na{host="i"} 1\n'), /sample outside its family/);
  assert.throws(() => parseStrict(ok.trimEnd()), /newline/);
});

test.run();
