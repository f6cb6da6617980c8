// `converge` command line: parse, load, run, report. No deploy logic here.
// The run's heavy modules (listr2, ssh2, the planner) are imported only when a
// run starts: --help, --list-hosts and bad input never load them.
import { setMaxListeners } from 'node:events';
import { describeError } from '../errors.js';
import { INTERRUPT_GRACE_S } from '../interrupt.js';
import { listHostsJson, listHostsText } from '../listhosts.js';
import { exitCode, EXIT_FAILED, jsonReport, newTokenNotice, textRecap } from '../report.js';
import { assertValidToken, redact } from '../secrets.js';
import { parseStageSelection } from '../tags.js';
import { connectHost } from '../transport/connect.js';
import type { HostConfig } from '../inventory.js';
import { baseParser, joinRepeats, numberArg, selectedHosts } from './parser.js';

/** converge's options, parsed (bad ones throw an InputError). */
export function parseArgs(argv: string[]) {
  return baseParser(
    argv,
    'converge.mjs',
    "Brings every selected proxy of the inventory to the gateway's desired state:\nBearer map, vhost, site link; nginx -t; reload; verify. Only what differs changes.",
  )
    .option('check', { type: 'boolean', default: false, describe: 'dry run: show what would change, touch nothing (exit 2 if something would)' })
    .option('diff', { type: 'boolean', default: false, describe: 'show unified diffs of the changes (secrets redacted)' })
    .option('forks', { alias: 'f', requiresArg: true, default: 10, describe: 'how many hosts to run at once' })
    .option('rotate-token', { type: 'boolean', default: false, describe: 'replace the deployed Bearer token (by IA_ENSO_OLLAMA_BEARER_TOKEN / bearer_token_file if set, else a new one shown once); verifies the old one gets 401' })
    .option('lock-timeout', { requiresArg: true, default: 0, describe: 'seconds to wait for another converge of the same host to finish' })
    .option('tags', { alias: 't', type: 'string', coerce: joinRepeats, describe: 'only these stages (a,b, or repeated): preflight, tls, maps, vhost, enable, validate, reload, verify' })
    .option('skip-tags', { type: 'string', coerce: joinRepeats, describe: 'all stages but these (a,b, or repeated); stages others need are kept or the host is refused, and the recap says why' })
    .option('list-hosts', { type: 'boolean', default: false, describe: 'print the selected hosts and their effective variables (secrets redacted); connect to nothing' })
    .epilog('Exit codes: 0 converged (or nothing to change in check mode), 2 check mode found changes, 1 a host failed.\nThe Bearer token comes from IA_ENSO_OLLAMA_BEARER_TOKEN, else bearer_token_file, else the one on the host, else a new one shown once.\nWhat nginx -T found on a host is kept in $CONVERGE_CACHE_DIR (default ~/.cache/converge) and reused while the host shows that nothing nginx loads has changed; CONVERGE_CACHE_DIR= (empty) turns that off.')
    .parseAsync();
}

export async function main(argv: string[]): Promise<number> {
  const args = await parseArgs(argv);
  const mode = args.check ? 'check' : 'apply';
  const envToken = process.env.IA_ENSO_OLLAMA_BEARER_TOKEN || undefined;
  let secrets = envToken ? [envToken] : [];
  const interrupt = onInterrupt();
  try {
    const forks = numberArg('forks', args.forks, 'count');
    const lockTimeout = numberArg('lock-timeout', args.lockTimeout, 'seconds');
    if (envToken) assertValidToken(envToken, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
    const stages = parseStageSelection(args.tags, args['skip-tags']);
    const hosts = selectedHosts(args);
    if (args['list-hosts']) {
      const ctx = { inventory: args.inventory, limit: args.limit, stages, envToken };
      process.stdout.write(args.json ? listHostsJson(hosts, ctx) : listHostsText(hosts, ctx));
      return 0;
    }
    const progress = args.json ? process.stderr : process.stdout;
    const connectNotes = new Map<string, string[]>();
    const onNote = (h: HostConfig) => (n: string) => connectNotes.set(h.name, [...(connectNotes.get(h.name) ?? []), n]);
    const { runPipeline } = await import('../pipeline.js');
    const { DumpCache } = await import('../dumpcache.js');
    const result = await runPipeline(hosts, {
      mode,
      dumpCache: DumpCache.fromEnv(process.env),
      rotateToken: args.rotateToken,
      lockTimeout,
      command: ['converge', ...argv].join(' '),
      signal: interrupt.signal,
      forks,
      progress,
      live: Boolean(progress.isTTY) && !process.env.CI,
      stages,
      connect: (h) => connectHost(h, { onNote: onNote(h) }),
    });
    for (const o of result.outcomes) o.notes.unshift(...(connectNotes.get(o.host) ?? []));
    secrets = [...secrets, ...result.secrets];
    if (args.json) process.stdout.write(jsonReport(mode, result.outcomes, secrets) + '\n');
    else process.stdout.write(textRecap(mode, result.outcomes, secrets, args.diff));
    for (const o of result.outcomes) {
      const host = hosts.find((h) => h.name === o.host)!;
      const notice = newTokenNotice(o, host.vars.domain, host.vars.https_port);
      if (notice) process.stderr.write(notice);
    }
    return exitCode(mode, result.outcomes);
  } catch (err) {
    process.stderr.write(`converge: ${redact(describeError(err), secrets)}\n`);
    return EXIT_FAILED;
  } finally {
    interrupt.dispose();
  }
}

/**
 * Ctrl-C (or SIGTERM) during a run: stop at the next step and roll back what
 * was changed, rather than die between two writes; a command that holds the
 * step up is stopped on its host (lib/interrupt.ts). A second one exits at once.
 */
function onInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  // Each privileged command in flight listens to it (lib/interrupt.ts): with
  // --forks above 10, Node would print a "possible memory leak" warning.
  setMaxListeners(0, controller.signal);
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\nconverge: ${sig}: stopping at the next step and rolling back; a command still running in ${INTERRUPT_GRACE_S}s is stopped on its host (again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
