#!/usr/bin/env bash
# Install everything the local test lab needs on a fresh Debian 12 (as root,
# no stdin). Safe to re-run: skips apt when all packages are present and
# skips `npm ci` when node_modules already matches package-lock.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require_root

PACKAGES=(nginx openssh-server openssh-client sudo certbot pebble openssl
  iproute2 procps curl ca-certificates bsdutils
  strace # the SSH sockets' options are checked in their system calls
  prometheus systemd # promtool and systemd-analyze: drift metrics and timer units are checked by their own tools
  ansible-core) # ansible-inventory: an inventory is read as Ansible reads it

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "lab: installing ${missing[*]}"
  # Package postinst scripts would start the stock nginx (port 80) and sshd
  # (0.0.0.0:22). A temporary policy-rc.d (the Debian way) forbids that; an
  # existing one is left alone.
  policy_added=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    policy_added=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null || die "apt-get update failed"
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null ||
    die "apt-get install failed"
  if [[ -n $policy_added ]]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# If the package did start Debian's own nginx anyway, stop it: the lab runs its
# own master with -c and must not share ports or pid files with the stock one.
# Only a default-config master (no "-c", or -c /etc/nginx/nginx.conf) is hit;
# SIGQUIT is exactly what `nginx -s quit` sends.
for pid in $(pgrep -f '^nginx: master process' || true); do
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  if [[ $cmd != *" -c "* || $cmd == *"-c /etc/nginx/nginx.conf"* ]]; then
    echo "lab: stopping Debian's default nginx (pid $pid)"
    kill -QUIT "$pid" 2>/dev/null || true
  fi
done

# The deployer runs on Node; Debian 12's nodejs (v18) is too old, so node is
# expected to come with the machine (see package.json engines).
command -v node >/dev/null || die "node is not installed (need >= 20.19, see package.json)"
command -v npm >/dev/null || die "npm is not installed"

# npm ci wipes node_modules, so only run it when the installed tree (npm's
# hidden lockfile) differs from package-lock.json in any required package.
deps_current() {
  [[ -f $REPO_ROOT/node_modules/.package-lock.json ]] || return 1
  (cd "$REPO_ROOT" && node -e '
    const want = require("./package-lock.json").packages;
    const have = require("./node_modules/.package-lock.json").packages;
    for (const [k, v] of Object.entries(want)) {
      if (!k || v.optional) continue;          // "" is the project itself
      if (!have[k] || have[k].version !== v.version) process.exit(1);
    }
    for (const k of Object.keys(have)) if (!(k in want)) process.exit(1);
  ') 2>/dev/null
}

if deps_current; then
  # node_modules is there, but dist/ may be missing or older than the checkout.
  echo "lab: node_modules is up to date; npm run build"
  (cd "$REPO_ROOT" && npm run build --silent </dev/null) || die "npm run build failed in $REPO_ROOT"
else
  echo "lab: npm ci"
  # npm ci also runs the project's "prepare" script (npm run build: tsc, then the CLI's bundle).
  (cd "$REPO_ROOT" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed in $REPO_ROOT"
fi
echo "lab: install done"
