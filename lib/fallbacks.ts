// What the original script learned by failing `nginx -t`: parts of the maps
// file another loaded file may already provide. Each error below is nginx's
// own message for one of them (ngx_http_variables.c, ngx_conf_file.c and
// ngx_hash.c); the part is left out and nginx -t tried again.
import type { MapsFlags } from './desired.js';

export interface Fallback {
  flag: keyof MapsFlags;
  error: RegExp;
  note: string;
}

const FALLBACKS: readonly Fallback[] = [
  { flag: 'websocketMap', error: /duplicate "connection_upgrade" variable/, note: 'nginx -t reported a duplicate $connection_upgrade: retried with the Bearer map only' },
  { flag: 'bucketSize', error: /"map_hash_bucket_size" directive is duplicate/, note: 'a map loaded before the maps file already sets map_hash_bucket_size: retried without it' },
  { flag: 'hashKey', error: /could not build map_hash, you should increase map_hash_bucket_size/, note: 'the map hash is too small for the Bearer key: retried with an anchored regex key' },
];

/** The fallback nginx's output calls for, among those whose part is still in (all, without `flags`). */
export function fallbackFor(output: string, flags?: MapsFlags): Fallback | undefined {
  return FALLBACKS.find((f) => (!flags || flags[f.flag]) && f.error.test(output));
}
