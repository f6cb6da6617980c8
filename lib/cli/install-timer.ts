// `install-drift-timer` command line: renders converge-drift.service and
// .timer for this checkout and user, checks them with `systemd-analyze
// verify`, installs them, and enables the timer when systemd is running
// (otherwise it says which command to run once it is).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { ConvergeError, describeError, InputError } from '../errors.js';
import { writeAtomic } from '../drift/files.js';
import { PROJECT_ROOT } from '../paths.js';
import { cronLine, needsSudoHere, renderUnits, SERVICE, STATE_DIR, TIMER, type UnitOptions } from '../drift/systemd.js';
import { baseParser, selectedHosts } from './parser.js';

export const DEFAULT_DEST = '/etc/systemd/system';

function run(cmd: string, args: string[]): { ok: boolean; output: string } {
  try {
    const out = execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    return { ok: true, output: out };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message };
  }
}

/** `systemd-analyze verify` on the rendered units, under their own names; null when the tool is missing. */
function verifyUnits(units: Record<string, string>): { ok: boolean; output: string } | null {
  const dir = mkdtempSync(join(tmpdir(), 'converge-units-'));
  try {
    for (const [name, text] of Object.entries(units)) writeFileSync(join(dir, name), text);
    const res = run('systemd-analyze', ['verify', ...Object.keys(units).map((n) => join(dir, n))]);
    if (!res.ok && /ENOENT/.test(res.output)) return null;
    // verify exits 0 on warnings (an unknown key...): those count as failures too.
    return { ok: res.ok && res.output.trim() === '', output: res.output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function defaultUser(): string {
  return process.getuid?.() === 0 && process.env.SUDO_USER ? process.env.SUDO_USER : userInfo().username;
}

export async function main(argv: string[]): Promise<number> {
  const args = await baseParser(
    argv,
    'install-drift-timer.mjs',
    `Installs ${SERVICE} and ${TIMER} (every 15 minutes) for this checkout (${PROJECT_ROOT}):\n` +
      'the drift check of the inventory, its report and history in ' + STATE_DIR + ' and Prometheus metrics.',
  )
    .option('dest', { type: 'string', default: DEFAULT_DEST, describe: 'directory to write the unit files to' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'print the units (and the cron alternative), write nothing' })
    .option('enable', { type: 'boolean', describe: `run systemctl daemon-reload and enable --now ${TIMER} (default: when --dest is ${DEFAULT_DEST})` })
    .option('user', { type: 'string', describe: 'user the check runs as (its SSH key and known_hosts are used)', defaultDescription: 'the invoking user (SUDO_USER under sudo)' })
    .option('textfile', { type: 'string', default: `${STATE_DIR}/converge-drift.prom`, describe: "metrics file (point node_exporter's textfile collector at its directory)" })
    .option('env-file', { type: 'string', default: '/etc/converge/drift.env', describe: 'optional environment file (IA_ENSO_OLLAMA_BEARER_TOKEN=...), mode 0600' })
    .option('remediate', { type: 'boolean', default: false, describe: 'let the scheduled check converge the drifted hosts' })
    .parseAsync();

  try {
    const inventory = resolve(args.inventory);
    const hosts = selectedHosts(args); // a broken inventory or --limit fails now, not every 15 minutes
    const zxLink = join(PROJECT_ROOT, 'node_modules/.bin/zx');
    if (!existsSync(zxLink)) throw new InputError(`zx is not installed in this checkout (${zxLink} is missing)`, { hint: `run \`npm ci\` in ${PROJECT_ROOT}` });
    if (!existsSync(join(PROJECT_ROOT, 'dist/bundle/drift.js'))) throw new InputError('the checkout is not built (dist/bundle/drift.js is missing)', { hint: `run \`npm ci\` or \`npm run build\` in ${PROJECT_ROOT}` });
    const user = args.user ?? defaultUser();
    const opts: UnitOptions = {
      repo: PROJECT_ROOT,
      node: process.execPath,
      zx: realpathSync(zxLink),
      user,
      inventory,
      limit: args.limit ?? null,
      textfile: resolve(args.textfile),
      envFile: args['env-file'],
      remediate: args.remediate,
      sudoHere: needsSudoHere(hosts, user),
    };
    let units: { service: string; timer: string };
    try {
      units = renderUnits(opts);
    } catch (err) {
      throw new InputError((err as Error).message, { hint: 'see --help' });
    }
    const files = { [SERVICE]: units.service, [TIMER]: units.timer };
    const verified = verifyUnits(files);
    if (verified && !verified.ok) {
      throw new ConvergeError('the rendered units fail `systemd-analyze verify`', { where: 'templates/systemd/', detail: verified.output, hint: 'fix the template or the options above; nothing was installed' });
    }
    const dest = resolve(args.dest);
    const enableCmd = `systemctl daemon-reload && systemctl enable --now ${TIMER}`;
    const out: string[] = [];
    if (!verified) out.push('note: systemd-analyze is not installed: the units were not verified');
    if (args['dry-run']) {
      for (const [name, text] of Object.entries(files)) out.push(`# ${join(dest, name)}`, text.trimEnd(), '');
      out.push(`then, as root: ${enableCmd}`, '', 'without systemd, the equivalent crontab line (crontab -e as that user):', cronLine(opts));
      process.stdout.write(out.join('\n') + '\n');
      return 0;
    }
    for (const [name, text] of Object.entries(files)) {
      writeAtomic(join(dest, name), text, 0o644);
      out.push(`installed ${join(dest, name)}`);
    }
    const enable = args.enable ?? dest === DEFAULT_DEST;
    if (enable) {
      const reload = run('systemctl', ['daemon-reload']);
      const enabled = reload.ok ? run('systemctl', ['enable', '--now', TIMER]) : reload;
      if (enabled.ok) {
        out.push(`enabled and started ${TIMER}: \`systemctl list-timers ${TIMER}\` shows the next run`);
      } else {
        out.push(`systemctl could not talk to systemd (${enabled.output.split('\n')[0]}).`, `Once systemd runs, as root: ${enableCmd}`);
      }
    } else {
      out.push(`to activate, as root: ${enableCmd}`);
    }
    out.push(`results: systemctl status ${SERVICE}; ${STATE_DIR}/last.json; ${opts.textfile}`);
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`install-drift-timer: ${describeError(err)}\n`);
    return 1;
  }
}
