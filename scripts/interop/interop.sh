#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: scripts/interop/interop.sh [BUILD_DIR]
# The whole interop test in one command (Debian 12, as root): builds the two daemons unless
# BUILD_DIR already has them (default: build them with the gcc preset into build/interop), builds
# or reuses the guest in build/interop-guest (VIREO_INTEROP_GUEST_DIR), then runs run.sh.
set -euo pipefail
case ${1:-} in -h | --help) sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
if [ $# -gt 1 ]; then sed -n '3,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

build=${1:-}
if [ -z "$build" ]; then
  build=build/interop
  bash scripts/ensure-packages.sh cmake ninja-build g++ libfmt-dev
  cmake --preset gcc -B "$build" \
    -DVIREO_BUILD_TESTS=OFF -DVIREO_BUILD_BENCH=OFF -DVIREO_BUILD_EXAMPLES=ON
  cmake --build "$build" -j 2 --target example_vhost-user-i2c example_vhost-user-gpio
fi
guest=${VIREO_INTEROP_GUEST_DIR:-build/interop-guest}
bash "$here/build-guest.sh" "$guest"
bash "$here/run.sh" "$build" "$guest"
