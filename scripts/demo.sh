#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo: installs what it needs (Debian 12, as root), builds the examples with the gcc preset
# into build/demo (tests and benches off) and runs each entry of VIREO_DEMOS: an example's name
# and its arguments, entries separated by ';' or newlines. By default the echo, i2c_session,
# gpio_session and greybus-demo examples each run twice, on split rings and then on packed
# rings. Then the vhost-user daemons serve a real QEMU 7.2 whose Debian 6.1 guest drives them
# with i2c-tools and libgpiod (scripts/interop/interop.sh; VIREO_DEMO_GUEST=0 skips it). Any
# failing run fails the script.
set -euo pipefail
VIREO_DEMOS=${VIREO_DEMOS:-"echo; echo --packed
i2c_session; i2c_session --packed
gpio_session; gpio_session --packed
greybus-demo; greybus-demo --packed"}

cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh cmake ninja-build g++ libfmt-dev

cmake --preset gcc -B build/demo \
  -DVIREO_BUILD_TESTS=OFF -DVIREO_BUILD_BENCH=OFF -DVIREO_BUILD_EXAMPLES=ON
cmake --build build/demo -j 2

IFS=';' read -r -a entries <<<"${VIREO_DEMOS//$'\n'/;}"
runs=0
for entry in "${entries[@]}"; do
  read -r -a argv <<<"$entry"
  [ "${#argv[@]}" -gt 0 ] || continue
  bin=build/demo/examples/${argv[0]}
  if [ ! -x "$bin" ]; then
    echo "demo: $bin was not built (is there an examples/${argv[0]}.cpp?)" >&2
    exit 1
  fi
  echo "==> ${bin}${argv[1]:+ ${argv[*]:1}}"
  "$bin" "${argv[@]:1}"
  echo
  runs=$((runs + 1))
done
if [ "$runs" -eq 0 ]; then
  echo "demo: VIREO_DEMOS names no example" >&2
  exit 1
fi
echo "demo: $runs runs passed"

if [ "${VIREO_DEMO_GUEST:-1}" != 0 ]; then
  echo
  echo "==> a Linux guest in QEMU using vhost-user-i2c and vhost-user-gpio (scripts/interop/interop.sh)"
  bash scripts/interop/interop.sh build/demo
fi
