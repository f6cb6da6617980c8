// The gateway contract probe by probe, each failure for its own reason, and
// the health gate that rolls back a change that breaks the gateway.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compare, converge, LAB, LAB_INVENTORY, labInventory, labScript, lastOllamaRequest, REPO, resetLab, SITE, snapshot, TOKEN, workerPids } from './lab.js';
import { watcher } from './fleetlab.js';
import { tempDir } from '../tempdir.js';

const ENV = { IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN };

interface Probe {
  id: string;
  ok: boolean;
  warning?: boolean;
  status: number | null;
  detail?: string;
  events?: number;
}

/** An inventory whose site template is the built-in one with `edit` applied. */
function brokenTemplate(edit: (site: string) => string): string {
  const dir = tempDir('converge-templates-');
  cpSync(join(REPO, 'templates'), dir, { recursive: true });
  const site = join(dir, 'nginx/site.conf');
  const before = readFileSync(site, 'utf8');
  const after = edit(before);
  assert.is.not(after, before, 'the fixture really changes the template');
  writeFileSync(site, after);
  return labInventory({ templates_dir: dir });
}

async function verify(args: string[] = []) {
  const run = await converge(['-i', LAB_INVENTORY, ...args], ENV, 'verify.mjs');
  return { ...run, doc: args.includes('--json') ? JSON.parse(run.stdout) : null };
}

const probe = (probes: Probe[], id: string) => probes.find((p) => p.id === id)!;

/** Stops the fake Ollama and AnythingLLM (test/lab/up.sh starts them again). */
function stopBackends(): void {
  const pidFile = join(LAB, 'run/backends.pid');
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
  for (let i = 0; i < 50; i++) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 0);
      execFileSync('sleep', ['0.1']);
    } catch {
      return;
    }
  }
}

test.before(async () => {
  resetLab();
  const run = await converge(['-i', LAB_INVENTORY], ENV);
  assert.is(run.code, 0, run.stdout + run.stderr);
});

test('every probe passes on a converged gateway; the token is never printed', async () => {
  const run = await verify(['--json']);
  assert.is(run.code, 0, run.stdout + run.stderr);
  const probes: Probe[] = run.doc.hosts[0].probes;
  const ids = ['models', 'gate-anonymous', 'gate-wrong-token', 'tags', 'stream', 'anythingllm', 'anythingllm-redirect', 'websocket', 'http-redirect', 'acme-webroot', 'public-dns'];
  assert.equal(probes.map((p) => p.id).sort(), [...ids].sort());
  for (const p of probes) assert.ok(p.ok || p.warning, `${p.id}: ${JSON.stringify(p)}`);
  assert.is(probe(probes, 'websocket').status, 101);
  // The lab name is under .test: a warning, not a failure, and no DNS query leaves the machine.
  assert.is(probe(probes, 'public-dns').warning, true);
  assert.match(String(probe(probes, 'public-dns').detail), /^not looked up: \.test is a reserved name/);
  assert.not.ok(run.stdout.includes(TOKEN) || run.stderr.includes(TOKEN));
  const text = await verify();
  assert.match(text.stdout, /pass\s+200\s+\d+ ms\s+POST \/ollama\/v1\/chat\/completions, stream: true \(1 event\(s\) in 1 burst\(s\), first after \d+ ms, then a pause, stream open, stopped after \d+ ms\)/);
  assert.not.ok(text.stdout.includes(TOKEN));
  assert.not.ok('authorization' in (await lastOllamaRequest()).headers);
});

test('a verify_ca with no certificate in it fails the host before it is contacted, naming the file; --check (no verify) does not need it', async () => {
  const bad = join(tempDir('converge-ca-'), 'ca.pem');
  writeFileSync(bad, 'not a certificate\n');
  const watch = await watcher();
  try {
    const run = await converge(['-i', labInventory({ verify_ca: bad, ssh_port: watch.port }), '--json'], ENV);
    assert.is(run.code, 1, run.stdout + run.stderr);
    const host = JSON.parse(run.stdout).hosts[0];
    assert.is(host.status, 'failed');
    assert.match(host.error, /verify_ca holds no PEM certificate/);
    assert.ok(host.error.includes(bad), host.error);
    assert.is(watch.count(), 0, 'the host was not contacted');
  } finally {
    watch.close();
  }
  const check = await converge(['-i', labInventory({ verify_ca: bad }), '--check', '--json'], ENV);
  assert.ok(check.code === 0 || check.code === 2, check.stdout + check.stderr);
  assert.not.match(check.stdout, /verify_ca/);
});

test('the plain probes share two kept-open connections: 7 requests, 2 TLS handshakes', async () => {
  const log = join(LAB, 'run/nginx-access.log');
  const from = statSync(log).size;
  const run = await verify(['--json']);
  assert.is(run.code, 0, run.stdout + run.stderr);
  // ps, models, both gates, tags, /anythingllm/ and /anythingllm (the HTTP redirect probe gets a 301 for /ollama/v1/models).
  const plain = /"GET (\/ollama\/api\/ps|\/ollama\/api\/tags|\/ollama\/v1\/models|\/anythingllm\/?) HTTP\/1\.1" (200|401|301) /;
  const lines = readFileSync(log).subarray(from).toString('utf8').split('\n').filter((l) => plain.test(l) && !/v1\/models HTTP\/1\.1" 301 /.test(l));
  assert.is(lines.length, 7, lines.join('\n'));
  const connections = new Set(lines.map((l) => /conn=(\d+)/.exec(l)?.[1]));
  assert.not.ok(connections.has(undefined), 'the lab logs each request\'s connection');
  assert.ok(connections.size <= 2, `${connections.size} connections:\n${lines.join('\n')}`);
});

test('with the token known, the other probes wait until /api/ps, which the streaming probe needs first, has answered', async () => {
  // /api/ps answers 200 ms late: a request sent meanwhile would reach Ollama well before that.
  const { seen } = await verifyWithOllama('ps-delay', '200', '0');
  const at = (url: string) => {
    const r = seen.find((x) => x.url === url);
    assert.ok(r, `${url} reached Ollama: ${seen.map((x) => x.url).join(' ')}`);
    return Date.parse(r!.time);
  };
  const ps = at('/api/ps');
  for (const url of ['/v1/chat/completions', '/v1/models', '/api/tags']) assert.ok(at(url) - ps >= 150, `${url} came ${at(url) - ps} ms after /api/ps`);
});

test('a no-op converge verifies through nginx reloads made meanwhile by someone else (no lock, no false failure)', async () => {
  const ok = await converge(['-i', LAB_INVENTORY], ENV);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  // Another actor reloads nginx every 100 ms (at most 40 times) while the run reads and probes.
  let reloads = 0;
  let running = true;
  const storm = (async () => {
    while (running && reloads < 40) {
      await new Promise<void>((resolve) => execFile('nginx', ['-c', join(LAB, 'nginx/nginx.conf'), '-s', 'reload'], () => resolve()));
      reloads++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const run = await converge(['-i', LAB_INVENTORY, '--json'], ENV);
  running = false;
  await storm;
  assert.is(run.code, 0, run.stdout + run.stderr);
  const host = JSON.parse(run.stdout).hosts[0];
  assert.is(host.status, 'ok');
  assert.ok(host.probes.every((p: Probe) => p.ok || p.warning), JSON.stringify(host.probes));
  assert.ok(reloads >= 3, `nginx was reloaded during the run (${reloads} times)`);
});

/**
 * A verify (exit 0 expected) with one switch of the fake Ollama
 * (test/lab/backends.mjs) set, then set back: its probes, and the requests
 * Ollama saw meanwhile.
 */
async function verifyWithOllama(name: string, value: string, restore: string) {
  const lab = (path: string, body?: string) => fetch(`http://127.0.0.1:31434/__lab/${path}`, { method: 'POST', body });
  await lab(name, value);
  await lab('reset');
  try {
    const run = await verify(['--json']);
    assert.is(run.code, 0, run.stdout + run.stderr);
    const seen = (await (await fetch('http://127.0.0.1:31434/__lab/requests')).json()) as { method: string; url: string; body: string; time: string }[];
    return { probes: run.doc.hosts[0].probes as Probe[], seen };
  } finally {
    await lab(name, restore);
  }
}

test('no model loaded in Ollama: streaming is not checked (a warning, exit 0) and no completion is sent to load one', async () => {
  const { probes, seen } = await verifyWithOllama('loaded', 'no', 'yes');
  const stream = probe(probes, 'stream');
  assert.is(stream.warning, true);
  assert.match(String(stream.detail), /streaming not checked: Ollama has no chat model loaded/);
  assert.ok(seen.some((r) => r.url === '/api/ps'), 'it asked Ollama what is loaded');
  assert.not.ok(seen.some((r) => r.url === '/v1/chat/completions'), 'no completion request: nothing loaded by the probe');
});

test('an Ollama without /api/ps: the streaming probe asks for the first model the gateway lists', async () => {
  const { probes, seen } = await verifyWithOllama('ps', 'off', 'on');
  assert.ok(probe(probes, 'stream').ok, JSON.stringify(probes));
  const completion = seen.find((r) => r.url === '/v1/chat/completions');
  assert.ok(completion, 'a streamed completion was requested');
  // The fake Ollama lists one model, llama3.2:latest; converge's last resort would be "llama3".
  assert.is(JSON.parse(completion!.body).model, 'llama3.2:latest');
});

test('a stopped backend: 502 diagnosed from the proxy, the new config kept, exit 1', async () => {
  // An out-of-band edit, so the run changes (and reloads) something.
  writeFileSync(SITE, readFileSync(SITE, 'utf8') + '# hand edit\n');
  stopBackends();
  try {
    const run = await converge(['-i', LAB_INVENTORY, '--json'], ENV);
    assert.is(run.code, 1, run.stdout);
    const host = JSON.parse(run.stdout).hosts[0];
    assert.match(host.error, /the backend does not answer from the proxy \(.*\): the configuration is kept/);
    assert.match(host.error, /Ollama at 127\.0\.0\.1:31434 does not answer from the proxy/);
    assert.is(probe(host.probes, 'models').status, 502);
    assert.not.match(readFileSync(SITE, 'utf8'), /# hand edit/, 'the converged vhost stays');
    const standalone = await verify();
    assert.is(standalone.code, 1);
    assert.match(standalone.stdout, /AnythingLLM at 127\.0\.0\.1:33001 does not answer from the proxy/);
  } finally {
    labScript('up');
  }
});

for (const [name, edit, expectation] of [
  ['forgets to clear Authorization', (s: string) => s.replace('proxy_set_header Authorization "";', ''), /passes the Bearer token to Ollama/],
  ['opens the gate', (s: string) => s.replace(/if \(\$ia_enso_ollama_authorized = 0\) \{[^}]*\}/, ''), /the gate is open/],
] as const) {
  test(`a template that ${name}: the health gate rolls the change back`, async () => {
    resetLab();
    assert.is((await converge(['-i', LAB_INVENTORY], ENV)).code, 0);
    const before = snapshot();
    const pids = workerPids();
    const run = await converge(['-i', brokenTemplate(edit), '--json'], ENV);
    assert.is(run.code, 1, run.stdout);
    const host = JSON.parse(run.stdout).hosts[0];
    assert.match(host.error, /the change was rolled back/);
    assert.match(host.error, expectation);
    assert.ok(host.notes.some((n: string) => /rolled back: .*reloaded again with the restored files/.test(n)), host.notes.join('\n'));
    assert.ok(host.probes_after_rollback.every((p: Probe) => p.ok || p.warning), 'the probes pass again after the rollback');
    assert.equal(compare(before, snapshot()), [], 'files byte-identical to before the run');
    assert.is.not(workerPids(), pids, 'reloaded twice: new workers run the restored files');
    assert.not.ok(run.stdout.includes(TOKEN) || run.stderr.includes(TOKEN));
  });
}

test('a template that buffers: the streaming probe fails and says why (no rollback: routes work)', async () => {
  resetLab();
  const run = await converge(['-i', brokenTemplate((s) => s.replace('proxy_buffering off;', 'proxy_buffering on;')), '--json'], ENV);
  assert.is(run.code, 1, run.stdout);
  const host = JSON.parse(run.stdout).hosts[0];
  const stream = probe(host.probes, 'stream');
  assert.not.ok(stream.ok);
  assert.is(stream.status, 200);
  assert.ok((stream.events ?? 0) > 0, `events came, all at once: ${stream.detail}`);
  assert.match(host.error, /the proxy buffers/);
  assert.match(readFileSync(SITE, 'utf8'), /proxy_buffering on;/, 'kept: only the gate and routes trigger a rollback');
  resetLab();
});

test.run();
