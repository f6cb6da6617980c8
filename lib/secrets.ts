import { randomBytes } from 'node:crypto';
import { InputError } from './errors.js';

/** What replaces a secret wherever text leaves the process. */
export const REDACTED = '<redacted:bearer-token>';

// RFC 6750 b64token: letters, digits, -._~+/ then optional '=' padding. This
// is also what keeps the token safe inside the quoted nginx map key.
const TOKEN_CHARS = /^[A-Za-z0-9\-._~+/]+=*$/;
const MIN_TOKEN = 32;
const MAX_TOKEN = 512;

/** Why a token is refused, without ever quoting it; null when it is valid. */
export function tokenProblem(token: string): string | null {
  if (token.length < MIN_TOKEN) return `it has ${token.length} characters, at least ${MIN_TOKEN} are required`;
  if (token.length > MAX_TOKEN) return `it has ${token.length} characters, at most ${MAX_TOKEN} are allowed`;
  if (!TOKEN_CHARS.test(token)) {
    return 'it contains a character outside RFC 6750 token characters (letters, digits, - . _ ~ + / and trailing =); quotes, backslashes, spaces, $, ;, braces, newlines and non-ASCII are refused';
  }
  return null;
}

export function assertValidToken(token: string, source: string): void {
  const problem = tokenProblem(token);
  if (problem) {
    throw new InputError(`the Bearer token is invalid: ${problem}`, {
      where: source,
      hint: 'use a random ASCII token, e.g. the output of `openssl rand -hex 32`',
    });
  }
}

export function generateToken(): string {
  return randomBytes(32).toString('hex');
}

/** The token as a PCRE literal (the maps file's regex key): of its characters only . and + are special. */
export function tokenRegex(token: string): string {
  return token.replace(/[.+]/g, '\\$&');
}

/** Every way a token is written in a file: as is, and escaped in a regex key. */
export function secretForms(secret: string): string[] {
  const escaped = tokenRegex(secret);
  return escaped === secret ? [secret] : [secret, escaped];
}

/**
 * Replaces every occurrence of every form of each secret, longest first (so a
 * secret that begins another cannot leave the other's tail behind). Short
 * strings are ignored so a bug can't blank out text.
 */
export function redact(text: string, secrets: Iterable<string>, label = REDACTED): string {
  const forms = [...secrets].filter((s) => s && s.length >= 8).flatMap(secretForms).sort((a, b) => b.length - a.length);
  let out = text;
  for (const f of forms) out = out.split(f).join(label);
  return out;
}
