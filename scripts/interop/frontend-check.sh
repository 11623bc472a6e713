#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/interop/frontend-check.sh BUILD_DIR
# Vireo's own front-end (examples/vhost-user-frontend-check.cpp) against the vhost-user-gpio and
# vhost-user-i2c daemons of BUILD_DIR over real sockets: what QEMU 7.2 cannot exercise (gpio
# interrupts on the eventq, packed rings for gpio). Fails if a check fails, a daemon logs a
# sanitizer report, or a daemon does not exit 0 on SIGTERM.
set -euo pipefail
case ${1:-} in -h | --help | '') sed -n '3,7p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ]; exit $? ;; esac
bin=$1/examples
for b in vhost-user-gpio vhost-user-i2c vhost-user-frontend-check; do
  [ -x "$bin/$b" ] || { echo "frontend-check: $bin/$b is missing" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/vireo-fe.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

start() {  # name
  "$bin/vhost-user-$1" --socket-path "$dir/$1.sock" >"$dir/$1.out" 2>"$dir/$1.err" &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "listening on" "$dir/$1.out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "frontend-check: vhost-user-$1 did not start:" >&2
  cat "$dir/$1.err" >&2
  exit 1
}
start gpio
start i2c

rc=0
timeout 120 "$bin/vhost-user-frontend-check" --gpio-socket "$dir/gpio.sock" \
  --i2c-socket "$dir/i2c.sock" || rc=$?

for i in 0 1; do
  kill -TERM "${pids[$i]}"
  if ! wait "${pids[$i]}"; then
    echo "frontend-check: a daemon did not exit 0 on SIGTERM" >&2
    rc=1
  fi
done
pids=()
for n in gpio i2c; do
  if grep -q "Sanitizer" "$dir/$n.err"; then
    echo "frontend-check: sanitizer report from vhost-user-$n:" >&2
    cat "$dir/$n.err" >&2
    rc=1
  fi
done
if [ "$rc" -ne 0 ]; then
  echo "frontend-check: FAILED; daemon logs:" >&2
  tail -n 20 "$dir"/*.err >&2
fi
exit "$rc"
