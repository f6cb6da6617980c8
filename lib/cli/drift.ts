// `drift` command line: a scheduled check of every selected proxy, reported
// as JSON (atomically, with a history), as Prometheus metrics for
// node_exporter's textfile collector, and optionally repaired.
import { resolve } from 'node:path';
import { describeError } from '../errors.js';
import { earlierReports, historyFiles, saveHistory, writeAtomic } from '../drift/files.js';
import { renderMetrics } from '../drift/metrics.js';
import { applySince, EXIT_ERROR, jsonDriftReport, textDriftReport } from '../drift/report.js';
import { runDrift } from '../drift/run.js';
import { assertValidToken, redact } from '../secrets.js';
import { connectHost } from '../transport/connect.js';
import { baseParser, numberArg, selectedHosts } from './parser.js';

export async function main(argv: string[]): Promise<number> {
  const args = await baseParser(
    argv,
    'drift.mjs',
    'Checks every selected proxy against the desired state without changing anything (no lock),\n' +
      'including what a file diff cannot show: the site link removed, the certificate close to\n' +
      'expiry, files changed after nginx last loaded its configuration. Made to run from a timer.',
  )
    .option('report', { type: 'string', describe: 'write the JSON report to FILE (atomically)' })
    .option('history', { type: 'string', describe: 'also keep each report in DIR (the last --keep), so "since when" can be answered' })
    .option('keep', { requiresArg: true, default: 96, describe: 'reports kept in --history (96 = one day every 15 minutes)' })
    .option('textfile', { type: 'string', describe: "write Prometheus metrics to FILE (node_exporter's textfile collector), atomically" })
    .option('remediate', { type: 'boolean', default: false, describe: 'converge the drifted hosts (validate, rollback, reload, verify as a normal run), then check them again' })
    .option('diff', { type: 'boolean', default: false, describe: 'show unified diffs in the text output (secrets redacted)' })
    .option('forks', { alias: 'f', requiresArg: true, default: 10, describe: 'how many hosts to check at once' })
    .epilog(
      'Exit codes: 0 no drift (or all of it repaired), 2 drift, 1 a host could not be checked or its remediation failed.\n' +
        'Set IA_ENSO_OLLAMA_BEARER_TOKEN to detect a token changed on a host.',
    )
    .parseAsync();

  const envToken = process.env.IA_ENSO_OLLAMA_BEARER_TOKEN || undefined;
  let secrets = envToken ? [envToken] : [];
  try {
    const forks = numberArg('forks', args.forks, 'count');
    const keep = numberArg('keep', args.keep, 'count');
    if (envToken) assertValidToken(envToken, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
    const hosts = selectedHosts(args);
    const progress = args.json ? process.stderr : process.stdout;
    const { report, secrets: seen } = await runDrift({
      hosts,
      inventory: resolve(args.inventory),
      limit: args.limit ?? null,
      envToken,
      forks,
      remediate: args.remediate,
      progress,
      live: Boolean(progress.isTTY) && !process.env.CI,
      connect: (h) => connectHost(h),
    });
    secrets = [...secrets, ...seen];
    const earlier = args.history ? earlierReports(historyFiles(args.history)) : args.report ? earlierReports([args.report]) : [];
    applySince(report, earlier);
    const json = jsonDriftReport(report, secrets);
    if (args.report) writeAtomic(args.report, json, 0o640);
    if (args.history) saveHistory(args.history, report, json, keep);
    if (args.textfile) writeAtomic(args.textfile, redact(renderMetrics(report), secrets), 0o644);
    if (args.json) process.stdout.write(json);
    else process.stdout.write(textDriftReport(report, secrets, args.diff));
    return report.exit_code;
  } catch (err) {
    process.stderr.write(`drift: ${redact(describeError(err), secrets)}\n`);
    return EXIT_ERROR;
  }
}
