# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Shared settings and helpers for the lab scripts (sourced, never executed).
# Keeping paths and "is it running?" logic in one place stops up/down/reset
# from drifting apart.

# Daemons started from here (nginx, sshd, backends, pebble) must not inherit
# a descriptor of the caller: under `flock FILE cmd` they would hold the lab
# lock for ever and every later locked run would wait.
exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&-

LAB="${CONVERGE_LAB:-/var/lib/converge-lab}" # override only for experiments
LAB_USER=converge-lab
LAB_HOME=/home/converge-lab
SUDOERS_FILE=/etc/sudoers.d/converge-lab
SSH_PORT=2222
BASTION_PORT=2223 # a second sshd: the jump host (forwarding only)
SILENT_PORT=2297 # a port whose listener never accepts: the bastion may tunnel to it (tests)
HTTP_PORT=18080
HTTPS_PORT=18443
OLLAMA_PORT=31434
ANYTHINGLLM_PORT=33001
DOMAIN=gateway.converge.test
# ACME test server (pebble) and its mock DNS (pebble-challtestsrv).
PEBBLE_PORT=14000
PEBBLE_MGMT_PORT=15000
CHALLTESTSRV_DNS_PORT=8053
CHALLTESTSRV_MGMT_PORT=8055

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LAB_DIR/../.." && pwd)"
RUN="$LAB/run"
NGINX_CONF="$LAB/nginx/nginx.conf"
PEBBLE_DIR="$LAB/pebble"
PEBBLE_CONF="$PEBBLE_DIR/pebble.json"
ACME_DIR="https://127.0.0.1:$PEBBLE_PORT/dir"
PEBBLE_MGMT="https://127.0.0.1:$PEBBLE_MGMT_PORT"
LE_DIR="$LAB/letsencrypt" # certbot --config-dir
# sudo logs every privileged command of the lab user (one entry each, never
# the token: it only travels on stdin), so tests and the benchmark can count them.
SUDOERS_LINE="$LAB_USER ALL=(ALL) NOPASSWD: ALL
Defaults:$LAB_USER logfile=$RUN/sudo.log, loglinelen=0, !syslog"

die() { echo "lab: error: $*" >&2; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "$(basename "$0") must run as root"; }

# pidfile_alive FILE NAME: true when FILE holds the pid of a live process whose
# command line mentions NAME (guards against a stale file and a recycled pid).
pidfile_alive() {
  local pid cmd
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # read into a variable: "tr | grep -q" would trip pipefail via SIGPIPE
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$2"* ]]
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s, bounded.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  echo "lab: timed out after ${secs}s waiting for $what" >&2
  return 1
}

nginx_running() { pidfile_alive "$RUN/nginx.pid" 'nginx: master'; }

# Start the lab nginx (never the system one: always -c with our config).
start_nginx() {
  local out
  nginx_running && return 0
  out=$(nginx -t -q -c "$NGINX_CONF" 2>&1) || die "nginx config test failed:"$'\n'"$out"
  rm -f "$RUN/nginx.pid"
  out=$(nginx -c "$NGINX_CONF" 2>&1) || die "nginx failed to start:"$'\n'"$out"
  wait_for 10 "nginx pid file $RUN/nginx.pid" nginx_running ||
    die "nginx did not start; see $RUN/nginx-error.log"
}

# Install the sudoers drop-in when missing or altered; visudo validates first
# so a bad file can never break sudo for the whole machine.
ensure_sudoers() {
  local tmp
  if [[ -f $SUDOERS_FILE ]] && [[ "$(<"$SUDOERS_FILE")" == "$SUDOERS_LINE" ]]; then
    chmod 0440 "$SUDOERS_FILE"
    chown root:root "$SUDOERS_FILE"
    return 0
  fi
  tmp=$(mktemp /etc/sudoers.d/.converge-lab.XXXXXX) # dot-files are ignored by sudo
  printf '%s\n' "$SUDOERS_LINE" >"$tmp"
  chmod 0440 "$tmp"
  visudo -cqf "$tmp" || { rm -f "$tmp"; die "visudo rejected the generated sudoers file"; }
  mv -f "$tmp" "$SUDOERS_FILE"
}

# stop_daemon PIDFILE NAME [graceful-cmd...]: ask nicely, then SIGTERM, then
# SIGKILL. Tolerates a daemon that is already gone.
stop_daemon() {
  local pidfile=$1 name=$2 pid
  shift 2
  if ! pidfile_alive "$pidfile" "$name"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(<"$pidfile")
  if (($#)); then "$@" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  else kill -TERM "$pid" 2>/dev/null || true; fi
  # shellcheck disable=SC2317  # called through wait_for
  gone() { ! kill -0 "$pid" 2>/dev/null; }
  if ! wait_for 10 "$name (pid $pid) to exit" gone; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# start_daemon PIDFILE LOG CMD...: run CMD detached in its own session (so it
# outlives the caller, e.g. a test's execFileSync), stdio on LOG and the ACME
# lock (fd 9) closed. The pid is written by the process itself right before
# exec, so PIDFILE holds the daemon's own pid whatever setsid does.
start_daemon() {
  local pidfile=$1 log=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$/$0/$@ belong to the inner bash
  setsid nohup bash -c 'echo $$ >"$0" && exec "$@"' "$pidfile" "$@" </dev/null >>"$log" 2>&1 9>&- &
}

# adopt PIDFILE NAME LOG PORT: when PIDFILE is stale but the process listening
# on 127.0.0.1:PORT is ours (NAME in its command line, stdout on LOG, so never
# another lab's copy) because its pid file was lost, e.g. to two unserialised
# starts racing or a crash of the starting script, record that pid instead of
# starting a second copy that could not bind anyway.
adopt() {
  local out pid cmd
  pidfile_alive "$1" "$2" && return 0
  out=$(ss -Hltnp "sport = :$4" 2>/dev/null) || return 1
  [[ $out =~ pid=([0-9]+) ]] || return 1
  pid=${BASH_REMATCH[1]}
  [[ $(readlink "/proc/$pid/fd/1" 2>/dev/null) == "$3" ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$2"* ]] || return 1
  echo "$pid" >"$1"
}

# acme_lock / acme_unlock: serialise starting and stopping pebble and
# challtestsrv (reset.sh runs between tests, maybe while pebble.sh runs).
acme_lock() {
  [[ -d $RUN ]] || return 0 # no lab yet (down.sh on a purged lab): nothing to race with
  exec 9>"$RUN/acme.lock"
  flock -w 60 9 || die "timed out waiting for $RUN/acme.lock"
}
acme_unlock() { exec 9>&-; }

# ---- ACME: pebble + pebble-challtestsrv --------------------------------------
challtestsrv_running() { pidfile_alive "$RUN/challtestsrv.pid" pebble-challtestsrv; }
pebble_running() { pidfile_alive "$RUN/pebble.pid" 'pebble -config'; }
challtestsrv_ready() { challtestsrv_running && port_open "$CHALLTESTSRV_DNS_PORT" && port_open "$CHALLTESTSRV_MGMT_PORT"; }
pebble_ready() {
  pebble_running &&
    curl -fsS -o /dev/null --max-time 2 --cacert "$LAB/pki/ca.pem" "$ACME_DIR" 2>/dev/null
}
# ports_free PORT...: nothing listens on any of them.
ports_free() { local p; for p; do ! port_open "$p" || return 1; done; }

# start_acme: start pebble-challtestsrv and pebble unless running; return
# once the ACME directory answers. Silent on success (reset.sh calls it).
start_acme() {
  [[ -f $PEBBLE_CONF && -f $LAB/pki/ca.pem ]] || die "$PEBBLE_CONF missing; run test/lab/up.sh first"
  acme_lock
  adopt "$RUN/challtestsrv.pid" pebble-challtestsrv "$RUN/challtestsrv.log" "$CHALLTESTSRV_MGMT_PORT" || true
  if ! challtestsrv_running; then
    ports_free "$CHALLTESTSRV_DNS_PORT" "$CHALLTESTSRV_MGMT_PORT" ||
      die "127.0.0.1:$CHALLTESTSRV_DNS_PORT or :$CHALLTESTSRV_MGMT_PORT is taken by another process"
    # Mock DNS for pebble's VA: every A query -> 127.0.0.1, no AAAA (the lab
    # nginx listens on 127.0.0.1 only). All challenge listeners are disabled
    # ("" = off) and the management API, ":8055" by default, is pinned to
    # loopback. (This version has no -doh flag.)
    start_daemon "$RUN/challtestsrv.pid" "$RUN/challtestsrv.log" \
      pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 '' \
      -dns01 "127.0.0.1:$CHALLTESTSRV_DNS_PORT" -http01 '' -https01 '' -tlsalpn01 '' \
      -management "127.0.0.1:$CHALLTESTSRV_MGMT_PORT"
  fi
  wait_for 10 "pebble-challtestsrv on :$CHALLTESTSRV_DNS_PORT" challtestsrv_ready || {
    tail -n 20 "$RUN/challtestsrv.log" >&2
    die "pebble-challtestsrv did not come up (log: $RUN/challtestsrv.log)"
  }
  adopt "$RUN/pebble.pid" 'pebble -config' "$RUN/pebble.log" "$PEBBLE_PORT" || true
  if ! pebble_running; then
    ports_free "$PEBBLE_PORT" "$PEBBLE_MGMT_PORT" ||
      die "127.0.0.1:$PEBBLE_PORT or :$PEBBLE_MGMT_PORT is taken by another process"
    # A new pebble knows no accounts: certbot's saved ones for this server
    # would only earn "accountDoesNotExist"; drop them so certbot registers anew.
    rm -rf -- "$LE_DIR/accounts/127.0.0.1:$PEBBLE_PORT"
    # Deterministic: no random VA sleeps, no random badNonce, never reuse a
    # valid authorization (every order is really validated through nginx).
    # LAB_PEBBLE_ALWAYS_VALID=1 skips validation, for debugging only.
    local -a envs=(-u PEBBLE_VA_ALWAYS_VALID PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0)
    [[ ${LAB_PEBBLE_ALWAYS_VALID:-} != 1 ]] || envs+=(PEBBLE_VA_ALWAYS_VALID=1)
    start_daemon "$RUN/pebble.pid" "$RUN/pebble.log" \
      env "${envs[@]}" pebble -config "$PEBBLE_CONF" -dnsserver "127.0.0.1:$CHALLTESTSRV_DNS_PORT"
  fi
  wait_for 20 "pebble on $ACME_DIR" pebble_ready || {
    tail -n 20 "$RUN/pebble.log" >&2
    die "pebble did not come up (log: $RUN/pebble.log)"
  }
  acme_unlock
}

# stop_acme_daemon pebble|challtestsrv [PORT]: stop one of them (serialised,
# adopting a lost pid) and, given PORT, wait until 127.0.0.1:PORT is closed.
stop_acme_daemon() {
  local name port
  case $1 in
    pebble) name='pebble -config' port=$PEBBLE_PORT ;;
    challtestsrv) name=pebble-challtestsrv port=$CHALLTESTSRV_MGMT_PORT ;;
    *) die "stop_acme_daemon: unknown daemon $1" ;;
  esac
  acme_lock
  adopt "$RUN/$1.pid" "$name" "$RUN/$1.log" "$port" || true
  stop_daemon "$RUN/$1.pid" "$name"
  if [[ -n ${2:-} ]]; then
    wait_for 10 "127.0.0.1:$2 to close" ports_free "$2" ||
      die "something still listens on 127.0.0.1:$2"
  fi
  acme_unlock
}

# stop_pebble: stop pebble (not challtestsrv); return once :14000 is closed, so
# ACME clients fail to connect.
stop_pebble() { stop_acme_daemon pebble "$PEBBLE_PORT"; }
