import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { coerce, defaultFor, parseJump, valueProblem, VAR_NAMES, VARIABLES, type VarName } from '../../lib/variables.js';

const label = (n: number): string => 'a'.repeat(n);
// 4 labels of 63 chars + 3 dots = 255; trim to the lengths we need.
const name253 = [label(63), label(63), label(63), label(61)].join('.'); // 63*3+61+3 = 253
const name254 = [label(63), label(63), label(63), label(62)].join('.'); // 254

test('test fixtures have the intended lengths', () => {
  assert.is(name253.length, 253);
  assert.is(name254.length, 254);
});

const cases: [VarName, unknown, boolean][] = [
  // ports
  ['ssh_port', 22, true],
  ['ssh_port', '22', true],
  ['ssh_port', 1, true],
  ['ssh_port', 65535, true],
  ['ssh_port', 0, false],
  ['ssh_port', 65536, false],
  ['ssh_port', 1.5, false],
  ['ssh_port', '1.5', false],
  ['ssh_port', '-1', false],
  ['ssh_port', 'ssh', false],
  ['https_port', true, false],
  // IPs
  ['backend_ip', '10.0.0.5', true],
  ['backend_ip', '::1', true],
  ['backend_ip', 'fd00::1:2', true],
  ['backend_ip', '256.1.1.1', false],
  ['backend_ip', '10.0.0', false],
  ['backend_ip', 'backend.local', false],
  ['backend_ip', '[::1]', false],
  ['backend_ip', 167772165, false],
  ['listen_address', '127.0.0.1', true],
  ['listen_address', 'localhost', false],
  // host names
  ['domain', 'example.com', true],
  ['domain', 'gateway.converge.test', true],
  ['domain', 'localhost', true],
  ['domain', 'x-y.example.com', true],
  ['domain', 'example.com.', true],
  ['domain', name253, true],
  ['domain', name254, false],
  ['domain', `${label(64)}.com`, false],
  ['domain', 'a..b', false],
  ['domain', '-x.com', false],
  ['domain', 'x-.com', false],
  ['domain', 'ex ample.com', false],
  ['domain', 'ex_ample.com', false],
  ['domain', 'example.com/x', false],
  ['ssh_host', '10.20.30.40', true],
  ['ssh_host', '::1', true],
  ['ssh_host', 'proxy-1.example.org', true],
  ['ssh_host', 'bad host', false],
  // jumps
  ['ssh_jump', 'user@host:2200', true],
  ['ssh_jump', 'host', true],
  ['ssh_jump', 'bastion.example.com', true],
  ['ssh_jump', '[::1]:22', true],
  ['ssh_jump', 'u@[fd00::1]:2222', true],
  ['ssh_jump', 'u@h:99999', false],
  ['ssh_jump', 'u@h:0', false],
  ['ssh_jump', 'u@h:', false],
  ['ssh_jump', 'u@h@x', false],
  ['ssh_jump', 'a b', false],
  ['ssh_jump', 42, false],
  // paths, strings, commands
  ['ssh_key', '/home/u/.ssh/id_ed25519', true],
  ['ssh_key', '/a\nb', false],
  ['ssh_key', 7, false],
  ['ssh_user', 'deploy', true],
  ['ssh_user', 'de\nploy', false],
  ['nginx_command', 'nginx -c /x/nginx.conf', true],
  ['nginx_reload_command', 'systemctl reload nginx\nrm -rf /', false],
];

for (const [name, value, ok] of cases) {
  test(`valueProblem(${name}, ${JSON.stringify(value)}) is ${ok ? 'null' : 'a problem'}`, () => {
    const p = valueProblem(name, value);
    if (ok) assert.is(p, null);
    else {
      assert.type(p, 'string');
      // The message shows the offending value so the operator can find it.
      assert.ok(p!.includes(JSON.stringify(value)), p!);
    }
  });
}

test('valueProblem: missing values are only a problem for required variables', () => {
  for (const missing of [null, undefined, '']) {
    assert.is(valueProblem('domain', missing), 'is required');
    assert.is(valueProblem('backend_ip', missing), 'is required');
    assert.is(valueProblem('ssh_jump', missing), null);
    assert.is(valueProblem('listen_address', missing), null);
  }
});

test('valueProblem: problem texts name the expected kind', () => {
  assert.match(valueProblem('ssh_port', 0)!, /port number \(1-65535\)/);
  assert.match(valueProblem('backend_ip', 'x')!, /IPv4 or IPv6/);
  assert.match(valueProblem('domain', 'a..b')!, /host name/);
  assert.match(valueProblem('ssh_jump', 'u@h:99999')!, /user@host\[:port\]/);
});

const jumps: [string, ReturnType<typeof parseJump>][] = [
  ['user@host:2200', { user: 'user', host: 'host', port: 2200 }],
  ['host', { user: null, host: 'host', port: 22 }],
  ['bob@bastion', { user: 'bob', host: 'bastion', port: 22 }],
  ['[::1]:22', { user: null, host: '::1', port: 22 }],
  ['u@[fd00::5]:2022', { user: 'u', host: 'fd00::5', port: 2022 }],
  ['10.0.0.1:65535', { user: null, host: '10.0.0.1', port: 65535 }],
  ['u@h:99999', null],
  ['u@h:0', null],
  ['u@h:x', null],
  ['', null],
  ['::1', null],
  ['u @h', null],
];

for (const [input, expected] of jumps) {
  test(`parseJump(${JSON.stringify(input)})`, () => {
    assert.equal(parseJump(input), expected);
  });
}

test('coerce: ports become numbers, other kinds strings, empty becomes null', () => {
  assert.is(coerce('ssh_port', '2222'), 2222);
  assert.is(coerce('https_port', 443), 443);
  assert.is(coerce('domain', 'example.com'), 'example.com');
  assert.is(coerce('backend_ip', '10.0.0.1'), '10.0.0.1');
  assert.is(coerce('ssh_user', 1000), '1000');
  assert.is(coerce('ssh_jump', null), null);
  assert.is(coerce('ssh_jump', undefined), null);
  assert.is(coerce('listen_address', ''), null);
});

test('defaultFor: ssh_host defaults to the inventory host name', () => {
  assert.is(defaultFor('ssh_host', 'proxy-a'), 'proxy-a');
  assert.is(defaultFor('ssh_host', 'gw.example.org'), 'gw.example.org');
});

test('defaultFor: fixed defaults and required/optional variables', () => {
  assert.is(defaultFor('ssh_port', 'h'), 22);
  assert.is(defaultFor('http_port', 'h'), 80);
  assert.is(defaultFor('https_port', 'h'), 443);
  assert.is(defaultFor('ollama_port', 'h'), 11434);
  assert.is(defaultFor('anythingllm_port', 'h'), 3001);
  assert.is(defaultFor('nginx_conf', 'h'), '/etc/nginx/nginx.conf');
  assert.is(defaultFor('domain', 'h'), null);
  assert.is(defaultFor('backend_ip', 'h'), null);
  assert.is(defaultFor('ssh_jump', 'h'), null);
  assert.match(String(defaultFor('ssh_key', 'h')), /\/\.ssh\/id_ed25519$/);
  assert.match(String(defaultFor('ssh_known_hosts', 'h')), /\/\.ssh\/known_hosts$/);
});

test('every default passes its own check', () => {
  for (const v of VAR_NAMES) {
    if (VARIABLES[v].required) continue;
    assert.is(valueProblem(v, defaultFor(v, 'some-host')), null, v);
  }
});

test.run();
