import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readTemplate, render } from '../../lib/templates.js';

function throwsMatching(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}

test('render replaces every marker, including adjacent ones and repeats', () => {
  const out = render('listen __PREFIX____PORT__;\nname __NAME__ __NAME__;\n', { PREFIX: '127.0.0.1:', PORT: 8080, NAME: 'gw' });
  assert.is(out, 'listen 127.0.0.1:8080;\nname gw gw;\n');
});

test('render leaves text that is not a marker alone', () => {
  const text = 'a $host__x b __lower__ c _X_ d ___ e __ f\n';
  assert.is(render(text, {}), text);
});

test('render does not re-expand markers inside substituted values', () => {
  assert.is(render('v=__A__', { A: '__B__', B: 'no' }), 'v=__B__');
});

test('render substitutes empty strings and numbers', () => {
  assert.is(render('x__S__y __N__', { S: '', N: 0 }), 'xy 0');
});

test('render throws on an unknown marker, naming the marker and the template', () => {
  throwsMatching(() => render('ok __KNOWN__ then __TYPO__', { KNOWN: 1 }, {}, 'site.conf'), /^site\.conf: no value for placeholder __TYPO__$/);
});

const SECTIONS = 'top\n#@if ws\nin-ws __V__\n#@end\nbottom\n';

test('#@if section kept when the flag is true (directive lines dropped)', () => {
  assert.is(render(SECTIONS, { V: 'v' }, { ws: true }), 'top\nin-ws v\nbottom\n');
});

test('#@if section removed when the flag is false', () => {
  assert.is(render(SECTIONS, { V: 'v' }, { ws: false }), 'top\nbottom\n');
});

test('markers in a removed section need no value', () => {
  assert.is(render(SECTIONS, {}, { ws: false }), 'top\nbottom\n');
  throwsMatching(() => render(SECTIONS, {}, { ws: true }), /no value for placeholder __V__/);
});

test('#@if / #@end may be indented and have trailing spaces', () => {
  assert.is(render('a\n   #@if f  \nb\n  #@end \nc', {}, { f: false }), 'a\nc');
});

test('several sections with different flags', () => {
  const t = '#@if a\nA\n#@end\n#@if b\nB\n#@end\nC';
  assert.is(render(t, {}, { a: true, b: false }), 'A\nC');
  assert.is(render(t, {}, { a: false, b: true }), 'B\nC');
});

test('unknown flag throws', () => {
  throwsMatching(() => render(SECTIONS, { V: 1 }, { other: true }, 't'), /^t: unknown flag ws$/);
  throwsMatching(() => render(SECTIONS, { V: 1 }), /unknown flag ws/);
});

test('unclosed #@if throws', () => {
  throwsMatching(() => render('#@if f\nx\n', {}, { f: true }, 't'), /^t: #@if f is never closed$/);
  throwsMatching(() => render('#@if f\nx\n', {}, { f: false }, 't'), /never closed/);
});

test('nested #@if throws', () => {
  throwsMatching(() => render('#@if a\n#@if b\nx\n#@end\n#@end\n', {}, { a: true, b: true }, 't'), /^t: nested #@if b inside #@if a$/);
});

test('stray #@end throws', () => {
  throwsMatching(() => render('x\n#@end\n', {}, {}, 't'), /^t: #@end without #@if$/);
  throwsMatching(() => render('#@if a\nx\n#@end\n#@end\n', {}, { a: true }, 't'), /#@end without #@if/);
});

test('readTemplate reads the shipped templates', () => {
  assert.match(readTemplate('nginx/site.conf'), /__BACKEND_IP__/);
  assert.match(readTemplate('nginx/ia-enso-http-maps.conf'), /__BEARER_TOKEN__/);
});

test.run();
