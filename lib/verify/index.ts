// Verification of one host: probes, the backend checks they call for, the
// health-gate verdict, and a diagnosis for every failure.
import { X509Certificate } from 'node:crypto';
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

// OpenSSL's TRUSTED CERTIFICATE blocks count too (Node reads them; X509Certificate does not).
const PEM_CERT = /-----BEGIN (TRUSTED )?CERTIFICATE-----[^-]*-----END (TRUSTED )?CERTIFICATE-----/g;

/**
 * verify_ca's certificates. Node skips what is not a PEM certificate without
 * a word, so a wrong file (a key, a DER file, a typo's output) would only show
 * as every probe's "untrusted certificate": it is refused here, saying why.
 */
export function loadCa(v: HostVars): Buffer | undefined {
  const file = v.verify_ca;
  if (!file) return undefined;
  const hint = 'point verify_ca at the PEM file of the CA that issued the gateway\'s certificate (-----BEGIN CERTIFICATE----- blocks), or unset it to use the system trust';
  let ca: Buffer;
  try {
    ca = readFileSync(file);
  } catch (err) {
    throw new InputError(`cannot read verify_ca: ${(err as Error).message}`, { where: file, hint });
  }
  const blocks = ca.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new InputError('verify_ca holds no PEM certificate', { where: file, hint });
  blocks.forEach((block, i) => {
    if (block.startsWith('-----BEGIN TRUSTED')) return;
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new InputError(`verify_ca's certificate ${i + 1} of ${blocks.length} cannot be read: ${(err as Error).message}`, { where: file, hint });
    }
  });
  return ca;
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
