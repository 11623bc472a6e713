#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite (Debian 12, as root; 2 cores): installs what it needs, then runs each step
# in order, fail-fast. Ends with a summary and the line "N passed, 0 failed".
#   VIREO_FUZZ_SECONDS  seconds per fuzzer in the fuzz step (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${VIREO_FUZZ_SECONDS:-30}
STEPS=(gcc clang asan-ubsan no-exceptions freestanding fuzz release interop)

passed=0
current="install packages"
summary=()
started=$SECONDS

finish() {
  local rc=$?
  echo
  echo "================ summary ================"
  for line in "${summary[@]}"; do echo "$line"; done
  if [ "$rc" -ne 0 ]; then
    echo "FAILED  $current (exit $rc): see the output above this summary"
    echo "$passed passed, 1 failed"
  else
    echo "total $((SECONDS - started))s"
    echo "$passed passed, 0 failed"
  fi
}
trap finish EXIT

bash scripts/ensure-packages.sh cmake ninja-build g++ clang libclang-rt-14-dev libfmt-dev \
  doctest-dev libbenchmark-dev gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib

step_build_and_test() {  # preset
  cmake --preset "$1"
  cmake --build --preset "$1"
  ctest --preset "$1"
}

step_freestanding() {
  bash scripts/check-freestanding.sh
}

step_fuzz() {
  cmake --preset fuzz
  cmake --build --preset fuzz
  local src stem bin seeds work dict ran=0
  for src in fuzz/*.cpp; do
    [ -e "$src" ] || continue
    stem=$(basename "$src" .cpp)
    [ "$stem" = replay_main ] && continue
    bin=build/fuzz/fuzz/fuzz_$stem
    seeds=fuzz/corpus/$stem
    work=build/fuzz-work/$stem  # libFuzzer writes new inputs here, never into the seeds
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "$seeds" ]; then cp -R "$seeds/." "$work/corpus/"; fi
    local args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048
                -artifact_prefix="$work/artifacts/" -print_final_stats=1)
    dict=fuzz/dict/$stem.dict
    if [ -f "$dict" ]; then args+=(-dict="$dict"); fi
    echo "--- fuzz_$stem for ${FUZZ_SECONDS}s (crashes go to $work/artifacts/)"
    if [ -d "$seeds" ]; then
      "$bin" "${args[@]}" "$work/corpus" "$seeds"
    else
      "$bin" "${args[@]}" "$work/corpus"
    fi
    ran=$((ran + 1))
  done
  echo "fuzz: $ran fuzzers ran ${FUZZ_SECONDS}s each without a finding"
}

step_release() {
  cmake --preset release
  cmake --build --preset release
  local src stem ran=0
  for src in bench/*.cpp; do
    [ -e "$src" ] || continue
    stem=$(basename "$src" .cpp)
    echo "--- bench_$stem (smoke run)"
    "build/release/bench/bench_$stem" --benchmark_min_time=0.01
    ran=$((ran + 1))
  done
  echo "release: $ran benchmarks ran"
}

# A real QEMU 7.2 with a Debian 6.1 guest whose upstream i2c-virtio and gpio-virtio drivers use
# the example daemons (scripts/interop/, docs/interop.md): once with the gcc build's daemons, once
# with daemons built with ASan+UBSan (run.sh fails on any sanitizer report). After each, Vireo's
# own front-end drives the same daemons where QEMU 7.2 cannot (gpio interrupts, packed gpio).
step_interop() {
  bash scripts/interop/build-guest.sh build/interop-guest
  bash scripts/interop/run.sh build/gcc build/interop-guest
  bash scripts/interop/frontend-check.sh build/gcc
  cmake --preset asan-ubsan -B build/interop-asan \
    -DVIREO_BUILD_TESTS=OFF -DVIREO_BUILD_BENCH=OFF -DVIREO_BUILD_EXAMPLES=ON
  cmake --build build/interop-asan -j 2 --target example_vhost-user-i2c \
    example_vhost-user-gpio example_vhost-user-frontend-check
  bash scripts/interop/run.sh build/interop-asan build/interop-guest
  bash scripts/interop/frontend-check.sh build/interop-asan
}

i=0
for step in "${STEPS[@]}"; do
  i=$((i + 1))
  current=$step
  echo
  echo "================ [$i/${#STEPS[@]}] $step ================"
  t0=$SECONDS
  case $step in
    freestanding) step_freestanding ;;
    fuzz) step_fuzz ;;
    release) step_release ;;
    interop) step_interop ;;
    *) step_build_and_test "$step" ;;
  esac
  summary+=("passed  $step ($((SECONDS - t0))s)")
  passed=$((passed + 1))
done
current=""
