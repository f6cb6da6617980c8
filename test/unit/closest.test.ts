import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closest, editDistance } from '../../lib/closest.js';

test('editDistance: insertions, deletions, substitutions', () => {
  assert.is(editDistance('', ''), 0);
  assert.is(editDistance('abc', 'abc'), 0);
  assert.is(editDistance('proxy-ny', 'proxy-nyc'), 1);
  assert.is(editDistance('wacthed', 'watched'), 2);
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(editDistance('', 'abc'), 3);
});

test('closest: the nearest candidate within the bound, the first of equals, or none', () => {
  assert.is(closest('ssh_hots', ['ssh_host', 'ssh_port']), 'ssh_host');
  assert.is(closest('proxy-ny', ['proxy-par1', 'proxy-nyc', 'proxy-ams']), 'proxy-nyc');
  assert.is(closest('completely_unrelated', ['ssh_host']), null);
  assert.is(closest('ab', ['ac', 'ad']), 'ac');
  assert.is(closest('abcd', ['wxyz'], 5), 'wxyz');
  assert.is(closest('x', []), null);
});

test.run();
