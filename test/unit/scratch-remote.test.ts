// The scratch copy that `nginx -t`/`-T` runs on holds the live maps file (the
// token): run for real on this machine (sh + sudo -n, the command line SSH
// would carry), it is removed even when the connection is gone by the time
// the script writes to it, which SIGPIPE would otherwise cut short.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scratchTest } from '../../lib/nginx.js';
import type { Remote } from '../../lib/remote.js';
import type { ExecResult } from '../../lib/transport/types.js';
import type { HostVars } from '../../lib/variables.js';

/** A Remote whose client end is gone (sshd died): nothing the command writes is read. */
const dropped: Remote = {
  host: 'unit',
  transport: {
    description: 'local sh, client gone',
    exec: (command: string) =>
      new Promise<ExecResult>((resolve) => {
        const child = spawn('sh', ['-c', command], { stdio: ['pipe', 'pipe', 'pipe'] });
        child.stdout.destroy();
        child.stderr.destroy();
        child.stdin.end();
        child.on('close', (code, signal) => resolve({ code: code ?? 128, stdout: Buffer.alloc(0), stderr: signal ?? '' }));
      }),
    close: async () => {},
  },
};

const copies = () => new Set(readdirSync('/tmp').filter((f) => f.startsWith('converge-check.')));

test('nginx -T with the connection gone: the scratch copy (holding the token) is still removed', async () => {
  const live = mkdtempSync(join(tmpdir(), 'converge-live-'));
  mkdirSync(join(live, 'conf.d'));
  writeFileSync(join(live, 'nginx.conf'), 'events {}\nhttp { include conf.d/*.conf; }\n');
  writeFileSync(join(live, 'conf.d/maps.conf'), 'map $http_authorization $ok { default 0; "Bearer unit-token-0123456789abcdef" 1; }\n');
  const vars = { nginx_conf: join(live, 'nginx.conf'), nginx_command: 'nginx' } as HostVars;
  const before = copies();
  try {
    const res = await scratchTest(dropped, vars, [], null, true);
    assert.ok(res && !res.ok, 'the script did not end normally');
    const left = [...copies()].filter((f) => !before.has(f));
    for (const f of left) rmSync(join('/tmp', f), { recursive: true, force: true });
    assert.equal(left, [], 'no copy of the live tree left in /tmp');
  } finally {
    rmSync(live, { recursive: true, force: true });
  }
});

test.run();
