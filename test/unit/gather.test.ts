import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dumpSections, filesDefiningMapVar, httpBlock, httpIncludes } from '../../lib/gather.js';

const CONF = '/etc/nginx/nginx.conf';
const MAPS = '/etc/nginx/conf.d/ia-enso-http-maps.conf';

const DEBIAN = `user www-data;
worker_processes auto;
events {
    worker_connections 768;
}

http {
    sendfile on;
    include /etc/nginx/mime.types;
    # include /etc/nginx/commented/*.conf;
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
    server {
        listen 8080;
        location / { return 200; }
    }
}

stream {
    include /etc/nginx/streams/*.conf;
}
`;

test('httpBlock: the text inside the top-level http block', () => {
  const block = httpBlock(DEBIAN);
  assert.ok(block !== null);
  assert.ok(block!.includes('include /etc/nginx/conf.d/*.conf;'));
  assert.ok(block!.includes('listen 8080;'));
  assert.not.ok(block!.includes('worker_connections'));
  assert.not.ok(block!.includes('streams'));
  assert.ok(block!.trimEnd().endsWith('}'), 'the nested server block is kept whole');
});

test('httpBlock: comments are stripped', () => {
  assert.not.ok(httpBlock(DEBIAN)!.includes('commented'));
});

test('httpBlock: none, commented out, or unbalanced -> null', () => {
  assert.is(httpBlock('events {}\n'), null);
  assert.is(httpBlock('# http {\n#}\n'), null);
  assert.is(httpBlock('http {\n  include x;\n'), null);
});

test('httpBlock: "http{" without a space and a word ending in http do not confuse it', () => {
  assert.is(httpBlock('http{include a;}'), 'include a;');
  assert.is(httpBlock('xhttp { a; }\n'), null);
});

const includeCases: [string, string, string, boolean][] = [
  ['absolute conf.d glob', DEBIAN, MAPS, true],
  ['sites-enabled/* matches a .conf file', DEBIAN, '/etc/nginx/sites-enabled/gw.example.com.conf', true],
  ['mime.types exact file', DEBIAN, '/etc/nginx/mime.types', true],
  ['file outside any include', DEBIAN, '/etc/nginx/other/x.conf', false],
  ['* does not cross directories', DEBIAN, '/etc/nginx/conf.d/sub/x.conf', false],
  ['*.conf needs the suffix', DEBIAN, '/etc/nginx/conf.d/x.conf.bak', false],
  ['commented-out include does not count', DEBIAN, '/etc/nginx/commented/x.conf', false],
  ['include outside http does not count', DEBIAN, '/etc/nginx/streams/x.conf', false],
  ['relative include resolves against nginx.conf dir', 'http {\n  include conf.d/*.conf;\n}\n', MAPS, true],
  ['relative include with ./ and quotes', 'http {\n  include "./conf.d/*.conf";\n}\n', MAPS, true],
  ['relative include elsewhere', 'http {\n  include other/*.conf;\n}\n', MAPS, false],
  ['include inside a nested server block does not count', 'http {\n  server {\n    include /etc/nginx/conf.d/*.conf;\n  }\n}\n', MAPS, false],
  ['include inside nested location does not count', 'http {\n  server {\n    location / {\n      include /etc/nginx/conf.d/*.conf;\n    }\n  }\n}\n', MAPS, false],
  ['include after a nested block counts', 'http {\n  server { listen 80; }\n  include /etc/nginx/conf.d/*.conf;\n}\n', MAPS, true],
  ['trailing comment after include', 'http {\n  include /etc/nginx/conf.d/*.conf; # maps\n}\n', MAPS, true],
  ['whole include line commented', 'http {\n#include /etc/nginx/conf.d/*.conf;\n}\n', MAPS, false],
  ['no http block', 'events {}\ninclude /etc/nginx/conf.d/*.conf;\n', MAPS, false],
  ['single-line http block', 'http { include /etc/nginx/conf.d/*.conf; }', MAPS, true],
];

for (const [what, conf, file, expected] of includeCases) {
  test(`httpIncludes: ${what}`, () => {
    assert.is(httpIncludes(conf, CONF, file), expected);
  });
}

test('httpIncludes: relative include uses the directory of the given nginx.conf', () => {
  const conf = 'http {\n  include conf.d/*.conf;\n}\n';
  assert.ok(httpIncludes(conf, '/var/lib/lab/nginx/nginx.conf', '/var/lib/lab/nginx/conf.d/m.conf'));
  assert.not.ok(httpIncludes(conf, '/var/lib/lab/nginx/nginx.conf', MAPS));
});

const DUMP = `nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
nginx: configuration file /etc/nginx/nginx.conf test is successful
# configuration file /etc/nginx/nginx.conf:
http {
    include /etc/nginx/conf.d/*.conf;
}

# configuration file /etc/nginx/conf.d/ia-enso-http-maps.conf:
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}

# configuration file /etc/nginx/conf.d/websocket.conf:
map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}

# configuration file /etc/nginx/conf.d/old.conf:
# map $http_upgrade $connection_upgrade {
#     default upgrade;
# }

# configuration file /etc/nginx/conf.d/uses.conf:
map $connection_upgrade $other { default 1; }
map $http_x $connection_upgrade_v2 { default 1; }
proxy_set_header Connection $connection_upgrade;

# configuration file /etc/nginx/sites-enabled/app.conf:
server { listen 80; } map $http_upgrade $connection_upgrade { default close; }
`;

test('filesDefiningMapVar: finds the other file, skips the excepted and commented ones', () => {
  assert.equal(filesDefiningMapVar(DUMP, 'connection_upgrade', MAPS), [
    '/etc/nginx/conf.d/websocket.conf',
    '/etc/nginx/sites-enabled/app.conf',
  ]);
});

test('filesDefiningMapVar: without an exception our own file counts too', () => {
  assert.equal(filesDefiningMapVar(DUMP, 'connection_upgrade', '/none'), [
    MAPS,
    '/etc/nginx/conf.d/websocket.conf',
    '/etc/nginx/sites-enabled/app.conf',
  ]);
});

test('filesDefiningMapVar: other variables, and dumps with no sections', () => {
  assert.equal(filesDefiningMapVar(DUMP, 'other', MAPS), ['/etc/nginx/conf.d/uses.conf']);
  assert.equal(filesDefiningMapVar(DUMP, 'nothing_defines_this', MAPS), []);
  assert.equal(filesDefiningMapVar('nginx: [emerg] unknown directive\n', 'connection_upgrade', MAPS), []);
  assert.equal(filesDefiningMapVar('', 'connection_upgrade', MAPS), []);
});

test('dumpSections: each header and its text; a comment that only starts like a header stays in the body', () => {
  const dump = [
    'nginx: the configuration file /etc/nginx/nginx.conf syntax is ok',
    '# configuration file /etc/nginx/nginx.conf:',
    'http { include /etc/nginx/conf.d/*.conf; }',
    '',
    '# configuration file /etc/nginx/conf.d/a b.conf:',
    '# configuration file notes, kept by hand',
    'map $a $b { default 1; }',
    '',
  ].join('\n');
  assert.equal(dumpSections(dump), [
    { file: '/etc/nginx/nginx.conf', body: 'http { include /etc/nginx/conf.d/*.conf; }\n\n' },
    { file: '/etc/nginx/conf.d/a b.conf', body: '# configuration file notes, kept by hand\nmap $a $b { default 1; }\n' },
  ]);
  assert.equal(dumpSections('nginx: [emerg] unknown directive\n'), []);
});

test.run();
