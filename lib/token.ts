// Where a host's Bearer token comes from, in order: the environment, the
// inventory's bearer_token_file, the token already on the host, a new one.
// The first two are read and checked before any connection.
import { readFileSync } from 'node:fs';
import { looseModeWarning } from './filemode.js';
import { InputError } from './errors.js';
import type { HostConfig } from './inventory.js';
import { tokenProblem } from './secrets.js';

export type TokenSource = 'environment' | 'file' | 'host' | 'generated';

export interface LocalToken {
  value: string;
  source: 'environment' | 'file';
  /** Where it was read: the variable's name or the file's path. */
  origin: string;
  /** A bearer_token_file that other users may read or write: said in the host's notes. */
  warning?: string;
}

export function localToken(h: HostConfig, env: NodeJS.ProcessEnv): LocalToken | null {
  const fromEnv = env.IA_ENSO_OLLAMA_BEARER_TOKEN;
  if (fromEnv) {
    check(fromEnv, h.name, 'IA_ENSO_OLLAMA_BEARER_TOKEN');
    return { value: fromEnv, source: 'environment', origin: 'IA_ENSO_OLLAMA_BEARER_TOKEN' };
  }
  const file = h.vars.bearer_token_file;
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read bearer_token_file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      host: h.name,
      where: file,
      hint: 'create the file (one line, the token) readable by the user running converge, or unset bearer_token_file',
    });
  }
  // One trailing newline is how editors and `echo` end a file: not part of the token.
  const value = text.replace(/\r?\n$/, '');
  check(value, h.name, file);
  // Whoever reads it can use the gateway; whoever writes it picks the token
  // the next run deploys. A warning, not a refusal: mounted secrets (a
  // container's, 0644 by default) cannot always be changed.
  const warning = looseModeWarning(file, 'bearer_token_file');
  return { value, source: 'file', origin: file, ...(warning ? { warning } : {}) };
}

function check(token: string, host: string, where: string): void {
  const problem = tokenProblem(token);
  if (problem) {
    throw new InputError(`the Bearer token is invalid: ${problem}`, { host, where, hint: 'use a random ASCII token, e.g. the output of `openssl rand -hex 32`' });
  }
}

export interface TokenChoice {
  token: string;
  /** The deployed token being replaced by --rotate-token. */
  retired: string | null;
  /** True when the token is new: shown once to the operator. */
  generated: boolean;
}

/**
 * Which token a run deploys (pure). The local one (environment, file) wins;
 * else the deployed one is kept; else a new one. --rotate-token never keeps
 * the deployed one, and refuses when the local token is the deployed one: a
 * token generated then would be replaced by the local one again on the next
 * plain run, locking out the clients that took it.
 */
export function chooseToken(host: string, local: LocalToken | null, deployed: string | null, rotate: boolean, fresh: () => string): TokenChoice {
  const retired = rotate ? deployed : null;
  if (rotate && local && local.value === deployed) {
    const what = local.source === 'file' ? 'bearer_token_file' : 'IA_ENSO_OLLAMA_BEARER_TOKEN';
    throw new InputError(`--rotate-token: the token in ${what} is the one already deployed, so there is nothing to rotate to (nothing was changed)`, {
      host,
      where: local.origin,
      hint:
        local.source === 'file'
          ? 'write the new token to bearer_token_file first (e.g. `openssl rand -hex 32`), then run with --rotate-token; or unset bearer_token_file to let converge generate one'
          : 'set IA_ENSO_OLLAMA_BEARER_TOKEN to the new token, or unset it to let converge generate one',
    });
  }
  if (local) return { token: local.value, retired, generated: false };
  if (deployed && !rotate) return { token: deployed, retired, generated: false };
  return { token: fresh(), retired, generated: true };
}
