// Hosts that serve one domain (behind DNS round robin or a load balancer)
// must accept one token, or a client gets 401 from some of them. A run gives
// each host its own token unless one is set (IA_ENSO_OLLAMA_BEARER_TOKEN,
// bearer_token_file): tokens generated or kept apart would differ. Tokens are
// compared here, in memory, and never shown.

export interface TokenHolder {
  host: string;
  domain: string;
  /** The token the host has after the run (or would have, in check mode); null when the run did not get that far. */
  token: string | null;
}

/** For each host of a domain whose hosts do not share one token: the note that says so. */
export function sharedTokenNotes(holders: TokenHolder[]): Map<string, string> {
  const byDomain = new Map<string, TokenHolder[]>();
  for (const h of holders) if (h.token) byDomain.set(h.domain, [...(byDomain.get(h.domain) ?? []), h]);
  const notes = new Map<string, string>();
  for (const [domain, hs] of byDomain) {
    if (new Set(hs.map((h) => h.token)).size < 2) continue;
    const note = `warning: the hosts serving ${domain} (${hs.map((h) => h.host).join(', ')}) do not have one Bearer token after this run, so a client gets 401 from some of them: give them the same one with IA_ENSO_OLLAMA_BEARER_TOKEN or one bearer_token_file, and run again`;
    for (const h of hs) notes.set(h.host, note);
  }
  return notes;
}
