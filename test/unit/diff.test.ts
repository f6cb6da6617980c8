import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unifiedDiff } from '../../lib/diff.js';

test('creation: --- /dev/null, +++ path, every line added', () => {
  const d = unifiedDiff('/etc/nginx/x.conf', null, 'a\nb\n');
  const lines = d.split('\n');
  assert.is(lines[0], '--- /dev/null');
  assert.is(lines[1], '+++ /etc/nginx/x.conf');
  assert.match(lines[2], /^@@ -0,0 \+1,2 @@$/);
  assert.ok(lines.includes('+a'));
  assert.ok(lines.includes('+b'));
});

test('deletion: +++ /dev/null', () => {
  const lines = unifiedDiff('/etc/x', 'gone\n', null).split('\n');
  assert.is(lines[0], '--- /etc/x');
  assert.is(lines[1], '+++ /dev/null');
  assert.ok(lines.includes('-gone'));
});

test('update: plain diff -u header, no Index: or ==== preamble, 3 lines of context', () => {
  const before = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
  const after = before.replace('5\n', 'five\n');
  const d = unifiedDiff('/p', before, after);
  assert.not.match(d, /^Index:/m);
  assert.not.match(d, /^=+$/m);
  const lines = d.split('\n');
  assert.is(lines[0], '--- /p');
  assert.is(lines[1], '+++ /p');
  assert.is(lines[2], '@@ -2,7 +2,7 @@');
  assert.ok(lines.includes('-5'));
  assert.ok(lines.includes('+five'));
  assert.ok(lines.includes(' 2'));
  assert.not.ok(lines.includes(' 1'));
});

test('identical content: header only, no hunk', () => {
  const d = unifiedDiff('/p', 'same\n', 'same\n');
  assert.not.match(d, /^@@/m);
});

test('secrets are masked by their labels on both sides', () => {
  const oldT = 'OLDTOKEN'.repeat(5);
  const newT = 'NEWTOKEN'.repeat(5);
  const d = unifiedDiff('/m', `key "${oldT}";\nkeep\n`, `key "${newT}";\nkeep\n`, [
    { value: oldT, label: '<old>' },
    { value: newT, label: '<new>' },
  ]);
  assert.not.ok(d.includes(oldT));
  assert.not.ok(d.includes(newT));
  assert.ok(d.split('\n').includes('-key "<old>";'), d);
  assert.ok(d.split('\n').includes('+key "<new>";'), d);
});

test('an unchanged secret masks to the same label: no hunk for it', () => {
  const t = 'SAMETOKEN'.repeat(4);
  const d = unifiedDiff('/m', `a\n${t}\n`, `b\n${t}\n`, [{ value: t, label: '<tok>' }]);
  assert.not.ok(d.includes(t));
  assert.ok(d.split('\n').includes(' <tok>'), d);
});

test('secrets in a creation diff are masked', () => {
  const t = 'abcdefgh'.repeat(8);
  const d = unifiedDiff('/m', null, `"Bearer ${t}" 1;\n`, [{ value: t, label: '<redacted:bearer-token>' }]);
  assert.not.ok(d.includes(t));
  assert.ok(d.includes('+"Bearer <redacted:bearer-token>" 1;'));
});

test.run();
