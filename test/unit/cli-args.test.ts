// The command line's own checks, through converge's real yargs parser: pure,
// no inventory read and no connection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../../lib/errors.js';
import { parseArgs } from '../../lib/cli/converge.js';
import { numberArg } from '../../lib/cli/parser.js';

async function refused(argv: string[]): Promise<InputError> {
  try {
    await parseArgs(argv);
  } catch (err) {
    assert.instance(err, InputError);
    return err as InputError;
  }
  assert.unreachable(`${argv.join(' ')} was accepted`);
  throw new Error('unreachable');
}

test('a list option given more than once is the a,b list of its values (Ansible allows repeats)', async () => {
  const args = await parseArgs(['--limit', 'proxy-*', '-l', '!proxy-old', '--tags', 'maps', '-t', 'vhost,enable', '--skip-tags', 'verify', '--skip-tags', 'reload']);
  assert.is(args.limit, 'proxy-*,!proxy-old');
  assert.is(args.tags, 'maps,vhost,enable');
  assert.is(args['skip-tags'], 'verify,reload');
  const once = await parseArgs(['--limit', 'a', '--tags', 'maps']);
  assert.is(once.limit, 'a');
  assert.is(once.tags, 'maps');
});

test('any other option given twice is refused, naming it (long) and both values', async () => {
  for (const [argv, message] of [
    [['-i', 'a.yml', '--inventory', 'b.yml'], '--inventory was given 2 times (a.yml, b.yml): give it once'],
    [['--forks', '1', '-f', '2'], '--forks was given 2 times (1, 2): give it once'],
    [['--lock-timeout', '1', '--lock-timeout', '5'], '--lock-timeout was given 2 times (1, 5): give it once'],
  ] as const) {
    const err = await refused([...argv]);
    assert.is(err.message, message);
  }
});

test('numbers: what was typed is what the error quotes; a missing value is refused by yargs', async () => {
  const args = await parseArgs(['--forks', '3', '--lock-timeout', '0.5']);
  assert.is(numberArg('forks', args.forks, 'count'), 3);
  assert.is(numberArg('lock-timeout', args.lockTimeout, 'seconds'), 0.5);
  const defaults = await parseArgs([]);
  assert.is(numberArg('forks', defaults.forks, 'count'), 10);
  assert.is(numberArg('lock-timeout', defaults.lockTimeout, 'seconds'), 0);
  for (const [typed, kind, message] of [
    ['abc', 'count', '--forks must be a positive integer, got "abc"'],
    ['', 'count', '--forks must be a positive integer, got ""'],
    ['0', 'count', '--forks must be a positive integer, got 0'],
    ['2.5', 'count', '--forks must be a positive integer, got 2.5'],
    ['-1', 'seconds', '--forks must be a number of seconds, got -1'],
    ['soon', 'seconds', '--forks must be a number of seconds, got "soon"'],
  ] as const) {
    const { forks } = await parseArgs(['--forks', typed]);
    assert.throws(() => numberArg('forks', forks, kind), (e: Error) => e instanceof InputError && e.message === message, `${typed} as ${kind}`);
  }
  assert.match((await refused(['--forks'])).message, /Not enough arguments following: forks/);
});

test.run();
