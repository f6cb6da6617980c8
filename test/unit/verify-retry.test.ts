// fetchReply and fetchStream against a local HTTP server that, like nginx
// during a reload, closes a kept-open (or opened-ahead) connection without
// answering the request sent on it. Loopback only.
import { Agent, createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInventory } from '../../lib/inventory.js';
import { fetchReply, fetchStream, Preconnected } from '../../lib/verify/http.js';

/** Answers the first request of each connection; closes the connection on the second, unanswered. */
async function closingServer(): Promise<{ server: Server; port: number; connections: () => number; requests: () => number }> {
  const seen = new WeakMap<Socket, number>();
  let connections = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    req.resume();
    res.end('ok');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections, requests: () => requests };
}

const varsFor = (port: number) =>
  parseInventory(`all:\n  hosts:\n    p:\n      domain: localhost\n      backend_ip: 127.0.0.1\n      verify_address: 127.0.0.1\n      http_port: ${port}\n`, 'inv.yml')[0].vars;

test('a GET on a kept-open connection closed unanswered is sent again, on a new connection', async () => {
  const s = await closingServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const v = varsFor(s.port);
    const first = await fetchReply(v, { scheme: 'http', path: '/a', agent });
    const second = await fetchReply(v, { scheme: 'http', path: '/b', agent });
    assert.is(first.status, 200);
    assert.is(second.status, 200);
    assert.is(second.body, 'ok');
    assert.is(s.requests(), 3, 'the second request was sent twice');
    assert.is(s.connections(), 2, 'the retry had a connection of its own');
  } finally {
    agent.destroy();
    s.server.close();
  }
});

test('a GET closed unanswered twice fails with the error Node gave (its code kept for the diagnosis)', async () => {
  // Every connection closes on its first request.
  const server = createServer((req) => req.socket.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  let connections = 0;
  server.on('connection', () => connections++);
  try {
    const err = await fetchReply(varsFor((server.address() as AddressInfo).port), { scheme: 'http', path: '/a' }).then(() => null, (e: NodeJS.ErrnoException) => e);
    assert.ok(err, 'it failed');
    assert.is(err!.code, 'ECONNRESET');
    assert.match(err!.message, /socket hang up/);
    assert.is(connections, 2, 'sent twice');
  } finally {
    server.close();
  }
});

test('a request other than GET is not sent again: the error is reported', async () => {
  const s = await closingServer();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const v = varsFor(s.port);
    await fetchReply(v, { scheme: 'http', method: 'POST', path: '/a', body: 'x', agent });
    const err = await fetchReply(v, { scheme: 'http', method: 'POST', path: '/b', body: 'x', agent }).then(() => null, (e: NodeJS.ErrnoException) => e);
    assert.ok(err, 'the second POST failed');
    assert.is(err!.code, 'ECONNRESET');
    assert.is(s.requests(), 2, 'sent once');
  } finally {
    agent.destroy();
    s.server.close();
  }
});

/** Closes its first connection when a request arrives on it (nginx closing an idle connection as it reloads); streams on the others. */
async function closesFirstServer(): Promise<{ server: Server; port: number; connections: () => number; requests: () => number }> {
  let connections = 0;
  let requests = 0;
  const first = new WeakSet<Socket>();
  const server = createServer((req, res) => {
    requests++;
    if (first.has(req.socket)) {
      req.socket.destroy();
      return;
    }
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 1\n\n');
    setTimeout(() => res.end('data: 2\n\ndata: [DONE]\n\n'), 20);
  });
  server.on('connection', (socket) => {
    if (connections++ === 0) first.add(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections, requests: () => requests };
}

test('a streamed POST on a connection opened ahead, closed unanswered, is sent again on a new one; without one, it is not', async () => {
  const s = await closesFirstServer();
  const v = varsFor(s.port);
  const connection = new Preconnected(v, 'http');
  try {
    const timing = await fetchStream(v, { scheme: 'http', method: 'POST', path: '/v1/chat/completions', body: '{}', connection });
    assert.is(timing.status, 200);
    assert.is(timing.done, true);
    assert.equal([s.connections(), s.requests()], [2, 2], 'sent again, on a second connection');
  } finally {
    connection.close();
    s.server.close();
  }
  const plain = await closesFirstServer();
  try {
    const err = await fetchStream(varsFor(plain.port), { scheme: 'http', method: 'POST', path: '/v1/chat/completions', body: '{}' }).then(() => null, (e: NodeJS.ErrnoException) => e);
    assert.is(err?.code, 'ECONNRESET');
    assert.is(plain.requests(), 1, 'sent once');
  } finally {
    plain.server.close();
  }
});

test('a request that waits for the pooled connection says how long: the probes do not count that wait as theirs', async () => {
  // The first request is held until the test lets it go; the second needs its connection.
  let release: () => void = () => undefined;
  const server = createServer((req, res) => {
    req.resume();
    if (req.url === '/held') release = () => res.end('held');
    else res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const v = varsFor((server.address() as AddressInfo).port);
    const held = fetchReply(v, { scheme: 'http', path: '/held', agent });
    const queued = fetchReply(v, { scheme: 'http', path: '/after', agent });
    const HOLD_MS = 400;
    await new Promise((r) => setTimeout(r, HOLD_MS));
    release();
    const [first, second] = await Promise.all([held, queued]);
    assert.is(second.body, 'ok');
    assert.ok(first.queuedMs < HOLD_MS / 2, `the first had the connection at once (${first.queuedMs} ms)`);
    assert.ok(second.queuedMs >= HOLD_MS - 50, `the second waited for it (${second.queuedMs} ms)`);
  } finally {
    agent.destroy();
    server.close();
  }
});

test.run();
