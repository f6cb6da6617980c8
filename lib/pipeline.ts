// The only importer of listr2: hosts x stages, hosts in parallel, each
// host's stages in order. A failing host never stops the others.
import { Listr, ListrLogger, ProcessOutput, type ListrTask, type ListrTaskWrapper } from 'listr2';
import type { Stage } from './desired.js';
import { describeError, InputError } from './errors.js';
import { HostRun, type HostOutcome, type Mode, type RunOptions } from './hostrun.js';
import type { HostConfig } from './inventory.js';
import type { Change } from './plan.js';
import { redact } from './secrets.js';
import { sharedTokenNotes } from './sharedtoken.js';
import { decideStages, everyStage, type StageDecision, type StageName, type StageSelection } from './tags.js';

export interface PipelineOptions extends RunOptions {
  forks: number;
  /** Where progress goes: stderr when stdout carries JSON. */
  progress: NodeJS.WriteStream;
  /** Live view on a terminal; plain lines otherwise. */
  live: boolean;
  /** --tags / --skip-tags (default: every stage). */
  stages?: StageSelection;
}

const STAGES: Stage[] = ['tls', 'maps', 'vhost', 'enable'];

function describeChanges(changes: Change[], mode: Mode): string {
  if (changes.length === 0) return 'unchanged';
  // Actions are create/update/replace: the past tense is a trailing "d".
  const verb = (a: string) => (mode === 'check' ? `would ${a}` : `${a}d`);
  return changes.map((c) => `${verb(c.action)} ${c.path} (${c.reasons.join('; ')})`).join(', ');
}

/**
 * Closes a host's connection (and releases its lock) once, as soon as its
 * stages end rather than when every host has: another inventory entry for
 * the same machine may be waiting for that lock.
 */
function closer(run: HostRun): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => (closing ??= run.close());
}

/** Runs one step; on failure undoes the host's writes, disconnects and rethrows a redacted error. */
async function step(run: HostRun, task: ListrTaskWrapper<unknown, never, never>, name: string, fn: () => Promise<string | void>, close: () => Promise<void>): Promise<void> {
  try {
    const summary = await fn();
    if (summary) task.title = `${name}: ${redact(summary, run.secrets)}`;
  } catch (err) {
    // The rollback may take a while (a reload that hangs until command_timeout): say it is under way.
    const rollback = run.rollbackPlan(err);
    if (rollback) task.output = `${name} failed; ${rollback}`;
    await run.fail(err);
    await close();
    throw new Error(redact(describeError(err), run.secrets));
  }
}

/**
 * Once preflight has made the plan: which stages run (see lib/tags.ts). The
 * changes of skipped stages leave the plan, so validate, reload, the recap and
 * the status only count what this run really does; the notes say what was
 * skipped and why. A selection the host cannot honour safely fails the host
 * before anything is written.
 */
function applySelection(run: HostRun, sel: StageSelection, mode: Mode): StageDecision {
  const plan = run.plan!;
  const decision = decideStages(sel, { changes: plan.changes, mode });
  if (decision.refused) {
    throw new InputError(`the selected stages cannot run safely on this host: ${decision.refused}`, {
      host: run.host.name,
      where: sel.how,
      hint: 'add the stages named above to --tags (or drop them from --skip-tags); nothing was changed',
    });
  }
  plan.changes = plan.changes.filter((c) => decision.run.has(c.stage));
  run.outcome.changes = plan.changes;
  run.outcome.notes.push(...decision.notes);
  return decision;
}

/**
 * A host's stages. In plain output (no live view) the lines of hosts run in
 * parallel interleave: each stage's line starts with its host, and a skip is
 * shown after the title. The live view shows a skip instead of the title.
 */
function hostTasks(run: HostRun, mode: Mode, sel: StageSelection, close: () => Promise<void>, live: boolean): ListrTask[] {
  const tag = live ? '' : `[${run.host.name}] `;
  let decision: StageDecision | null = null;
  const skip = (s: StageName) => () => {
    if (!decision || decision.run.has(s)) return false;
    const why = decision.skipped.get(s) ?? 'not selected';
    return live ? `${s}: skipped, ${why}` : why;
  };
  // One stage's task: its line, its skip (preflight, which decides the skips, has none), its step.
  const staged = (name: StageName, fn: () => Promise<string | void>, skippable = true): ListrTask => ({
    title: tag + name,
    ...(skippable ? { skip: skip(name) } : {}),
    task: (_c, t) => step(run, t as never, tag + name, fn, close),
  });
  const stage = (s: Stage) => staged(s, async () => {
    await run.applyStage(s);
    return describeChanges(run.changesOf(s), mode);
  });
  return [
    staged('preflight', async () => {
      await run.preflight();
      decision = applySelection(run, sel, mode);
      const undone = decision.undone.length > 0 ? `, ${decision.undone.length} left undone by the stage selection` : '';
      return `${run.asRoot ? 'root' : 'sudo'}, nginx and includes ok; ${run.plan!.changes.length} change(s) planned${undone}`;
    }, false),
    ...STAGES.map(stage),
    staged('validate', () => run.validate()),
    staged('reload', () => run.reload()),
    staged('verify', () => run.verify()),
    // No title: not shown. The host is done: disconnect now.
    { task: () => close() },
  ];
}

export interface PipelineResult {
  outcomes: HostOutcome[];
  /** Every token seen (environment, hosts, generated): to redact from all output. */
  secrets: string[];
}

/**
 * listr2's live view lays its lines out to process.stdout's width. A terminal
 * that reports none (a pseudo-terminal opened without a size, as some CI
 * runners and `script` do) would get one character per line, and the time
 * spent re-drawing that stalls the run: plain lines instead.
 */
function terminalHasWidth(): boolean {
  return !process.stdout.isTTY || (process.stdout.columns ?? 0) > 0;
}

export async function runPipeline(hosts: HostConfig[], opts: PipelineOptions): Promise<PipelineResult> {
  const probeEarly = (opts.stages ?? everyStage()).selected.has('verify');
  const runs = hosts.map((h) => new HostRun(h, { ...opts, probeEarly }));
  const closers = new Map(runs.map((r) => [r, closer(r)]));
  const logger = new ListrLogger({ processOutput: new ProcessOutput(opts.progress, opts.progress) });
  const live = opts.live && terminalHasWidth();
  const list = new Listr(
    runs.map((run) => ({
      title: `${run.host.name} (${run.vars.connection === 'local' ? 'local' : `${run.vars.ssh_user}@${run.vars.ssh_host}:${run.vars.ssh_port}`})`,
      task: (_c: unknown, t: ListrTaskWrapper<unknown, never, never>) =>
        t.newListr(hostTasks(run, opts.mode, opts.stages ?? everyStage(), closers.get(run)!, live), { concurrent: false, exitOnError: true }),
    })) as ListrTask[],
    {
      concurrent: opts.forks,
      exitOnError: false,
      renderer: live ? 'default' : 'simple',
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
  await Promise.all(runs.map((r) => closers.get(r)!()));
  const outcomes = runs.map((r) => r.finish());
  const shared = sharedTokenNotes(runs.map((r) => ({ host: r.host.name, domain: r.vars.domain, token: r.finalToken })));
  for (const o of outcomes) if (shared.has(o.host)) o.notes.push(shared.get(o.host)!);
  return { outcomes, secrets: [...new Set(runs.flatMap((r) => r.secrets))] };
}
