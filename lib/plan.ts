// Desired state + gathered facts -> the changes to make (pure).
// "Changed" is derived: a path changes exactly when it has reasons.
import type { FileSpec, Stage } from './desired.js';
import { deployedToken, deployedTokens, FileFacts } from './facts.js';
import { SecretLabel, unifiedDiff } from './diff.js';

export type Action = 'create' | 'update' | 'replace' | 'remove';

export interface Change {
  stage: Stage;
  path: string;
  action: Action;
  reasons: string[];
  diff: string;
  spec: FileSpec;
  before: FileFacts;
}

export interface Noop {
  stage: Stage;
  path: string;
  why: string;
}

export interface Plan {
  host: string;
  changes: Change[];
  noops: Noop[];
}

const octal = (m: number) => m.toString(8).padStart(4, '0');

function secretLabels(spec: FileSpec, before: FileFacts): SecretLabel[] {
  if (!spec.secret || !spec.content) return [];
  const now = deployedToken({ path: spec.path, kind: 'file', content: Buffer.from(spec.content) });
  const labels: SecretLabel[] = deployedTokens(before)
    .filter((was) => was !== now)
    .map((was) => ({ value: was, label: '<redacted:previous-bearer-token>' }));
  if (now) labels.push({ value: now, label: '<redacted:bearer-token>' });
  return labels;
}

function fileReasons(spec: FileSpec, before: FileFacts): string[] {
  const reasons: string[] = [];
  const wanted = Buffer.from(spec.content ?? '', 'utf8');
  if (!before.content || !before.content.equals(wanted)) {
    const was = deployedToken(before);
    const now = spec.secret ? deployedToken({ path: spec.path, kind: 'file', content: wanted }) : null;
    reasons.push(spec.secret && was && now && was !== now ? 'content differs (the Bearer token changes)' : 'content differs');
  }
  if (before.mode !== spec.mode) reasons.push(`mode ${octal(before.mode ?? 0)} -> ${octal(spec.mode)}`);
  if (before.owner !== spec.owner || before.group !== spec.group) {
    reasons.push(`owner ${before.owner}:${before.group} -> ${spec.owner}:${spec.group}`);
  }
  return reasons;
}

export function planFile(spec: FileSpec, before: FileFacts): Change | Noop {
  if (spec.absent) {
    if (before.kind === 'absent') return { stage: spec.stage, path: spec.path, why: 'absent, as wanted' };
    const old = before.kind === 'file' ? (before.content?.toString('utf8') ?? '') : before.kind === 'link' ? `-> ${before.linkTo}\n` : null;
    return { stage: spec.stage, path: spec.path, action: 'remove', reasons: [`is a ${before.kind}, expected absent`], spec, before, diff: unifiedDiff(spec.path, old, null, secretLabels({ ...spec, secret: true, content: '' }, before)) };
  }
  const wantLink = spec.linkTo !== undefined;
  let action: Action = 'update';
  let reasons: string[];
  if (before.kind === 'absent') {
    action = 'create';
    reasons = ['absent'];
  } else if (wantLink) {
    reasons = before.kind !== 'link' ? [`is a ${before.kind}, expected a symlink`] : before.linkTo !== spec.linkTo ? [`points to ${before.linkTo}, expected ${spec.linkTo}`] : [];
    if (before.kind !== 'link') action = 'replace';
  } else if (before.kind !== 'file') {
    action = 'replace';
    reasons = [`is a ${before.kind}, expected a regular file`];
  } else {
    reasons = fileReasons(spec, before);
  }
  if (reasons.length === 0) {
    return { stage: spec.stage, path: spec.path, why: wantLink ? `links to ${spec.linkTo}` : 'content, mode and owner match' };
  }
  const old = before.kind === 'file' ? (before.content?.toString('utf8') ?? '') : before.kind === 'link' ? `-> ${before.linkTo}\n` : null;
  const neu = wantLink ? `-> ${spec.linkTo}\n` : spec.content!;
  return { stage: spec.stage, path: spec.path, action, reasons, spec, before, diff: unifiedDiff(spec.path, old, neu, secretLabels(spec, before)) };
}

export function isChange(x: Change | Noop): x is Change {
  return 'reasons' in x;
}

export function makePlan(host: string, specs: FileSpec[], facts: Map<string, FileFacts>): Plan {
  const plan: Plan = { host, changes: [], noops: [] };
  for (const spec of specs) {
    const r = planFile(spec, facts.get(spec.path) ?? { path: spec.path, kind: 'absent' });
    if (isChange(r)) plan.changes.push(r);
    else plan.noops.push(r);
  }
  return plan;
}
