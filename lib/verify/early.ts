// The gateway probes of an apply run, started with the SSH connection: their
// connections open while SSH logs in, and their requests go once the login
// has succeeded, while the host is read. Those that carry the token go at
// once when it is known beforehand (environment, bearer_token_file); when it
// is the host's own, they go once the read has found it and the run is known
// to change nothing. A run that changes nothing (and no other run at work)
// reloads nothing, so what they saw is what verify would see: its verify
// stage no longer waits for the probes after the read. Any other run drops
// them and probes after its reload, as before.
import { deferred } from '../deferred.js';
import type { HostVars } from '../variables.js';
import type { HeldChallenge } from './host.js';
import { newChallenge, runProbes, type ProbeResult } from './probes.js';

export class EarlyProbes {
  private readonly aborter = new AbortController();
  /** Settles when the run is known to change nothing (or not), with the host's read that places the probe file. */
  private readonly noop = deferred<HeldChallenge>();
  /** The token the probes carry: given at start, or at keep() (the host's own). */
  private readonly token = deferred<string>();
  private chosen: string | null;
  private readonly results: Promise<ProbeResult[]>;
  private kept = false;
  /** The ACME probe file, chosen now so that the host's read can carry it. */
  readonly challenge = newChallenge();

  private constructor(v: HostVars, ca: Buffer | undefined, token: string | null, loggedIn: Promise<void>) {
    this.chosen = token;
    if (token !== null) this.token.resolve(token);
    this.results = runProbes({
      vars: v,
      // A token given now is passed as is: the probes then send /api/ps first (see runProbes).
      token: token ?? this.token.promise,
      ca,
      signal: this.aborter.signal,
      ready: loggedIn,
      challenge: this.challenge,
      // Placing the ACME probe file is a write: it waits until the run is known to be a no-op,
      // then the host's read, which carries this.challenge, places it (see lib/gather.ts).
      placeChallenge: async () => (await this.noop.promise).place(),
    });
    this.results.catch(() => undefined);
  }

  /**
   * Opens the probes' connections, trusting `ca` (verify_ca, which preflight
   * has read and checked); their requests wait for `loggedIn`, and those that
   * carry the token for it (null: the host's own, see keep).
   */
  static start(v: HostVars, ca: Buffer | undefined, token: string | null, loggedIn: Promise<void>): EarlyProbes {
    return new EarlyProbes(v, ca, token, loggedIn);
  }

  /**
   * The run changes nothing and verifies with `token`: its verify stage will
   * use these results, and `held` places the probe file. False, and nothing
   * kept, for probes started with another token.
   */
  keep(held: HeldChallenge, token: string): boolean {
    if (this.chosen !== null && this.chosen !== token) return false;
    this.chosen = token;
    this.token.resolve(token);
    this.kept = true;
    this.noop.resolve(held);
    return true;
  }

  /** The results, if kept for a run that verifies with this token. */
  take(token: string): Promise<ProbeResult[]> | undefined {
    return this.kept && token === this.chosen ? this.results : undefined;
  }

  /**
   * Not needed: requests still in flight are aborted. Once kept, the ACME
   * probe may have placed its file: wait for it to be removed, on the
   * connection the caller has not closed yet.
   */
  async drop(): Promise<void> {
    const unneeded = new Error('the run changes something: probes run again after the reload');
    this.noop.reject(unneeded);
    this.token.reject(unneeded);
    this.aborter.abort();
    if (this.kept) await this.results.catch(() => undefined);
  }
}
