// The ACME probe file, placed for real on this machine (sh + sudo -n, the
// command line SSH would carry) through the `connection: local` transport:
// it is there while the probe runs, and gone afterwards, with the
// directories it created, even when converge dies before removing it; and
// the host's read that places it for a no-op, only when told to.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseInventory } from '../../lib/inventory.js';
import { LocalTransport } from '../../lib/transport/local.js';
import { PLACE_FILE, placeChallenge } from '../../lib/verify/host.js';
import { gather } from '../../lib/gather.js';
import { tempDir } from '../tempdir.js';

const remote = async () => ({ host: 'unit', transport: await LocalTransport.connect('unit') });
const inventoryWith = (webroot: string) => `all:\n  hosts:\n    p:\n      domain: gw.example.com\n      backend_ip: 127.0.0.1\n      certbot_webroot: ${webroot}\n`;
const varsWithWebroot = (webroot: string) => parseInventory(inventoryWith(webroot), 'inv.yml')[0].vars;

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (cond()) return true;
  return cond();
}

test('the probe file is there (with the directories it needed) until removed; then they are gone and the webroot stays', async () => {
  const webroot = tempDir('converge-webroot-');
  const remove = await placeChallenge(await remote(), varsWithWebroot(webroot), 'probe-1', 'c0ffee');
  const file = join(webroot, '.well-known/acme-challenge/probe-1');
  assert.is(readFileSync(file, 'utf8'), 'c0ffee\n');
  // nginx's workers (not root) serve it, whatever the umask of sudo's user.
  assert.equal([file, join(webroot, '.well-known')].map((p) => statSync(p).mode & 0o777), [0o644, 0o755]);
  await remove();
  assert.not.ok(existsSync(file));
  assert.not.ok(existsSync(join(webroot, '.well-known')), 'the directories it created are removed');
  assert.ok(existsSync(webroot));
});

test('directories that were already there stay', async () => {
  const webroot = tempDir('converge-webroot-');
  mkdirSync(join(webroot, '.well-known/acme-challenge'), { recursive: true });
  const remove = await placeChallenge(await remote(), varsWithWebroot(webroot), 'probe-2', 'beef');
  await remove();
  assert.not.ok(existsSync(join(webroot, '.well-known/acme-challenge/probe-2')));
  assert.ok(existsSync(join(webroot, '.well-known/acme-challenge')));
});

test('a webroot whose top directory is missing: created, then removed to the top (no endless walk up)', async () => {
  const top = `/converge-unit-${process.pid}-${Date.now()}`;
  const placing = placeChallenge(await remote(), varsWithWebroot(`${top}/www`), 'probe-5', 'f00d');
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('placing did not finish within 5 s')), 5000).unref());
  const remove = await Promise.race([placing, timeout]);
  assert.is(readFileSync(`${top}/www/.well-known/acme-challenge/probe-5`, 'utf8'), 'f00d\n');
  await remove();
  assert.not.ok(existsSync(top), 'every directory it created is gone');
});

test('a file in the way of the directory: a clear error with the host\'s own message', async () => {
  const webroot = tempDir('converge-webroot-');
  const blocker = join(webroot, '.well-known');
  writeFileSync(blocker, 'not a dir');
  try {
    await placeChallenge(await remote(), varsWithWebroot(webroot), 'probe-3', 'beef');
    assert.unreachable('it cannot place the file');
  } catch (err) {
    const e = err as Error & { detail?: string; where?: string };
    assert.match(e.message, /writing the ACME probe file in .*acme-challenge failed \(exit 1\)/);
    assert.match(String(e.detail), /mkdir/);
  }
  assert.is(readFileSync(blocker, 'utf8'), 'not a dir', 'the file in the way stays');
});

test('converge dying while the probe file is placed: the file and its directories still go', async () => {
  const webroot = tempDir('converge-webroot-');
  const host = fileURLToPath(new URL('../../lib/verify/host.js', import.meta.url));
  const local = fileURLToPath(new URL('../../lib/transport/local.js', import.meta.url));
  const inventory = fileURLToPath(new URL('../../lib/inventory.js', import.meta.url));
  const file = join(webroot, '.well-known/acme-challenge/probe-4');
  // A converge stand-in: places the file, says so, and exits without removing it.
  const script = `
    const { placeChallenge } = await import(${JSON.stringify(host)});
    const { LocalTransport } = await import(${JSON.stringify(local)});
    const { parseInventory } = await import(${JSON.stringify(inventory)});
    const v = parseInventory(${JSON.stringify(inventoryWith(webroot))}, 'inv.yml')[0].vars;
    await placeChallenge({ host: 'unit', transport: await LocalTransport.connect('unit') }, v, 'probe-4', 'dead');
    const { existsSync } = await import('node:fs');
    process.stdout.write(existsSync(${JSON.stringify(file)}) ? 'placed\\n' : 'missing\\n');
    process.exit(0);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('close', r));
  assert.is(code, 0);
  assert.is(out, 'placed\n', 'the file was there when the stand-in died');
  assert.ok(await until(() => !existsSync(file) && !existsSync(join(webroot, '.well-known')), 5000), 'removed once its stdin ended');
});

test('the connection gone before the file is announced ("placed" meets a closed pipe): the file and its directories still go', async () => {
  const webroot = tempDir('converge-webroot-');
  const dir = join(webroot, '.well-known/acme-challenge');
  const child = spawn('sh', ['-c', `dir=$1 name=$2 content=$3\n${PLACE_FILE}`, 'place', dir, 'probe-5', 'gone'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.destroy();
  child.stderr.destroy();
  await new Promise((r) => child.on('close', r));
  assert.not.ok(existsSync(join(dir, 'probe-5')), 'the file is removed');
  assert.not.ok(existsSync(join(webroot, '.well-known')), 'so are the directories it created');
});

// The host's read held for the probe file (lib/gather.ts): it places the
// file only when told to, after its output is complete.
async function heldRead(webroot: string, name: string, content = 'server {}\n') {
  const r = await remote();
  const managed = join(webroot, 'managed.conf');
  writeFileSync(managed, content);
  const challenge = { dir: join(webroot, '.well-known/acme-challenge'), name, content: 'ab12' };
  const facts = await gather(r, 'true', [managed], [], challenge);
  return { facts, file: join(challenge.dir, name), managed };
}

test('the held read: its facts come at once; the probe file only once told to place it, gone when released', async () => {
  const webroot = tempDir('converge-webroot-');
  const { facts, file, managed } = await heldRead(webroot, 'probe-6');
  assert.is(facts.files.get(managed)?.content?.toString(), 'server {}\n');
  assert.ok(facts.challenge, 'held');
  await new Promise((r) => setTimeout(r, 100));
  assert.not.ok(existsSync(file), 'not placed before converge says so');
  const remove = await facts.challenge!.place();
  assert.is(readFileSync(file, 'utf8'), 'ab12\n');
  await remove();
  assert.not.ok(existsSync(join(webroot, '.well-known')), 'file and directories gone');
  await facts.challenge!.dismiss(); // after its removal: nothing left to do, and no error
});

test("the held read of a file whose lines are the read's own markers: the facts are whole, and the file is placed before it is said to be", async () => {
  const webroot = tempDir('converge-webroot-');
  // (The read's own marker names its probe file, random in a run: no file holds it.)
  const markers = 'read done\nplaced\n';
  const { facts, file, managed } = await heldRead(webroot, 'probe-8', markers);
  assert.is(facts.files.get(managed)?.content?.toString(), markers);
  await facts.challenge!.place();
  assert.is(readFileSync(file, 'utf8'), 'ab12\n', 'the archive\'s "placed" line did not stand for the real one');
  await facts.challenge!.dismiss();
  assert.not.ok(existsSync(file));
});

test('the held read dismissed: no probe file is ever written, and the command ends', async () => {
  const webroot = tempDir('converge-webroot-');
  const { facts, file } = await heldRead(webroot, 'probe-7');
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the read did not end within 5 s')), 5000).unref());
  await Promise.race([facts.challenge!.dismiss(), timeout]);
  assert.not.ok(existsSync(file));
  assert.not.ok(existsSync(join(webroot, '.well-known')));
});

test('a read without a probe file is not held', async () => {
  const webroot = tempDir('converge-webroot-');
  const managed = join(webroot, 'managed.conf');
  writeFileSync(managed, 'x\n');
  const facts = await gather(await remote(), 'true', [managed]);
  assert.is(facts.challenge, undefined);
  assert.is(facts.files.get(managed)?.content?.toString(), 'x\n');
});

test.run();
