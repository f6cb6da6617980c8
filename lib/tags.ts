// --tags / --skip-tags: which stages of a host's run to perform. Pure.
// A stage others depend on is never skipped silently: it is kept (read-only
// preflight, the nginx -t gate), or the host is refused before any write, and
// every skip is explained in the host's notes.
import { InputError } from './errors.js';
import type { Change } from './plan.js';

export const STAGE_NAMES = ['preflight', 'tls', 'maps', 'vhost', 'enable', 'validate', 'reload', 'verify'] as const;
export type StageName = (typeof STAGE_NAMES)[number];
export const WRITE_STAGES = ['tls', 'maps', 'vhost', 'enable'] as const;
type WriteStage = (typeof WRITE_STAGES)[number];

export interface StageSelection {
  /** The stages the operator asked for. */
  selected: Set<StageName>;
  /** How they were chosen, e.g. "--tags maps,vhost", or "" when every stage runs. */
  how: string;
}

function parseList(option: string, value: string | undefined, allowAll: boolean): StageName[] {
  if (value === undefined) return [];
  const names = value.split(',').map((t) => t.trim()).filter(Boolean);
  if (names.length === 0) throw new InputError(`${option} needs at least one stage`, { hint: `stages: ${STAGE_NAMES.join(', ')}` });
  const out: StageName[] = [];
  for (const n of names) {
    if (allowAll && n === 'all') out.push(...STAGE_NAMES);
    else if ((STAGE_NAMES as readonly string[]).includes(n)) out.push(n as StageName);
    else throw new InputError(`${option}: unknown stage "${n}"`, { hint: `stages: ${STAGE_NAMES.join(', ')}${allowAll ? ' (or all)' : ''}` });
  }
  return out;
}

export function parseStageSelection(tags?: string, skipTags?: string): StageSelection {
  const wanted = parseList('--tags', tags, true);
  const unwanted = parseList('--skip-tags', skipTags, false);
  const selected = new Set<StageName>(tags === undefined ? STAGE_NAMES : wanted);
  for (const s of unwanted) selected.delete(s);
  const how = [tags !== undefined ? `--tags ${tags}` : '', skipTags !== undefined ? `--skip-tags ${skipTags}` : ''].filter(Boolean).join(' ');
  if (selected.size === 0) throw new InputError(`${how} selects no stage`, { hint: `stages: ${STAGE_NAMES.join(', ')}` });
  return { selected, how };
}

export const everyStage = (): StageSelection => ({ selected: new Set(STAGE_NAMES), how: '' });

/** What a host's plan says, as far as stage dependencies go. */
export interface HostPlanFacts {
  changes: Change[];
  /** Apply (changes are made) or check (only shown). */
  mode: 'apply' | 'check';
}

export interface StageDecision {
  /** Stages to perform (a superset of the selection's, when one is kept). */
  run: Set<StageName>;
  /** Why each stage not performed is skipped (for the progress view). */
  skipped: Map<StageName, string>;
  /** Changes left undone because their stage is skipped. */
  undone: Change[];
  /** Lines for the host's notes: what was skipped or kept, and why. */
  notes: string[];
  /** Set when the selection cannot be honoured safely on this host: nothing is written. */
  refused: string | null;
}

const describeChange = (c: Change) => `${c.action} ${c.path}`;

/**
 * Decides, once the host's plan is known, which stages run. Dependencies:
 * - every stage needs preflight's facts and plan: preflight always runs (read-only);
 * - a change nginx loads must pass nginx -t before it stays: validate is kept;
 * - the site uses the maps file's $ia_enso_ollama_authorized, its certificate,
 *   and the link points at it: a selected stage whose prerequisite does not
 *   exist yet on the host and is not selected is refused;
 * - obtaining a certificate temporarily replaces the site and reloads nginx:
 *   tls then needs vhost (to put the full site back) and reload;
 * - verify checks what nginx serves: without the reload of this run's
 *   changes it would check the old configuration, so it is skipped too.
 */
export function decideStages(sel: StageSelection, facts: HostPlanFacts): StageDecision {
  const run = new Set(sel.selected);
  const skipped = new Map<StageName, string>();
  const notes: string[] = [];
  const why = sel.how ? `not selected (${sel.how})` : 'not selected';
  const changesOf = (s: WriteStage) => facts.changes.filter((c) => c.stage === s);
  const creates = (s: WriteStage) => changesOf(s).some((c) => c.action === 'create' && !c.spec.outsideNginx);
  const needsCertificate = facts.changes.some((c) => c.spec.certificate);
  const has = (s: WriteStage) => changesOf(s).length > 0;
  const refusals: string[] = [];

  if (!run.has('preflight')) {
    run.add('preflight');
    notes.push(`kept preflight although ${why}: every other stage needs the facts and the plan it gathers (it only reads)`);
  }
  const on = (s: StageName) => run.has(s);
  // Write-stage prerequisites (only when the prerequisite is not on the host yet).
  if (on('vhost') && has('vhost') && !on('maps') && creates('maps')) {
    refusals.push('vhost without maps: the site uses $ia_enso_ollama_authorized, defined by the maps file, which is not on the host yet');
  }
  if (on('vhost') && has('vhost') && !on('tls') && needsCertificate) {
    refusals.push('vhost without tls: the HTTPS site needs the certificate the tls stage would obtain (there is none yet)');
  }
  if (on('enable') && has('enable') && !on('vhost') && creates('vhost')) {
    refusals.push('enable without vhost: the link would point at the site file, which is not on the host yet');
  }
  if (on('tls') && needsCertificate && !on('vhost')) {
    refusals.push('tls without vhost: obtaining the certificate puts a temporary HTTP-only site in place of the site, and the vhost stage puts the full site back');
  }
  if (on('tls') && needsCertificate && !on('reload') && facts.mode === 'apply') {
    refusals.push('tls without reload: obtaining the certificate reloads nginx with a temporary HTTP-only site; only the final reload makes the full site live again');
  }

  const undone = WRITE_STAGES.filter((s) => !on(s)).flatMap(changesOf);
  for (const s of WRITE_STAGES) {
    if (on(s)) continue;
    const left = changesOf(s);
    skipped.set(s, left.length > 0 ? `${why}: ${left.length} change(s) left undone` : why);
    if (left.length > 0) notes.push(`skipped ${s} (${why}): left undone: ${left.map(describeChange).join(', ')}`);
  }
  const applied = facts.changes.filter((c) => on(c.stage));
  const nginxApplied = applied.filter((c) => !c.spec.outsideNginx || c.spec.certificate);
  const changedStages = [...new Set(nginxApplied.map((c) => c.stage))].join(', ');

  if (!on('validate')) {
    if (nginxApplied.length > 0) {
      run.add('validate');
      notes.push(`kept validate although ${why}: nginx must accept the ${changedStages} change(s) (nginx -t) before they stay; a failure rolls them back`);
    } else {
      skipped.set('validate', why);
    }
  }
  let reloadSkipped = false;
  if (!on('reload')) {
    skipped.set('reload', why);
    if (nginxApplied.length > 0 && facts.mode === 'apply') {
      reloadSkipped = true;
      notes.push(
        `skipped reload (${why}): the ${changedStages} change(s) are on disk but not live; reload nginx yourself (nginx_reload_command) — a later converge finds nothing to change and does not reload`,
      );
    }
  }
  if (!on('verify')) {
    skipped.set('verify', why);
  } else if (reloadSkipped) {
    run.delete('verify');
    skipped.set('verify', 'reload skipped: nginx does not serve this run\'s changes yet');
    notes.push('skipped verify: the reload was skipped, so nginx still serves the previous configuration');
  }
  if (sel.how) {
    const ran = STAGE_NAMES.filter((s) => run.has(s));
    const not = STAGE_NAMES.filter((s) => !run.has(s));
    notes.unshift(`stages (${sel.how}): ran ${ran.join(', ')}${not.length > 0 ? `; skipped ${not.join(', ')}` : ''}`);
  }
  const refused = refusals.length > 0 ? refusals.join('; ') : null;
  return { run, skipped, undone, notes, refused };
}
