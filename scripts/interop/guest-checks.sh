#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# /init of the interop guest (busybox sh; copied into the initramfs by build-guest.sh). Loads the
# virtio stack and the two upstream drivers, then checks them against the simulated devices of
# Vireo's vhost-user-i2c and vhost-user-gpio daemons (docs/interop.md). Each check prints exactly
# one line "VIREO-CHECK <name> PASS" or "VIREO-CHECK <name> FAIL <detail>"; the last line is
# "VIREO-DONE", then the guest powers off. A check whose device is missing fails at once, so a
# guest booted without the devices still ends cleanly.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Kernel messages stay in dmesg (checked below) instead of tearing check lines on the console;
# emergencies and alerts (oops) still reach it.
dmesg -n 2

STEP_TIMEOUT=20  # seconds for one guest command; a hung i2c transfer is interruptible
passed=0
failed=0

pass() {
  echo "VIREO-CHECK $1 PASS"
  passed=$((passed + 1))
}
fail() {  # name detail...
  name=$1
  shift
  echo "VIREO-CHECK $name FAIL $(echo "$*" | tr '\n\t' '  ' | tr -s ' ' | sed 's/ $//')"
  failed=$((failed + 1))
}
# run CMD...: runs it under a time limit; sets $out (stdout+stderr, one line) and $rc.
run() {
  out=$(timeout "$STEP_TIMEOUT" "$@" 2>&1)
  rc=$?
  out=$(echo "$out" | tr '\n' ' ' | sed 's/ *$//')
}
# expect NAME WANT CMD...: the command exits 0 and prints exactly WANT (whitespace-normalised).
expect() {
  name=$1
  want=$2
  shift 2
  run "$@"
  if [ "$rc" -ne 0 ]; then
    fail "$name" "'$*' exited $rc: $out"
  elif [ "$out" != "$want" ]; then
    fail "$name" "'$*' printed '$out', want '$want'"
  else
    pass "$name"
  fi
}

# features_of DEVDIR: the negotiated feature bits (sysfs "features" is a 0/1 string, bit 0 first)
features_of() {
  awk '{ for (i = 1; i <= length($0); i++) if (substr($0, i, 1) == "1") printf "%d ", i - 1 }' \
    "$1/features"
}

# cmdline_value KEY: the value of "vireo.KEY=..." on the kernel command line (run.sh sets them)
cmdline_value() {
  tr ' ' '\n' </proc/cmdline | sed -n "s/^vireo\.$1=//p"
}
# features_check NAME DEVDIR KEY: the negotiated bits equal those run.sh expects for its variant
features_check() {
  want=$(cmdline_value "$3" | tr ',' ' ')
  [ -n "$want" ] || return 0  # booted by hand: nothing to compare with
  got=$(features_of "$2" | sed 's/ $//')
  if [ "$got" = "$want" ]; then pass "$1"; else fail "$1" "negotiated bits '$got', want '$want'"; fi
}

echo "VIREO-GUEST kernel $(uname -r), variant '$(cmdline_value variant)'," \
  "init started at $(cut -d' ' -f1 /proc/uptime)s"

# ---- modules: dependencies first (order from modules.dep at build time), virtio_pci last
load_errors=""
while read -r ko; do
  [ -n "$ko" ] || continue
  if ! msg=$(insmod "$ko" 2>&1); then
    load_errors="$load_errors $(basename "$ko"): $msg;"
  fi
done </etc/vireo-modules.load
if [ -z "$load_errors" ] && grep -q '^i2c_virtio ' /proc/modules &&
   grep -q '^gpio_virtio ' /proc/modules; then
  pass modules-load
else
  fail modules-load "${load_errors:-i2c_virtio or gpio_virtio missing from /proc/modules}"
fi
dmesg | grep -i -E 'virtio|i2c|gpio' | sed 's/^/VIREO-DMESG /'

# The virtio devices bound to each driver (probing runs inside insmod; allow for slow TCG).
wait_bound() {  # driver -> prints the first bound device directory, waits up to 5 s
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    for d in /sys/bus/virtio/drivers/"$1"/virtio*; do
      [ -d "$d" ] && { echo "$d"; return 0; }
    done
    sleep 0.5
  done
  return 1
}

# ================================ i2c ================================
bus=""
if vdev=$(wait_bound i2c_virtio); then
  for a in "$vdev"/i2c-*; do [ -d "$a" ] && bus=${a##*/i2c-}; done
fi
if [ -z "$bus" ]; then
  fail i2c-probe "no virtio device bound to i2c_virtio" \
    "(virtio devices: $(ls /sys/bus/virtio/devices 2>&1))"
elif [ ! -c "/dev/i2c-$bus" ]; then
  fail i2c-probe "adapter i2c-$bus has no /dev/i2c-$bus"
else
  echo "VIREO-INFO i2c adapter i2c-$bus '$(cat /sys/bus/i2c/devices/i2c-"$bus"/name)' on ${vdev##*/}"
  echo "VIREO-INFO ${vdev##*/} (i2c) negotiated feature bits: $(features_of "$vdev")"
  pass i2c-probe
  features_check i2c-features "$vdev" i2c_features
fi

i2c_check() {  # name: fails the check and returns 1 when there is no adapter
  [ -n "$bus" ] && return 0
  fail "$1" "no virtio i2c adapter"
  return 1
}

if i2c_check i2c-detect; then
  # The grid: a header row, then rows "00:" .. "70:" whose cells are "--" or an answering address.
  grid=$(timeout "$STEP_TIMEOUT" i2cdetect -y "$bus" 2>&1)
  rc=$?
  out=$(echo "$grid" | tr '\n' ' ')
  found=$(echo "$grid" |
    awk 'NR > 1 { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9a-f][0-9a-f]$/) printf "%s ", $i }')
  echo "VIREO-INFO i2cdetect -y $bus answered at: $found"
  if [ "$rc" -ne 0 ]; then
    fail i2c-detect "i2cdetect exited $rc: $out"
  elif [ "$found" != "20 50 " ]; then
    fail i2c-detect "found '$found', want '20 50 '"
  else
    pass i2c-detect
  fi
fi

# EEPROM (24C02 at 0x50, byte i = i initially)
i2c_check eeprom-smbus-read && expect eeprom-smbus-read 0x10 i2cget -y "$bus" 0x50 0x10
i2c_check eeprom-write-read &&
  expect eeprom-write-read "0x10 0x11 0x12 0x13 0x14 0x15 0x16 0x17" \
    i2ctransfer -y "$bus" w1@0x50 0x10 r8
if i2c_check eeprom-page-write; then
  # One aligned 8-byte page (0x18..0x1f), then read it back with its two neighbours.
  run i2ctransfer -y "$bus" w9@0x50 0x18 0xa0 0xa1 0xa2 0xa3 0xa4 0xa5 0xa6 0xa7
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    fail eeprom-page-write "page write exited $rc: $out"
  else
    expect eeprom-page-write "0x17 0xa0 0xa1 0xa2 0xa3 0xa4 0xa5 0xa6 0xa7 0x20" \
      i2ctransfer -y "$bus" w1@0x50 0x17 r10
  fi
fi
if i2c_check eeprom-smbus-write; then
  run i2cset -y "$bus" 0x50 0x30 0x5c
  if [ "$rc" -ne 0 ]; then
    fail eeprom-smbus-write "i2cset exited $rc: $out"
  else
    expect eeprom-smbus-write 0x5c i2cget -y "$bus" 0x50 0x30
  fi
fi
# The byte-data read above left the address pointer at 0x31: a current-address read returns it.
i2c_check eeprom-current-address-read && expect eeprom-current-address-read 0x31 i2cget -y "$bus" 0x50

# Register map at 0x20 (16 registers, auto-increment, 0x00 read-only)
i2c_check regmap-read && expect regmap-read "0x5a 0x01 0x19 0x80" i2ctransfer -y "$bus" w1@0x20 0x00 r4
if i2c_check regmap-write; then
  run i2ctransfer -y "$bus" w3@0x20 0x04 0x11 0x22
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    fail regmap-write "write of 0x04..0x05 exited $rc: $out"
  else
    expect regmap-write "0x80 0x11 0x22 0x00" i2ctransfer -y "$bus" w1@0x20 0x03 r4
  fi
fi
if i2c_check regmap-readonly-write-fails; then
  # SMBus write byte data: one message; the NACKed data byte must surface as an error.
  run i2cset -y "$bus" 0x20 0x00 0x12
  smbus_rc=$rc smbus_out=$out
  # i2ctransfer exits 0 when the driver reports fewer messages sent than asked; it only warns
  # ("i2ctransfer: warning: only 0/1 messages sent" in i2c-tools 4.3).
  run i2ctransfer -y "$bus" w2@0x20 0x00 0x12
  rdwr_rc=$rc rdwr_out=$out
  run i2cget -y "$bus" 0x20 0x00
  if [ "$smbus_rc" -eq 0 ]; then
    fail regmap-readonly-write-fails "i2cset to read-only register 0x00 exited 0: $smbus_out"
  elif [ "$rdwr_rc" -eq 0 ] && ! echo "$rdwr_out" | grep -q -i 'only 0/1 messages'; then
    fail regmap-readonly-write-fails "i2ctransfer to read-only register 0x00 succeeded: $rdwr_out"
  elif [ "$rc" -ne 0 ] || [ "$out" != 0x5a ]; then
    fail regmap-readonly-write-fails "register 0x00 reads '$out' (exit $rc) after the refused writes, want 0x5a"
  else
    pass regmap-readonly-write-fails
  fi
fi
if i2c_check absent-address-fails; then
  run i2cget -y "$bus" 0x33 0x00
  smbus_rc=$rc smbus_out=$out
  run i2ctransfer -y "$bus" w1@0x33 0x00 r1
  if [ "$smbus_rc" -eq 0 ]; then
    fail absent-address-fails "i2cget from absent 0x33 exited 0: $smbus_out"
  elif [ "$rc" -eq 0 ] && ! echo "$out" | grep -q -i 'only 0/2 messages'; then
    fail absent-address-fails "i2ctransfer to absent 0x33 succeeded: $out"
  else
    pass absent-address-fails
  fi
fi
# After the refused transfers the adapter still works.
i2c_check i2c-after-errors && expect i2c-after-errors "0x10 0x11" i2ctransfer -y "$bus" w1@0x50 0x10 r2

# ================================ gpio ================================
chip=""
if gvdev=$(wait_bound gpio_virtio); then
  for c in "$gvdev"/gpiochip*; do [ -d "$c" ] && chip=${c##*/}; done
fi
names="led-green led-red reset-n sd-detect pwr-good spare loop-out loop-in"
if [ -z "$chip" ]; then
  fail gpio-probe "no virtio device bound to gpio_virtio" \
    "(virtio devices: $(ls /sys/bus/virtio/devices 2>&1))"
elif [ ! -c "/dev/$chip" ]; then
  fail gpio-probe "$chip has no /dev/$chip"
else
  run gpiodetect
  echo "VIREO-INFO gpiodetect: $out"
  echo "VIREO-INFO ${gvdev##*/} (gpio) negotiated feature bits: $(features_of "$gvdev")"
  case " $out " in
    *" $chip [${gvdev##*/}] (8 lines)"*) pass gpio-probe ;;
    *) fail gpio-probe "gpiodetect does not list '$chip [${gvdev##*/}] (8 lines)': $out" ;;
  esac
  features_check gpio-features "$gvdev" gpio_features
fi

gpio_check() {
  [ -n "$chip" ] && return 0
  fail "$1" "no virtio gpio chip"
  return 1
}
# line_info N: the gpioinfo line of line N (empty when absent)
line_info() {
  gpioinfo "$chip" 2>&1 | grep -E "^[[:space:]]+line +$1:"
}

if gpio_check gpio-names; then
  run gpioinfo "$chip"
  got=$(gpioinfo "$chip" 2>&1 | grep -E '^[[:space:]]+line ' |
    awk -F'"' '{ printf "%s ", $2 }' | sed 's/ $//')
  if [ "$rc" -ne 0 ]; then
    fail gpio-names "gpioinfo exited $rc: $out"
  elif [ "$got" != "$names" ]; then
    fail gpio-names "names '$got', want '$names'"
  else
    pass gpio-names
  fi
fi
gpio_check gpio-input-sd-detect && expect gpio-input-sd-detect 1 gpioget "$chip" 3
gpio_check gpio-input-unwired && expect gpio-input-unwired 0 gpioget "$chip" 5

# loopback V: holds loop-out (line 6) as an output at V with gpioset, then loop-in (line 7) must
# read V; gpioinfo must show 6 as an output used by gpioset and 7 as an input.
loopback() {
  name=gpio-loopback-$2
  gpio_check "$name" || return
  gpioset --mode=signal "$chip" 6="$1" &
  setter=$!
  held=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    held=$(line_info 6)
    case $held in *'"gpioset"'*output*) break ;; esac
    sleep 0.3
  done
  run gpioget "$chip" 7
  v=$out v_rc=$rc
  info6=$(line_info 6)
  info7=$(line_info 7)
  echo "VIREO-INFO gpioinfo with loop-out held at $1:$info6 /$info7"
  kill "$setter" 2>/dev/null
  wait "$setter"
  set_rc=$?
  case $info6 in *'"gpioset"'*output*) dir6=ok ;; *) dir6=bad ;; esac
  case $info7 in *input*) dir7=ok ;; *) dir7=bad ;; esac
  if [ "$v_rc" -ne 0 ] || [ "$v" != "$1" ]; then
    fail "$name" "loop-in read '$v' (exit $v_rc) with loop-out at $1"
  elif [ "$set_rc" -ne 0 ]; then
    fail "$name" "gpioset exited $set_rc on SIGTERM"
  else
    pass "$name"
  fi
  if [ "$dir6" != ok ] || [ "$dir7" != ok ]; then
    fail "gpio-directions-$2" "gpioinfo while gpioset holds line 6: [$info6] [$info7]"
  else
    pass "gpio-directions-$2"
  fi
}
loopback 1 high
loopback 0 low

# The sysfs interface names exported lines after the chip's line names.
if gpio_check gpio-sysfs-loopback; then
  base=$(cat "$gvdev"/gpio/gpiochip*/base 2>/dev/null)
  detail=""
  if [ -z "$base" ]; then
    detail="no sysfs gpiochip under ${gvdev##*/}"
  else
    echo $((base + 6)) >/sys/class/gpio/export && echo $((base + 7)) >/sys/class/gpio/export
    if [ ! -d /sys/class/gpio/loop-out ] || [ ! -d /sys/class/gpio/loop-in ]; then
      detail="export did not create /sys/class/gpio/loop-out and loop-in: $(echo /sys/class/gpio/*)"
    else
      echo in >/sys/class/gpio/loop-in/direction
      echo high >/sys/class/gpio/loop-out/direction  # output, initially 1
      v1=$(cat /sys/class/gpio/loop-in/value)
      echo 0 >/sys/class/gpio/loop-out/value
      v0=$(cat /sys/class/gpio/loop-in/value)
      [ "$v1$v0" = 10 ] || detail="loop-in read '$v1' then '$v0' for loop-out 1 then 0"
      echo $((base + 6)) >/sys/class/gpio/unexport
      echo $((base + 7)) >/sys/class/gpio/unexport
    fi
  fi
  if [ -z "$detail" ]; then pass gpio-sysfs-loopback; else fail gpio-sysfs-loopback "$detail"; fi
fi

# ================================ kernel log ================================
# Errors the two drivers and the virtio core log (dev_err etc.), warnings and oopses; the taint
# notices for the unsigned out-of-tree modules are expected.
driver_error='(virtio|i2c|gpio).*(error|fail|incorrect|timed out|timeout|unsupported|too short|mandatory|can.t)'
kernel_trouble='WARNING:|BUG:|Oops|Call Trace|general protection'
bad=$(
  {
    dmesg | grep -v -E 'module verification failed|loading out-of-tree module taints kernel' |
      grep -i -E "$driver_error"
    dmesg | grep -E "$kernel_trouble"  # case matters: "debug:" is no "BUG:"
  } | head -n 5
)
if [ -z "$bad" ]; then pass kernel-log; else fail kernel-log "$bad"; fi

echo "VIREO-SUMMARY passed=$passed failed=$failed uptime=$(cut -d' ' -f1 /proc/uptime)s"
echo "VIREO-DONE"
sync
poweroff -f
