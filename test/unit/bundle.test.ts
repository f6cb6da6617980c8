// The tasks run the CLI's bundle (dist/bundle, made by `npm run build`), not
// dist/lib: these check the bundle is what the tasks load, that from there it
// still finds the project's own files, and that it loads string-width late.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PROJECT_ROOT, projectPath } from '../../lib/paths.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const TASKS = join(ROOT, 'tasks');

test('PROJECT_ROOT is the checkout, from dist/lib', () => {
  assert.is(PROJECT_ROOT, ROOT);
  assert.ok(existsSync(projectPath('templates/nginx/site.conf')));
  assert.ok(existsSync(projectPath('lib/remote-scripts/scratch-test.sh')));
});

test('every task imports only the bundle, and each import exists', () => {
  const tasks = readdirSync(TASKS).filter((f) => f.endsWith('.mjs'));
  assert.ok(tasks.length >= 5, tasks.join(', '));
  for (const task of tasks) {
    const specs = [...readFileSync(join(TASKS, task), 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    assert.ok(specs.length > 0, `${task} imports nothing`);
    for (const spec of specs) {
      const file = resolve(TASKS, spec);
      assert.is(dirname(file), join(ROOT, 'dist/bundle'), `${task} imports ${spec}, outside dist/bundle`);
      assert.ok(existsSync(file), `${task} imports ${spec}, which the build did not make`);
    }
  }
});

test('from the bundle, the default inventory is the checkout\'s', async () => {
  const parser = await import(pathToFileURL(join(ROOT, 'dist/bundle/parser.js')).href);
  assert.is(parser.DEFAULT_INVENTORY, join(ROOT, 'inventory/production.yml'));
});

test('the bundle loads string-width on first use, not at start-up, and --help still lays out', () => {
  // Counts Intl.Segmenter constructions: string-width builds one when imported.
  const script = `
    let built = 0;
    const Segmenter = Intl.Segmenter;
    Intl.Segmenter = class extends Segmenter { constructor(...a) { super(...a); built++; } };
    const dir = ${JSON.stringify(join(ROOT, 'dist/bundle'))};
    const { readdirSync } = await import('node:fs');
    await import(dir + '/converge.js');
    for (const f of readdirSync(dir).filter((f) => /^(pipeline|ssh)-/.test(f))) await import(dir + '/' + f);
    const atStart = built;
    const { baseParser } = await import(dir + '/parser.js');
    const help = await baseParser([], 'converge', 'Converges.').getHelp();
    console.log(JSON.stringify({ atStart, afterHelp: built, help }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const { atStart, afterHelp, help } = JSON.parse(out);
  assert.is(atStart, 0, 'string-width was loaded at start-up');
  assert.ok(afterHelp >= 1, 'laying out --help loads it');
  assert.match(help, /-i, --inventory\s+inventory file/);
});

test.run();
