#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo: installs what it needs (Debian 12, as root), builds the examples with the gcc preset
# into build/demo (tests and benches off) and runs each example named in VIREO_DEMOS.
set -euo pipefail
VIREO_DEMOS=${VIREO_DEMOS:-"split_echo"}

cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh cmake ninja-build g++ libfmt-dev

cmake --preset gcc -B build/demo \
  -DVIREO_BUILD_TESTS=OFF -DVIREO_BUILD_BENCH=OFF -DVIREO_BUILD_EXAMPLES=ON
cmake --build build/demo -j 2

for demo in $VIREO_DEMOS; do
  bin=build/demo/examples/$demo
  if [ ! -x "$bin" ]; then
    echo "demo: $bin was not built (is there an examples/$demo.cpp?)" >&2
    exit 1
  fi
  echo "==> $bin"
  "$bin"
done
