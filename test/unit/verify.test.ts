import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isPrivateAddress, reservedSuffix } from '../../lib/verify/addresses.js';
import { diagnose } from '../../lib/verify/diagnose.js';
import { judge, needsBackendCheck } from '../../lib/verify/gate.js';
import { loadedModels, type ProbeId, type ProbeResult } from '../../lib/verify/probes.js';
import { parseInventory } from '../../lib/inventory.js';

const V = parseInventory('all:\n  hosts:\n    p:\n      domain: gw.example.com\n      backend_ip: 10.0.0.9\n', 'inv.yml')[0].vars;

function p(id: ProbeId, ok: boolean, status: number | null, extra: Partial<ProbeResult> = {}): ProbeResult {
  return { id, name: id, ok, status, expected: '', ms: 1, ...extra };
}

const ALL_OK: ProbeResult[] = (['models', 'gate-anonymous', 'gate-wrong-token', 'tags', 'stream', 'anythingllm', 'anythingllm-redirect', 'websocket', 'http-redirect', 'acme-webroot'] as ProbeId[]).map((id) => p(id, true, 200));
const withFailure = (f: ProbeResult) => ALL_OK.map((x) => (x.id === f.id ? f : x));

for (const [ip, priv] of [
  ['10.1.2.3', true], ['172.16.0.1', true], ['172.31.255.255', true], ['172.32.0.1', false], ['192.168.77.5', true],
  ['127.0.0.1', true], ['169.254.1.1', true], ['100.64.0.1', true], ['8.8.8.8', false], ['1.1.1.1', false],
  ['::1', true], ['fd00::1', true], ['fe80::1', true], ['2001:4860:4860::8888', false], ['::ffff:192.168.0.1', true], ['::ffff:8.8.8.8', false],
] as const) {
  test(`isPrivateAddress(${ip}) = ${priv}`, () => assert.is(isPrivateAddress(ip), priv));
}

for (const [name, suffix] of [
  ['gateway.converge.test', 'test'], ['GW.Example.COM.', 'example.com'], ['proxy.home.arpa', 'home.arpa'], ['localhost', 'localhost'],
  ['printer.local', 'local'], ['llm.corp.internal', 'internal'], ['gw.example.com', 'example.com'], ['x.invalid', 'invalid'],
  ['gateway.contest.io', null], ['latest', null], ['example.company.com', null], ['gw.mylocal', null],
] as const) {
  test(`reservedSuffix(${name}) = ${suffix}`, () => assert.is(reservedSuffix(name), suffix));
}

test('judge: every probe passing (warnings allowed) -> pass', () => {
  assert.equal(judge([...ALL_OK, p('public-dns', false, null, { warning: true })], {}), { kind: 'pass' });
});

test('judge: the gate open (no token or wrong token or retired token gets 200) -> rollback', () => {
  for (const id of ['gate-anonymous', 'gate-wrong-token', 'gate-retired-token'] as ProbeId[]) {
    const v = judge(withFailure(p(id, false, 200)).concat(id === 'gate-retired-token' ? [p(id, false, 200)] : []), {});
    assert.is(v.kind, 'rollback', id);
    assert.match((v as { why: string }).why, /gate is open/);
  }
});

test('judge: an authorised route answering 401/403/404 -> rollback', () => {
  for (const status of [401, 403, 404]) {
    for (const id of ['models', 'tags', 'anythingllm'] as ProbeId[]) {
      assert.is(judge(withFailure(p(id, false, status)), {}).kind, 'rollback', `${id} ${status}`);
    }
  }
});

test('judge: 502 with the backend unreachable from the proxy -> backend-down (keep the config)', () => {
  const probes = withFailure(p('models', false, 502));
  assert.equal([...needsBackendCheck(probes)], ['ollama']);
  assert.is(judge(probes, { ollama: false }).kind, 'backend-down');
});

test('judge: 502 while the backend answers from the proxy -> rollback (the config is at fault)', () => {
  assert.is(judge(withFailure(p('tags', false, 504)), { ollama: true }).kind, 'rollback');
});

test('judge: a buffering proxy or a broken websocket -> fail, not rollback', () => {
  assert.is(judge(withFailure(p('stream', false, 200)), {}).kind, 'fail');
  assert.is(judge(withFailure(p('websocket', false, 400)), {}).kind, 'fail');
});

test('diagnose: transport errors name the cause', () => {
  assert.match(diagnose(p('models', false, null, { error: 'ECONNREFUSED: connect ECONNREFUSED 1.2.3.4:443' }), V).cause, /nginx is not listening/);
  assert.match(diagnose(p('models', false, null, { error: 'ENOTFOUND: getaddrinfo ENOTFOUND gw.example.com' }), V).cause, /does not resolve/);
  assert.match(diagnose(p('models', false, null, { error: "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames" }), V).cause, /TLS failed.*gw\.example\.com/);
  assert.match(diagnose(p('models', false, null, { error: 'DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate' }), V).next, /verify_ca/);
  assert.match(diagnose(p('models', false, null, { error: 'no answer within 10s' }), V).cause, /no answer/);
});

test('diagnose: statuses map to the troubleshooting table', () => {
  assert.match(diagnose(p('models', false, 401), V).cause, /token in the maps file differs/);
  assert.match(diagnose(p('models', false, 403, { detail: '{"error":"unexpected Authorization header"}' }), V).cause, /passes the Bearer token to Ollama/);
  assert.match(diagnose(p('models', false, 404), V).next, /proxy_pass must end with \//);
  assert.match(diagnose(p('models', false, 502), V, { ollama: false }).cause, /Ollama at 10\.0\.0\.9:11434 does not answer from the proxy/);
  assert.match(diagnose(p('websocket', false, 502), V, { anythingllm: false }).cause, /AnythingLLM at 10\.0\.0\.9:3001/);
  assert.match(diagnose(p('stream', false, 200), V).cause, /buffers/);
  assert.match(diagnose(p('gate-anonymous', false, 200), V).cause, /gate is open/);
  assert.match(diagnose(p('websocket', false, 400), V).next, /Upgrade/);
  assert.match(diagnose(p('http-redirect', false, 200), V).cause, /instead of a 301/);
  assert.match(diagnose(p('acme-webroot', false, 404), V).cause, /renewals will fail/);
});

const reply = (status: number, body: string) => ({ status, headers: {}, body, queuedMs: 0 });

test('loadedModels: the names Ollama lists as loaded; [] when none is; null when /api/ps says nothing usable', () => {
  assert.equal(loadedModels(reply(200, '{"models":[{"name":"a:latest","model":"a:latest"},{"name":"b"}]}')), ['a:latest', 'b']);
  assert.equal(loadedModels(reply(200, '{"models":[]}')), []);
  assert.is(loadedModels(reply(404, '404 page not found')), null);
  assert.is(loadedModels(reply(200, 'not json')), null);
  assert.is(loadedModels(reply(200, '{"data":[]}')), null);
  assert.is(loadedModels(null), null);
});

test('loadedModels: embedding models (they cannot chat) are left out', () => {
  const ps = JSON.stringify({
    models: [
      { name: 'nomic-embed-text:latest', model: 'nomic-embed-text:latest', details: { family: 'nomic-bert', families: ['nomic-bert'] } },
      { name: 'mxbai-large:latest', model: 'mxbai-large:latest', details: { family: 'bert' } },
      { name: 'llama3.2:latest', model: 'llama3.2:latest', details: { family: 'llama', families: ['llama'] } },
    ],
  });
  assert.equal(loadedModels(reply(200, ps)), ['llama3.2:latest']);
  assert.equal(loadedModels(reply(200, JSON.stringify({ models: [{ name: 'all-minilm', details: { family: 'bert' } }] }))), []);
});

test('diagnose: a 200 stream without a pause is buffering; one without any event is a backend that does not stream', () => {
  // The count the probe reports decides, not the wording of its detail.
  const detail = 'no pause before the end, end after 3 ms';
  assert.match(diagnose(p('stream', false, 200, { events: 5, detail }), V).cause, /never paused with the stream open, it arrived all at once: the proxy buffers/);
  const none = diagnose(p('stream', false, 200, { events: 0, detail }), V);
  assert.match(none.cause, /no server-sent events: the backend did not stream/);
  assert.match(none.next, /backend_ip and ollama_port/);
});

test('diagnose: a stream probe not run for lack of a loaded model says so (not "the proxy buffers")', () => {
  const d = diagnose(p('stream', false, null, { warning: true, detail: 'streaming not checked: Ollama has no model loaded' }), V);
  assert.match(d.cause, /no model loaded/);
  assert.not.match(d.cause, /buffers/);
  assert.is(judge(withFailure(p('stream', false, null, { warning: true })), {}).kind, 'pass', 'a warning never fails the run');
});

test.run();
