// The gateway probes of an apply run, started once the SSH login succeeded,
// while the host is read. A run that then finds nothing to change (and no
// other run at work) reloads nothing, so what they saw is what verify would
// see: its verify stage no longer waits for the probes after the read. Any
// other run drops them and probes after its reload, as before.
import type { HostVars } from '../variables.js';
import type { HeldChallenge } from './host.js';
import { loadCa } from './index.js';
import { newChallenge, runProbes, type ProbeResult } from './probes.js';

export class EarlyProbes {
  private readonly aborter = new AbortController();
  private allow!: (held: HeldChallenge) => void;
  private refuse!: (err: Error) => void;
  /** Settles when the run is known to change nothing (or not), with the host's read that places the probe file. */
  private readonly noop = new Promise<HeldChallenge>((resolve, reject) => {
    this.allow = resolve;
    this.refuse = reject;
  });
  private readonly results: Promise<ProbeResult[]>;
  private kept = false;
  /** The ACME probe file, chosen now so that the host's read can carry it. */
  readonly challenge = newChallenge();

  private constructor(v: HostVars, ca: Buffer | undefined, readonly token: string) {
    this.noop.catch(() => undefined);
    this.results = runProbes({
      vars: v,
      token,
      ca,
      signal: this.aborter.signal,
      challenge: this.challenge,
      // Placing the ACME probe file is a write: it waits until the run is known to be a no-op,
      // then the host's read, which carries this.challenge, places it (see lib/gather.ts).
      placeChallenge: async () => (await this.noop).place(),
    });
    this.results.catch(() => undefined);
  }

  /** Starts the probes, or returns null when they cannot start yet (an unreadable verify_ca: verify reports it). */
  static start(v: HostVars, token: string): EarlyProbes | null {
    let ca: Buffer | undefined;
    try {
      ca = loadCa(v);
    } catch {
      return null;
    }
    return new EarlyProbes(v, ca, token);
  }

  /** The run changes nothing: its verify stage will use these results; `held` places the probe file. */
  keep(held: HeldChallenge): void {
    this.kept = true;
    this.allow(held);
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
    this.refuse(new Error('the run changes something: probes run again after the reload'));
    this.aborter.abort();
    if (this.kept) await this.results.catch(() => undefined);
  }
}
