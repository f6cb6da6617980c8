// The drift report: one JSON document per run (what the timer keeps and the
// history answers "since when" from), the text recap, and the exit code.
// Every text leaving here passes through redact().
import { describeError } from '../errors.js';
import type { HostOutcome } from '../hostrun.js';
import type { Action, Change } from '../plan.js';
import { redact } from '../secrets.js';

export type DriftStatus = 'ok' | 'drift' | 'failed' | 'unreachable';

export interface DriftEntry {
  path: string;
  /** What converge would do; "none": converge does not repair it (the reason says what to do). */
  action: Action | 'none';
  reasons: string[];
  /** Unified diff, secrets redacted (empty for findings). */
  diff: string;
  /** When this path was first seen drifting, as far as earlier reports tell (ISO 8601). */
  since: string;
}

export interface Remediation {
  /** repaired: nothing left; incomplete: drift converge does not repair remains; failed: converge failed or was refused. */
  status: 'repaired' | 'incomplete' | 'failed';
  /** The drift the check found before converging. */
  found: DriftEntry[];
  /** Paths no longer drifting after the converge. */
  repaired: string[];
  error?: string;
  notes: string[];
}

export interface HostReport {
  host: string;
  /** The host's state at the end of the run (after remediation, if any). */
  status: DriftStatus;
  duration_seconds: number;
  drift: DriftEntry[];
  error?: string;
  notes: string[];
  remediation?: Remediation;
}

export interface DriftReport {
  kind: 'converge-drift';
  version: 1;
  /** When the run finished. */
  timestamp: string;
  duration_seconds: number;
  inventory: string;
  limit: string | null;
  remediate: boolean;
  exit_code: number;
  summary: { hosts: number; ok: number; drift: number; failed: number; unreachable: number };
  warnings: string[];
  hosts: HostReport[];
}

export const EXIT_CLEAN = 0;
export const EXIT_DRIFT = 2;
export const EXIT_ERROR = 1;

/** A plan change's reasons, worded for someone reading a drift report. */
export function explainReasons(c: Change): string[] {
  if (c.spec.linkTo !== undefined && c.before.kind === 'absent') {
    return [`the site is disabled: the symlink ${c.path} -> ${c.spec.linkTo} was removed (nginx serves the gateway until its next reload, then stops)`];
  }
  return c.reasons;
}

/** The drift of a checked host: plan changes, then inspection findings. */
export function driftEntries(o: HostOutcome, since: string): DriftEntry[] {
  return [
    ...o.changes.map((c) => ({ path: c.path, action: c.action, reasons: explainReasons(c), diff: c.diff, since })),
    ...o.findings.map((f) => ({ path: f.path, action: 'none' as const, reasons: [f.reason], diff: '', since })),
  ];
}

export function hostReport(o: HostOutcome, durationSeconds: number, now: string): HostReport {
  const status: DriftStatus = o.status === 'changed' ? 'drift' : o.status;
  const r: HostReport = {
    host: o.host,
    status,
    duration_seconds: round(durationSeconds),
    drift: status === 'drift' ? driftEntries(o, now) : [],
    notes: o.notes,
  };
  if (o.error) r.error = describeError(o.error);
  return r;
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function exitCodeOf(hosts: HostReport[]): number {
  if (hosts.some((h) => h.status === 'failed' || h.status === 'unreachable' || h.remediation?.status === 'failed')) return EXIT_ERROR;
  if (hosts.some((h) => h.status === 'drift')) return EXIT_DRIFT;
  return EXIT_CLEAN;
}

export function summarize(hosts: HostReport[]): DriftReport['summary'] {
  const count = (s: DriftStatus) => hosts.filter((h) => h.status === s).length;
  return { hosts: hosts.length, ok: count('ok'), drift: count('drift'), failed: count('failed'), unreachable: count('unreachable') };
}

const key = (host: string, e: { path: string; action: string }) => `${host}\0${e.path}\0${e.action}`;

/**
 * Fills each entry's `since` from earlier reports (newest first): an entry
 * already drifting in the latest report that checked the host keeps that
 * report's `since`; reports where the host could not be checked are skipped.
 */
export function applySince(report: DriftReport, earlier: DriftReport[]): void {
  for (const h of report.hosts) {
    const previous = earlier.map((r) => r.hosts?.find((x) => x.host === h.host)).find((x) => x && (x.status === 'ok' || x.status === 'drift'));
    if (!previous) continue;
    const seen = new Map<string, string>();
    // Drift a remediation repaired was still drifting when that report was made.
    for (const e of [...(previous.remediation?.found ?? []), ...previous.drift]) {
      const k = key(h.host, e);
      if (e.since && !(seen.get(k)! < e.since)) seen.set(k, e.since);
    }
    for (const e of [...h.drift, ...(h.remediation?.found ?? [])]) {
      const was = seen.get(key(h.host, e));
      if (was && was < e.since) e.since = was;
    }
  }
}

export function jsonDriftReport(report: DriftReport, secrets: string[]): string {
  return redact(JSON.stringify(report, null, 2), secrets) + '\n';
}

function entryLines(e: DriftEntry, withDiff: boolean): string[] {
  const verb = e.action === 'none' ? 'drift' : `would ${e.action}`;
  const lines = [`  ${verb} ${e.path}: ${e.reasons.join('; ')} (since ${e.since})`];
  if (withDiff && e.diff) lines.push(e.diff.replace(/\n$/, '').replace(/^/gm, '    '));
  return lines;
}

export function textDriftReport(report: DriftReport, secrets: string[], withDiff: boolean): string {
  const s = report.summary;
  const out = [
    '',
    `DRIFT CHECK ${report.timestamp} (${report.duration_seconds} s${report.remediate ? ', with remediation' : ''}): ${s.hosts} host(s), ${s.ok} ok, ${s.drift} drifted, ${s.failed} failed, ${s.unreachable} unreachable`,
  ];
  for (const w of report.warnings) out.push(`warning: ${w}`);
  const width = Math.max(0, ...report.hosts.map((h) => h.host.length));
  for (const h of report.hosts) {
    const rem = h.remediation ? `, remediation ${h.remediation.status} (${h.remediation.repaired.length} repaired)` : '';
    out.push(`  ${h.host.padEnd(width)}  ${h.status.padEnd(11)} ${h.drift.length} drifted path(s)${rem}`);
  }
  for (const h of report.hosts) {
    const detail: string[] = [];
    if (h.remediation) {
      for (const p of h.remediation.repaired) detail.push(`  repaired ${p}`);
      if (h.remediation.error) detail.push(`  remediation failed:\n${h.remediation.error.replace(/^/gm, '    ')}`);
      for (const n of h.remediation.notes) detail.push(`  remediation note: ${n}`);
    }
    for (const e of h.drift) detail.push(...entryLines(e, withDiff));
    for (const n of h.notes) detail.push(`  note: ${n}`);
    if (h.error) detail.push(`  error:\n${h.error.replace(/^/gm, '    ')}`);
    if (detail.length) out.push('', `${h.host}:`, ...detail);
  }
  const verdict = ['no drift', 'a host could not be checked (or its remediation failed)', 'drift found'][report.exit_code] ?? '';
  out.push('', `exit ${report.exit_code}: ${verdict}`);
  return redact(out.join('\n'), secrets) + '\n';
}
