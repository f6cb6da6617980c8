import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { privilegedCommand, quote, SBIN_DIRS } from '../../lib/shell.js';

const roundTrip = (s: string): string => execFileSync('sh', ['-c', `printf %s ${quote(s)}`], { encoding: 'utf8' });

const nasty = [
  'plain',
  '/etc/nginx/sites-available/gw.example.com.conf',
  'with space',
  "it's",
  "''",
  '"double"',
  '$HOME',
  '${PATH}',
  '`id`',
  '$(id)',
  'a\nb\n',
  '\n',
  'tab\there',
  'back\\slash\\',
  'semi;colon && rm -rf /tmp/nothing',
  '*',
  '~',
  '#comment',
  '-n',
  'a|b>c<d',
  'é ü 日本',
  "'\"'\"$`\\",
  ' leading and trailing ',
];

for (const s of nasty) {
  test(`quote round-trips through sh: ${JSON.stringify(s)}`, () => {
    assert.is(roundTrip(s), s);
  });
}

test('quote: the empty string stays one (empty) argument', () => {
  const out = execFileSync('sh', ['-c', `printf '[%s]' ${quote('')} x`], { encoding: 'utf8' });
  assert.is(out, '[][x]');
});

test('quote: several quoted words stay separate arguments', () => {
  const out = execFileSync('sh', ['-c', `printf '<%s>' ${['a b', "c'd", ''].map(quote).join(' ')}`], { encoding: 'utf8' });
  assert.is(out, "<a b><c'd><>");
});

test('quote: safe words are left bare, others single-quoted', () => {
  assert.is(quote('/etc/nginx/conf.d/x.conf'), '/etc/nginx/conf.d/x.conf');
  assert.is(quote('root:root'), 'root:root');
  assert.is(quote('640'), '640');
  assert.is(quote('a b'), "'a b'");
  assert.is(quote("it's"), `'it'\\''s'`);
  assert.is(quote(''), "''");
});

const P = `PATH=\${PATH:-/usr/bin:/bin}:${SBIN_DIRS}\n`;

test('privilegedCommand: sudo -n sh -c SCRIPT converge ARGS, the script after a PATH line', () => {
  assert.is(privilegedCommand('echo "$1"', ['a b', '/p']), `sudo -n sh -c '${P}echo "$1"' converge 'a b' /p`);
  assert.is(privilegedCommand('true'), `sudo -n sh -c '${P}true' converge`);
});

test('privilegedCommand with a limit: the host stops the command itself (timeout, TERM then KILL 5 s later)', () => {
  assert.is(privilegedCommand('echo "$1"', ['/p'], 42), `sudo -n timeout -k 5 42 sh -c '${P}echo "$1"' converge /p`);
});

test('privilegedCommand for a transport that is root already: no sudo', () => {
  assert.is(privilegedCommand('echo "$1"', ['/p'], 42, false), `timeout -k 5 42 sh -c '${P}echo "$1"' converge /p`);
});

test('privilegedCommand: the script really receives its arguments as "$@"', () => {
  // Run the generated command line with a stand-in for sudo that drops "-n".
  const line = privilegedCommand('printf "<%s>" "$0" "$@"', ['a b', "it's", '$X']);
  const out = execFileSync('sh', ['-c', `sudo() { shift; "$@"; }; ${line}`], { encoding: 'utf8' });
  assert.is(out, "<converge><a b><it's><$X>");
});

test("privilegedCommand: the sbin directories come after the PATH the script is given (a root cron job's has none)", () => {
  const line = privilegedCommand('printf %s "$PATH"', [], 5, false);
  assert.is(execFileSync('sh', ['-c', line], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } }), `/usr/bin:/bin:${SBIN_DIRS}`);
});

test.run();
