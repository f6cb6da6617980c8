// The drift inspection's parsers and rules (pure): what the host said -> findings.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configFiles, evaluate, parseInspectOutput, parseNotAfter, parseStatTime, pidDirective, type EvaluateInput } from '../../lib/drift/inspect.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('parseStatTime: stat %y with nanoseconds and offsets', () => {
  assert.is(parseStatTime('2026-11-26_15:44:06.957437567_+0000'), Date.UTC(2026, 10, 26, 15, 44, 6) / 1000 + 0.957437567);
  assert.is(parseStatTime('2026-11-26_16:44:06.5_+0100'), Date.UTC(2026, 10, 26, 15, 44, 6) / 1000 + 0.5);
  assert.is(parseStatTime('2026-11-26_15:44:06_-0230'), Date.UTC(2026, 10, 26, 18, 14, 6) / 1000);
  assert.is(parseStatTime(''), null);
  assert.is(parseStatTime('yesterday'), null);
});

test('parseNotAfter: openssl x509 -enddate', () => {
  assert.is(parseNotAfter('notAfter=Dec  8 10:00:00 2026 GMT'), Date.UTC(2026, 11, 8, 10, 0, 0) / 1000);
  assert.is(parseNotAfter('notAfter=Feb 28 15:11:49 2029 GMT\n'), Date.UTC(2029, 1, 28, 15, 11, 49) / 1000);
  assert.is(parseNotAfter('unable to load certificate'), null);
  assert.is(parseNotAfter('notAfter=Foo  8 10:00:00 2026 GMT'), null);
});

test('configFiles and pidDirective read an nginx -T dump', () => {
  const dump = [
    'nginx: the configuration file /etc/nginx/nginx.conf syntax is ok',
    '# configuration file /etc/nginx/nginx.conf:',
    '# pid /wrong/commented.pid;',
    'user www-data;',
    'pid /run/custom.pid;',
    'http { include /etc/nginx/conf.d/*.conf; }',
    '',
    '# configuration file /etc/nginx/conf.d/a b.conf:',
    'map $x $y { default 1; }',
    '# configuration file /etc/nginx/nginx.conf:',
  ].join('\n');
  assert.equal(configFiles(dump), ['/etc/nginx/nginx.conf', '/etc/nginx/conf.d/a b.conf']);
  assert.is(pidDirective(dump), '/run/custom.pid');
  assert.is(pidDirective('# configuration file /x:\nuser nginx;\n'), null);
  assert.is(pidDirective('pid "/run/quoted.pid";'), '/run/quoted.pid');
});

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0) / 1000;
const UPTIME = 1000;
const HZ = 100;
/** Ticks since boot for an epoch time. */
const ticks = (t: number) => Math.round((t - (NOW - UPTIME)) * HZ);
const stamp = (t: number) => new Date(t * 1000).toISOString().replace('T', '_').replace(/\.(\d+)Z$/, '.$1000000_+0000');

function answer(opts: { master?: boolean; workers?: number[]; mtimes?: (number | null)[]; cert?: string | null; certCode?: number }): string {
  const lines = [`clock ${NOW}.000000000 ${UPTIME}.00 ${HZ}`, `pidfile ${b64('/run/nginx.pid')}`];
  if (opts.master === false) lines.push('nomaster');
  else {
    lines.push(`master 100 ${ticks(NOW - 900)}`);
    for (const [i, w] of (opts.workers ?? []).entries()) lines.push(`worker ${200 + i} ${ticks(w)} nginx: worker process`);
    // A worker of an earlier configuration, winding down, and a cache manager: not the running config.
    lines.push(`worker 300 ${ticks(NOW - 800)} nginx: worker process is shutting down`, `worker 301 ${ticks(NOW - 900)} nginx: cache manager process`);
  }
  for (const m of opts.mtimes ?? []) lines.push(`mtime ${m === null ? '' : stamp(m)} ${m === null ? '' : stamp(m - 5000)}`);
  lines.push(opts.cert === undefined || opts.cert === null ? 'cert none' : `cert ${opts.certCode ?? 0} ${b64(opts.cert)}`);
  return lines.join('\n') + '\n';
}

const INPUT: EvaluateInput = { files: ['/etc/nginx/nginx.conf', '/etc/nginx/sites-enabled/gw.conf'], certFiles: [], chain: '/le/live/gw/fullchain.pem', warnDays: 21, deployHook: '/le/hook' };

test('parseInspectOutput: clock, master, current workers only, mtimes in order, certificate', () => {
  const facts = parseInspectOutput(answer({ workers: [NOW - 60, NOW - 60.01], mtimes: [NOW - 100, null], cert: 'notAfter=Dec  8 10:00:00 2026 GMT' }), 2);
  assert.is(facts.pidFile, '/run/nginx.pid');
  assert.equal(facts.master, { pid: 100, started: NOW - 900 });
  assert.equal(facts.workers.map((w) => w.pid), [200, 201]);
  assert.ok(Math.abs(facts.workers[1].started - (NOW - 60.01)) < 0.011);
  assert.ok(Math.abs(facts.mtimes[0]! - (NOW - 100)) < 0.001, 'the later of the link and its target');
  assert.is(facts.mtimes[1], null);
  assert.equal(facts.cert, { code: 0, output: 'notAfter=Dec  8 10:00:00 2026 GMT' });
  assert.throws(() => parseInspectOutput(answer({ mtimes: [NOW] }), 2), /expected 2 file times, got 1/);
  assert.throws(() => parseInspectOutput('sudo: oops\n', 0), /unexpected answer/);
});

const findings = (a: string, input = INPUT) => evaluate(parseInspectOutput(a, input.files.length + input.certFiles.length), input);

test('a file modified after the current workers started is not live yet; older ones are fine', () => {
  const f = findings(answer({ workers: [NOW - 60, NOW - 60], mtimes: [NOW - 120, NOW - 10] }));
  assert.is(f.length, 1);
  assert.is(f[0].path, '/etc/nginx/sites-enabled/gw.conf');
  assert.match(f[0].reason, /^modified 2026-11-26T11:59:50Z, after nginx last loaded its configuration \(2026-11-26T11:59:00Z\): this change is not live yet/);
});

test('a write just before the reload is not reported (clock resolution)', () => {
  assert.equal(findings(answer({ workers: [NOW - 60], mtimes: [NOW - 60.03, NOW - 60.01] })), []);
});

test('without workers (master_process off) the master start time counts', () => {
  const f = findings(answer({ workers: [], mtimes: [NOW - 1000, NOW - 800] }));
  assert.equal(f.map((x) => x.path), ['/etc/nginx/sites-enabled/gw.conf']);
});

test('a renewed certificate nginx has not reloaded names the deploy hook', () => {
  const input = { ...INPUT, files: [], certFiles: ['/le/live/gw/fullchain.pem', '/le/live/gw/privkey.pem'] };
  const f = findings(answer({ workers: [NOW - 60], mtimes: [NOW - 5, NOW - 5], cert: 'notAfter=Feb 24 12:00:00 2027 GMT' }), input);
  assert.equal(f.map((x) => x.path), input.certFiles);
  assert.match(f[0].reason, /nginx still serves the previous certificate; the renewal hook \/le\/hook/);
});

test('no nginx master: one finding on the pid file, no file comparison', () => {
  const f = findings(answer({ master: false, mtimes: [NOW, NOW] }));
  assert.equal(f.map((x) => x.path), ['/run/nginx.pid']);
  assert.match(f[0].reason, /no nginx master process is running/);
});

test('certificate expiry: beyond, within cert_warn_days, expired; openssl failure is an error', () => {
  const at = (days: number) => {
    const d = new Date((NOW + days * 86400) * 1000);
    const mon = d.toUTCString().split(' ')[2];
    return `notAfter=${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)} ${d.getUTCFullYear()} GMT`;
  };
  assert.equal(findings(answer({ workers: [NOW], mtimes: [NOW - 9, NOW - 9], cert: at(30) })), []);
  const soon = findings(answer({ workers: [NOW], mtimes: [NOW - 9, NOW - 9], cert: at(10.5) }));
  assert.equal(soon.map((x) => x.path), ['/le/live/gw/fullchain.pem']);
  assert.match(soon[0].reason, /^the certificate expires on 2026-12-07T00:00:00Z, in 10 day\(s\) \(cert_warn_days: 21\)/);
  assert.equal(findings(answer({ workers: [NOW], mtimes: [NOW - 9, NOW - 9], cert: at(10.5) }), { ...INPUT, warnDays: 7 }), []);
  const expired = findings(answer({ workers: [NOW], mtimes: [NOW - 9, NOW - 9], cert: at(-2.5) }));
  assert.match(expired[0].reason, /^the certificate expired on .* \(2 day\(s\) ago\)/);
  assert.throws(() => findings(answer({ workers: [NOW], mtimes: [NOW - 9, NOW - 9], cert: 'sh: 1: openssl: not found', certCode: 127 })), /cannot read the certificate's expiry date with openssl \(exit 127\)/);
});

test.run();
