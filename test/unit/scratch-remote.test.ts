// The scratch copy that `nginx -t`/`-T` runs on holds the live maps file (the
// token): run for real on this machine (sh + sudo -n, the command line SSH
// would carry), it is removed even when the connection is gone by the time
// the script writes to it, which SIGPIPE would otherwise cut short.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scratchTest } from '../../lib/nginx.js';
import type { HostVars } from '../../lib/variables.js';
import { local } from './local-remote.js';
import { tempDir } from '../tempdir.js';

const copies = () => new Set(readdirSync('/tmp').filter((f) => f.startsWith('converge-check.')));

test('nginx -T with the connection gone: the scratch copy (holding the token) is still removed', async () => {
  const live = tempDir('converge-live-');
  mkdirSync(join(live, 'conf.d'));
  writeFileSync(join(live, 'nginx.conf'), 'events {}\nhttp { include conf.d/*.conf; }\n');
  writeFileSync(join(live, 'conf.d/maps.conf'), 'map $http_authorization $ok { default 0; "Bearer unit-token-0123456789abcdef" 1; }\n');
  const vars = { nginx_conf: join(live, 'nginx.conf'), nginx_command: 'nginx' } as HostVars;
  const before = copies();
  try {
    // The connection lost at once: the script's first words ("scratch <dir>") meet a closed pipe.
    const gone = local();
    gone.cutNextStdinAt = 0;
    gone.dropWithCut = true;
    const err = await scratchTest(gone.remote, vars, [], null, true).then(() => null, (e: Error) => e);
    assert.match(String(err), /connection was lost/);
    const left = [...copies()].filter((f) => !before.has(f));
    for (const f of left) rmSync(join('/tmp', f), { recursive: true, force: true });
    assert.equal(left, [], 'no copy of the live tree left in /tmp');
  } finally {
    rmSync(live, { recursive: true, force: true });
  }
});

test.run();
