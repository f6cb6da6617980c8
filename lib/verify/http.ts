// Requests to the gateway as its clients make them: real TLS (trusting
// verify_ca when set), connecting to verify_address when set, like curl --resolve.
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import type { HostVars } from '../variables.js';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** How long the request waited for a connection (one of spec.agent's, all busy) before it went. */
  queuedMs: number;
}

export interface RequestSpec {
  scheme: 'http' | 'https';
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Aborting it destroys the request (its promise rejects). */
  signal?: AbortSignal;
  /** Connections kept open and shared with other requests (see runProbes); by default, a connection of its own. */
  agent?: Agent;
  /** A connection opened ahead for this request (see Preconnected). */
  connection?: Preconnected;
}

const TIMEOUT_MS = 10_000;
const MAX_BODY = 64 * 1024;

// One TLS context per trust (verify_ca's content, or the system's) for the
// whole run. Node otherwise builds one for every connection, parsing
// verify_ca's PEM into a new certificate store each time: with four
// connections per host, ~2.7 ms of CPU per host (a 20-host run on the lab) on
// the one thread that drives every host of a fleet run.
const contexts = new Map<string, SecureContext>();

export function trustContext(ca: Buffer | undefined): SecureContext {
  const key = ca?.toString('latin1') ?? '';
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext(ca ? { ca } : {});
    contexts.set(key, context);
  }
  return context;
}

/** Where a request goes: verify_address when set (like curl --resolve), else the domain. */
function endpoint(v: HostVars, scheme: 'http' | 'https'): { host: string; port: number } {
  return { host: v.verify_address ?? v.domain, port: scheme === 'https' ? v.https_port : v.http_port };
}

function options(v: HostVars, spec: RequestSpec, ca: Buffer | undefined) {
  const { host, port } = endpoint(v, spec.scheme);
  const standard = spec.scheme === 'https' ? 443 : 80;
  return {
    host,
    port,
    path: spec.path,
    method: spec.method ?? 'GET',
    servername: v.domain,
    secureContext: trustContext(ca),
    headers: { Host: port === standard ? v.domain : `${v.domain}:${port}`, ...spec.headers },
    timeout: TIMEOUT_MS,
    signal: spec.signal,
    ...(spec.connection ? { createConnection: () => spec.connection!.take() } : { agent: spec.agent ?? (false as const) }),
  };
}

/**
 * A connection opened before its request is ready to go, so that its
 * handshake is not on that request's path (the streaming probe's, while
 * /api/ps is asked which model to use). The request takes it once; if it
 * failed or closed meanwhile, a new one is opened and the request sees that
 * one's error, if any, as it would have without this.
 */
export class Preconnected {
  private early: Socket | null;

  constructor(private readonly v: HostVars, private readonly scheme: 'http' | 'https', private readonly ca?: Buffer) {
    this.early = this.open();
    // Reported by the request that takes it (or by a new connection): never unhandled.
    this.early.on('error', () => undefined);
  }

  private open(): Socket {
    const to = endpoint(this.v, this.scheme);
    return this.scheme === 'http' ? netConnect(to) : tlsConnect({ ...to, servername: this.v.domain, secureContext: trustContext(this.ca) });
  }

  /** The connection opened ahead, once; after that, or if it has closed (or is closing), a new one. */
  take(): Socket {
    const s = this.early;
    this.early = null;
    return s && !s.destroyed && s.writable ? s : this.open();
  }

  /** Closes the connection opened ahead if no request took it. */
  close(): void {
    this.early?.destroy();
    this.early = null;
  }
}

function send(v: HostVars, spec: RequestSpec, ca: Buffer | undefined) {
  const make = spec.scheme === 'https' ? httpsRequest : httpRequest;
  return make(options(v, spec, ca));
}

/**
 * nginx closed the connection before answering: it closes its idle
 * connections when it reloads, kept-open ones and new ones whose request has
 * not arrived yet. Nothing was answered, so a GET can be sent again, and so
 * can any request on a connection opened ahead (Preconnected): nginx closed
 * it idle, before the request reached it.
 */
class ClosedBeforeAnswer extends Error {
  constructor(readonly original: NodeJS.ErrnoException) {
    super(original.message);
  }
}

/** The error a request that failed rejects with: ClosedBeforeAnswer when it may be sent again. */
function failure(err: NodeJS.ErrnoException, answered: boolean, spec: RequestSpec): Error {
  const resendable = (spec.method ?? 'GET') === 'GET' || spec.connection !== undefined;
  const closed = !answered && !spec.signal?.aborted && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
  return resendable && closed ? new ClosedBeforeAnswer(err) : err;
}

/** Sends once more, on a connection of its own, a request nginx closed unanswered; a second failure is Node's own error. */
async function againIfClosed<T>(spec: RequestSpec, once: (spec: RequestSpec) => Promise<T>): Promise<T> {
  try {
    return await once(spec);
  } catch (err) {
    if (!(err instanceof ClosedBeforeAnswer)) throw err;
  }
  // Not on another kept-open or early connection: it could be closing too.
  return once({ ...spec, agent: undefined, connection: undefined }).catch((err) => {
    throw err instanceof ClosedBeforeAnswer ? err.original : err;
  });
}

/** One request; the body is read (capped). A GET that nginx closed unanswered (a reload) is sent once more. */
export function fetchReply(v: HostVars, spec: RequestSpec, ca?: Buffer): Promise<Reply> {
  return againIfClosed(spec, (s) => fetchOnce(v, s, ca));
}

function fetchOnce(v: HostVars, spec: RequestSpec, ca?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = send(v, spec, ca);
    const created = performance.now();
    let queuedMs = 0;
    req.once('socket', () => (queuedMs = performance.now() - created));
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < MAX_BODY) body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, queuedMs }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(failure(err, answered, spec)));
    req.end(spec.body);
  });
}

export interface StreamTiming {
  status: number;
  events: number;
  /** Separate network reads that carried events: 1 means everything arrived at once. */
  bursts: number;
  firstEventMs: number | null;
  endMs: number;
  done: boolean;
  /**
   * Events had come, then BURST_GAP_MS passed with no more data while the
   * response stayed open: the proxy passed part of the answer on before the
   * rest, which a buffering proxy never does.
   */
  paused: boolean;
  /** The probe hung up once it had seen what it came for (see fetchStream's stopOncePaused). */
  stopped: boolean;
}

/**
 * Reads closer than this are one burst: TCP or TLS may split a single flush,
 * but its pieces arrive within a millisecond or two. Kept well below the
 * time between two tokens of a fast model (100 tokens/s: 10 ms), which must
 * still count as streaming.
 */
const BURST_GAP_MS = 5;

/**
 * A streamed (server-sent events) request, timing when events arrive. With
 * stopOncePaused, it hangs up as soon as the response has paused after
 * events (see StreamTiming.paused): that proves the proxy passes the stream
 * through as it comes, and a real model need not finish its answer (closing
 * the request stops it).
 */
export function fetchStream(v: HostVars, spec: RequestSpec, ca?: Buffer, stopOncePaused = false): Promise<StreamTiming> {
  return againIfClosed(spec, (s) => streamOnce(v, s, ca, stopOncePaused));
}

/** fetchStream's request (the streaming probe's is a POST: sent again only on a connection opened ahead). */
function streamOnce(v: HostVars, spec: RequestSpec, ca: Buffer | undefined, stopOncePaused: boolean): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = send(v, spec, ca);
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const timing: StreamTiming = { status: res.statusCode ?? 0, events: 0, bursts: 0, firstEventMs: null, endMs: 0, done: false, paused: false, stopped: false };
      let lastBurstAt = -Infinity;
      let reads = 0;
      let quiet: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = () => {
        clearTimeout(quiet);
        if (settled) return;
        settled = true;
        resolve({ ...timing, endMs: Math.round(performance.now() - t0) });
      };
      // Once the timer fires, reads that came meanwhile (a stall of this
      // process) are handled first: setImmediate runs after the event loop's
      // poll for I/O, so a pause is only seen if nothing was waiting.
      const watchForPause = () => {
        clearTimeout(quiet);
        const at = reads;
        quiet = setTimeout(() => setImmediate(() => {
          if (settled || reads !== at || timing.done) return;
          timing.paused = true;
          if (stopOncePaused) {
            timing.stopped = true;
            finish();
            req.destroy();
          }
        }), BURST_GAP_MS);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        reads++;
        const events = chunk.split('\n').filter((l) => l.startsWith('data:'));
        if (events.length > 0) {
          const now = performance.now() - t0;
          timing.firstEventMs ??= Math.round(now);
          timing.events += events.length;
          if (now - lastBurstAt > BURST_GAP_MS) timing.bursts++;
          lastBurstAt = now;
          if (events.some((e) => e.trim() === 'data: [DONE]')) timing.done = true;
        }
        if (timing.events > 0 && !timing.done && !timing.paused) watchForPause();
      });
      res.on('end', finish);
      res.on('close', () => clearTimeout(quiet));
      // After a stop, the destroyed request's errors land on a settled promise.
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`stream stalled for ${TIMEOUT_MS / 1000}s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(failure(err, answered, spec)));
    req.end(spec.body);
  });
}

/**
 * fetchStream for the streaming probe, which hangs up once the stream has
 * paused. A stream that never paused before its end is fetched once more
 * before it counts as buffered: a stall of this process (a busy event loop,
 * many hosts at once) can also hide a pause, but only a buffering proxy
 * hides it every time.
 */
export async function fetchStreamChecked(v: HostVars, spec: RequestSpec, ca: Buffer | undefined): Promise<StreamTiming & { tries: number }> {
  const first = await fetchStream(v, spec, ca, true);
  const merged = first.status === 200 && first.events > 0 && !first.paused;
  if (!merged || spec.signal?.aborted) return { ...first, tries: 1 };
  return { ...(await fetchStream(v, spec, ca, true)), tries: 2 };
}

/** A websocket upgrade: resolves with 101 on success, else the status given instead. */
export function upgradeStatus(v: HostVars, path: string, ca?: Buffer, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = send(v, {
      scheme: 'https',
      path,
      signal,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
    }, ca);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 101);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', reject);
    req.end();
  });
}
