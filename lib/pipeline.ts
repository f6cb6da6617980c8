// The only importer of listr2: hosts x stages, hosts in parallel, each
// host's stages in order. A failing host never stops the others.
import { Listr, ListrLogger, ProcessOutput, type ListrTask, type ListrTaskWrapper } from 'listr2';
import type { Stage } from './desired.js';
import { describeError } from './errors.js';
import { HostRun, type HostOutcome, type Mode, type RunOptions } from './hostrun.js';
import type { HostConfig } from './inventory.js';
import type { Change } from './plan.js';
import { redact } from './secrets.js';

export interface PipelineOptions extends RunOptions {
  forks: number;
  /** Where progress goes: stderr when stdout carries JSON. */
  progress: NodeJS.WriteStream;
  /** Live view on a terminal; plain lines otherwise. */
  live: boolean;
}

const STAGES: Stage[] = ['tls', 'maps', 'vhost', 'enable'];

function describeChanges(changes: Change[], mode: Mode): string {
  if (changes.length === 0) return 'unchanged';
  // Actions are create/update/replace: the past tense is a trailing "d".
  const verb = (a: string) => (mode === 'check' ? `would ${a}` : `${a}d`);
  return changes.map((c) => `${verb(c.action)} ${c.path} (${c.reasons.join('; ')})`).join(', ');
}

/** Runs one step; on failure undoes the host's writes and rethrows a redacted error. */
async function step(run: HostRun, task: ListrTaskWrapper<unknown, never, never>, name: string, fn: () => Promise<string | void>): Promise<void> {
  try {
    const summary = await fn();
    if (summary) task.title = `${name}: ${redact(summary, run.secrets)}`;
  } catch (err) {
    await run.fail(err);
    throw new Error(redact(describeError(err), run.secrets));
  }
}

function hostTasks(run: HostRun, mode: Mode): ListrTask[] {
  const stage = (s: Stage): ListrTask => ({
    title: s,
    task: (_c, t) => step(run, t as never, s, async () => {
      await run.applyStage(s);
      return describeChanges(run.changesOf(s), mode);
    }),
  });
  return [
    { title: 'preflight', task: (_c, t) => step(run, t as never, 'preflight', async () => {
      await run.preflight();
      return `sudo, nginx and includes ok; ${run.plan!.changes.length} change(s) planned`;
    }) },
    ...STAGES.map(stage),
    { title: 'validate', task: (_c, t) => step(run, t as never, 'validate', () => run.validate()) },
    { title: 'reload', task: (_c, t) => step(run, t as never, 'reload', () => run.reload()) },
    { title: 'verify', task: (_c, t) => step(run, t as never, 'verify', () => run.verify()) },
  ];
}

export interface PipelineResult {
  outcomes: HostOutcome[];
  /** Every token seen (environment, hosts, generated): to redact from all output. */
  secrets: string[];
}

export async function runPipeline(hosts: HostConfig[], opts: PipelineOptions): Promise<PipelineResult> {
  const runs = hosts.map((h) => new HostRun(h, opts));
  const logger = new ListrLogger({ processOutput: new ProcessOutput(opts.progress, opts.progress) });
  const list = new Listr(
    runs.map((run) => ({
      title: `${run.host.name} (${run.vars.ssh_user}@${run.vars.ssh_host}:${run.vars.ssh_port})`,
      task: (_c: unknown, t: ListrTaskWrapper<unknown, never, never>) =>
        t.newListr(hostTasks(run, opts.mode), { concurrent: false, exitOnError: true }),
    })) as ListrTask[],
    {
      concurrent: opts.forks,
      exitOnError: false,
      renderer: opts.live ? 'default' : 'simple',
      rendererOptions: { logger, collapseSubtasks: false } as never,
      // Ctrl-C handling belongs to the CLI, which must roll back first.
      registerSignalListeners: false,
    },
  );
  try {
    await list.run();
  } catch {
    // Each host's failure is recorded in its outcome.
  }
  await Promise.all(runs.map((r) => r.close()));
  return { outcomes: runs.map((r) => r.finish()), secrets: [...new Set(runs.flatMap((r) => r.secrets))] };
}
