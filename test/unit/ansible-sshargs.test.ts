// ansible_ssh_common_args: the ProxyJump converge reads from ssh options
// (lib/ansible-sshargs.ts), checked against OpenSSH's own reading of the same
// options (`ssh -G` prints the configuration it would use, and connects to nothing).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { jumpFromSshArgs, SshArgsError } from '../../lib/ansible-sshargs.js';
import { parseInventory } from '../../lib/inventory.js';
import { InputError } from '../../lib/errors.js';

/** The ProxyJump ssh uses with these options, split by a shell as Ansible's shlex would; null for none. */
function sshReads(args: string): string | null {
  const out = execFileSync('sh', ['-c', `ssh -G -F /dev/null ${args} converge-test-target`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return /^proxyjump (.*)$/m.exec(out)?.[1] ?? null;
}

const ACCEPTED = [
  '-o ProxyJump=ops@bastion.example.com:2200',
  '-J ops@bastion.example.com',
  '-Jops@b.example.com:2222',
  '-oProxyJump=ops@b.example.com',
  "-o 'ProxyJump ops@b.example.com'",
  '-o "proxyjump=ops@b.example.com"',
  '-o ProxyJump=none',
  '  -J   ops@b.example.com  ',
];

for (const args of ACCEPTED) {
  test(`${args}: the ProxyJump ssh -G reads`, () => {
    assert.is(jumpFromSshArgs('ansible_ssh_common_args', args), sshReads(args));
  });
}

test('options converge would not honour are refused, naming them; so are two jumps and a chain', () => {
  for (const [args, why] of [
    ['-o StrictHostKeyChecking=no', /only a ProxyJump .* `StrictHostKeyChecking=no` is not one/],
    ['-o ProxyCommand="ssh -W %h:%p -q ops@b"', /`ProxyCommand=ssh -W %h:%p -q ops@b` is not one/],
    ['-C -J ops@b', /`-C` is not one/],
    ['-o ProxyJump=a@b,c@d', /a chain of bastions; converge goes through one/],
    ['-J a@b -o ProxyJump=c@d', /more than one ProxyJump/],
    ['-o "ProxyJump=a', /a " is never closed/],
    ['-J', /a ProxyJump without a host/],
    ['-o', /`-o` is not one/],
  ] as [string, RegExp][]) {
    assert.throws(() => jumpFromSshArgs('ansible_ssh_common_args', args), (e: unknown) => e instanceof SshArgsError && why.test(e.message), args);
  }
  assert.is(jumpFromSshArgs('ansible_ssh_common_args', ''), undefined, 'nothing set');
});

test('in an inventory: ssh_jump, below a nearer level; both on one level refused; the bastion is checked like ssh_jump', () => {
  const inv = (vars: string, host: string) => parseInventory(`all:\n  vars: { domain: gw.example.com, backend_ip: 10.0.0.9${vars} }\n  hosts:\n    p1: {${host} }\n`, 'inv.yml');
  assert.is(inv(", ansible_ssh_common_args: '-o ProxyJump=ops@b.example.com:2200'", '')[0].vars.ssh_jump, 'ops@b.example.com:2200');
  assert.is(inv(", ssh_jump: ops@group-bastion", " ansible_ssh_common_args: '-J ops@host-bastion'")[0].vars.ssh_jump, 'ops@host-bastion');
  assert.is(inv(", ssh_jump: ops@group-bastion", " ansible_ssh_common_args: '-o ProxyJump=none'")[0].vars.ssh_jump, null, 'none: connect directly');
  const both = (() => {
    try {
      inv(", ssh_jump: a@b, ansible_ssh_common_args: '-J c@d'", '');
    } catch (e) {
      return e as InputError;
    }
    return assert.unreachable('expected an InputError') as never;
  })();
  assert.match(both.message, /ansible_ssh_common_args and ssh_jump both give the bastion: keep one/);
  assert.throws(() => inv(", ansible_ssh_common_args: '-o ForwardAgent=yes'", ''), (e: unknown) => e instanceof InputError && /write the bastion as ssh_jump/.test(e.message));
});

test.run();
