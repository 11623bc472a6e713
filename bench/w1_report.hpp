// SPDX-License-Identifier: Apache-2.0
// W1 reporting: the variant table's row type, the shared collecting reporter
// (bench_report.hpp) keeping every ns_per_chain for the summary, and main().
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "bench_report.hpp"

// Internal linkage: this header belongs to the one translation unit bench/w1.cpp, and its
// functions are local to it, as they were in the old single-file bench/split_ring.cpp.
namespace {
namespace w1 {

/// Which implementation a benchmark row measures.
enum class impl { split, packed, floor_split, floor_packed };

struct variant {
  const char* key;   ///< the letter from the issue; the split and packed rows of one shape share it
  impl where;
  const char* name;  ///< benchmark name (split names are those of the old bench_split_ring)
  const char* what;
  void (*fn)(benchmark::State&);
  bool real_time;
  /// Packed device-alone rows: the name of the refill benchmark whose ns/chain the summary
  /// subtracts (the refill runs inside the timed loop); nullptr when nothing is subtracted.
  const char* refill = nullptr;
};

/// The shared collecting reporter (bench_report.hpp) over W1's counter, ns_per_chain.
class collecting_reporter : public bench::collecting_reporter {
 public:
  explicit collecting_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : bench::collecting_reporter(std::move(inner), "ns_per_chain") {}
  [[nodiscard]] std::optional<double> ns_per_chain(const std::string& name) const {
    return ns_per_item(name);
  }
};

using summary_fn = void (*)(const collecting_reporter&, std::FILE*);

/// Register every variant, run what --benchmark_filter selects, then print the summary.
inline int run_main(int argc, char** argv, std::span<const variant> variants, summary_fn summary) {
  for (const variant& v : variants) {
    auto* b = benchmark::RegisterBenchmark(v.name, v.fn);
    if (v.real_time) b->UseRealTime();
  }
  return bench::run_benchmarks<collecting_reporter>(argc, argv, summary);
}

}  // namespace w1
}  // namespace
