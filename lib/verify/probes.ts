// The gateway contract, probe by probe, as Cursor and AnythingLLM users see it.
// The token only ever travels in a request header.
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import { deferred } from '../deferred.js';
import type { HostVars } from '../variables.js';
import { isPrivateAddress, reservedSuffix, resolveDomain } from './addresses.js';
import { fetchReply, fetchStreamChecked, Preconnected, upgradeStatus, type Reply } from './http.js';

export type ProbeId =
  | 'gate-anonymous' | 'gate-wrong-token' | 'gate-retired-token' | 'models' | 'tags' | 'stream'
  | 'anythingllm' | 'anythingllm-redirect' | 'websocket' | 'http-redirect' | 'acme-webroot' | 'public-dns';

export interface ProbeResult {
  id: ProbeId;
  name: string;
  ok: boolean;
  /** A warning never fails the run. */
  warning?: boolean;
  expected: string;
  status: number | null;
  /** What was seen beyond the status (redact before showing: it may quote a body). */
  detail?: string;
  /** The streaming probe: how many server-sent events arrived. */
  events?: number;
  /** A transport error (refused, TLS, timeout), with Node's error code. */
  error?: string;
  /** The probe's own time: a wait for one of the pooled connections is not counted. */
  ms: number;
}

export interface ProbeContext {
  vars: HostVars;
  /** A promise when it is known later than the login (early probes with the host's own token). */
  token: string | Promise<string>;
  ca?: Buffer;
  /** A token this run replaced (--rotate-token): it must now get 401. */
  retiredToken?: string | null;
  /** Writes an ACME challenge file on the host; returns its removal. */
  placeChallenge?: (name: string, content: string) => Promise<() => Promise<void>>;
  /** The probe file's name and content, when chosen before the probes start (early probes: the host's read places it). */
  challenge?: { name: string; content: string };
  /** Aborts every request still in flight (probes started early, then not needed). */
  signal?: AbortSignal;
  /** No request goes before it resolves (early probes: the SSH login); the connections open meanwhile. */
  ready?: Promise<void>;
}

type Outcome = Pick<ProbeResult, 'ok' | 'status' | 'detail' | 'events'>;

/** How long a probe's requests waited for one of the pooled connections (see runProbes). */
interface Queued {
  ms: number;
}

async function timed(id: ProbeId, name: string, expected: string, run: (queued: Queued) => Promise<Outcome>): Promise<ProbeResult> {
  const t0 = performance.now();
  const queued: Queued = { ms: 0 };
  const ms = () => Math.max(0, Math.round(performance.now() - t0 - queued.ms));
  try {
    const r = await run(queued);
    return { id, name, expected, ...r, ms: ms() };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { id, name, expected, ok: false, status: null, error: e.code ? `${e.code}: ${e.message}` : e.message, ms: ms() };
  }
}

function jsonList(reply: Reply, key: string): boolean {
  try {
    return Array.isArray(JSON.parse(reply.body)[key]);
  } catch {
    return false;
  }
}

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

interface RunningModel {
  model?: unknown;
  name?: unknown;
  details?: { family?: unknown; families?: unknown };
}

/** Embedding models (AnythingLLM often keeps one loaded) cannot chat: names and BERT families tell them. */
function isEmbedding(m: RunningModel): boolean {
  const families = [m.details?.family, ...(Array.isArray(m.details?.families) ? m.details.families : [])].map(String);
  return /embed/i.test(String(m.model ?? m.name ?? '')) || families.some((f) => /bert/i.test(f));
}

/**
 * The chat models Ollama has loaded, from GET /api/ps; null when that says
 * nothing usable (an error, or a backend without /api/ps).
 */
export function loadedModels(reply: Reply | null): string[] | null {
  if (!reply || reply.status !== 200) return null;
  try {
    const models = JSON.parse(reply.body).models;
    if (!Array.isArray(models)) return null;
    return (models as RunningModel[]).filter((m) => !isEmbedding(m)).map((m) => String(m.model ?? m.name ?? '')).filter(Boolean);
  } catch {
    return null;
  }
}

/**
 * The plain requests share two kept-open connections: the gateway sees 2 TLS
 * handshakes for them instead of one each (a drift check runs every few
 * minutes, and a fleet run shares this machine's CPUs between many hosts).
 * The streaming and websocket probes keep connections of their own.
 */
const POOLED_CONNECTIONS = 2;

export async function runProbes(ctx: ProbeContext): Promise<ProbeResult[]> {
  const pool = new OpenedAheadPool(ctx.vars, ctx.ca, POOLED_CONNECTIONS);
  // The streaming probe, the longest, opens its connection now, while it waits for /api/ps.
  const streamConnection = new Preconnected(ctx.vars, 'https', ctx.ca);
  try {
    await ctx.ready;
    return await probeAll(ctx, pool, streamConnection);
  } finally {
    pool.destroy();
    streamConnection.close();
  }
}

/** A pool of kept-open connections whose first ones are opened at once (see Preconnected), before any request. */
class OpenedAheadPool extends Agent {
  private readonly ahead: Preconnected[];

  constructor(v: HostVars, ca: Buffer | undefined, size: number) {
    super({ keepAlive: true, maxSockets: size });
    this.ahead = Array.from({ length: size }, () => new Preconnected(v, 'https', ca));
  }

  override createConnection(...args: Parameters<Agent['createConnection']>): ReturnType<Agent['createConnection']> {
    return this.ahead.shift()?.take() ?? super.createConnection(...args);
  }

  override destroy(): void {
    super.destroy();
    for (const c of this.ahead.splice(0)) c.close();
  }
}

async function probeAll(ctx: ProbeContext, pool: Agent, streamConnection: Preconnected): Promise<ProbeResult[]> {
  const { vars: v, ca, signal } = ctx;
  // The probes that carry the token wait for it; the others go at once. A
  // token known already is not awaited: /api/ps must stay the first request.
  const known = ctx.token;
  const token = Promise.resolve(known);
  const withToken = <T>(probe: (t: string) => Promise<T>): Promise<T> => (typeof known === 'string' ? probe(known) : token.then(probe));
  const https = async (queued: Queued | null, path: string, headers: Record<string, string> = {}) => {
    const r = await fetchReply(v, { scheme: 'https', path, headers, signal, agent: pool }, ca);
    if (queued) queued.ms += r.queuedMs;
    return r;
  };
  const wrong = randomBytes(32).toString('hex');
  // The streaming probe, the longest, sends its request before the others
  // (which would hold this thread and /api/ps's answer up), once /api/ps has
  // answered. When the token comes later, those without it use the wait.
  const streamSent = deferred();
  const afterStream = <T>(probe: () => Promise<T>): Promise<T> => streamSent.promise.then(probe);
  const untokened = typeof known === 'string' ? afterStream : <T>(probe: () => Promise<T>): Promise<T> => probe();

  // The streaming probe uses a model Ollama already has loaded: loading one
  // (a cold start) can take minutes and evict the model clients are using.
  // /api/ps goes first: the streaming probe, the longest, waits for it.
  const loaded = withToken((t) => https(null, '/ollama/api/ps', bearer(t))).then(loadedModels, () => null);
  let listed: string | undefined;
  const models = afterStream(() => withToken((t) => timed('models', 'GET /ollama/v1/models with the token', '200 + {"data": [...]}', async (queued) => {
    const r = await https(queued, '/ollama/v1/models', bearer(t));
    if (r.status === 200 && jsonList(r, 'data')) listed = JSON.parse(r.body).data[0]?.id;
    return { ok: r.status === 200 && jsonList(r, 'data'), status: r.status, detail: r.status === 200 ? undefined : r.body.slice(0, 300) };
  })));
  const stream = Promise.all([loaded, token]).then(async ([running, t]) => {
    if (!running?.length) streamSent.resolve(); // nothing to stream with, or no /api/ps: the others go now
    if (running?.length === 0) return streamNotChecked();
    let model = running?.[0];
    if (!model) {
      await models; // without /api/ps: the first model the gateway lists
      model = listed ?? 'llama3';
    }
    return timed('stream', STREAM_NAME, STREAM_EXPECTED, async () => {
      const body = JSON.stringify({ model, stream: true, max_tokens: 16, messages: [{ role: 'user', content: 'Reply with the single word OK.' }] });
      // Events, then a pause with the stream still open, prove it passes through unbuffered: no need to wait for the rest.
      const headers = { ...bearer(t), 'Content-Type': 'application/json' };
      const spec = { scheme: 'https' as const, method: 'POST', path: '/ollama/v1/chat/completions', headers, body, signal, connection: streamConnection };
      const sent = fetchStreamChecked(v, spec, ca);
      streamSent.resolve();
      const s = await sent;
      const end = s.stopped ? `stopped after ${s.endMs} ms` : `end after ${s.endMs} ms${s.done ? '' : ', no [DONE]'}`;
      return {
        ok: s.status === 200 && s.paused,
        status: s.status,
        events: s.events,
        detail: `${s.events} event(s) in ${s.bursts} burst(s), first after ${s.firstEventMs ?? '-'} ms, ${s.paused ? 'then a pause, stream open' : 'no pause before the end'}, ${end}${s.tries > 1 ? ' (second try: the first never paused)' : ''}`,
      };
    });
  });

  const release = () => streamSent.resolve();
  stream.then(release, release);

  return Promise.all([
    models,
    untokened(() => timed('gate-anonymous', 'GET /ollama/v1/models without a token', '401', async (queued) => {
      const r = await https(queued, '/ollama/v1/models');
      return { ok: r.status === 401, status: r.status };
    })),
    untokened(() => timed('gate-wrong-token', 'GET /ollama/v1/models with a wrong token', '401', async (queued) => {
      const r = await https(queued, '/ollama/v1/models', bearer(wrong));
      return { ok: r.status === 401, status: r.status };
    })),
    afterStream(() => withToken((t) => timed('tags', 'GET /ollama/api/tags with the token', '200 + {"models": [...]}', async (queued) => {
      const r = await https(queued, '/ollama/api/tags', bearer(t));
      return { ok: r.status === 200 && jsonList(r, 'models'), status: r.status, detail: r.status === 200 ? undefined : r.body.slice(0, 300) };
    }))),
    stream,
    untokened(() => timed('anythingllm', 'GET /anythingllm/', '200', async (queued) => {
      const r = await https(queued, '/anythingllm/');
      return { ok: r.status === 200, status: r.status };
    })),
    untokened(() => timed('anythingllm-redirect', 'GET /anythingllm', '301 -> /anythingllm/', async (queued) => {
      const r = await https(queued, '/anythingllm');
      const to = String(r.headers.location ?? '');
      return { ok: r.status === 301 && /\/anythingllm\/$/.test(to), status: r.status, detail: to ? `Location: ${to}` : undefined };
    })),
    untokened(() => timed('websocket', 'websocket upgrade under /anythingllm/', '101', async () => {
      const status = await upgradeStatus(v, '/anythingllm/api/agent-invocation/converge-probe', ca, signal);
      return { ok: status === 101, status };
    })),
    untokened(() => timed('http-redirect', `GET http://${v.domain}:${v.http_port}/ollama/v1/models`, '301 -> https', async () => {
      const r = await fetchReply(v, { scheme: 'http', path: '/ollama/v1/models', signal }, ca);
      const to = String(r.headers.location ?? '');
      return { ok: r.status === 301 && to.startsWith(`https://${v.domain}`), status: r.status, detail: to ? `Location: ${to}` : undefined };
    })),
    untokened(() => acmeProbe(ctx)),
    publicDnsProbe(v),
    ...(ctx.retiredToken
      ? [afterStream(() => timed('gate-retired-token', 'GET /ollama/v1/models with the replaced token', '401', async (queued) => {
          const r = await https(queued, '/ollama/v1/models', bearer(ctx.retiredToken!));
          return { ok: r.status === 401, status: r.status };
        }))]
      : []),
  ]);
}

const STREAM_NAME = 'POST /ollama/v1/chat/completions, stream: true';
const STREAM_EXPECTED = '200, events arriving while the backend still streams (a pause after them, the stream open)';

/** No model is loaded: streaming is not checked rather than load one (a warning, never a failure). */
async function streamNotChecked(): Promise<ProbeResult> {
  return {
    id: 'stream',
    name: STREAM_NAME,
    expected: STREAM_EXPECTED,
    ok: false,
    warning: true,
    status: null,
    detail: 'streaming not checked: Ollama has no chat model loaded, and loading one could take minutes and evict the one in use',
    ms: 0,
  };
}

/** A probe file for the ACME webroot: a name nothing else uses, random content. */
export function newChallenge(): { name: string; content: string } {
  return { name: `converge-probe-${randomBytes(8).toString('hex')}`, content: randomBytes(16).toString('hex') };
}

async function acmeProbe(ctx: ProbeContext): Promise<ProbeResult> {
  const { name, content } = ctx.challenge ?? newChallenge();
  return timed('acme-webroot', 'GET /.well-known/acme-challenge/<probe> over HTTP', `200 + the probe file from ${ctx.vars.certbot_webroot}`, async () => {
    if (!ctx.placeChallenge) return { ok: true, status: null, detail: 'skipped: no connection to the host to place the probe file' };
    const remove = await ctx.placeChallenge(name, content);
    try {
      const r = await fetchReply(ctx.vars, { scheme: 'http', path: `/.well-known/acme-challenge/${name}`, signal: ctx.signal }, ctx.ca);
      return { ok: r.status === 200 && r.body.trim() === content, status: r.status, detail: r.status === 200 && r.body.trim() !== content ? 'served, but not the probe file' : undefined };
    } finally {
      await remove();
    }
  });
}

async function publicDnsProbe(v: HostVars): Promise<ProbeResult> {
  const t0 = performance.now();
  const reserved = reservedSuffix(v.domain);
  const res = reserved ? { addresses: [] } : await resolveDomain(v.domain);
  const priv = res.addresses.filter(isPrivateAddress);
  const base = { id: 'public-dns' as const, name: `${v.domain} resolves to a public address`, expected: 'public addresses only', status: null, warning: true, ms: Math.round(performance.now() - t0) };
  if (reserved) return { ...base, ok: false, detail: `not looked up: .${reserved} is a reserved name that never resolves publicly, so Cursor cannot reach this gateway by it` };
  if (res.error) return { ...base, ok: false, detail: `does not resolve from here (${res.error})` };
  if (priv.length > 0) return { ...base, ok: false, detail: `resolves to ${priv.join(', ')}: Cursor refuses private, loopback and link-local addresses (ssrf_blocked)` };
  return { ...base, ok: true, detail: res.addresses.join(', ') };
}
