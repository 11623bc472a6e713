#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/interop/run.sh BUILD_DIR GUEST_DIR
# Starts Vireo's vhost-user-i2c and vhost-user-gpio daemons (BUILD_DIR/examples) once, then boots
# Debian's QEMU 7.2 (TCG) with the guest of build-guest.sh (GUEST_DIR) once per variant (ring
# layout and features of each device, table below); the guest's upstream drivers run the checks of
# guest-checks.sh. Prints every check, fails on any FAIL, a missing VIREO-DONE, a QEMU time-out or
# a daemon that died or did not exit 0 on SIGTERM; ends with "interop: N checks passed in S s".
#   VIREO_INTEROP_VARIANTS  boots, in order (default "split packed packed-noevent split-noevent")
#   VIREO_INTEROP_TIMEOUT   hard limit for one QEMU run in seconds (default 240)
#   VIREO_INTEROP_DEVICES   devices to attach (default "i2c gpio"; "" boots without any)
#   VIREO_INTEROP_VERBOSE   1: pass --verbose to the daemons
#   VIREO_INTEROP_LOG_DIR   where the logs go (default: a new /tmp/vireo-interop.XXXXXX, removed
#                           when the run passes)
set -euo pipefail

usage() { sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'; }
case ${1:-} in -h | --help) usage; exit 0 ;; esac
if [ $# -ne 2 ]; then usage >&2; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$1
guest=$2
limit=${VIREO_INTEROP_TIMEOUT:-240}
devices=${VIREO_INTEROP_DEVICES-i2c gpio}
variants=${VIREO_INTEROP_VARIANTS:-split packed packed-noevent split-noevent}
started=$SECONDS

say() { echo "interop: $*"; }

bash "$repo/scripts/ensure-packages.sh" qemu-system-x86 >/dev/null
for f in "$guest/vmlinuz" "$guest/initramfs.cpio"; do
  [ -r "$f" ] || { say "error: $f missing (run scripts/interop/build-guest.sh $guest)" >&2; exit 2; }
done
for dev in $devices; do
  case $dev in i2c | gpio) ;; *) say "error: unknown device '$dev' in VIREO_INTEROP_DEVICES" >&2; exit 2 ;; esac
  bin=$build/examples/vhost-user-$dev
  [ -x "$bin" ] || { say "error: $bin was not built" >&2; exit 2; }
done

# ---- the variants: extra -device options per device and the feature bits the guest must then
# negotiate (virtio-pci's sysfs view; 0 ZERO_LENGTH_REQUEST, 28 INDIRECT_DESC, 29 EVENT_IDX,
# 32 VERSION_1, 34 RING_PACKED). QEMU 7.2 cannot run gpio on a packed ring (docs/interop.md).
variant_spec() {  # name -> "i2c options|gpio options|i2c features|gpio features"
  case $1 in
    split) echo "||0 28 29 32|28 29 32" ;;
    packed) echo "packed=on|indirect_desc=off,event_idx=off|0 28 29 32 34|32" ;;
    packed-noevent) echo "packed=on,event_idx=off|event_idx=off|0 28 32 34|28 32" ;;
    split-noevent) echo "event_idx=off|indirect_desc=off|0 28 32|29 32" ;;
    *) return 1 ;;
  esac
}
for variant in $variants; do
  variant_spec "$variant" >/dev/null || { say "error: unknown variant '$variant'" >&2; exit 2; }
done

if [ -n "${VIREO_INTEROP_LOG_DIR:-}" ]; then
  logs=$VIREO_INTEROP_LOG_DIR
  keep_logs=1
else
  logs=$(mktemp -d /tmp/vireo-interop.XXXXXX)  # removed after a passing run
  keep_logs=0
fi
mkdir -p "$logs"
serial=""  # the console log of the boot under way
# Sockets apart from the logs: a Unix socket path must stay under 108 bytes.
sockets=$(mktemp -d /tmp/vireo-vu.XXXXXX)

declare -A pid=()
qemu_pid=""
qemu_pidfile=""
cleanup() {  # whatever still runs when the script leaves: only the processes started here
  if [ -n "$qemu_pid" ]; then
    kill -TERM "$qemu_pid" 2>/dev/null  # timeout(1) passes it on to QEMU
    [ -s "$qemu_pidfile" ] && kill -KILL "$(cat "$qemu_pidfile")" 2>/dev/null
  fi
  local dev
  for dev in "${!pid[@]}"; do
    kill -KILL "${pid[$dev]}" 2>/dev/null
    wait "${pid[$dev]}" 2>/dev/null  # reaped quietly (no "Killed" job notice)
  done
  rm -rf "$sockets"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failures=()
report_failure() {
  local problem dev
  say "FAILED:"
  for problem in "${failures[@]}"; do echo "  - $problem"; done
  if [ -n "$serial" ]; then
    echo "---- last 40 lines of the guest console ($serial)"
    # (without the firmware's terminal escapes)
    tail -n 40 "$serial" 2>/dev/null | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' || true
    echo "---- QEMU stderr (${serial%/*}/qemu.err)"
    tail -n 20 "${serial%/*}/qemu.err" 2>/dev/null || true
  fi
  for dev in $devices; do
    echo "---- last 20 lines of vhost-user-$dev stderr ($logs/$dev.err)"
    tail -n 20 "$logs/$dev.err" 2>/dev/null || true
  done
  echo "---- logs kept in $logs"
  exit 1
}

# ---- daemons: each must print its "listening" line before QEMU connects (QEMU connects once)
daemon_args=()
[ "${VIREO_INTEROP_VERBOSE:-0}" = 1 ] && daemon_args+=(--verbose)
for dev in $devices; do
  "$build/examples/vhost-user-$dev" --socket-path "$sockets/$dev.sock" "${daemon_args[@]}" \
    >"$logs/$dev.out" 2>"$logs/$dev.err" &
  pid[$dev]=$!
  echo "${pid[$dev]}" >"$logs/$dev.pid"
done
for dev in $devices; do
  for _ in $(seq 100); do
    grep -q "vhost-user-$dev: listening on $sockets/$dev.sock" "$logs/$dev.out" && break
    kill -0 "${pid[$dev]}" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "vhost-user-$dev: listening on" "$logs/$dev.out"; then
    failures+=("vhost-user-$dev did not print its listening line within 10 s")
    report_failure
  fi
done

total_pass=0
boots=0
boot() {  # variant: one QEMU run; appends to failures
  local variant=$1 spec opts_i2c opts_gpio feat_i2c feat_gpio dir dev opts
  spec=$(variant_spec "$variant")
  IFS='|' read -r opts_i2c opts_gpio feat_i2c feat_gpio <<<"$spec"
  dir=$logs/$variant
  mkdir -p "$dir"
  serial=$dir/serial.log
  qemu_pidfile=$dir/qemu.pid
  rm -f "$serial" "$qemu_pidfile"
  local append="console=ttyS0 quiet panic=-1 vireo.variant=$variant"
  # ---- QEMU 7.2, TCG; guest RAM shared with the back-ends (memfd, share=on)
  # shellcheck disable=SC2054  # the commas belong to QEMU options
  local qemu=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 256M
    -object memory-backend-memfd,id=mem,size=256M,share=on -machine pc,memory-backend=mem
    -nodefaults -no-user-config -nographic -no-reboot -serial "file:$serial"
    -pidfile "$qemu_pidfile" -kernel "$guest/vmlinuz" -initrd "$guest/initramfs.cpio")
  local described=""
  for dev in $devices; do
    if [ "$dev" = i2c ]; then opts=$opts_i2c; else opts=$opts_gpio; fi
    qemu+=(-chardev "socket,id=vu-$dev,path=$sockets/$dev.sock"
           -device "vhost-user-$dev-pci,chardev=vu-$dev${opts:+,$opts}")
    if [ "$dev" = i2c ]; then append+=" vireo.i2c_features=${feat_i2c// /,}"; fi
    if [ "$dev" = gpio ]; then append+=" vireo.gpio_features=${feat_gpio// /,}"; fi
    described+="${described:+, }$dev ${opts:-defaults}"
  done
  qemu+=(-append "$append")
  echo "${qemu[*]}" >"$dir/qemu.cmd"
  say "boot '$variant' (${described:-no devices})"
  local t0=$SECONDS qemu_rc=0
  # timeout is the hard limit (TERM, then KILL 5 s later); the trap kills QEMU by PID as well.
  timeout -k 5 "$limit" "${qemu[@]}" </dev/null >"$dir/qemu.out" 2>"$dir/qemu.err" &
  qemu_pid=$!
  wait "$qemu_pid" || qemu_rc=$?
  qemu_pid=""

  # ---- verdict from the console log
  local console checks n_pass n_fail n_lines last summary
  console=$(tr -d '\r' <"$serial" 2>/dev/null || true)
  checks=$(grep -a '^VIREO-CHECK ' <<<"$console" || true)
  # shellcheck disable=SC2001  # one prefix per line
  if [ -n "$checks" ]; then sed "s/^/$variant: /" <<<"$checks"; fi
  n_pass=$(grep -c ' PASS$' <<<"$checks" || true)
  n_fail=$(grep -c ' FAIL' <<<"$checks" || true)
  n_lines=$(grep -c . <<<"$checks" || true)
  if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
    last=$(grep -ao 'VIREO-.*' <<<"$console" | tail -n 1 || true)
    failures+=("$variant: QEMU hit the ${limit}s limit (last guest line: ${last:-none})")
  elif [ "$qemu_rc" -ne 0 ]; then
    failures+=("$variant: QEMU exited $qemu_rc")
  fi
  [ "$n_fail" -eq 0 ] || failures+=("$variant: $n_fail checks failed")
  [ "$n_pass" -eq "$n_lines" ] || [ "$n_fail" -ne 0 ] || failures+=("$variant: malformed VIREO-CHECK lines")
  grep -aq '^VIREO-DONE$' <<<"$console" || failures+=("$variant: the guest did not print VIREO-DONE")
  summary=$(grep -a '^VIREO-SUMMARY ' <<<"$console" || true)
  if [ -n "$summary" ] && [[ $summary != *"passed=$n_pass failed=$n_fail "* ]]; then
    failures+=("$variant: guest summary '$summary' disagrees with the $n_pass/$n_fail check lines read")
  fi
  [ "$n_pass" -gt 0 ] || failures+=("$variant: no check passed")
  # The daemons serve the next QEMU too: they must outlive this one.
  for dev in $devices; do
    kill -0 "${pid[$dev]}" 2>/dev/null || failures+=("vhost-user-$dev died during boot '$variant'")
  done
  say "boot '$variant': $n_pass passed, $n_fail failed in $((SECONDS - t0)) s"
  total_pass=$((total_pass + n_pass))
  boots=$((boots + 1))
}

for variant in $variants; do
  boot "$variant"
  [ "${#failures[@]}" -eq 0 ] || break
done

# ---- daemons: SIGTERM must end them with status 0 (a dead one is reported with its status)
for dev in $devices; do
  rc=0
  if ! kill -0 "${pid[$dev]}" 2>/dev/null; then
    wait "${pid[$dev]}" || rc=$?
    failures+=("vhost-user-$dev had exited before SIGTERM (status $rc)")
  else
    kill -TERM "${pid[$dev]}"
    for _ in $(seq 50); do kill -0 "${pid[$dev]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pid[$dev]}" 2>/dev/null; then
      failures+=("vhost-user-$dev still running 5 s after SIGTERM")
    else
      wait "${pid[$dev]}" || rc=$?
      [ "$rc" -eq 0 ] || failures+=("vhost-user-$dev exited $rc on SIGTERM")
    fi
  fi
  unset "pid[$dev]"
  if grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$logs/$dev.err"; then
    failures+=("vhost-user-$dev stderr has a sanitizer report")
  fi
done

[ "${#failures[@]}" -eq 0 ] || report_failure
if [ "$keep_logs" = 1 ]; then
  say "logs in $logs"
else
  rm -rf "$logs"
fi
say "$total_pass checks passed in $((SECONDS - started)) s"
