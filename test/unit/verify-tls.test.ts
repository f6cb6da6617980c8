// The probes' TLS trust: one context per verify_ca content for the whole run
// (not one per connection), and never the wrong one. Against a local HTTPS
// server whose self-signed certificate (openssl) is one of two CAs. Loopback only.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../../lib/errors.js';
import { parseInventory } from '../../lib/inventory.js';
import { diagnose } from '../../lib/verify/diagnose.js';
import { fetchReply, Preconnected, trustContext } from '../../lib/verify/http.js';
import { loadCa } from '../../lib/verify/index.js';
import type { ProbeResult } from '../../lib/verify/probes.js';
import { tempDir } from '../tempdir.js';

const dir = tempDir('converge-verify-tls-');

/** A self-signed certificate for localhost (its own CA) and its key. */
function selfSigned(name: string): { cert: Buffer; key: Buffer } {
  const [cert, key] = [join(dir, `${name}.pem`), join(dir, `${name}.key`)];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

const served = selfSigned('served');
const other = selfSigned('other');

const varsFor = (port: number) =>
  parseInventory(`all:\n  hosts:\n    p:\n      domain: localhost\n      backend_ip: 127.0.0.1\n      verify_address: 127.0.0.1\n      https_port: ${port}\n`, 'inv.yml')[0].vars;

async function withServer(fn: (port: number) => Promise<void>): Promise<void> {
  const server: Server = createServer({ cert: served.cert, key: served.key }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as AddressInfo).port);
  } finally {
    server.close();
  }
}

test('one TLS context per verify_ca content: the same bytes (another read of the file) share it, other bytes and the system trust do not', () => {
  const again = Buffer.from(served.cert);
  assert.is(trustContext(again), trustContext(served.cert));
  assert.is.not(trustContext(other.cert), trustContext(served.cert));
  assert.is(trustContext(undefined), trustContext(undefined));
  assert.is.not(trustContext(undefined), trustContext(served.cert));
});

test('each request trusts its own verify_ca: the right CA is accepted, another one refused, before and after the contexts exist', async () => {
  await withServer(async (port) => {
    const v = varsFor(port);
    for (let round = 0; round < 2; round++) {
      const ok = await fetchReply(v, { scheme: 'https', path: '/' }, Buffer.from(served.cert));
      assert.is(ok.status, 200);
      assert.is(ok.body, 'ok');
      const refused = await fetchReply(v, { scheme: 'https', path: '/' }, other.cert).then(
        () => null,
        (err: Error) => err,
      );
      assert.ok(refused, 'a certificate from another CA is refused');
      assert.match(refused!.message, /self[- ]signed|unable to verify|certificate/i);
      const system = await fetchReply(v, { scheme: 'https', path: '/' }).then(
        () => null,
        (err: Error) => err,
      );
      assert.ok(system, 'the system trust does not know a private CA');
    }
  });
});

test('a connection opened ahead (Preconnected) trusts verify_ca too, and checks the name', async () => {
  await withServer(async (port) => {
    const v = varsFor(port);
    const ahead = new Preconnected(v, 'https', served.cert);
    const ok = await fetchReply(v, { scheme: 'https', path: '/', connection: ahead }, served.cert);
    assert.is(ok.status, 200);
    const wrongName = { ...v, domain: 'not-localhost.test' };
    const refused = await fetchReply(wrongName, { scheme: 'https', path: '/', connection: new Preconnected(wrongName, 'https', served.cert) }, served.cert).then(
      () => null,
      (err: Error) => err,
    );
    assert.ok(refused, 'a certificate for another name is refused');
    assert.match(refused!.message, /altnames|does not match|hostname/i);
  });
});

/** loadCa on a verify_ca file holding `content`: its Buffer, or the error it throws. */
function loadFile(name: string, content: string | Buffer): Buffer | Error {
  const file = join(dir, name);
  writeFileSync(file, content);
  try {
    return loadCa({ ...varsFor(443), verify_ca: file })!;
  } catch (err) {
    return err as Error;
  }
}

test('verify_ca must hold PEM certificates that parse: a key, garbage or a damaged block is refused, naming the file', () => {
  const bundle = Buffer.concat([served.cert, other.cert]);
  assert.equal(loadFile('bundle.pem', bundle), bundle, 'a bundle of two certificates is read as it is');
  for (const [name, content, why] of [
    ['key.pem', served.key, /holds no PEM certificate/],
    ['garbage.pem', 'not a certificate\n', /holds no PEM certificate/],
    ['der.crt', Buffer.from(served.cert.toString().replace(/-----[A-Z ]+-----|\s/g, ''), 'base64'), /holds no PEM certificate/],
    ['damaged.pem', Buffer.concat([served.cert, Buffer.from(other.cert.toString().replace(/[A-Za-z0-9+/]{40}\n/, '####\n'))]), /certificate 2 of 2 cannot be read: /],
  ] as const) {
    const err = loadFile(name, content);
    assert.instance(err, InputError, name);
    assert.match((err as Error).message, why);
    assert.is((err as InputError).where, join(dir, name));
    assert.match((err as InputError).hint ?? '', /PEM file of the CA/);
  }
  assert.is(loadCa({ ...varsFor(443), verify_ca: null }), undefined, 'no verify_ca: the system trust');
});

test("an untrusted certificate's advice names verify_ca when it is set, and suggests it when not", () => {
  const failed = { id: 'models', name: 'GET /ollama/v1/models', ok: false, status: null, ms: 1, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate' } as unknown as ProbeResult;
  assert.match(diagnose(failed, { ...varsFor(443), verify_ca: '/etc/ca.pem' }).next, /check that verify_ca \(\/etc\/ca\.pem\) is the CA that issued it/);
  assert.match(diagnose(failed, varsFor(443)).next, /for a private CA set verify_ca/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
