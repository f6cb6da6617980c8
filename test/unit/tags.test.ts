import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../../lib/errors.js';
import type { FileSpec, Stage } from '../../lib/desired.js';
import type { Action, Change } from '../../lib/plan.js';
import { decideStages, everyStage, parseStageSelection, STAGE_NAMES } from '../../lib/tags.js';

function change(stage: Stage, action: Action = 'update', spec: Partial<FileSpec> = {}): Change {
  const path = `/etc/nginx/${stage}.conf`;
  const full: FileSpec = { stage, path, mode: 0o644, owner: 'root', group: 'root', content: '', ...spec };
  return { stage, path, action, reasons: ['content differs'], diff: '', spec: full, before: { path, kind: action === 'create' ? 'absent' : 'file' } };
}
const cert = () => change('tls', 'create', { certificate: true, outsideNginx: true, path: '/etc/letsencrypt/live/x' });
const hook = () => change('tls', 'create', { outsideNginx: true });
const sel = (tags?: string, skip?: string) => parseStageSelection(tags, skip);
const run = (d: { run: Set<string> }) => STAGE_NAMES.filter((s) => d.run.has(s));

test('parseStageSelection: default, --tags, --skip-tags, both, all', () => {
  assert.equal([...sel().selected], [...STAGE_NAMES]);
  assert.is(sel().how, '');
  assert.equal([...sel('maps,vhost').selected].sort(), ['maps', 'vhost']);
  assert.equal([...sel(undefined, 'verify').selected], STAGE_NAMES.filter((s) => s !== 'verify'));
  assert.equal([...sel('maps,vhost', 'vhost').selected], ['maps']);
  assert.equal([...sel('all', 'verify,reload').selected].length, 6);
  assert.is(sel('maps', 'verify').how, '--tags maps --skip-tags verify');
});

for (const [tags, skip, message] of [
  ['mapz', undefined, /--tags: unknown stage "mapz"/],
  [undefined, 'all', /--skip-tags: unknown stage "all"/],
  ['', undefined, /--tags needs at least one stage/],
  ['maps', 'maps', /selects no stage/],
] as const) {
  test(`parseStageSelection refuses ${JSON.stringify([tags, skip])}`, () => {
    try {
      sel(tags, skip);
      assert.unreachable('expected an error');
    } catch (err) {
      assert.instance(err, InputError);
      assert.match((err as Error).message, message);
    }
  });
}

test('every stage selected: everything runs, no notes', () => {
  const d = decideStages(everyStage(), { changes: [change('maps'), change('vhost')], mode: 'apply' });
  assert.equal(run(d), [...STAGE_NAMES]);
  assert.equal(d.notes, []);
  assert.is(d.refused, null);
});

test('preflight is always kept, and said so', () => {
  const d = decideStages(sel('verify'), { changes: [], mode: 'apply' });
  assert.equal(run(d), ['preflight', 'verify']);
  assert.match(d.notes.join('\n'), /kept preflight although not selected \(--tags verify\)/);
});

test('validate is kept when a selected stage changes something nginx loads', () => {
  const d = decideStages(sel(undefined, 'validate'), { changes: [change('maps')], mode: 'apply' });
  assert.ok(d.run.has('validate'));
  assert.match(d.notes.join('\n'), /kept validate although not selected \(--skip-tags validate\): nginx must accept the maps change/);
});

test('validate may be skipped when nothing nginx loads changes (only the renewal hook)', () => {
  const d = decideStages(sel(undefined, 'validate'), { changes: [hook()], mode: 'apply' });
  assert.not.ok(d.run.has('validate'));
  assert.is(d.skipped.get('validate'), 'not selected (--skip-tags validate)');
});

test('skipped write stages: their changes are listed as left undone', () => {
  const d = decideStages(sel('maps'), { changes: [change('maps'), change('vhost'), change('enable', 'update')], mode: 'apply' });
  assert.equal(d.undone.map((c) => c.stage), ['vhost', 'enable']);
  assert.match(d.notes.join('\n'), /skipped vhost \(not selected \(--tags maps\)\): left undone: update \/etc\/nginx\/vhost\.conf/);
  assert.is(d.skipped.get('vhost'), 'not selected (--tags maps): 1 change(s) left undone');
  assert.is(d.refused, null, 'updates of files already there need nothing else');
});

test('skipping reload while nginx files change: verify is skipped too, with the reason', () => {
  const d = decideStages(sel(undefined, 'reload'), { changes: [change('vhost')], mode: 'apply' });
  assert.not.ok(d.run.has('reload'));
  assert.not.ok(d.run.has('verify'));
  assert.match(d.skipped.get('verify')!, /reload skipped/);
  assert.match(d.notes.join('\n'), /on disk but not live/);
});

test('skipping reload with nothing to reload keeps verify', () => {
  const d = decideStages(sel(undefined, 'reload'), { changes: [], mode: 'apply' });
  assert.ok(d.run.has('verify'));
});

const refusals: [string, string | undefined, string | undefined, Change[], RegExp][] = [
  ['vhost without a maps file on the host', 'vhost', undefined, [change('maps', 'create'), change('vhost', 'create')], /vhost without maps/],
  ['vhost without the certificate', undefined, 'tls', [cert(), change('vhost', 'update')], /vhost without tls/],
  ['the link without the site file', 'enable', undefined, [change('vhost', 'create'), change('enable', 'create')], /enable without vhost/],
  ['a certificate without the vhost', 'tls,maps', undefined, [cert()], /tls without vhost/],
  ['a certificate without the reload', undefined, 'reload', [cert(), change('vhost')], /tls without reload/],
];
for (const [what, tags, skip, changes, re] of refusals) {
  test(`refused: ${what}`, () => {
    const d = decideStages(sel(tags, skip), { changes, mode: 'apply' });
    assert.match(d.refused ?? '', re);
  });
}

test('not refused when the prerequisite is already on the host', () => {
  assert.is(decideStages(sel('vhost'), { changes: [change('maps', 'update'), change('vhost', 'update')], mode: 'apply' }).refused, null);
  assert.is(decideStages(sel('enable'), { changes: [change('enable', 'create')], mode: 'apply' }).refused, null);
});

test('check mode: no reload-related refusal or note', () => {
  const d = decideStages(sel(undefined, 'reload'), { changes: [cert(), change('vhost')], mode: 'check' });
  assert.is(d.refused, null);
  assert.not.match(d.notes.join('\n'), /not live/);
});
test.run();
