// Prometheus text exposition format for node_exporter's textfile collector:
// each family once, HELP and TYPE before its samples, one sample per series,
// no timestamps (the collector refuses them).
import type { DriftReport } from './report.js';

/** A label value as the text format wants it: \\, " and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escaping: \\ and newline. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '-Inf';
  return String(x);
}

interface Family {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

function renderFamily(f: Family): string[] {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`];
  for (const s of f.samples) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
    lines.push(`${f.name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
  }
  return lines;
}

/**
 * The metrics of a drift run. Drift of a host that could not be checked is
 * unknown: its converge_drift* samples are left out (alert on
 * converge_check_success == 0 for those).
 */
export function renderMetrics(report: DriftReport): string {
  const checked = report.hosts.filter((h) => h.status === 'ok' || h.status === 'drift');
  const families: Family[] = [
    {
      name: 'converge_drift',
      help: 'Whether the host differs from the desired state (1) or not (0), as of the last drift check (after remediation, if any).',
      samples: checked.map((h) => ({ labels: { host: h.host }, value: h.status === 'drift' ? 1 : 0 })),
    },
    {
      name: 'converge_drift_resources',
      help: 'Number of drifted paths on the host (files, links, certificate, changes not reloaded), as of the last drift check.',
      samples: checked.map((h) => ({ labels: { host: h.host }, value: h.drift.length })),
    },
    {
      name: 'converge_check_success',
      help: 'Whether the last drift check of the host succeeded (1) or not (0: unreachable or failed).',
      samples: report.hosts.map((h) => ({ labels: { host: h.host }, value: h.status === 'ok' || h.status === 'drift' ? 1 : 0 })),
    },
    {
      name: 'converge_check_duration_seconds',
      help: 'How long the last drift check of the host took, in seconds.',
      samples: report.hosts.map((h) => ({ labels: { host: h.host }, value: h.duration_seconds })),
    },
  ];
  if (report.remediate) {
    families.push({
      name: 'converge_drift_repaired_resources',
      help: 'Number of drifted paths the last drift run repaired on the host (--remediate).',
      samples: report.hosts.map((h) => ({ labels: { host: h.host }, value: h.remediation?.repaired.length ?? 0 })),
    });
  }
  families.push({
    name: 'converge_last_check_timestamp_seconds',
    help: 'When the last drift check finished, in seconds since the Unix epoch.',
    samples: [{ labels: {}, value: Date.parse(report.timestamp) / 1000 }],
  });
  return families.flatMap(renderFamily).join('\n') + '\n';
}
