# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this
# Shared settings and helpers for the lab scripts (sourced, never executed).
# Keeping paths and "is it running?" logic in one place stops up/down/reset
# from drifting apart.

LAB="${CONVERGE_LAB:-/var/lib/converge-lab}" # override only for experiments
LAB_USER=converge-lab
LAB_HOME=/home/converge-lab
SUDOERS_FILE=/etc/sudoers.d/converge-lab
SSH_PORT=2222
HTTP_PORT=18080
HTTPS_PORT=18443
OLLAMA_PORT=31434
ANYTHINGLLM_PORT=33001
DOMAIN=gateway.converge.test

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LAB_DIR/../.." && pwd)"
RUN="$LAB/run"
NGINX_CONF="$LAB/nginx/nginx.conf"
SUDOERS_LINE="$LAB_USER ALL=(ALL) NOPASSWD: ALL"

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
