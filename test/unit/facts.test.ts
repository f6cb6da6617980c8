import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deployedToken, type FileFacts } from '../../lib/facts.js';
import { renderMaps, type MapsFlags } from '../../lib/desired.js';

const T = 'f00d'.repeat(16);
const ON: MapsFlags = { websocketMap: true, bucketSize: true, hashKey: true };
const REGEX_T = 'ab.cd+ef/gh-ij_kl~mn'.repeat(2) + '==';
const file = (text: string): FileFacts => ({ path: '/etc/nginx/conf.d/m.conf', kind: 'file', content: Buffer.from(text) });

const cases: [string, FileFacts | undefined, string | null][] = [
  ['rendered maps file', file(renderMaps(T, ON)), T],
  ['rendered maps file without websocket map', file(renderMaps(T, { ...ON, websocketMap: false })), T],
  ['regex-key maps file (escapes undone)', file(renderMaps(REGEX_T, { ...ON, hashKey: false })), REGEX_T],
  ['extra spaces before 1 and ;', file(`map $a $b {\n  "Bearer ${T}"   1 ;\n}\n`), T],
  ['base64-style token', file('"Bearer ab+/cd==" 1;'), 'ab+/cd=='],
  ['first of several', file(`"Bearer ${T}" 1;\n"Bearer other" 1;\n`), T],
  ['hand-written regex key', file('    "~^Bearer ab\\.cd\\+ef$" 1;\n'), 'ab.cd+ef'],
  ['commented-out Bearer line', file(`# "Bearer ${T}" 1;\n`), null],
  ['value 0 is not a grant', file(`"Bearer ${T}" 0;`), null],
  ['no Bearer line', file('map $a $b { default 0; }'), null],
  ['empty file', file(''), null],
  ['absent', { path: '/x', kind: 'absent' }, null],
  ['a link', { path: '/x', kind: 'link', linkTo: '/y' }, null],
  ['a directory', { path: '/x', kind: 'dir' }, null],
  ['file without content', { path: '/x', kind: 'file' }, null],
  ['undefined', undefined, null],
];

for (const [what, facts, expected] of cases) {
  test(`deployedToken: ${what}`, () => {
    assert.is(deployedToken(facts), expected);
  });
}

test.run();
