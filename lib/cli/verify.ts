// `verify` command line: probe every selected gateway as its clients would,
// and explain each failure. Changes nothing but the ACME probe file it
// places and removes.
import { describeError } from '../errors.js';
import { deployedToken } from '../facts.js';
import { gather } from '../gather.js';
import { mapsPath } from '../desired.js';
import type { HostConfig } from '../inventory.js';
import { redact } from '../secrets.js';
import { connectHost } from '../transport/connect.js';
import type { Transport } from '../transport/types.js';
import { diagnosisLines, probeLines, verifyHost, type Verification } from '../verify/index.js';
import { assertValidToken } from '../secrets.js';
import { baseParser, selectedHosts } from './parser.js';

interface HostVerification {
  host: string;
  ok: boolean;
  result?: Verification;
  error?: string;
}

async function verifyOne(h: HostConfig, envToken: string | undefined, secrets: Set<string>): Promise<HostVerification> {
  let transport: Transport | null = null;
  try {
    transport = await connectHost(h);
    const remote = { host: h.name, transport, commandTimeout: h.vars.command_timeout };
    let token = envToken;
    if (!token) {
      const facts = await gather(remote, h.vars.nginx_command, [mapsPath(h.vars)]);
      token = deployedToken(facts.files.get(mapsPath(h.vars))) ?? undefined;
      if (!token) return { host: h.name, ok: false, error: `no Bearer token in ${mapsPath(h.vars)} and IA_ENSO_OLLAMA_BEARER_TOKEN is unset: run converge first` };
    }
    secrets.add(token);
    const result = await verifyHost(h.vars, token, remote);
    return { host: h.name, ok: result.verdict.kind === 'pass', result };
  } catch (err) {
    return { host: h.name, ok: false, error: describeError(err) };
  } finally {
    await transport?.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = await baseParser(argv, 'verify.mjs', "Probes each selected gateway over HTTPS as Cursor and AnythingLLM users do, and says what is wrong when it fails.\nThe token comes from IA_ENSO_OLLAMA_BEARER_TOKEN, else from the host's maps file (read over SSH).")
    .epilog('Exit codes: 0 every probe passed (warnings allowed), 1 a probe failed or a host could not be checked.')
    .parseAsync();
  const envToken = process.env.IA_ENSO_OLLAMA_BEARER_TOKEN || undefined;
  if (envToken) assertValidToken(envToken, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
  const hosts = selectedHosts(args);
  const secrets = new Set<string>(envToken ? [envToken] : []);
  const results = await Promise.all(hosts.map((h) => verifyOne(h, envToken, secrets)));
  const hide = (text: string) => redact(text, secrets);
  if (args.json) {
    const doc = results.map((r) => ({ host: r.host, ok: r.ok, error: r.error, verdict: r.result?.verdict, probes: r.result?.probes, diagnoses: r.result?.diagnoses }));
    process.stdout.write(hide(JSON.stringify({ hosts: doc }, null, 2)) + '\n');
  } else {
    for (const r of results) {
      const lines = [`${r.host}: ${r.ok ? 'ok' : 'FAILED'}`];
      if (r.error) lines.push(`  ${r.error.replace(/\n/g, '\n  ')}`);
      if (r.result) lines.push(...probeLines(r.result.probes).map((l) => `  ${l}`), ...diagnosisLines(r.result).map((l) => `  ${l}`));
      process.stdout.write(hide(lines.join('\n')) + '\n');
    }
  }
  return results.every((r) => r.ok) ? 0 : 1;
}
