// One connection per bastion, shared by every host of the run behind it (as
// OpenSSH's ControlMaster shares one): twenty hosts through one bastion log in
// to it once and open twenty tunnels on that connection. Twenty logins at once
// would meet the bastion sshd's MaxStartups (10 by default: past it, sshd drops
// new connections at random, so a fleet run would fail hosts by chance), and
// cost twenty handshakes. The connection is counted: it ends when the last
// host using it is done, and one that failed or dropped is never handed out
// again (the next host to need it opens a new one).
import type { EventEmitter } from 'node:events';

/** What the pool needs of a connection (an ssh2 Client). */
export interface Connection extends EventEmitter {
  end(): unknown;
}

export interface JumpLease<C extends Connection> {
  client: C;
  /** Done with the connection (idempotent): the last one out ends it. */
  release: () => void;
}

interface Shared<C> {
  client: Promise<C>;
  users: number;
}

export class JumpPool<C extends Connection> {
  private readonly shared = new Map<string, Shared<C>>();

  /** The connection known as `key`, opened by `open` unless a host of the run already holds it. */
  async acquire(key: string, open: () => Promise<C>): Promise<JumpLease<C>> {
    let s = this.shared.get(key);
    if (!s) {
      const fresh: Shared<C> = { client: open(), users: 0 };
      this.shared.set(key, fresh);
      fresh.client.then(
        (c) => {
          // Each host's transport listens to the bastion's connection for drops.
          c.setMaxListeners(0);
          c.once('close', () => this.forget(key, fresh));
        },
        () => this.forget(key, fresh),
      );
      s = fresh;
    }
    const mine = s;
    mine.users++;
    let client: C;
    try {
      client = await mine.client;
    } catch (err) {
      mine.users--;
      throw err;
    }
    let released = false;
    return {
      client,
      release: () => {
        if (released) return;
        released = true;
        if (--mine.users > 0) return;
        this.forget(key, mine);
        client.end();
      },
    };
  }

  /** Connections open now (for tests). */
  get size(): number {
    return this.shared.size;
  }

  private forget(key: string, s: Shared<C>): void {
    if (this.shared.get(key) === s) this.shared.delete(key);
  }
}

