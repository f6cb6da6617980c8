// Verification of one host: probes, the backend checks they call for, the
// health-gate verdict, and a diagnosis for every failure.
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';
import type { Remote } from '../remote.js';
import type { HostVars } from '../variables.js';
import { diagnose, type BackendReach, type Diagnosis } from './diagnose.js';
import { judge, needsBackendCheck, type Verdict } from './gate.js';
import { placeChallenge, reachableFromHost } from './host.js';
import { runProbes, type ProbeResult } from './probes.js';

export type { ProbeResult } from './probes.js';
export type { Verdict } from './gate.js';

export interface Verification {
  probes: ProbeResult[];
  reach: BackendReach;
  verdict: Verdict;
  diagnoses: { probe: string; diagnosis: Diagnosis }[];
}

export function loadCa(v: HostVars): Buffer | undefined {
  if (!v.verify_ca) return undefined;
  try {
    return readFileSync(v.verify_ca);
  } catch (err) {
    throw new InputError(`cannot read verify_ca: ${(err as Error).message}`, { where: v.verify_ca, hint: 'point verify_ca at a PEM file on this machine, or unset it to use the system trust' });
  }
}

/** `early`: the probes' results, when they already ran (see early.ts). */
export async function verifyHost(v: HostVars, token: string, remote: Remote | null, retiredToken: string | null = null, early?: Promise<ProbeResult[]>): Promise<Verification> {
  const probes = await (early ?? runProbes({
    vars: v,
    token,
    retiredToken,
    ca: loadCa(v),
    placeChallenge: remote ? (name, content) => placeChallenge(remote, v, name, content) : undefined,
  }));
  const reach: BackendReach = {};
  if (remote) {
    for (const service of needsBackendCheck(probes)) {
      reach[service] = await reachableFromHost(remote, v.backend_ip, service === 'ollama' ? v.ollama_port : v.anythingllm_port);
    }
  }
  const diagnoses = probes.filter((p) => !p.ok).map((p) => ({ probe: p.name, diagnosis: diagnose(p, v, reach) }));
  return { probes, reach, verdict: judge(probes, reach), diagnoses };
}

/** One line per probe: pass/fail/warn, status, time. */
export function probeLines(probes: ProbeResult[]): string[] {
  return probes.map((p) => `${p.ok ? 'pass' : p.warning ? 'warn' : 'FAIL'}  ${String(p.status ?? '-').padEnd(3)}  ${String(p.ms).padStart(5)} ms  ${p.name}${p.detail ? ` (${p.detail})` : ''}${p.error ? ` [${p.error}]` : ''}`);
}

export function diagnosisLines(v: Verification): string[] {
  return v.diagnoses.flatMap(({ probe, diagnosis }) => [`${probe}: ${diagnosis.cause}`, `  -> ${diagnosis.next}`]);
}
