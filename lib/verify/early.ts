// The gateway probes of an apply run, started with the SSH connection: their
// connections open while SSH logs in, and their requests go once the login
// has succeeded, while the host is read. A run that then finds nothing to
// change (and no other run at work) reloads nothing, so what they saw is what
// verify would see: its verify stage no longer waits for the probes after the
// read. Any other run drops them and probes after its reload, as before.
import { deferred } from '../deferred.js';
import type { HostVars } from '../variables.js';
import type { HeldChallenge } from './host.js';
import { loadCa } from './index.js';
import { newChallenge, runProbes, type ProbeResult } from './probes.js';

export class EarlyProbes {
  private readonly aborter = new AbortController();
  /** Settles when the run is known to change nothing (or not), with the host's read that places the probe file. */
  private readonly noop = deferred<HeldChallenge>();
  private readonly results: Promise<ProbeResult[]>;
  private kept = false;
  /** The ACME probe file, chosen now so that the host's read can carry it. */
  readonly challenge = newChallenge();

  private constructor(v: HostVars, ca: Buffer | undefined, readonly token: string, loggedIn: Promise<void>) {
    this.results = runProbes({
      vars: v,
      token,
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
   * Opens the probes' connections; their requests wait for `loggedIn`. Null
   * when they cannot start (an unreadable verify_ca: verify reports it).
   */
  static start(v: HostVars, token: string, loggedIn: Promise<void>): EarlyProbes | null {
    let ca: Buffer | undefined;
    try {
      ca = loadCa(v);
    } catch {
      return null;
    }
    return new EarlyProbes(v, ca, token, loggedIn);
  }

  /** The run changes nothing: its verify stage will use these results; `held` places the probe file. */
  keep(held: HeldChallenge): void {
    this.kept = true;
    this.noop.resolve(held);
  }

  /** The results, if kept for a run that verifies with this token. */
  take(token: string): Promise<ProbeResult[]> | undefined {
    return this.kept && token === this.token ? this.results : undefined;
  }

  /**
   * Not needed: requests still in flight are aborted. Once kept, the ACME
   * probe may have placed its file: wait for it to be removed, on the
   * connection the caller has not closed yet.
   */
  async drop(): Promise<void> {
    this.noop.reject(new Error('the run changes something: probes run again after the reload'));
    this.aborter.abort();
    if (this.kept) await this.results.catch(() => undefined);
  }
}
