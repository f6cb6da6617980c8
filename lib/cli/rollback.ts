// `rollback` command line: put one host back to a kept backup run through
// the same plan / apply / nginx -t / reload / verify path as converge.
import { describeError, InputError } from '../errors.js';
import { listBackups, type Manifest } from '../backups.js';
import { exitCode, jsonReport, textRecap } from '../report.js';
import { redact } from '../secrets.js';
import { connectHost } from '../transport/connect.js';
import { baseParser, selectedHosts } from './parser.js';

export async function main(argv: string[]): Promise<number> {
  const args = await baseParser(argv, 'rollback.mjs', 'Restores the files of one host as they were before a converge run (kept in backup_dir), then nginx -t, reload and verify.\nThe restore itself is a run: it is backed up too, and undone if nginx -t or the health gate fails.')
    .option('to', { type: 'string', describe: 'the backup run to restore (a directory name under backup_dir); default: the latest applied run' })
    .option('list', { type: 'boolean', default: false, describe: 'list the kept backup runs and exit' })
    .option('check', { type: 'boolean', default: false, describe: 'show what the restore would change, touch nothing (exit 2 if something would)' })
    .option('diff', { type: 'boolean', default: false, describe: 'show unified diffs (secrets redacted)' })
    .demandOption('limit', 'rollback works on one host: pass --limit HOST')
    .epilog('Exit codes: 0 restored (or nothing to change), 2 --check found changes, 1 failed.')
    .parseAsync();
  const hosts = selectedHosts(args);
  if (hosts.length !== 1) {
    throw new InputError(`--limit "${args.limit}" selects ${hosts.length} hosts; rollback works on exactly one`, { hint: `choose one of: ${hosts.map((h) => h.name).join(', ')}` });
  }
  const [host] = hosts;
  if (args.list) {
    const t = await connectHost(host);
    try {
      const runs = await listBackups({ host: host.name, transport: t, commandTimeout: host.vars.command_timeout }, host.vars.backup_dir);
      if (args.json) process.stdout.write(JSON.stringify({ host: host.name, runs }, null, 2) + '\n');
      else process.stdout.write(backupListText(host.name, host.vars.backup_dir, runs));
      return 0;
    } finally {
      await t.close();
    }
  }
  const mode = args.check ? 'check' : 'apply';
  const { runPipeline } = await import('../pipeline.js');
  const result = await runPipeline([host], {
    mode,
    restore: { run: args.to ?? null },
    command: ['rollback', ...argv].join(' '),
    forks: 1,
    progress: args.json ? process.stderr : process.stdout,
    live: Boolean(process.stdout.isTTY) && !process.env.CI,
    connect: (h) => connectHost(h),
  });
  try {
    process.stdout.write(args.json ? jsonReport(mode, result.outcomes, result.secrets) + '\n' : textRecap(mode, result.outcomes, result.secrets, args.diff));
  } catch (err) {
    process.stderr.write(`rollback: ${redact(describeError(err), result.secrets)}\n`);
    return 1;
  }
  return exitCode(mode, result.outcomes);
}

/** --list as text: what the runs are and where, then one line per run (oldest first), or why there is none. */
export function backupListText(host: string, dir: string, runs: Manifest[]): string {
  if (runs.length === 0) return `${host}: no backup run in ${dir} (converge keeps one for each run that changes a file)\n`;
  const lines = runs.map((m) => `${m.run}  ${m.state.padEnd(11)}  ${m.entries.length} path(s)  ${m.command}\n`);
  return `${host}: ${runs.length} backup run(s) in ${dir}, oldest first; restore one with --to RUN (default: the latest applied)\n${lines.join('')}`;
}
