// fetchStream against a local HTTP server that streams as a model does (or
// all at once, as a buffering proxy delivers it). Loopback only.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInventory } from '../../lib/inventory.js';
import { fetchStream, fetchStreamChecked, Preconnected } from '../../lib/verify/http.js';

const event = (n: number) => `data: {"choices":[{"delta":{"content":"tok ${n}"}}]}\n\n`;

/**
 * Serves streams: `events` events `gapMs` apart (0: all in one write), then
 * [DONE]; a list of gaps gives each request its own (the last one repeats).
 */
async function streamServer(events: number, gaps: number | number[]): Promise<{ server: Server; port: number; closedEarly: Promise<boolean>; requests: () => number }> {
  let closed!: (early: boolean) => void;
  const closedEarly = new Promise<boolean>((r) => (closed = r));
  let requests = 0;
  const server = createServer((req, res: ServerResponse) => {
    const list = ([] as number[]).concat(gaps);
    const gapMs = list[Math.min(requests++, list.length - 1)];
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    if (gapMs === 0) {
      res.end(Array.from({ length: events }, (_, i) => event(i + 1)).join('') + 'data: [DONE]\n\n');
      return closed(false);
    }
    let n = 0;
    const timer = setInterval(() => {
      res.write(event(++n));
      if (n === events) {
        clearInterval(timer);
        res.end('data: [DONE]\n\n');
        closed(false);
      }
    }, gapMs);
    res.on('close', () => {
      clearInterval(timer);
      closed(n < events);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, closedEarly, requests: () => requests };
}

const varsFor = (port: number) =>
  parseInventory(`all:\n  hosts:\n    p:\n      domain: localhost\n      backend_ip: 127.0.0.1\n      verify_address: 127.0.0.1\n      http_port: ${port}\n`, 'inv.yml')[0].vars;

/** Runs `fn` against a stream server, closing it whatever happens. */
async function withStream(events: number, gaps: number | number[], fn: (port: number, closedEarly: Promise<boolean>, requests: () => number) => Promise<void>): Promise<void> {
  const { server, port, closedEarly, requests } = await streamServer(events, gaps);
  try {
    await fn(port, closedEarly, requests);
  } finally {
    server.close();
  }
}

const post = (port: number, stopOncePaused?: boolean) => fetchStream(varsFor(port), { scheme: 'http', method: 'POST', path: '/', body: '{}' }, undefined, stopOncePaused);

test('a streaming backend: the probe hangs up at the pause after the first event, before the second', () =>
  withStream(20, 80, async (port, closedEarly) => {
    const s = await post(port, true);
    assert.is(s.status, 200);
    assert.is(s.events, 1);
    assert.is(s.paused, true);
    assert.is(s.stopped, true);
    assert.is(s.done, false);
    assert.ok(s.endMs < 2 * 80, `stopped before the second event (${s.endMs} ms)`);
    assert.is(await closedEarly, true, 'the server saw the client hang up mid-stream');
  }));

test('a fast model (a token every 15 ms) streams too: paused, stopped early', () =>
  withStream(40, 15, async (port, closedEarly) => {
    const s = await post(port, true);
    assert.is(s.paused, true);
    assert.is(s.stopped, true, `${s.events} events, end after ${s.endMs} ms`);
    assert.is(await closedEarly, true);
  }));

test('a buffered stream (everything in one write): one burst, no pause, read to [DONE], not stopped', () =>
  withStream(6, 0, async (port) => {
    const s = await post(port, true);
    assert.is(s.bursts, 1);
    assert.is(s.events, 7);
    assert.is(s.done, true);
    assert.is(s.paused, false);
    assert.is(s.stopped, false);
  }));

test('a buffered stream flushed in two pieces a millisecond apart (as TCP may split it) is no pause', async () => {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    setTimeout(() => {
      res.write(event(1) + event(2));
      setTimeout(() => res.end(event(3) + 'data: [DONE]\n\n'), 1);
    }, 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const s = await post((server.address() as AddressInfo).port, true);
    assert.is(s.events, 4);
    assert.is(s.done, true);
    assert.is(s.paused, false);
    assert.is(s.stopped, false);
  } finally {
    server.close();
  }
});

test('without stopOncePaused the whole stream is read', () =>
  withStream(3, 60, async (port, closedEarly) => {
    const s = await post(port);
    assert.is(s.done, true);
    assert.is(s.paused, true);
    assert.is(s.stopped, false);
    assert.is(s.events, 4);
    assert.is(s.bursts, 3);
    assert.is(await closedEarly, false);
  }));

const probe = (port: number) => fetchStreamChecked(varsFor(port), { scheme: 'http', method: 'POST', path: '/', body: '{}' }, undefined);

test('the streaming probe: a first stream that never paused (as a stall of converge may hide the pause) is tried again, and passes', () =>
  withStream(20, [0, 30], async (port, _closed, requests) => {
    const s = await probe(port);
    assert.is(requests(), 2);
    assert.is(s.tries, 2);
    assert.is(s.paused, true);
    assert.is(s.stopped, true);
  }));

test('the streaming probe: a proxy that buffers every time never pauses, after two tries', () =>
  withStream(6, 0, async (port, _closed, requests) => {
    const s = await probe(port);
    assert.is(requests(), 2);
    assert.is(s.tries, 2);
    assert.is(s.paused, false);
    assert.is(s.done, true);
  }));

test('the streaming probe: a stream that streams is asked for once', () =>
  withStream(20, 30, async (port, _closed, requests) => {
    const s = await probe(port);
    assert.is(s.tries, 1);
    assert.is(requests(), 1);
    assert.is(s.paused, true);
  }));

// ---- a connection opened ahead (the streaming probe's, while /api/ps is asked) ----------

/** The server's connections as accepted: whether each is open, and how many requests came on it. */
function connectionLog(server: Server): { open: boolean; requests: number }[] {
  const log: { open: boolean; requests: number }[] = [];
  const bySocket = new WeakMap<object, { open: boolean; requests: number }>();
  server.on('connection', (socket) => {
    const entry = { open: true, requests: 0 };
    log.push(entry);
    bySocket.set(socket, entry);
    socket.on('close', () => (entry.open = false));
  });
  server.prependListener('request', (req) => {
    bySocket.get(req.socket)!.requests += 1;
  });
  return log;
}

const settle = () => new Promise((r) => setTimeout(r, 50));

test('a preconnected request goes on the connection opened before it was made', async () => {
  const { server, port } = await streamServer(3, 15);
  const log = connectionLog(server);
  const connection = new Preconnected(varsFor(port), 'http');
  try {
    await settle();
    assert.equal(log, [{ open: true, requests: 0 }], 'opened ahead, before any request');
    const s = await fetchStream(varsFor(port), { scheme: 'http', path: '/', connection }, undefined, true);
    assert.is(s.paused, true);
    assert.is(log.length, 1, 'no second connection');
    assert.is(log[0].requests, 1);
  } finally {
    connection.close();
    server.closeAllConnections();
    server.close();
  }
});

test('a connection opened ahead that closed before its request: the request opens a new one; one never taken is closed', async () => {
  const { server, port } = await streamServer(3, 15);
  const log = connectionLog(server);
  server.once('connection', (socket) => socket.destroy());
  try {
    const connection = new Preconnected(varsFor(port), 'http');
    await settle();
    const s = await fetchStream(varsFor(port), { scheme: 'http', path: '/', connection }, undefined, true);
    assert.is(s.status, 200);
    assert.equal(log.map((c) => c.requests), [0, 1]);
    const unused = new Preconnected(varsFor(port), 'http');
    await settle();
    assert.is(log[2].open, true);
    unused.close();
    await settle();
    assert.is(log[2].open, false, 'closed by close()');
    assert.is(log[2].requests, 0);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test.run();
