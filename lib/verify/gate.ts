// The health gate: after a reload, decide whether the new config broke the
// gateway (roll back), the backend is down (report, keep the config), or a
// probe failed for another reason (report). Pure.
import type { ProbeResult } from './probes.js';
import { serviceOf, type BackendReach } from './diagnose.js';

export type Verdict =
  | { kind: 'pass' }
  | { kind: 'rollback'; why: string }
  | { kind: 'backend-down'; why: string }
  | { kind: 'fail'; why: string };

const ROUTES: ProbeResult['id'][] = ['models', 'tags', 'anythingllm'];

/** Probes answered 502/504, whose backend must be checked from the proxy before judging. */
export function needsBackendCheck(probes: ProbeResult[]): Set<'ollama' | 'anythingllm'> {
  const out = new Set<'ollama' | 'anythingllm'>();
  for (const p of probes) {
    const s = serviceOf(p);
    if (!p.ok && s && (p.status === 502 || p.status === 504)) out.add(s);
  }
  return out;
}

export function judge(probes: ProbeResult[], reach: BackendReach): Verdict {
  const failed = probes.filter((p) => !p.ok && !p.warning);
  if (failed.length === 0) return { kind: 'pass' };
  const open = failed.find((p) => p.id.startsWith('gate-') && p.status !== null && p.status >= 200 && p.status < 300);
  if (open) return { kind: 'rollback', why: `the gate is open (${open.name}: ${open.status})` };
  const broken = failed.find((p) => ROUTES.includes(p.id) && [401, 403, 404].includes(p.status ?? 0));
  if (broken) return { kind: 'rollback', why: `an authorised route fails (${broken.name}: ${broken.status})` };
  const gateway = failed.filter((p) => p.status === 502 || p.status === 504);
  if (gateway.length > 0) {
    const down = gateway.filter((p) => reach[serviceOf(p) ?? 'ollama'] === false);
    if (down.length === gateway.length) return { kind: 'backend-down', why: `the backend does not answer from the proxy (${down.map((p) => p.name).join('; ')})` };
    return { kind: 'rollback', why: `nginx cannot reach a backend that answers from the proxy (${gateway.map((p) => `${p.name}: ${p.status}`).join('; ')})` };
  }
  return { kind: 'fail', why: failed.map((p) => `${p.name}: ${p.status ?? p.error}`).join('; ') };
}
