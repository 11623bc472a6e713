// SPDX-License-Identifier: Apache-2.0
// bench_devices, the parts both device models share: the per-op counter, what the naive
// baselines add to the naive split device (naive_split.hpp), the feed sizes and the refill-only
// loop that the summary subtracts from the packed rows.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bench_report.hpp"
#include "devices_feed.hpp"
#include "naive_split.hpp"

// Internal linkage: this header belongs to the one translation unit bench/devices.cpp.
namespace {
namespace devbench {

/// The counter every bench_devices row reports and the summary reads.
inline constexpr const char* kCounter = "ns_per_op";

/// Rows that failed their set-up or the checks after their timed loop: main() then exits 1, so
/// that the CI smoke run (scripts/test.sh) catches a device model that answers wrongly.
inline int& failures() {
  static int n = 0;
  return n;
}
inline void fail(benchmark::State& state, const char* why) {
  ++failures();
  state.SkipWithError(why);
}

/// Report `ops_per_iteration` ops per iteration as ns_per_op (bench_report.hpp).
inline void report_ops(benchmark::State& state, std::size_t ops_per_iteration) {
  bench::report_per_item(state, ops_per_iteration, kCounter);
}

// ---- The naive baselines' chain handling ----------------------------------------------------

using naive_ring = bench::naive_split_device;
using naive_chain = naive_ring::chain;

/// Bytes of a naive chain's readable (writable) part.
inline std::size_t readable_len(const naive_chain& c) {
  std::size_t n = 0;
  for (const auto& s : c.segs) n += s.writable ? 0 : s.len;
  return n;
}
inline std::size_t writable_len(const naive_chain& c) {
  std::size_t n = 0;
  for (const auto& s : c.segs) n += s.writable ? s.len : 0;
  return n;
}
/// The whole readable part copied into a fresh vector (the naive "copy it in" step). Empty and
/// false when guest memory refused a segment.
inline bool copy_in(naive_ring& ring, const naive_chain& c, std::vector<std::byte>& out) {
  out.assign(readable_len(c), std::byte{0});
  return ring.read(c, out);
}

// ---- Refill alone -----------------------------------------------------------------------------

/// The feed's re-publication alone, per op, on the rings an Op lays out (no device): what the
/// summary subtracts from the packed rows, whose refill runs inside the timed loop (as W1's
/// packed rows; PauseTiming() would cost far more than the refill).
template <typename Feed, typename Op>
void bm_refill_only(benchmark::State& state) {
  Feed feed{Op::template size<Feed>()};
  const auto shapes = Op::body(feed.size());
  if (!feed.lay_out(shapes, Op::template round<Feed>(), Op::chains_per_op)) {
    fail(state, "set-up failed");
    return;
  }
  for (auto _ : state) {
    feed.publish_round();
    benchmark::ClobberMemory();
  }
  report_ops(state, feed.chains_per_round() / Op::chains_per_op);
}

}  // namespace devbench
}  // namespace
