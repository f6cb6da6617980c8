import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chooseToken, type LocalToken } from '../../lib/token.js';

const ENV: LocalToken = { value: 'env'.repeat(12), source: 'environment' };
const FILE: LocalToken = { value: 'file'.repeat(9), source: 'file' };
const DEPLOYED = 'deployed'.repeat(5);
const fresh = () => 'new0'.repeat(16);

test('the local token wins over the deployed one', () => {
  assert.equal(chooseToken(ENV, DEPLOYED, false, fresh), { token: ENV.value, retired: null, generated: false, note: null });
  assert.is(chooseToken(FILE, null, false, fresh).token, FILE.value);
});

test('without a local token the deployed one is kept', () => {
  assert.equal(chooseToken(null, DEPLOYED, false, fresh), { token: DEPLOYED, retired: null, generated: false, note: null });
});

test('with neither, a new one is generated', () => {
  assert.equal(chooseToken(null, null, false, fresh), { token: fresh(), retired: null, generated: true, note: null });
});

test('--rotate-token: the deployed one is retired for the local one, or for a new one', () => {
  assert.equal(chooseToken(ENV, DEPLOYED, true, fresh), { token: ENV.value, retired: DEPLOYED, generated: false, note: null });
  assert.equal(chooseToken(null, DEPLOYED, true, fresh), { token: fresh(), retired: DEPLOYED, generated: true, note: null });
});

test('--rotate-token when the local token is the deployed one: a new one, and a note saying why', () => {
  const c = chooseToken({ value: DEPLOYED, source: 'file' }, DEPLOYED, true, fresh);
  assert.is(c.token, fresh());
  assert.is(c.retired, DEPLOYED);
  assert.is(c.generated, true);
  assert.match(c.note!, /bearer_token_file is already deployed/);
});

test.run();
