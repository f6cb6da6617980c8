// A network link with a delay, for the benchmark: a TCP proxy on 127.0.0.1
// that delivers each side's bytes `delay` ms after they were sent, and the
// client's first bytes no sooner than a TCP handshake allows (a round trip,
// then the trip itself). On the lab's loopback a round trip costs nothing;
// through two such links (no delay, and some) the difference in a run's time
// counts the round trips it waits for, as a proxy on a real network would.
//
//   node test/bench/link.mjs TARGET_PORT DELAY_MS   prints the port it listens on
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';

/** Starts a link to 127.0.0.1:targetPort in a process of its own (the benchmark's runs block its own loop). */
export function startLink(targetPort, delayMs) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(targetPort), String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the delaying link exited (${code}) before listening`)));
    child.stdout.once('data', (d) => resolve({ port: Number(String(d).trim()), stop: () => child.kill() }));
  });
}

/** Writes to `dest` in order, each chunk (or the end, null) at its due time. */
function delayedWriter(dest) {
  const queue = [];
  let timer = null;
  const pump = () => {
    timer = null;
    while (queue.length > 0 && queue[0].at <= Date.now()) {
      const { chunk } = queue.shift();
      if (chunk === null) dest.end();
      else dest.write(chunk);
    }
    if (queue.length > 0) timer = setTimeout(pump, queue[0].at - Date.now());
  };
  return (chunk, at) => {
    queue.push({ chunk, at });
    timer ??= setTimeout(pump, Math.max(0, at - Date.now()));
  };
}

function serve(targetPort, delay) {
  const server = createServer((client) => {
    const opened = Date.now();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const toServer = delayedWriter(upstream);
    const toClient = delayedWriter(client);
    // The client's bytes: no sooner than its SYN's round trip plus the trip.
    let due = 0;
    const serverDue = () => (due = Math.max(due, Date.now() + delay, opened + 3 * delay));
    client.on('data', (d) => toServer(d, serverDue()));
    client.on('end', () => toServer(null, serverDue()));
    upstream.on('data', (d) => toClient(d, Date.now() + delay));
    upstream.on('end', () => toClient(null, Date.now() + delay));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve(Number(process.argv[2]), Number(process.argv[3]));
