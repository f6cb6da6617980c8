import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fallbackFor } from '../../lib/fallbacks.js';

const MAPS = '/etc/nginx/conf.d/ia-enso-http-maps.conf';
const all = { websocketMap: true, bucketSize: true, hashKey: true };
// nginx -t's lines as nginx words them (ngx_http_add_variable, ngx_conf_handler, ngx_hash_init).
const DUPLICATE_VARIABLE = `nginx: [emerg] the duplicate "connection_upgrade" variable in ${MAPS}:9\nnginx: configuration file /etc/nginx/nginx.conf test failed\n`;
const DUPLICATE_BUCKET = `nginx: [emerg] "map_hash_bucket_size" directive is duplicate in ${MAPS}:3\nnginx: configuration file /etc/nginx/nginx.conf test failed\n`;
const HASH_TOO_SMALL = 'nginx: [emerg] could not build map_hash, you should increase map_hash_bucket_size: 64\nnginx: configuration file /etc/nginx/nginx.conf test failed\n';

test('fallbackFor: each of nginx\'s errors turns off the part of the maps file it is about', () => {
  assert.is(fallbackFor(DUPLICATE_VARIABLE, all)?.flag, 'websocketMap');
  assert.is(fallbackFor(DUPLICATE_BUCKET, all)?.flag, 'bucketSize');
  assert.is(fallbackFor(HASH_TOO_SMALL, all)?.flag, 'hashKey');
});

test('fallbackFor: a part already left out is not retried (the loop ends on the error)', () => {
  assert.is(fallbackFor(DUPLICATE_VARIABLE, { ...all, websocketMap: false }), undefined);
  assert.is(fallbackFor(HASH_TOO_SMALL, { ...all, hashKey: false }), undefined);
  // Without flags (the host's own failed dump): whatever nginx names.
  assert.is(fallbackFor(DUPLICATE_BUCKET)?.flag, 'bucketSize');
});

test('fallbackFor: another variable, directive or error is not ours to work around', () => {
  assert.is(fallbackFor(`nginx: [emerg] the duplicate "http_upgrade" variable in ${MAPS}:9\n`, all), undefined);
  assert.is(fallbackFor(`nginx: [emerg] "proxy_buffering" directive is duplicate in /etc/nginx/sites-enabled/x:30\n`, all), undefined);
  assert.is(fallbackFor('nginx: [emerg] unknown directive "mapp" in /etc/nginx/conf.d/x.conf:1\n', all), undefined);
});

test.run();
