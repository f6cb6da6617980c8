#!/usr/bin/env bash
# Stop the lab daemons (nginx, sshd, the bastion sshd, fake backends, pebble, pebble-challtestsrv).
# Keeps $LAB so up.sh restarts with the same keys/certs. Tolerates anything
# already stopped.
#   --purge  also delete $LAB, the converge-lab user (and home) and its sudoers file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_root

purge=
case "${1:-}" in
  '') ;;
  --purge) purge=1 ;;
  *) die "usage: $0 [--purge]" ;;
esac

# nginx -s quit is a graceful stop: workers finish open requests first.
stop_daemon "$RUN/nginx.pid" 'nginx: master' nginx -c "$NGINX_CONF" -s quit
stop_daemon "$RUN/sshd.pid" sshd_config
stop_daemon "$RUN/bastion.pid" bastion_config
stop_daemon "$RUN/backends.pid" backends.mjs
stop_acme_daemon challtestsrv
stop_acme_daemon pebble

if [[ -n $purge ]]; then
  # Leftover SSH sessions of the lab user would make userdel fail.
  mapfile -t pids < <(pgrep -u "$LAB_USER" 2>/dev/null || true)
  ((${#pids[@]} == 0)) || kill -TERM "${pids[@]}" 2>/dev/null || true
  if id "$LAB_USER" >/dev/null 2>&1; then
    # stderr hidden: userdel warns about the (absent) mail spool
    userdel --force --remove "$LAB_USER" 2>/dev/null || true
    ! id "$LAB_USER" >/dev/null 2>&1 || die "could not delete user $LAB_USER"
  fi
  rm -rf -- "$LAB_HOME"
  rm -f "$SUDOERS_FILE"
  # Guard against a bad CONVERGE_LAB override wiping something important.
  [[ $LAB == /*/* && $LAB != *..* ]] || die "refusing to delete suspicious LAB=$LAB"
  rm -rf -- "$LAB"
  echo "lab: purged"
else
  echo "lab: down"
fi
