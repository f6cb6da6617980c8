#!/usr/bin/env bash
# The lab's ACME test server (pebble, with pebble-challtestsrv as its DNS).
#   start      start pebble-challtestsrv and pebble unless running; wait until
#              the ACME directory ($ACME_DIR) answers
#   stop       stop pebble only (challtestsrv keeps running), so ACME clients
#              fail to connect; returns once 127.0.0.1:14000 is closed
#   root FILE  write pebble's CURRENT root CA (management API /roots/0) to FILE.
#              pebble makes a new root (and forgets all accounts) at every
#              start: certificates issued before a restart chain to the old one.
# Silent on success. Needs test/lab/up.sh to have run once (config, TLS cert).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_root

usage() { die "usage: $0 start | stop | root FILE"; }

case "${1:-}" in
  start)
    (($# == 1)) || usage
    start_acme
    ;;
  stop)
    (($# == 1)) || usage
    stop_pebble
    ;;
  root)
    (($# == 2)) || usage
    out=$2
    pebble_running || die "pebble is not running (test/lab/pebble.sh start)"
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    curl -fsS --max-time 5 --cacert "$LAB/pki/ca.pem" -o "$tmp" "$PEBBLE_MGMT/roots/0" ||
      die "could not fetch $PEBBLE_MGMT/roots/0"
    openssl x509 -in "$tmp" -noout 2>/dev/null || die "$PEBBLE_MGMT/roots/0 did not return a PEM certificate"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$out"
    trap - EXIT
    ;;
  *) usage ;;
esac
