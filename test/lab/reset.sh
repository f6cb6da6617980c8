#!/usr/bin/env bash
# Put the lab proxy back to its pristine state between tests: no vhosts, the
# generated nginx.conf, no backups, sudoers drop-in present, nginx running on
# the pristine config, no certbot state but the hand-made $DOMAIN cert, and
# pebble + pebble-challtestsrv running (a test may have stopped pebble).
# Silent on success (tests call it a lot).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_root
[[ -f $LAB/pristine/nginx.conf ]] || die "$LAB/pristine/nginx.conf missing; run test/lab/up.sh first"

for d in conf.d sites-available sites-enabled; do
  install -d -m 0755 "$LAB/nginx/$d"
  find "$LAB/nginx/$d" -mindepth 1 -delete # includes dot-files and subdirs
done
install -m 0644 "$LAB/pristine/nginx.conf" "$NGINX_CONF"
install -m 0644 "$LAB/pristine/mime.types" "$LAB/nginx/mime.types"
install -d -m 0700 "$LAB/backups"
find "$LAB/backups" -mindepth 1 -delete
ensure_sudoers

# certbot state (--config-dir $LE_DIR) of every lineage but $DOMAIN, whose
# live/ cert is the lab's own. Lineage names may carry a -0001 suffix; live/
# also holds certbot's README, which it recreates. certbot 2.1 still saves a
# copy of every new key and CSR in keys/ and csr/: emptied too. accounts/ is
# kept (start_acme drops it whenever a new pebble, knowing no accounts, starts).
for d in live archive renewal keys csr; do
  [[ -d $LE_DIR/$d ]] || continue
  find "$LE_DIR/$d" -mindepth 1 -maxdepth 1 ! -name "$DOMAIN" ! -name "$DOMAIN.conf" -exec rm -rf -- {} +
done
[[ ! -d $LE_DIR/renewal-hooks/deploy ]] || find "$LE_DIR/renewal-hooks/deploy" -mindepth 1 -delete
rm -rf -- "$LAB/www/certbot/.well-known"
start_acme

# Worker pids of the running master; a reload is done once a new one appears.
workers() { pgrep -P "$(<"$RUN/nginx.pid")" 2>/dev/null | sort || true; }

if nginx_running; then
  out=$(nginx -t -q -c "$NGINX_CONF" 2>&1) || die "pristine nginx config fails nginx -t:"$'\n'"$out"
  before=$(workers)
  # nginx -s prints a "signal process started" notice on stderr: keep it quiet.
  out=$(nginx -c "$NGINX_CONF" -s reload 2>&1) || die "nginx reload failed:"$'\n'"$out"
  # Reload is asynchronous; wait (bounded) for fresh workers so the next test
  # never talks to a worker still holding the old vhosts.
  reloaded() { [[ -n $(comm -13 <(echo "$before") <(workers)) ]]; }
  wait_for 10 "nginx reload" reloaded || die "nginx did not reload; see $RUN/nginx-error.log"
  # Old workers keep the removed vhosts' listening sockets open until they
  # exit, so 18080/18443 would still answer. Give them a moment to finish
  # in-flight requests (SSE, websockets), then stop the stragglers.
  old_gone() { local p; for p in $before; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
  if ! wait_for 5 "old nginx workers to exit" old_gone 2>/dev/null; then
    for p in $before; do kill -TERM "$p" 2>/dev/null || true; done
    wait_for 5 "old nginx workers to exit" old_gone || die "old nginx workers still running"
  fi
else
  start_nginx
fi

# A test run killed while the fake Ollama had its model unloaded, or /api/ps
# off (verify.test.ts), must not leave it so: later runs would not check
# streaming as the other tests expect.
curl -fsS -o /dev/null --max-time 2 -X POST --data yes "http://127.0.0.1:$OLLAMA_PORT/__lab/loaded" 2>/dev/null || true
curl -fsS -o /dev/null --max-time 2 -X POST --data on "http://127.0.0.1:$OLLAMA_PORT/__lab/ps" 2>/dev/null || true
