// Fake upstreams for the lab proxy: a tiny "Ollama" and "AnythingLLM" on
// 127.0.0.1. No dependencies, so the lab works before/without `npm ci`.
//
// Both expose GET /__lab/health and GET /__lab/last-request (the last request
// that was not an /__lab/ call: method, url, headers), so tests can check what
// the proxy really forwarded (e.g. that Ollama never saw an Authorization
// header). GET /__lab/requests lists the last 100; POST /__lab/reset clears.
//
// Env: OLLAMA_PORT (31434), ANYTHINGLLM_PORT (33001), LAB_BACKENDS_PIDFILE
// (written once both ports listen, removed on exit).
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const HOST = '127.0.0.1';
const OLLAMA_PORT = Number(process.env.OLLAMA_PORT || 31434);
const ANYTHINGLLM_PORT = Number(process.env.ANYTHINGLLM_PORT || 33001);
const PIDFILE = process.env.LAB_BACKENDS_PIDFILE || '';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MODEL = 'llama3.2:latest';

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Per-backend request log; introspection endpoints are served here and never logged.
function makeRecorder(name) {
  const log = [];
  return {
    record(req, body = '') {
      log.push({
        backend: name,
        time: new Date().toISOString(),
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: body.slice(0, 64 * 1024),
      });
      if (log.length > 100) log.shift();
    },
    // Returns true when the request was an introspection call (and answered).
    introspect(req, res) {
      const path = req.url.split('?')[0];
      if (!path.startsWith('/__lab/')) return false;
      if (req.method === 'GET' && path === '/__lab/health') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      } else if (req.method === 'GET' && path === '/__lab/last-request') {
        json(res, 200, log.length ? log[log.length - 1] : null);
      } else if (req.method === 'GET' && path === '/__lab/requests') {
        json(res, 200, log);
      } else if (req.method === 'POST' && path === '/__lab/reset') {
        log.length = 0;
        json(res, 200, { ok: true });
      } else {
        json(res, 404, { error: 'unknown lab endpoint' });
      }
      return true;
    },
  };
}

// ---- fake Ollama ---------------------------------------------------------
const ollamaLog = makeRecorder('ollama');
// Whether the model is loaded (GET /api/ps lists it). As in Ollama, a
// completion loads it. POST /__lab/loaded with "no" unloads it, "yes" loads it.
let loaded = true;
// POST /__lab/ps with "off": GET /api/ps answers 404, as an older Ollama or
// another OpenAI-compatible server does; "on" serves it again.
let psServed = true;
// POST /__lab/ps-delay with a number of ms: GET /api/ps answers that much later (0: at once).
let psDelayMs = 0;

async function ollama(req, res) {
  if (req.method === 'POST' && req.url === '/__lab/loaded') {
    loaded = (await readBody(req)).trim() !== 'no';
    return json(res, 200, { loaded });
  }
  if (req.method === 'POST' && req.url === '/__lab/ps') {
    psServed = (await readBody(req)).trim() !== 'off';
    return json(res, 200, { psServed });
  }
  if (req.method === 'POST' && req.url === '/__lab/ps-delay') {
    psDelayMs = Number((await readBody(req)).trim()) || 0;
    return json(res, 200, { psDelayMs });
  }
  if (ollamaLog.introspect(req, res)) return;
  const body = await readBody(req);
  ollamaLog.record(req, body);
  const path = req.url.split('?')[0];

  // The gateway must clear Authorization: a leaked Bearer token is refused
  // here, so a vhost that forwards it fails the gateway's own verify probes.
  if (req.headers.authorization !== undefined) {
    return json(res, 403, { error: 'unexpected Authorization header: the gateway forwarded the client token' });
  }

  if (req.method === 'GET' && path === '/v1/models') {
    return json(res, 200, {
      object: 'list',
      data: [{ id: MODEL, object: 'model', created: 1700000000, owned_by: 'library' }],
    });
  }
  if (req.method === 'GET' && path === '/api/tags') {
    return json(res, 200, { models: [{ name: MODEL, model: MODEL, size: 2019393189 }] });
  }
  if (req.method === 'GET' && path === '/api/ps' && psServed) {
    if (psDelayMs > 0) await new Promise((r) => setTimeout(r, psDelayMs));
    const models = loaded ? [{ name: MODEL, model: MODEL, size: 2019393189, size_vram: 2019393189, expires_at: new Date(Date.now() + 300_000).toISOString() }] : [];
    return json(res, 200, { models });
  }
  if (req.method === 'POST' && path === '/v1/chat/completions') {
    let payload;
    try {
      payload = JSON.parse(body || '{}');
    } catch {
      return json(res, 400, { error: { message: 'invalid JSON body' } });
    }
    const model = payload.model || MODEL;
    loaded = true;
    if (payload.stream) {
      // Deliberately no X-Accel-Buffering header: the proxy config itself must
      // disable buffering for tokens to arrive one by one.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      let n = 0;
      const timer = setInterval(() => {
        n += 1;
        res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: `tok ${n}` } }] })}\n\n`);
        if (n === 5) {
          clearInterval(timer);
          res.end('data: [DONE]\n\n');
        }
      }, 30); // a 7B model on a GPU (~33 tokens/s); well above the probe's 5 ms burst window
      res.on('close', () => clearInterval(timer));
      return;
    }
    return json(res, 200, {
      id: 'chatcmpl-lab',
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'tok 1 tok 2 tok 3 tok 4 tok 5' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 },
    });
  }
  return json(res, 404, { error: `not found: ${req.method} ${path}` });
}

// ---- fake AnythingLLM ----------------------------------------------------
const anythingLog = makeRecorder('anythingllm');
const HTML = '<!doctype html><html><head><title>AnythingLLM</title></head><body>lab fake AnythingLLM</body></html>\n';

async function anythingllm(req, res) {
  if (anythingLog.introspect(req, res)) return;
  const body = await readBody(req);
  anythingLog.record(req, body);
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(HTML) });
    return res.end(HTML);
  }
  return json(res, 200, { ok: true, method: req.method, url: req.url });
}

// Sockets handed over by 'upgrade' are no longer tracked by the server, so
// keep them here to close them on shutdown.
const upgraded = new Set();

function anythingUpgrade(req, socket, head) {
  anythingLog.record(req);
  const key = req.headers['sec-websocket-key'];
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !key) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  // Raw echo (no frame parsing): enough to prove bytes flow both ways.
  upgraded.add(socket);
  socket.on('close', () => upgraded.delete(socket));
  socket.on('error', () => socket.destroy());
  if (head && head.length) socket.write(head);
  socket.on('data', (d) => socket.write(d));
  socket.setTimeout(5000, () => socket.end());
}

// Ollama does not speak websocket: answer plainly instead of hanging.
function ollamaUpgrade(req, socket) {
  ollamaLog.record(req);
  socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}

// ---- wiring --------------------------------------------------------------
function serve(name, handler, onUpgrade, port) {
  const server = http.createServer((req, res) => {
    handler(req, res).catch((err) => {
      console.error(`${name}: ${err.stack || err}`);
      if (!res.headersSent) json(res, 500, { error: String(err) });
      else res.destroy();
    });
  });
  server.on('upgrade', onUpgrade);
  server.on('clientError', (err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      console.log(`${new Date().toISOString()} ${name} listening on ${HOST}:${port}`);
      resolve(server);
    });
  });
}

let servers = [];
try {
  servers = await Promise.all([
    serve('ollama', ollama, ollamaUpgrade, OLLAMA_PORT),
    serve('anythingllm', anythingllm, anythingUpgrade, ANYTHINGLLM_PORT),
  ]);
} catch (err) {
  console.error(`backends: cannot listen: ${err.message}`);
  process.exit(1);
}
if (PIDFILE) fs.writeFileSync(PIDFILE, `${process.pid}\n`);

function shutdown(signal) {
  console.log(`${new Date().toISOString()} backends: ${signal}, shutting down`);
  for (const s of upgraded) s.destroy();
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
  if (PIDFILE) {
    try {
      if (fs.readFileSync(PIDFILE, 'utf8').trim() === String(process.pid)) fs.unlinkSync(PIDFILE);
    } catch {}
  }
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
