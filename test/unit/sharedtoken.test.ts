import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sharedTokenNotes } from '../../lib/sharedtoken.js';

const T1 = 'token-one-0123456789abcdef0123456789abcdef';
const T2 = 'token-two-0123456789abcdef0123456789abcdef';

test('hosts of one domain with different tokens: each gets the note, naming the domain and its hosts, never a token', () => {
  const notes = sharedTokenNotes([
    { host: 'a', domain: 'gw.example.com', token: T1 },
    { host: 'b', domain: 'gw.example.com', token: T2 },
    { host: 'c', domain: 'gw.example.com', token: T1 },
    { host: 'd', domain: 'other.example.com', token: T2 },
  ]);
  assert.equal([...notes.keys()], ['a', 'b', 'c']);
  assert.match(notes.get('a')!, /^warning: the hosts serving gw\.example\.com \(a, b, c\) do not have one Bearer token after this run/);
  for (const n of notes.values()) assert.not.ok(n.includes(T1) || n.includes(T2));
});

test('one token per domain, a host alone on its domain, or a host without a token: no note', () => {
  assert.is(sharedTokenNotes([{ host: 'a', domain: 'gw', token: T1 }, { host: 'b', domain: 'gw', token: T1 }]).size, 0);
  assert.is(sharedTokenNotes([{ host: 'a', domain: 'gw', token: T1 }, { host: 'b', domain: 'gw2', token: T2 }]).size, 0);
  assert.is(sharedTokenNotes([{ host: 'a', domain: 'gw', token: T1 }, { host: 'b', domain: 'gw', token: null }]).size, 0, 'a host that failed says nothing of its token');
});

test.run();
