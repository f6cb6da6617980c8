#!/usr/bin/env node
// `npm run bench`: how fast converge is on the lab, against targets. A
// measurement, not a test: it prints medians and never fails on a slow number
// (it fails only when a run does not do what it should, e.g. a no-op run that
// changes something). Run it under the lab lock, on an up lab (npm run bench
// does both). BENCH_RUNS (default 9: on a shared machine, medians of 5 moved
// by 50 ms from one benchmark to the next) sets the runs per measurement. The
// measurements are taken round-robin (one run of each per round), so that
// the ratios the targets set compare runs taken close together.
//
// What is measured (median of the runs):
//   start-up   node alone; the CLI's --help (zx and node, and through npx); the modules a run loads,
//              from the CLI's bundle (dist/bundle) and unbundled (dist/lib)
//   floor      one OpenSSH `ssh` that does on the host what a no-op's read does:
//              the managed files, and the stamp of what nginx loads (or nginx -T
//              itself); and 20 at once: what these CPUs allow for the 20-host targets
//   cache      the no-op runs reuse nginx -T's findings (lib/dumpcache.ts), warmed
//              before the rounds; "without the dump cache" rows dump every time
//   1 host     no-op converge (with and without the verify stage; with the token in
//              the environment, and with the one the host serves), no-op --check,
//              and, in rounds of their own after the others, first converge (after reset.sh)
//   20 hosts   20 inventory entries, all the lab, --forks 20: no-op --check
//              (also through the lab's bastion, whose connection they share)
//              and no-op converge (a no-op takes no host lock), with and without
//              verify (with it, 20 hosts' probes reach the one lab gateway); and a no-op
//              converge of 20 "machines": 20 sshds on 127.0.0.2-21, each in its
//              own mount namespace with a private /run/lock, so each has its own
//              host lock (they share the lab's nginx files, which a no-op only reads)
//   SSH connections per host and run, from the sshds' logs (LogLevel VERBOSE),
//              and to the bastion per run
//   privileged commands (sudo) per host and run, from the lab's sudo log
//   link       no-op --check of 1 host and the floor, through a delaying proxy
//              (test/bench/link.mjs) with a short and a long round trip
//              (LINK_RTTS_MS): the difference counts the round trips each waits
//              for, which a real network's latency multiplies
//   CPU time per run (test/bench/cpu.mjs): the machine's and converge's, per
//              extra host, and the shortest 20-host run these CPUs allow for it;
//              the processes started per extra host, and what one costs here
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { SETTLE_S, watchList } from '../../dist/lib/dumpcache.js';
import { cpuSince } from './cpu.mjs';
import { startLink } from './link.mjs';
import { tempDir } from '../../dist/test/tempdir.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const LAB = process.env.CONVERGE_LAB ?? '/var/lib/converge-lab';
const SSHD_LOG = join(LAB, 'run/sshd.log');
const BASTION_LOG = join(LAB, 'run/bastion.log');
const SUDO_LOG = join(LAB, 'run/sudo.log'); // the lab's sudoers logs each privileged command
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
// The delayed links' round trips: a proxy nearby, and one in another region.
// Neither is zero: with no delay, OpenSSH's small writes wait for delayed
// ACKs (~40 ms each on Linux) that a delayed link hides, and the difference
// would count those as round trips saved.
const LINK_RTTS_MS = [30, 90];
const TOKEN = 'lab-token-0123456789abcdef0123456789abcdef';
const ZX = join(REPO, 'node_modules/.bin/zx');
const CLI = join(REPO, 'tasks/converge.mjs');
const LAB_INVENTORY = join(REPO, 'inventory/lab.yml');
// A cache of its own, warmed before the rounds (see warmDumpCache): a no-op in steady state.
const CACHE_DIR = tempDir('converge-bench-cache-');
const ENV = { ...process.env, CI: 'true', IA_ENSO_OLLAMA_BEARER_TOKEN: TOKEN, CONVERGE_CACHE_DIR: CACHE_DIR };
delete ENV.SSH_AUTH_SOCK;
const NO_CACHE = { ...ENV, CONVERGE_CACHE_DIR: '' };
// The usual run: the token is the one the host serves (converge generated it once), not a local one.
const HOST_TOKEN = { ...ENV };
delete HOST_TOKEN.IA_ENSO_OLLAMA_BEARER_TOKEN;

// ---- helpers -----------------------------------------------------------------------

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mean = (xs) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const ms = (x) => `${Math.round(x)} ms`;

/** Runs a command once; returns its duration (ms) and output. Throws if it fails unexpectedly. */
function timed(cmd, args, { env = ENV, okCodes = [0] } = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd: REPO, encoding: 'utf8', maxBuffer: 64 << 20 });
  const elapsed = Number(process.hrtime.bigint() - t) / 1e6;
  if (!okCodes.includes(r.status)) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return { ms: elapsed, stdout: r.stdout, stderr: r.stderr };
}

const logSize = (log) => (existsSync(log) ? statSync(log).size : 0);
function linesSince(log, offset, test) {
  if (!existsSync(log)) return 0;
  return readFileSync(log).subarray(offset).toString('utf8').split('\n').filter(test).length;
}
const connectionsSince = (log, offset) => linesSince(log, offset, (l) => l.startsWith('Connection from '));
const sudoSince = (offset) => linesSince(SUDO_LOG, offset, (l) => l.includes(' : converge-lab : '));

const failures = [];

/**
 * Runs every measurement once per round, RUNS rounds (`before` untimed), and
 * collects durations, SSH connections and privileged commands. Round-robin,
 * because this machine's speed drifts over minutes while the targets compare
 * measurements with each other: within a round they are taken seconds apart.
 * A run that fails is reported at the end (exit 1); the others still count.
 */
function measureAll(specs) {
  const results = Object.fromEntries(specs.map((s) => [s.key, { label: s.label, times: [], conns: [], jumpConns: [], sudos: [], cpu: [] }]));
  for (let round = 1; round <= RUNS; round++) {
    process.stderr.write(`bench: round ${round}/${RUNS} `);
    for (const s of specs) {
      const r = results[s.key];
      const logs = s.logs ?? [SSHD_LOG];
      const hosts = s.hosts ?? 1;
      try {
        s.before?.();
        const offs = logs.map(logSize);
        const sudoOff = logSize(SUDO_LOG);
        const jumpOff = logSize(BASTION_LOG);
        const cpu = cpuSince();
        r.times.push(s.once());
        r.cpu.push(cpu());
        r.conns.push(logs.reduce((n, log, i) => n + connectionsSince(log, offs[i]), 0) / hosts);
        r.sudos.push(sudoSince(sudoOff) / hosts);
        r.jumpConns.push(connectionsSince(BASTION_LOG, jumpOff)); // per run, not per host: the hosts share it
        process.stderr.write('.');
      } catch (err) {
        failures.push(`${s.label}: ${err.message}`);
        process.stderr.write('x');
      }
    }
    process.stderr.write('\n');
  }
  for (const r of Object.values(results)) {
    r.median = r.times.length > 0 ? median(r.times) : NaN;
    // Clock ticks are 10 ms: CPU times are averaged over the runs, not their median.
    r.machineCpu = mean(r.cpu.map((c) => c.machine));
    r.ownCpu = mean(r.cpu.map((c) => c.own));
    r.processes = mean(r.cpu.map((c) => c.processes));
  }
  return results;
}

function converge(args, expect, env = ENV) {
  const r = timed(ZX, [CLI, ...args, '--json'], { env, okCodes: [0, 1, 2] });
  const report = JSON.parse(r.stdout);
  const statuses = report.hosts.map((h) => h.status);
  const expected = [expect].flat();
  if (!statuses.every((s) => expected.includes(s))) {
    const odd = report.hosts.filter((h) => !expected.includes(h.status)).map((h) => `${h.host}: ${h.status}${h.error ? ` (${h.error.split('\n')[0]})` : ''}`);
    throw new Error(`expected every host ${expect}; ${odd.length} not: ${odd.slice(0, 3).join('; ')}`);
  }
  return r.ms;
}

const reset = () => execFileSync('bash', [join(REPO, 'test/lab/reset.sh')], { stdio: 'inherit' });

function fleetInventory(n, extraVars = {}) {
  const vars = { ...parse(readFileSync(LAB_INVENTORY, 'utf8')).all.vars, ...extraVars };
  const hosts = Object.fromEntries(Array.from({ length: n }, (_, i) => [`lab-${String(i + 1).padStart(2, '0')}`, null]));
  const file = join(tempDir('converge-bench-'), 'fleet.yml');
  writeFileSync(file, stringify({ all: { vars, hosts } }));
  return file;
}

/**
 * n stand-in machines for a parallel converge: sshds on 127.0.0.2.. (port
 * 2222, the lab's config and host key), each started by unshare(1) in its own
 * mount namespace with a tmpfs on /run/lock, so each has its own host lock.
 * Returns their inventory, their logs and a stop function.
 */
async function machines(n) {
  const dir = tempDir('converge-bench-machines-');
  const labConfig = readFileSync(join(LAB, 'sshd/sshd_config'), 'utf8');
  const hostKey = readFileSync(join(LAB, 'sshd/ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const vars = parse(readFileSync(LAB_INVENTORY, 'utf8')).all.vars;
  const hosts = {};
  const logs = [];
  const procs = [];
  const knownHosts = [];
  for (let i = 0; i < n; i++) {
    const addr = `127.0.0.${i + 2}`;
    const conf = join(dir, `sshd-${i}.conf`);
    const log = join(dir, `sshd-${i}.log`);
    writeFileSync(conf, labConfig.replace(/^ListenAddress .*$/m, `ListenAddress ${addr}`).replace(/^PidFile .*$/m, `PidFile ${join(dir, `sshd-${i}.pid`)}`));
    const mountAndRun = `mount -t tmpfs -o size=1m,mode=1777 converge-bench /run/lock && exec /usr/sbin/sshd -D -f '${conf}' -E '${log}'`;
    procs.push(spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', mountAndRun], { stdio: 'ignore' }));
    hosts[`machine-${String(i + 1).padStart(2, '0')}`] = { ssh_host: addr };
    knownHosts.push(`[${addr}]:${vars.ssh_port} ${hostKey}`);
    logs.push(log);
  }
  writeFileSync(join(dir, 'known_hosts'), knownHosts.join('\n') + '\n');
  const inventory = join(dir, 'machines.yml');
  writeFileSync(inventory, stringify({ all: { vars: { ...vars, ssh_known_hosts: join(dir, 'known_hosts') }, hosts } }));
  const stop = () => procs.forEach((p) => p.kill('SIGTERM'));
  const listening = () => logs.every((l) => existsSync(l) && /Server listening/.test(readFileSync(l, 'utf8')));
  for (let t = 0; t < 50 && !listening(); t++) await new Promise((done) => setTimeout(done, 100));
  if (!listening()) {
    stop();
    throw new Error(`the stand-in sshds did not start (logs in ${dir})`);
  }
  return { inventory, logs, stop };
}

/**
 * What a no-op's read does on the host, the way one OpenSSH ssh would: the
 * managed files, the certificate check, and the stamp of what nginx loads
 * (`nginx -T` itself with `dump`: a read that the dump cache cannot spare).
 */
function floorCommand({ dump = false } = {}) {
  const inv = parse(readFileSync(LAB_INVENTORY, 'utf8')).all.vars;
  const d = 'gateway.converge.test';
  const files = [
    `${inv.letsencrypt_dir}/renewal-hooks/deploy/${d}-nginx-reload`,
    `${inv.nginx_conf_d}/ia-enso-http-maps.conf`,
    `${inv.nginx_sites_available}/${d}.conf`,
    inv.nginx_conf,
  ];
  const dumpOrStamp = dump ? `${inv.nginx_command} -T >/dev/null 2>&1` : `stat -L --printf "%i:%s:%.9Y:%.9Z " $(command -v nginx) ${labWatch().join(' ')} >/dev/null`;
  const script = `cat ${files.join(' ')} 2>/dev/null; readlink ${inv.nginx_sites_enabled}/${d}.conf; test -e ${inv.letsencrypt_dir}/live/${d}/fullchain.pem; ${dumpOrStamp}`;
  return ['-F', join(LAB, 'client/ssh_config'), '-o', 'ControlMaster=no', 'lab', `sudo -n sh -c '${script}'`];
}

/**
 * Two links to the lab's sshd (test/bench/link.mjs), with the round trips of
 * LINK_RTTS_MS, each with its inventory and its OpenSSH floor. Returns them
 * and a stop function.
 */
async function links() {
  const dir = tempDir('converge-bench-links-');
  const vars = parse(readFileSync(LAB_INVENTORY, 'utf8')).all.vars;
  const labKeys = readFileSync(vars.ssh_known_hosts, 'utf8').split('\n').filter((l) => l.startsWith(`[127.0.0.1]:${vars.ssh_port} `));
  const started = [];
  try {
    for (const rtt of LINK_RTTS_MS) started.push(await startLink(vars.ssh_port, rtt / 2));
  } catch (err) {
    started.forEach((l) => l.stop());
    throw err;
  }
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, started.flatMap((l) => labKeys.map((k) => k.replace(`:${vars.ssh_port} `, `:${l.port} `))).join('\n') + '\n');
  const [near, far] = started.map((l, i) => {
    const inventory = join(dir, `link-${i}.yml`);
    writeFileSync(inventory, stringify({ all: { vars: { ...vars, ssh_port: l.port, ssh_known_hosts: knownHosts }, hosts: { 'lab-proxy': null } } }));
    // Command-line options win over the lab's ssh_config.
    const floorVia = (floor) => ['-p', String(l.port), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'KexAlgorithms=curve25519-sha256', ...floor];
    return { inventory, floorVia };
  });
  return { near, far, stop: () => started.forEach((l) => l.stop()) };
}

/** n copies of a command at once (each one's output dropped); fails if any fails. */
const parallel = (n, cmd, args) =>
  timed('bash', ['-c', `for i in $(seq ${n}); do "$@" >/dev/null & done; s=0; for p in $(jobs -p); do wait "$p" || s=1; done; exit $s`, 'parallel', cmd, ...args]).ms;

/** The paths whose stamp stands for the lab's nginx -T (as lib/dumpcache.ts derives them). */
function labWatch() {
  const inv = parse(readFileSync(LAB_INVENTORY, 'utf8')).all.vars;
  const dump = execFileSync('sh', ['-c', `${inv.nginx_command} -T 2>/dev/null`], { encoding: 'utf8' });
  return watchList(dump);
}

/**
 * A converged lab whose files are older than the cache's settle time, and
 * each inventory read twice: the first read learns what nginx loads, the
 * second stamps it. The no-op runs measured then reuse the dump, as a no-op
 * in steady state does (a run after a change dumps again: see noopNoCache).
 */
async function warmDumpCache(inventories) {
  converge(['-i', LAB_INVENTORY, '--skip-tags', 'verify'], ['ok', 'changed']);
  await new Promise((done) => setTimeout(done, (SETTLE_S + 0.5) * 1000));
  for (const inv of inventories) for (let i = 0; i < 2; i++) converge(['-i', inv, '--check', '--forks', '20'], 'ok');
}

const nodeImport = (spec) => ['--input-type=module', '-e', `await import(${JSON.stringify(spec)})`];

// ---- measurements ---------------------------------------------------------------------

const fleet20 = fleetInventory(20);
// The lab's bastion (test/lab/up.sh): the 20 hosts share one connection to it.
const fleet20Bastion = fleetInventory(20, { ssh_jump: 'converge-lab@127.0.0.1:2223' });
// The bundle's lazily loaded chunks carry the module's name and a content hash.
const bundleChunk = (name) => join(REPO, 'dist/bundle', readdirSync(join(REPO, 'dist/bundle')).find((f) => f.startsWith(`${name}-`)));
const importAll = (files) => timed('node', ['--input-type=module', '-e', files.map((f) => `await import(${JSON.stringify(f)});`).join(' ')]).ms;
const m20 = await machines(20);
const link = await links().catch((err) => {
  m20.stop();
  throw err;
});
let results;
try {
  await warmDumpCache([LAB_INVENTORY, fleet20, fleet20Bastion, m20.inventory, link.near.inventory, link.far.inventory]);
  // Once the lab is converged: the stamp's paths are what its nginx -T loads then.
  const floor = floorCommand();
  const floorDump = floorCommand({ dump: true });
  results = measureAll([
    { key: 'node', label: 'node start-up (node -e "")', once: () => timed('node', ['-e', '']).ms },
    // What starting a process costs here: a read's sshd, sudo and shell tools are a dozen of them.
    { key: 'process', label: 'one process started by sh (fork and exec of true, mean of 100)', once: () => timed('sh', ['-c', 'i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i + 1)); done']).ms / 100 },
    { key: 'helpZx', label: 'CLI start-up: zx tasks/converge.mjs --help', once: () => timed(ZX, [CLI, '--help']).ms },
    { key: 'helpNode', label: 'CLI start-up without zx: node tasks/converge.mjs --help', once: () => timed('node', [CLI, '--help']).ms },
    // As the README types it: npx resolves zx in node_modules (no download), at the cost of npm's own start-up.
    { key: 'helpNpx', label: 'CLI start-up through npx: npx zx tasks/converge.mjs --help', once: () => timed('npx', ['zx', CLI, '--help']).ms },
    { key: 'listHosts', label: '--list-hosts, 20 hosts (no connection)', once: () => timed(ZX, [CLI, '-i', fleet20, '--list-hosts']).ms },
    {
      key: 'runModules',
      label: "a run's modules: node + CLI, pipeline, ssh transport (dist/bundle)",
      once: () => importAll([join(REPO, 'dist/bundle/converge.js'), bundleChunk('pipeline'), bundleChunk('ssh')]),
    },
    {
      key: 'runModulesUnbundled',
      label: 'the same modules unbundled (dist/lib)',
      once: () => importAll(['cli/converge.js', 'pipeline.js', 'transport/ssh.js'].map((f) => join(REPO, 'dist/lib', f))),
    },
    { key: 'floor', label: 'floor: one OpenSSH ssh reading the same files (sudo, the stamp of what nginx loads)', once: () => timed('ssh', floor).ms },
    { key: 'floorDump', label: 'floor with nginx -T instead of the stamp', once: () => timed('ssh', floorDump).ms },
    // OpenSSH 9's default key exchange (sntrup761x25519) costs more CPU than ssh2's curve25519.
    {
      key: 'floorCurve',
      label: 'floor with the key exchange ssh2 uses (curve25519-sha256)',
      once: () => timed('ssh', ['-o', 'KexAlgorithms=curve25519-sha256', ...floor]).ms,
    },
    // The lab's own bound on the 20-host targets: these 2 CPUs run the 20 sshds, sudos and nginx -T too.
    {
      key: 'floor20',
      label: '20 floors at once (curve25519): 20 OpenSSH ssh reading the same files in parallel',
      once: () => parallel(20, 'ssh', ['-o', 'KexAlgorithms=curve25519-sha256', ...floor]),
      hosts: 20,
    },
    { key: 'checkNear', label: `no-op --check, 1 host, through a link with a ${LINK_RTTS_MS[0]} ms round trip`, once: () => converge(['-i', link.near.inventory, '--check'], 'ok') },
    { key: 'checkFar', label: `no-op --check, 1 host, through a link with a ${LINK_RTTS_MS[1]} ms round trip`, once: () => converge(['-i', link.far.inventory, '--check'], 'ok') },
    { key: 'floorNear', label: `floor (curve25519) through the ${LINK_RTTS_MS[0]} ms link`, once: () => timed('ssh', link.near.floorVia(floor)).ms },
    { key: 'floorFar', label: `floor (curve25519) through the ${LINK_RTTS_MS[1]} ms link`, once: () => timed('ssh', link.far.floorVia(floor)).ms },
    { key: 'noop', label: 'no-op converge, 1 host', once: () => converge(['-i', LAB_INVENTORY], 'ok') },
    { key: 'noopHostToken', label: 'no-op converge, 1 host, with the token the host serves (none in the environment)', once: () => converge(['-i', LAB_INVENTORY], 'ok', HOST_TOKEN) },
    { key: 'noopNoCache', label: 'no-op converge, 1 host, without the dump cache (CONVERGE_CACHE_DIR=)', once: () => converge(['-i', LAB_INVENTORY], 'ok', NO_CACHE) },
    { key: 'noopNoVerify', label: 'no-op converge, 1 host, --skip-tags verify', once: () => converge(['-i', LAB_INVENTORY, '--skip-tags', 'verify'], 'ok') },
    { key: 'check', label: 'no-op --check, 1 host', once: () => converge(['-i', LAB_INVENTORY, '--check'], 'ok') },
    { key: 'check20', label: 'no-op --check, 20 hosts, --forks 20', once: () => converge(['-i', fleet20, '--check', '--forks', '20'], 'ok'), hosts: 20 },
    {
      key: 'check20Bastion',
      label: 'no-op --check, 20 hosts through the bastion, --forks 20',
      once: () => converge(['-i', fleet20Bastion, '--check', '--forks', '20'], 'ok'),
      hosts: 20,
    },
    {
      key: 'check20NoCache',
      label: 'no-op --check, 20 hosts, --forks 20, without the dump cache',
      once: () => converge(['-i', fleet20, '--check', '--forks', '20'], 'ok', NO_CACHE),
      hosts: 20,
    },
    // With verify, each host's probes reach the same lab gateway: its nginx, TLS and fake backends share these CPUs too.
    { key: 'noop20', label: 'no-op converge, 20 hosts, --forks 20 (verify included)', once: () => converge(['-i', fleet20, '--forks', '20'], 'ok'), hosts: 20 },
    {
      key: 'noop20NoVerify',
      label: 'no-op converge, 20 hosts, --forks 20, --skip-tags verify',
      once: () => converge(['-i', fleet20, '--forks', '20', '--skip-tags', 'verify'], 'ok'),
      hosts: 20,
    },
    {
      key: 'noop20Machines',
      label: 'no-op converge, 20 machines (own host locks), --forks 20, --skip-tags verify',
      once: () => converge(['-i', m20.inventory, '--forks', '20', '--skip-tags', 'verify'], 'ok'),
      hosts: 20,
      logs: m20.logs,
    },
  ]);
  // Last, in rounds of their own: each resets the lab, which a no-op round
  // must not see (its files would be new, and every read would dump again).
  Object.assign(results, measureAll([{ key: 'first', label: 'first converge, 1 host (after reset.sh)', once: () => converge(['-i', LAB_INVENTORY], 'changed'), before: reset }]));
} finally {
  m20.stop();
  link.stop();
}
// Informational: what each heavy package costs alone.
const modules = {};
for (const m of ['zx', 'yargs', 'yaml', 'listr2', 'ssh2', 'diff']) {
  modules[m] = median(Array.from({ length: RUNS }, () => timed('node', nodeImport(m)).ms)) - results.node.median;
}

// ---- report ----------------------------------------------------------------------------

const r = results;
const startup = r.node.median;
const rows = [];
const row = (what, measured, target, ok) => rows.push([what, measured, target ?? '', ok === undefined ? '' : ok ? 'met' : 'NOT met']);
const startupCli = r.helpZx.median;
const span = (xs) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
};

row('node start-up', ms(startup));
row('one process started by sh (fork + exec)', `${r.process.median.toFixed(1)} ms`);
row('CLI --help via zx from node_modules/.bin', ms(r.helpZx.median), 'small');
row('  of which zx (vs node tasks/converge.mjs --help)', ms(r.helpZx.median - r.helpNode.median));
row('  CLI modules over node (node tasks/converge.mjs --help)', ms(r.helpNode.median - startup));
row('the same through npx (npx zx tasks/converge.mjs --help)', ms(r.helpNpx.median));
row('  of which npx (npm\'s own start-up)', ms(r.helpNpx.median - r.helpZx.median));
row("a run's modules over node (CLI + pipeline + ssh2, bundled)", ms(r.runModules.median - startup));
row('  the same modules unbundled (dist/lib), over node', ms(r.runModulesUnbundled.median - startup));
row('--list-hosts, 20 hosts', ms(r.listHosts.median));
row('floor: one OpenSSH ssh, same reads', ms(r.floor.median));
row('  same, curve25519 key exchange (as ssh2)', ms(r.floorCurve.median));
row('  same, with nginx -T instead of the stamp', ms(r.floorDump.median));
const noopTarget = 1.5 * r.floor.median + startup;
const noopTargetCli = 1.5 * r.floor.median + startupCli;
row('20 floors at once (curve25519), same machine', ms(r.floor20.median), `(lab bound: ${(r.floor20.median / r.floorCurve.median).toFixed(2)} x one)`);
row('no-op converge, 1 host', ms(r.noop.median), `<= 1.5 x floor + node = ${ms(noopTarget)}`, r.noop.median <= noopTarget);
row('  same, with the token the host serves', ms(r.noopHostToken.median), `<= ${ms(noopTarget)}`, r.noopHostToken.median <= noopTarget);
row('  same, --skip-tags verify', ms(r.noopNoVerify.median), `<= ${ms(noopTarget)}`, r.noopNoVerify.median <= noopTarget);
row('  same, counting the CLI start-up as start-up', ms(r.noopNoVerify.median), `<= 1.5 x floor + CLI --help = ${ms(noopTargetCli)}`, r.noopNoVerify.median <= noopTargetCli);
row('  the verify stage (difference)', ms(r.noop.median - r.noopNoVerify.median));
row('  same, without the dump cache (every read runs nginx -T)', ms(r.noopNoCache.median));
row('first converge, 1 host', ms(r.first.median));
row('no-op --check, 1 host', ms(r.check.median));
row('no-op --check, 20 hosts, --forks 20', ms(r.check20.median), `<= 2 x 1 host = ${ms(2 * r.check.median)}`, r.check20.median <= 2 * r.check.median);
row('  same, without the dump cache', ms(r.check20NoCache.median), `(${(r.check20NoCache.median / r.check.median).toFixed(2)} x 1 host)`);
row('  same, through the bastion', ms(r.check20Bastion.median), `(${(r.check20Bastion.median / r.check.median).toFixed(2)} x 1 host)`);
row('no-op converge, 20 hosts, --forks 20 (with verify)', ms(r.noop20.median), `<= 2 x 1 host = ${ms(2 * r.noop.median)}`, r.noop20.median <= 2 * r.noop.median);
row('no-op converge, 20 hosts, --forks 20, no verify', ms(r.noop20NoVerify.median), `<= 2 x 1 host = ${ms(2 * r.noopNoVerify.median)}`, r.noop20NoVerify.median <= 2 * r.noopNoVerify.median);
row('no-op converge, 20 machines, --forks 20, no verify', ms(r.noop20Machines.median), `<= 2 x 1 host = ${ms(2 * r.noopNoVerify.median)}`, r.noop20Machines.median <= 2 * r.noopNoVerify.median);
// Each millisecond of round trip costs a run one per round trip it waits for.
const roundTrips = (far, near) => ((far.median - near.median) / (LINK_RTTS_MS[1] - LINK_RTTS_MS[0])).toFixed(1);
row(`no-op --check, 1 host, over links with ${LINK_RTTS_MS.join(' / ')} ms round trips`, `${ms(r.checkNear.median)} / ${ms(r.checkFar.median)}`);
row('  round trips it waits for', roundTrips(r.checkFar, r.checkNear), `(the floor's: ${roundTrips(r.floorFar, r.floorNear)})`);
row('floor over the same links (curve25519)', `${ms(r.floorNear.median)} / ${ms(r.floorFar.median)}`);
// Where the 20 hosts' time goes: the CPU time each run took (mean), split
// between converge's own process and the rest (the sshds, sudo, the read's
// processes, and the kernel's loopback work), and the shortest run these CPUs
// allow for that much work: node, zx and the run's modules load on one CPU
// before any host is reached, the rest can spread over all of them. When that
// is over the target, no client run through zx meets it on this machine.
const ncpu = cpus().length;
const serial = r.runModules.median + (r.helpZx.median - r.helpNode.median);
const extra = 20 - 1; // hosts a 20-host run has over a one-host one
const shortest = (cpu) => serial + Math.max(0, cpu - serial) / ncpu;
for (const [one, twenty, label] of [['check', 'check20', '--check'], ['noop', 'noop20', 'no-op, verify included'], ['noopNoVerify', 'noop20NoVerify', 'no-op, no verify'], ['noopNoVerify', 'noop20Machines', 'no-op, 20 machines']]) {
  const [a, b] = [r[one], r[twenty]];
  const own = (b.ownCpu - a.ownCpu) / extra;
  const rest = (b.machineCpu - b.ownCpu - (a.machineCpu - a.ownCpu)) / extra;
  const target = 2 * a.median;
  const reach = (t) => (t <= target ? 'within reach' : 'beyond this machine');
  const bound = shortest(b.machineCpu);
  const boundWithoutOwn = shortest(b.machineCpu - extra * own);
  row(`CPU time per run, 1 host / 20 (${label})`, `${ms(a.machineCpu)} / ${ms(b.machineCpu)}`);
  row('  per extra host: converge / the rest', `${ms(own)} / ${ms(rest)}`);
  row('  processes started per extra host (sshd, sudo, the read)', ((b.processes - a.processes) / extra).toFixed(1));
  row(`  shortest 20-host run ${ncpu} CPUs allow for it`, ms(bound), `2 x 1 host = ${ms(target)}: ${reach(bound)}`);
  row('  same, if converge took no CPU per extra host', ms(boundWithoutOwn), reach(boundWithoutOwn));
}
for (const [k, label] of [['first', 'first converge'], ['noop', 'no-op converge'], ['noopHostToken', "no-op, the host's token"], ['check', 'no-op --check'], ['check20', '--check, 20 hosts'], ['check20Bastion', '--check, 20 hosts through the bastion'], ['noop20', 'no-op with verify, 20 hosts'], ['noop20NoVerify', 'no-op, 20 hosts'], ['noop20Machines', 'no-op, 20 machines'], ['floor20', '20 OpenSSH floors'], ['checkFar', '--check through the far link']]) {
  if (r[k].conns.length > 0) row(`SSH connections per host: ${label}`, span(r[k].conns), '1', r[k].conns.every((c) => c === 1));
}
if (r.check20Bastion.jumpConns.length > 0) {
  row('connections to the bastion per run: --check, 20 hosts through it', span(r.check20Bastion.jumpConns), '1 (shared)', r.check20Bastion.jumpConns.every((c) => c === 1));
}
for (const [k, label] of [['first', 'first converge'], ['noop', 'no-op converge'], ['noopHostToken', "no-op, the host's token"], ['noopNoVerify', 'no-op, no verify'], ['check', 'no-op --check'], ['noop20Machines', 'no-op, 20 machines']]) {
  if (r[k].sudos.length > 0) row(`privileged commands (sudo) per host: ${label}`, span(r[k].sudos));
}

const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((x) => String(x[i]).length), ['measurement', 'median', 'target', ''][i].length));
const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
const out = [
  '',
  `converge benchmark on the lab: median of ${RUNS} runs, taken round-robin; node ${process.version}, ${cpus().length} CPU(s), ${new Date().toISOString()}`,
  '',
  line(['measurement', 'median', 'target', '']),
  line(widths.map((w) => '-'.repeat(w))),
  ...rows.map(line),
  '',
  `Importing each heavy module alone, over node: ${Object.entries(modules).map(([m, t]) => `${m} ${Math.round(t)}`).join(', ')} ms`,
  '',
  'All runs (ms):',
  // Whole milliseconds, but for what is a few of them (one process start).
  ...Object.values(r).map((x) => `  ${x.label}: ${x.times.map((t) => (t < 10 ? t.toFixed(1) : Math.round(t))).join(', ')}`),
  '',
  "CPU time of each run (ms, the machine's / converge's process):",
  ...['check', 'check20', 'noop', 'noop20', 'noopNoVerify', 'noop20NoVerify', 'noop20Machines'].map((k) => `  ${r[k].label}: ${r[k].cpu.map((c) => `${c.machine}/${c.own}`).join(', ')}`),
  '',
  'Notes: the 20 inventory entries are the same lab machine (a no-op takes no host',
  'lock, so they run in parallel); the 20 machines are sshds on 127.0.0.2-21, each',
  'with a private /run/lock. The floor runs one OpenSSH ssh doing a no-op read\'s',
  'work through sudo (files, and the stamp of what nginx loads). The no-op runs',
  'reuse nginx -T\'s findings from a cache warmed before the rounds. CPU times',
  'are means over the runs, from /proc (the whole machine, and converge\'s process);',
  'the shortest run counts the start-up (node, zx and the run\'s modules) on one',
  'CPU and the rest of the CPU time spread over all of them. The links are TCP',
  'proxies that delay each side\'s bytes by half a round trip (test/bench/link.mjs).',
  '',
  ...(failures.length > 0 ? ['FAILED RUNS (not counted above):', ...failures.map((f) => `  ${f.split('\n').slice(0, 12).join('\n    ')}`), ''] : []),
];
process.stdout.write(out.join('\n'));
process.exitCode = failures.length > 0 ? 1 : 0;
