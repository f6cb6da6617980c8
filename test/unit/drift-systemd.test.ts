// The systemd units of the scheduled check, checked by systemd's own
// `systemd-analyze verify` (offline: no running systemd needed), and
// tasks/install-drift-timer.mjs run as a user would (no lab, no network).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cronLine, execArg, needsSudoHere, renderUnits, SERVICE, TIMER, type UnitOptions } from '../../lib/drift/systemd.js';
import { tempDir } from '../tempdir.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const INVENTORY = join(REPO, 'inventory/lab.yml');
const OPTS: UnitOptions = {
  repo: REPO,
  node: process.execPath,
  zx: realpathSync(join(REPO, 'node_modules/.bin/zx')),
  user: 'root',
  inventory: INVENTORY,
  limit: null,
  textfile: '/var/lib/converge-drift/converge-drift.prom',
  envFile: '/etc/converge/drift.env',
  remediate: false,
  sudoHere: false,
};

/** `systemd-analyze verify` on units written under their real names: exit code and everything it said. */
function verify(units: Record<string, string>): { code: number; output: string } {
  const dir = tempDir('converge-unit-test-');
  try {
    for (const [name, text] of Object.entries(units)) writeFileSync(join(dir, name), text);
    const res = spawnSync('systemd-analyze', ['verify', ...Object.keys(units).map((n) => join(dir, n))], { encoding: 'utf8' });
    if (res.error) throw res.error;
    return { code: res.status ?? -1, output: `${res.stdout}${res.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A unit setting's value (the last one wins in systemd). */
function setting(unit: string, key: string): string | undefined {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].pop()?.[1];
}

test('the rendered service and timer pass systemd-analyze verify without a warning', () => {
  const u = renderUnits(OPTS);
  assert.equal(verify({ [SERVICE]: u.service, [TIMER]: u.timer }), { code: 0, output: '' });
  assert.not.match(u.service + u.timer, /__[A-Z_]+__/, 'no placeholder left');
});

test('NoNewPrivileges is on, unless the check runs sudo on this machine (connection: local, not as root)', () => {
  assert.is(setting(renderUnits(OPTS).service, 'NoNewPrivileges'), 'yes');
  const local = renderUnits({ ...OPTS, user: 'deploy', sudoHere: true });
  assert.is(setting(local.service, 'NoNewPrivileges'), undefined, 'sudo refuses to run under no_new_privs');
  assert.match(local.service, /connection: local runs `sudo -n`\n# on this machine as deploy/);
  assert.equal(verify({ [SERVICE]: local.service, [TIMER]: local.timer }), { code: 0, output: '' });
  const local_ = { vars: { connection: 'local' } };
  const ssh = { vars: { connection: 'ssh' } };
  assert.is(needsSudoHere([ssh, local_], 'deploy'), true);
  assert.is(needsSudoHere([ssh, local_], 'root'), false, 'root needs no sudo to become root');
  assert.is(needsSudoHere([ssh], 'deploy'), false);
});

test('verify can fail: a unit with a relative ExecStart or an unknown key is refused', () => {
  const u = renderUnits(OPTS);
  // systemd accepts a bare name found in its search path; a name with a slash that is not absolute is refused.
  const broken = verify({ [SERVICE]: u.service.replace(/^ExecStart=\S+/m, 'ExecStart=bin/node'), [TIMER]: u.timer });
  assert.is.not(broken.code, 0, broken.output);
  assert.match(broken.output, /bin\/node/);
  const unknown = verify({ [SERVICE]: u.service.replace('[Service]', '[Service]\nRestartEvery=5'), [TIMER]: u.timer });
  assert.match(unknown.output, /RestartEvery/, 'an unknown key is reported');
});

test('the service runs the drift task of this checkout as the given user, drift (2) is not a unit failure', () => {
  const { service } = renderUnits({ ...OPTS, user: 'deploy', limit: 'proxy-*,!proxy-old', remediate: true });
  assert.is(setting(service, 'Type'), 'oneshot');
  assert.is(setting(service, 'User'), 'deploy');
  assert.is(setting(service, 'WorkingDirectory'), REPO);
  assert.is(setting(service, 'SuccessExitStatus'), '2');
  assert.is(setting(service, 'EnvironmentFile'), '-/etc/converge/drift.env');
  assert.is(
    setting(service, 'ExecStart'),
    `${process.execPath} ${OPTS.zx} ${REPO}/tasks/drift.mjs --inventory ${INVENTORY} --limit "proxy-*,!proxy-old" --report /var/lib/converge-drift/last.json --history /var/lib/converge-drift/history --textfile /var/lib/converge-drift/converge-drift.prom --remediate`,
  );
});

test('the timer: every 15 minutes, randomized delay, persistent', () => {
  const { timer } = renderUnits(OPTS);
  assert.is(setting(timer, 'OnCalendar'), '*:0/15');
  assert.match(setting(timer, 'RandomizedDelaySec') ?? '', /^\d+(min|s)?$/);
  assert.is(setting(timer, 'Persistent'), 'true');
  assert.is(setting(timer, 'WantedBy'), 'timers.target');
  // systemd's own reading of the calendar expression: quarter hours.
  const next = execFileSync('systemd-analyze', ['calendar', '--iterations=3', '*:0/15'], { encoding: 'utf8' });
  const minutes = [...next.matchAll(/(?:Next elapse|Iter\. #\d+):.* \d\d:(\d\d):00/g)].map((m) => Number(m[1]));
  assert.is(minutes.length, 3, next);
  for (const m of minutes) assert.ok(m % 15 === 0, next);
});

test('ExecStart quoting: spaces, quotes and % survive systemd (verified against a real path)', () => {
  assert.is(execArg('/plain/path.yml'), '/plain/path.yml');
  assert.is(execArg('50%'), '50%%');
  assert.is(execArg('a b"c\\d'), '"a b\\"c\\\\d"');
  const dir = tempDir('converge unit %test-');
  try {
    mkdirSync(join(dir, 'my bin'));
    symlinkSync(process.execPath, join(dir, 'my bin', 'node'));
    const u = renderUnits({ ...OPTS, node: join(dir, 'my bin', 'node'), inventory: join(dir, 'inv "x".yml') });
    assert.equal(verify({ [SERVICE]: u.service, [TIMER]: u.timer }), { code: 0, output: '' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => renderUnits({ ...OPTS, user: 'bad user' }), /not a valid user name/);
  assert.throws(() => renderUnits({ ...OPTS, envFile: 'relative.env' }), /--env-file must be an absolute path/);
});

test('the cron line runs the same command every 15 minutes, with % escaped for crontab', () => {
  const line = cronLine({ ...OPTS, textfile: '/var/lib/x/50%.prom' });
  assert.match(line, /^\*\/15 \* \* \* \* cd \S+ && /);
  assert.match(line, /tasks\/drift\.mjs --inventory \S+ --report \S+ --history \S+ --textfile \/var\/lib\/x\/50\\%\.prom/);
  // What cron hands to sh (after turning \% back into %) is valid sh.
  const res = spawnSync('sh', ['-n', '-c', line.replace(/^(\S+\s+){5}/, '').replace(/\\%/g, '%')]);
  assert.is(res.status, 0, String(res.stderr));
});

function installTimer(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(REPO, 'node_modules/.bin/zx'), [join(REPO, 'tasks/install-drift-timer.mjs'), ...args], { cwd: REPO, env: { ...process.env, CI: 'true' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 99) : 0, stdout, stderr });
    });
  });
}

test('install-drift-timer --dry-run prints both units and the cron line, writes nothing', async () => {
  const dest = tempDir('converge-dest-');
  try {
    const run = await installTimer(['-i', INVENTORY, '--dest', dest, '--dry-run']);
    assert.is(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`# ${dest}/converge-drift\\.service\\n`));
    assert.match(run.stdout, /OnCalendar=\*:0\/15/);
    assert.match(run.stdout, /systemctl daemon-reload && systemctl enable --now converge-drift\.timer/);
    assert.match(run.stdout, /\*\/15 \* \* \* \* cd /);
    assert.equal(readdirSync(dest), []);
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
});

test('install-drift-timer --dest installs verified units; without a running systemd it says what to run', async () => {
  const dest = tempDir('converge-dest-');
  try {
    const run = await installTimer(['-i', INVENTORY, '--dest', dest, '--enable', '--user', 'root']);
    assert.is(run.code, 0, run.stderr);
    assert.equal(readdirSync(dest).sort(), [SERVICE, TIMER]);
    const service = readFileSync(join(dest, SERVICE), 'utf8');
    assert.match(service, new RegExp(`^ExecStart=${process.execPath} \\S+/zx/build/cli\\.js ${REPO}/tasks/drift\\.mjs --inventory ${INVENTORY} `, 'm'));
    assert.equal(verify({ [SERVICE]: service, [TIMER]: readFileSync(join(dest, TIMER), 'utf8') }), { code: 0, output: '' });
    const systemdUp = spawnSync('systemctl', ['is-system-running']).stdout?.toString().trim();
    if (!systemdUp || systemdUp === 'offline' || !existsSync('/run/systemd/system')) {
      assert.match(run.stdout, /systemctl could not talk to systemd/);
      assert.match(run.stdout, /Once systemd runs, as root: systemctl daemon-reload && systemctl enable --now converge-drift\.timer/);
    }
    const plain = await installTimer(['-i', INVENTORY, '--dest', dest]);
    assert.match(plain.stdout, /to activate, as root: systemctl daemon-reload/, 'another --dest: systemctl is not run');
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
});

test('install-drift-timer for a connection: local host, as a user other than root: no NoNewPrivileges (sudo runs here)', async () => {
  const dir = tempDir('converge-dest-');
  try {
    const inv = join(dir, 'local.yml');
    writeFileSync(inv, 'all:\n  hosts:\n    this-proxy: { connection: local, domain: ia.example.com, backend_ip: 10.0.0.9 }\n');
    const asDeploy = await installTimer(['-i', inv, '--dry-run', '--user', 'deploy']);
    assert.is(asDeploy.code, 0, asDeploy.stderr);
    assert.is(setting(asDeploy.stdout, 'NoNewPrivileges'), undefined);
    const asRoot = await installTimer(['-i', inv, '--dry-run', '--user', 'root']);
    assert.is(setting(asRoot.stdout, 'NoNewPrivileges'), 'yes');
    const overSsh = await installTimer(['-i', INVENTORY, '--dry-run', '--user', 'deploy']);
    assert.is(setting(overSsh.stdout, 'NoNewPrivileges'), 'yes', 'over SSH, sudo runs on the proxies, not here');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('install-drift-timer refuses a broken inventory before writing anything', async () => {
  const dest = tempDir('converge-dest-');
  try {
    const bad = join(dest, 'bad.yml');
    writeFileSync(bad, 'all:\n  hosts:\n    p1: { domian: x.example.com }\n');
    const run = await installTimer(['-i', bad, '--dest', dest]);
    assert.is(run.code, 1);
    assert.match(run.stderr, /^install-drift-timer: .*domian/m);
    assert.equal(readdirSync(dest), ['bad.yml']);
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
});

test.run();
