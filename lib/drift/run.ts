// A drift run: a check of every selected host (no writes, no lock) with the
// extra inspection, then, with --remediate, a normal converge of the hosts
// that drifted and a second check of them to report what was repaired.
import { deployedTokens } from '../facts.js';
import type { HostOutcome } from '../hostrun.js';
import type { HostConfig } from '../inventory.js';
import { runPipeline } from '../pipeline.js';
import { describeError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { inspectHost } from './inspect.js';
import { exitCodeOf, hostReport, round, summarize, type DriftReport, type HostReport, type Remediation } from './report.js';

export interface DriftOptions {
  hosts: HostConfig[];
  inventory: string;
  limit: string | null;
  envToken?: string;
  forks: number;
  remediate: boolean;
  progress: NodeJS.WriteStream;
  live: boolean;
  connect: (host: HostConfig) => Promise<Transport>;
  /** The clock (tests); Date.now by default. */
  now?: () => number;
}

export interface DriftResult {
  report: DriftReport;
  /** Every token seen: to redact from all output. */
  secrets: string[];
}

/**
 * Per host, from the connect call to the last answer on its connection: the
 * pipeline keeps connections open until every host is done, so its own end
 * is no measure of one host's check.
 */
class HostClock {
  private start = new Map<string, number>();
  private end = new Map<string, number>();
  constructor(private readonly now: () => number) {}

  connect(inner: (h: HostConfig) => Promise<Transport>): (h: HostConfig) => Promise<Transport> {
    return async (h) => {
      this.start.set(h.name, this.now());
      try {
        const t = await inner(h);
        this.mark(h.name);
        return {
          description: t.description,
          asRoot: t.asRoot,
          exec: async (command, opts) => {
            try {
              return await t.exec(command, opts);
            } finally {
              this.mark(h.name);
            }
          },
          close: () => t.close(),
        };
      } catch (err) {
        this.mark(h.name);
        throw err;
      }
    };
  }

  mark(host: string): void {
    this.end.set(host, this.now());
  }

  seconds(host: string): number {
    const s = this.start.get(host);
    return s === undefined ? 0 : ((this.end.get(host) ?? s) - s) / 1000;
  }
}

/** Why converging this host now would be unsafe, or null. */
function remediationRefusal(o: HostOutcome, host: HostConfig | undefined, envToken: string | undefined): string | null {
  const maps = o.changes.find((c) => c.spec.secret);
  if (maps && !envToken && !host?.vars.bearer_token_file && deployedTokens(maps.before).length === 0) {
    return 'the maps file holds no Bearer token and neither IA_ENSO_OLLAMA_BEARER_TOKEN nor bearer_token_file is set: converging would generate a new token and lock every client out — run converge by hand (it shows the new token once) or set one of them';
  }
  return null;
}

export async function runDrift(opts: DriftOptions): Promise<DriftResult> {
  const now = opts.now ?? Date.now;
  const t0 = now();
  const clock = new HostClock(now);
  const base = { forks: opts.forks, progress: opts.progress, live: opts.live };
  const check = (hosts: HostConfig[], c: HostClock) =>
    runPipeline(hosts, {
      ...base,
      mode: 'check',
      connect: c.connect(opts.connect),
      inspect: async (r, h, f) => {
        try {
          return await inspectHost(r, h, f);
        } finally {
          c.mark(h.name);
        }
      },
    });

  const first = await check(opts.hosts, clock);
  const secrets = new Set([...(opts.envToken ? [opts.envToken] : []), ...first.secrets]);
  const stamp = () => new Date(now()).toISOString();
  const started = new Date(t0).toISOString();
  const reports: HostReport[] = first.outcomes.map((o) => hostReport(o, clock.seconds(o.host), started));

  if (opts.remediate) {
    const drifted = first.outcomes.filter((o) => o.status === 'drift');
    const refused = new Map(drifted.map((o) => [o.host, remediationRefusal(o, opts.hosts.find((h) => h.name === o.host), opts.envToken)]));
    // Findings alone (expiring certificate, change not reloaded) are nothing converge repairs.
    const toConverge = drifted.filter((o) => !refused.get(o.host) && o.changes.length > 0).map((o) => o.host);
    const hosts = opts.hosts.filter((h) => toConverge.includes(h.name));
    const applied = hosts.length ? await runPipeline(hosts, { ...base, mode: 'apply', connect: opts.connect }) : { outcomes: [], secrets: [] };
    const recheck = hosts.length ? await check(hosts, new HostClock(now)) : { outcomes: [], secrets: [] };
    for (const s of [...applied.secrets, ...recheck.secrets]) secrets.add(s);
    for (const r of reports) {
      const found = first.outcomes.find((o) => o.host === r.host)!;
      if (found.status !== 'drift') continue;
      const rem: Remediation = { status: 'incomplete', found: r.drift, repaired: [], notes: [] };
      r.remediation = rem;
      const refusal = refused.get(r.host);
      const apply = applied.outcomes.find((o) => o.host === r.host);
      const after = recheck.outcomes.find((o) => o.host === r.host);
      if (refusal) {
        rem.status = 'failed';
        rem.error = `[${r.host}] not remediated: ${refusal}`;
        continue;
      }
      if (!apply || !after) {
        rem.notes.push('nothing converge repairs: see the reasons of each path');
        continue;
      }
      rem.notes.push(...apply.notes);
      if (apply.error) rem.error = describeError(apply.error);
      if (apply.rollbackError) rem.error = `${rem.error ?? ''}\nROLLBACK FAILED — the host needs a human:\n${describeError(apply.rollbackError)}`.trim();
      const next = hostReport(after, 0, stamp());
      r.status = next.status;
      r.error = next.error;
      r.drift = next.drift;
      const left = new Set(next.drift.map((e) => `${e.path}\0${e.action}`));
      rem.repaired = [...new Set(rem.found.filter((e) => !left.has(`${e.path}\0${e.action}`)).map((e) => e.path))];
      // What is still there was there before: keep when it was first seen.
      for (const e of r.drift) e.since = rem.found.find((f) => f.path === e.path && f.action === e.action)?.since ?? e.since;
      rem.status = apply.status === 'failed' || apply.status === 'unreachable' ? 'failed' : next.status === 'ok' ? 'repaired' : 'incomplete';
    }
  }

  const warnings: string[] = [];
  if (!opts.envToken) {
    warnings.push('IA_ENSO_OLLAMA_BEARER_TOKEN is not set: the token deployed on each host is taken as the desired one, so a token changed on a host is not detected (set it, e.g. in the EnvironmentFile of converge-drift.service)');
  }
  const end = now();
  const report: DriftReport = {
    kind: 'converge-drift',
    version: 1,
    timestamp: new Date(end).toISOString(),
    duration_seconds: round((end - t0) / 1000),
    inventory: opts.inventory,
    limit: opts.limit,
    remediate: opts.remediate,
    exit_code: 0,
    summary: summarize(reports),
    warnings,
    hosts: reports,
  };
  report.exit_code = exitCodeOf(reports);
  return { report, secrets: [...secrets] };
}

