// Probes the gateway over real HTTPS, as its clients do. The token is only
// ever placed in a request header.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { HostVars } from './variables.js';
import { InputError } from './errors.js';

export interface ProbeResult {
  name: string;
  ok: boolean;
  expected: number;
  status: number | null;
  error?: string;
  ms: number;
}

const TIMEOUT_MS = 10_000;

function loadCa(vars: HostVars): Buffer | undefined {
  if (!vars.verify_ca) return undefined;
  try {
    return readFileSync(vars.verify_ca);
  } catch (err) {
    throw new InputError(`cannot read verify_ca: ${(err as Error).message}`, { where: vars.verify_ca, hint: 'point verify_ca at a PEM file on this machine, or unset it to use the system trust' });
  }
}

export function httpsStatus(vars: HostVars, path: string, headers: Record<string, string> = {}, ca = loadCa(vars)): Promise<number> {
  const hostHeader = vars.https_port === 443 ? vars.domain : `${vars.domain}:${vars.https_port}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: vars.verify_address ?? vars.domain,
        port: vars.https_port,
        path,
        method: 'GET',
        servername: vars.domain,
        ca,
        headers: { Host: hostHeader, ...headers },
        timeout: TIMEOUT_MS,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', reject);
    req.end();
  });
}

async function probe(name: string, expected: number, run: () => Promise<number>): Promise<ProbeResult> {
  const t0 = performance.now();
  try {
    const status = await run();
    return { name, ok: status === expected, expected, status, ms: Math.round(performance.now() - t0) };
  } catch (err) {
    return { name, ok: false, expected, status: null, error: (err as Error).message, ms: Math.round(performance.now() - t0) };
  }
}

function probes(vars: HostVars, token: string, ca: Buffer | undefined): Promise<ProbeResult[]> {
  return Promise.all([
    probe('GET /ollama/v1/models without token', 401, () => httpsStatus(vars, '/ollama/v1/models', {}, ca)),
    probe('GET /ollama/v1/models with token', 200, () => httpsStatus(vars, '/ollama/v1/models', { Authorization: `Bearer ${token}` }, ca)),
  ]);
}

/**
 * The basic gate contract: /ollama/ refuses anonymous callers and serves the
 * token holder. A reload is asynchronous (old workers keep serving until the
 * new ones are up), so after one the probes are retried for `settleMs`.
 */
export async function verifyGateway(vars: HostVars, token: string, settleMs = 0): Promise<ProbeResult[]> {
  const ca = loadCa(vars);
  const deadline = Date.now() + settleMs;
  for (;;) {
    const results = await probes(vars, token, ca);
    if (results.every((r) => r.ok) || Date.now() >= deadline) return results;
    await new Promise((r) => setTimeout(r, 250));
  }
}
