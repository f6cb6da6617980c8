import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionError, forHost, RemoteCommandError, RollbackError } from '../../lib/errors.js';

test('forHost: the same error, class and words, about another host', () => {
  const err = new ConnectionError('host key verification failed for the jump host', { host: 'proxy-1', where: 'deploy@bastion:22', detail: 'SHA256:x', hint: 'add it' });
  const other = forHost(err, 'proxy-2') as ConnectionError;
  assert.instance(other, ConnectionError);
  assert.is(other.describe(), err.describe().replace('[proxy-1]', '[proxy-2]'));
  assert.instance(forHost(new RemoteCommandError('stat failed'), 'p'), RemoteCommandError);
  assert.is(forHost(err, 'proxy-1'), err, 'already about that host: unchanged');
  const plain = new Error('x');
  assert.is(forHost(plain, 'p'), plain);
  const rb = new RollbackError('could not restore', { host: 'a', cause: plain });
  assert.is(forHost(rb, 'b'), rb, 'a rollback failure keeps its cause and its host');
});

test.run();
