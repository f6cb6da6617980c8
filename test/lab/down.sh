#!/usr/bin/env bash
# Stop the lab daemons (nginx, sshd, fake backends). Keeps $LAB so up.sh
# restarts with the same keys/certs. Tolerates anything already stopped.
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

# stop PIDFILE NAME [graceful-cmd...]: ask nicely, then SIGTERM, then SIGKILL.
stop() {
  local pidfile=$1 name=$2 pid
  shift 2
  if ! pidfile_alive "$pidfile" "$name"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  if (($#)); then "$@" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  else kill -TERM "$pid" 2>/dev/null || true; fi
  gone() { ! kill -0 "$pid" 2>/dev/null; }
  if ! wait_for 10 "$name (pid $pid) to exit" gone; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# nginx -s quit is a graceful stop: workers finish open requests first.
stop "$RUN/nginx.pid" 'nginx: master' nginx -c "$NGINX_CONF" -s quit
stop "$RUN/sshd.pid" sshd
stop "$RUN/backends.pid" backends.mjs

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
