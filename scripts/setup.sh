#!/usr/bin/env bash
# Installs what `npm start` and `npm test` need on a fresh Debian machine: the npm
# packages (including the pinned Node 24) and the Debian packages of the real peers the
# tests and benchmarks use. Quiet and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -L node_modules ]; then
  # A shared install (a worktree linking another checkout's node_modules): `npm ci` here
  # would empty the linked directory under everyone using it, so it is left alone.
  [ -x node_modules/.bin/node ] || echo "setup: node_modules links to an install without node; run npm ci where it points" >&2
elif [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (npm ci)…"
  npm ci --no-audit --no-fund
fi

# command -> Debian package that provides it
declare -A need=(
  [dig]=bind9-dnsutils
  [haproxy]=haproxy
  [redis-server]=redis-server
  [wrk]=wrk
  [dnsperf]=dnsperf
  [pdns_server]=pdns-server
  [etcd]=etcd-server
  [curl]=curl
  [ip]=iproute2
  [nft]=nftables
  [chromium]=chromium # the browser test drives it headless through playwright-core
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) — the tests that need them will fail." >&2
  else
    echo "setup: installing Debian packages: ${missing[*]} pdns-backend-bind pdns-backend-lua2…"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" pdns-backend-bind >/dev/null
  fi
fi
# Debian's packages start their daemons where an init system runs; our tests and benches
# start their own on loopback with their own configs, so stop any system copies.
for svc in redis-server haproxy pdns etcd; do
  if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
