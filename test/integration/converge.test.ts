// converge against the lab over real SSH: first run, idempotence, check mode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, converge, fileMode, gateway, LAB_INVENTORY, lastOllamaRequest, LINK, MAPS, REPO, resetLab, SITE, snapshot, TOKEN, workerPids } from './lab.js';

const INV = ['-i', LAB_INVENTORY];

test.before(() => resetLab());

test('first converge creates the maps, vhost and link, reloads, and the gateway works', async () => {
  const run = await converge([...INV, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.is(report.mode, 'apply');
  assert.is(report.hosts[0].status, 'changed');
  assert.equal(report.hosts[0].changes.map((c: { action: string }) => c.action), ['create', 'create', 'create', 'create']);
  assert.ok(report.hosts[0].probes.every((p: { ok: boolean; warning?: boolean }) => p.ok || p.warning), 'verify probes pass');
  assert.is(fileMode(MAPS), '640 0:0', 'maps file is root-only');
  assert.is(fileMode(SITE), '644 0:0');
  assert.is(readlinkSync(LINK), SITE);
  assert.match(readFileSync(MAPS, 'utf8'), `"Bearer ${TOKEN}" 1;`);
  assert.is((await gateway('/ollama/v1/models')).status, 401);
  assert.is((await gateway('/ollama/v1/models', { Authorization: 'Bearer wrong-token-0123456789abcdef0123456789' })).status, 401);
  const ok = await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` });
  assert.is(ok.status, 200);
  assert.ok(Array.isArray(JSON.parse(ok.body).data));
  const seen = await lastOllamaRequest();
  assert.not.ok('authorization' in seen.headers, 'Ollama never sees the Authorization header');
});

test('second converge changes nothing: no write, no reload', async () => {
  const before = snapshot();
  const pids = workerPids();
  const run = await converge([...INV, '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.is(report.hosts[0].status, 'ok');
  assert.equal(report.hosts[0].changes, []);
  assert.equal(compare(before, snapshot()), [], 'no file written (bytes, modes and mtimes unchanged)');
  assert.is(workerPids(), pids, 'nginx was not reloaded');
});

test('without the token in the environment, the deployed token is kept', async () => {
  const run = await converge([...INV, '--json']);
  assert.is(run.code, 0, run.stderr);
  assert.is(JSON.parse(run.stdout).hosts[0].status, 'ok');
  assert.match(readFileSync(MAPS, 'utf8'), `"Bearer ${TOKEN}" 1;`);
});

test('--check after an out-of-band edit exits 2, shows the diff and leaves the host byte-identical', async () => {
  writeFileSync(SITE, readFileSync(SITE, 'utf8').replace('proxy_buffering off;', 'proxy_buffering on;'));
  const before = snapshot();
  const pids = workerPids();
  const run = await converge([...INV, '--check', '--diff'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(run.code, 2, run.stderr);
  assert.match(run.stdout, /would update .*gateway\.converge\.test\.conf: content differs/);
  assert.match(run.stdout, /-\s+proxy_buffering on;/);
  assert.match(run.stdout, /\+\s+proxy_buffering off;/);
  assert.match(run.stdout, /candidate passes nginx -t/);
  assert.equal(compare(before, snapshot()), []);
  assert.is(workerPids(), pids);
  assert.not.ok(run.stdout.includes(TOKEN) || run.stderr.includes(TOKEN), 'token never printed');
});

test('--check --json reports drift in the documented shape', async () => {
  const run = await converge([...INV, '--check', '--json'], { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN });
  assert.is(run.code, 2, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.is(report.mode, 'check');
  assert.is(report.hosts[0].status, 'drift');
  const change = report.hosts[0].changes[0];
  assert.equal(Object.keys(change).sort(), ['action', 'diff', 'path', 'reasons']);
  assert.equal(change.reasons, ['content differs']);
});

test('a changed token is applied, reported as such, and never printed', async () => {
  const next = 'rotated-token-abcdefabcdefabcdefabcdefabcdef';
  const run = await converge([...INV, '--diff'], { IA_ENSO_OLLAMA_BEARER_TOKEN: next });
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, /the Bearer token changes/);
  assert.match(run.stdout, /<redacted:previous-bearer-token>/);
  for (const t of [TOKEN, next]) assert.not.ok(run.stdout.includes(t) || run.stderr.includes(t), 'no token in output');
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${TOKEN}` })).status, 401);
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${next}` })).status, 200);
});

test('a terminal that reports no width (a pty `script` opens without a size): plain progress lines, not one character per line', () => {
  const command = [join(REPO, 'node_modules/.bin/zx'), join(REPO, 'tasks/converge.mjs'), ...INV, '--check', '--skip-tags', 'verify'].join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };
  delete env.CI; // the live view is only for a terminal outside CI
  delete env.COLUMNS;
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { env, cwd: REPO, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const text = r.stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '').replace(/\r/g, '\n');
  assert.ok(r.status === 0 || r.status === 2, `exit ${r.status}: ${r.stderr}`);
  assert.match(text, /✔ \[lab-proxy\] preflight: sudo, nginx and includes ok/);
  const oneChar = text.split('\n').filter((l) => /^\s*\S\s*$/.test(l)).length;
  assert.ok(oneChar < 5, `${oneChar} lines of one character:\n${text.slice(0, 600)}`);
});

test('with no token anywhere, a new one is generated, shown once, and works', async () => {
  resetLab();
  const run = await converge(INV);
  assert.is(run.code, 0, run.stderr);
  const m = /shown once.*\n\s+([0-9a-f]{64})\n/.exec(run.stderr);
  assert.ok(m, 'the new token is shown on stderr');
  assert.not.ok(run.stdout.includes(m![1]), 'not in the recap');
  assert.is((await gateway('/ollama/v1/models', { Authorization: `Bearer ${m![1]}` })).status, 200);
  const again = await converge(INV);
  assert.not.match(again.stderr, /shown once/, 'the next run keeps it silently');
});

test.run();
