import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeError, InputError } from '../../lib/errors.js';
import { chooseToken, type LocalToken } from '../../lib/token.js';

const ENV: LocalToken = { value: 'env'.repeat(12), source: 'environment', origin: 'IA_ENSO_OLLAMA_BEARER_TOKEN' };
const FILE: LocalToken = { value: 'file'.repeat(9), source: 'file', origin: '/etc/converge/token' };
const DEPLOYED = 'deployed'.repeat(5);
const fresh = () => 'new0'.repeat(16);
const choose = (local: LocalToken | null, deployed: string | null, rotate: boolean) => chooseToken('proxy-1', local, deployed, rotate, fresh);

test('the local token wins over the deployed one', () => {
  assert.equal(choose(ENV, DEPLOYED, false), { token: ENV.value, retired: null, generated: false });
  assert.is(choose(FILE, null, false).token, FILE.value);
});

test('without a local token the deployed one is kept', () => {
  assert.equal(choose(null, DEPLOYED, false), { token: DEPLOYED, retired: null, generated: false });
});

test('with neither, a new one is generated', () => {
  assert.equal(choose(null, null, false), { token: fresh(), retired: null, generated: true });
});

test('--rotate-token: the deployed one is retired for the local one, or for a new one', () => {
  assert.equal(choose(ENV, DEPLOYED, true), { token: ENV.value, retired: DEPLOYED, generated: false });
  assert.equal(choose(null, DEPLOYED, true), { token: fresh(), retired: DEPLOYED, generated: true });
});

test('--rotate-token on a host with no token yet: the local one, or a new one, and nothing to retire', () => {
  assert.equal(choose(FILE, null, true), { token: FILE.value, retired: null, generated: false });
  assert.equal(choose(null, null, true), { token: fresh(), retired: null, generated: true });
});

// A token generated here would be replaced by the local one on the next plain
// run: the clients that took the new token would get 401.
for (const local of [FILE, ENV]) {
  test(`--rotate-token when the ${local.source} token is the deployed one: refused, saying what to do, without the token`, () => {
    const same = { ...local, value: DEPLOYED };
    try {
      choose(same, DEPLOYED, true);
    } catch (err) {
      assert.instance(err, InputError);
      const text = describeError(err);
      assert.match(text, /^\[proxy-1\] /);
      assert.ok(text.includes(`${local.origin}: --rotate-token: the token in`), text);
      assert.match(text, /is the one already deployed/);
      assert.match(text, local.source === 'file' ? /write the new token to bearer_token_file first/ : /set IA_ENSO_OLLAMA_BEARER_TOKEN to the new token/);
      assert.not.ok(text.includes(DEPLOYED), 'the token is not quoted');
      return;
    }
    assert.unreachable('expected a refusal');
  });
}

test.run();
