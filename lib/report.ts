// What a run tells its operator: the recap, the JSON document, the exit code.
// Everything here passes through redact(): no token leaves in a report.
import { describeError } from './errors.js';
import type { HostOutcome, Mode, Status } from './hostrun.js';
import { redact } from './secrets.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_CHANGES = 2;

export function exitCode(mode: Mode, outcomes: HostOutcome[]): number {
  if (outcomes.some((o) => o.status === 'failed' || o.status === 'unreachable')) return EXIT_FAILED;
  if (mode === 'check' && outcomes.some((o) => o.status === 'drift')) return EXIT_CHANGES;
  return EXIT_OK;
}

export function jsonReport(mode: Mode, outcomes: HostOutcome[], secrets: string[]): string {
  const doc = {
    mode,
    // What a dashboard or a CI step wants without walking the hosts.
    summary: { hosts: outcomes.length, ...Object.fromEntries(statusCounts(mode, outcomes)), exit_code: exitCode(mode, outcomes), ...retryField(outcomes) },
    hosts: outcomes.map((o) => ({
      host: o.host,
      status: o.status,
      changes: o.changes.map((c) => ({ path: c.path, action: c.action, reasons: c.reasons, diff: c.diff })),
      ...(o.error ? { error: describeError(o.error) } : {}),
      ...(o.rollbackError ? { rollback_error: describeError(o.rollbackError) } : {}),
      notes: o.notes,
      probes: o.probes,
      ...(o.probesAfterRollback ? { probes_after_rollback: o.probesAfterRollback } : {}),
      findings: o.findings,
    })),
  };
  return redact(JSON.stringify(doc, null, 2), secrets);
}

export function textRecap(mode: Mode, outcomes: HostOutcome[], secrets: string[], withDiff: boolean): string {
  const out: string[] = ['', `RECAP (${mode === 'check' ? 'check mode: nothing was changed' : 'apply'})`];
  const width = Math.max(...outcomes.map((o) => o.host.length));
  for (const o of outcomes) {
    const n = o.changes.length;
    out.push(`  ${o.host.padEnd(width)}  ${o.status.padEnd(11)} ${n} change(s)`);
  }
  for (const o of outcomes) {
    const detail: string[] = [];
    for (const c of o.changes) {
      detail.push(`  ${mode === 'check' ? 'would ' : ''}${c.action} ${c.path}: ${c.reasons.join('; ')}`);
      if (withDiff) detail.push(c.diff.replace(/^/gm, '    '));
    }
    for (const f of o.findings) detail.push(`  drift ${f.path}: ${f.reason}`);
    for (const note of o.notes) detail.push(`  note: ${note}`);
    if (o.error) detail.push(labelled('  error: ', describeError(o.error)));
    if (o.rollbackError) detail.push(`  ROLLBACK FAILED — the host needs a human:\n${describeError(o.rollbackError).replace(/^/gm, '    ')}`);
    if (detail.length > 0) out.push('', `${o.host}:`, ...detail);
  }
  const again = retryLimit(outcomes);
  if (again) out.push('', `to run again on the host(s) that failed: --limit ${again}`);
  // Last, where a long fleet log ends: the counts and what the exit code says.
  out.push('', `${totals(mode, outcomes)}; exit ${exitCode(mode, outcomes)}`);
  return redact(out.join('\n'), secrets) + '\n';
}

/** `retry_limit` for a CI step (`--limit "$(jq -r .summary.retry_limit)"`), when there is one. */
function retryField(outcomes: HostOutcome[]): { retry_limit?: string } {
  const again = retryLimit(outcomes);
  return again ? { retry_limit: again } : {};
}

/** The failed and unreachable hosts as a --limit, when some of several hosts failed; null otherwise. */
export function retryLimit(outcomes: HostOutcome[]): string | null {
  const failed = outcomes.filter((o) => o.status === 'failed' || o.status === 'unreachable');
  return failed.length > 0 && failed.length < outcomes.length ? failed.map((o) => o.host).join(',') : null;
}

// A Record, so that a new status cannot be left out of the counts.
const STATUS_ORDER = Object.keys({ ok: 0, changed: 0, drift: 0, failed: 0, unreachable: 0 } satisfies Record<Status, number>) as Status[];

/** How many hosts have each status the mode can give (0 included): `changed` in apply, `drift` in check. */
function statusCounts(mode: Mode, outcomes: HostOutcome[]): [Status, number][] {
  const statuses = STATUS_ORDER.filter((s) => s !== (mode === 'check' ? 'changed' : 'drift'));
  return statuses.map((status) => [status, outcomes.filter((o) => o.status === status).length]);
}

/** e.g. "3 host(s): 1 ok, 1 changed, 1 unreachable" (the statuses present). */
function totals(mode: Mode, outcomes: HostOutcome[]): string {
  const present = statusCounts(mode, outcomes).filter(([, n]) => n > 0);
  return `${outcomes.length} host(s): ${present.map(([status, n]) => `${n} ${status}`).join(', ')}`;
}

/** Prefixes the first line with a label and aligns the others under it. */
function labelled(label: string, text: string): string {
  return text.split('\n').map((l, i) => (i === 0 ? label : ' '.repeat(label.length)) + l).join('\n');
}

/** The one place a token is shown: a token this run generated and deployed. */
export function newTokenNotice(o: HostOutcome, domain: string, httpsPort: number): string | null {
  if (!o.newToken || o.status !== 'changed') return null;
  const base = `https://${domain}${httpsPort === 443 ? '' : `:${httpsPort}`}/ollama/v1`;
  return [
    '',
    `New Bearer token for ${o.host} — shown once, converge keeps no copy of it:`,
    `  ${o.newToken}`,
    `Clients (e.g. Cursor): OpenAI base URL ${base}, API key = this token (without "Bearer ").`,
    'Next runs keep the token deployed on the host; set IA_ENSO_OLLAMA_BEARER_TOKEN to choose or rotate it.',
    '',
  ].join('\n');
}
