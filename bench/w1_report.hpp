// SPDX-License-Identifier: Apache-2.0
// W1 reporting: the variant table's row type, a reporter that forwards to the one
// --benchmark_format asks for while keeping every ns_per_chain for the summary, and main().
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

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

/// Forwards everything to the reporter for the requested --benchmark_format and keeps each
/// benchmark's ns_per_chain (the median when repetitions produce aggregates, else the last run).
class collecting_reporter : public benchmark::BenchmarkReporter {
 public:
  explicit collecting_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : inner_(std::move(inner)) {}

  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void Finalize() override { inner_->Finalize(); }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const auto it = r.counters.find("ns_per_chain");
      if (it == r.counters.end()) continue;
      const double ns = it->second.value * 1e9;
      const std::string& name = r.run_name.function_name;
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median") median_[name] = ns;
      } else {
        last_[name] = ns;
      }
    }
    inner_->ReportRuns(runs);
  }

  [[nodiscard]] std::optional<double> ns_per_chain(const std::string& name) const {
    if (auto it = median_.find(name); it != median_.end()) return it->second;
    if (auto it = last_.find(name); it != last_.end()) return it->second;
    return std::nullopt;
  }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::map<std::string, double> median_, last_;
};

using summary_fn = void (*)(const collecting_reporter&, std::FILE*);

/// Register every variant, run what --benchmark_filter selects, then print the summary.
inline int run_main(int argc, char** argv, std::span<const variant> variants, summary_fn summary) {
  for (const variant& v : variants) {
    auto* b = benchmark::RegisterBenchmark(v.name, v.fn);
    if (v.real_time) b->UseRealTime();
  }
  // --benchmark_format is honoured by hand because a custom display reporter replaces the
  // library's choice (json or console; the deprecated csv falls back to console). The summary
  // follows the console table on stdout; with json it goes to stderr so stdout stays parseable.
  std::string_view format = "console";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg{argv[i]};
    if (arg.starts_with("--benchmark_format=")) format = arg.substr(19);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::unique_ptr<benchmark::BenchmarkReporter> inner;
  if (format == "json") {
    inner = std::make_unique<benchmark::JSONReporter>();
  } else {
    auto opts = benchmark::ConsoleReporter::OO_Tabular;
#if defined(__unix__) || defined(__APPLE__)
    if (isatty(fileno(stdout)) != 0)
      opts = static_cast<benchmark::ConsoleReporter::OutputOptions>(
          opts | benchmark::ConsoleReporter::OO_Color);
#endif
    inner = std::make_unique<benchmark::ConsoleReporter>(opts);
  }
  const bool console = format != "json";
  collecting_reporter rep{std::move(inner)};
  benchmark::RunSpecifiedBenchmarks(&rep);
  summary(rep, console ? stdout : stderr);
  benchmark::Shutdown();
  return 0;
}

}  // namespace w1
}  // namespace
