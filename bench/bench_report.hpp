// SPDX-License-Identifier: Apache-2.0
// Reporting shared by the bench binaries (bench_w1, bench_devices): a per-item counter, a
// reporter that forwards to the one --benchmark_format asks for while keeping each benchmark's
// per-item figure for a summary, and the main() body that wires them up. Each binary is one
// translation unit that includes this header.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

// Internal linkage: every function here is local to the one translation unit of its binary.
namespace {
namespace bench {

/// Report items: items/s in the table, and `counter` (e.g. "ns_per_chain") as an inverted rate
/// (seconds per item, printed with an SI suffix: "5.1n" is 5.1 ns).
inline void report_per_item(benchmark::State& state, std::size_t items_per_iteration,
                            const char* counter) {
  const double items = static_cast<double>(state.iterations()) *
                       static_cast<double>(items_per_iteration);
  state.SetItemsProcessed(static_cast<std::int64_t>(items));
  state.counters[counter] =
      benchmark::Counter(items, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/// Forwards everything to the reporter for the requested --benchmark_format and keeps each
/// benchmark's per-item counter, in ns (the median when repetitions produce aggregates, else
/// the last run).
class collecting_reporter : public benchmark::BenchmarkReporter {
 public:
  collecting_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner, std::string counter)
      : inner_(std::move(inner)), counter_(std::move(counter)) {}

  bool ReportContext(const Context& context) override { return inner_->ReportContext(context); }
  void Finalize() override { inner_->Finalize(); }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const auto it = r.counters.find(counter_);
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

  /// The benchmark's figure in ns per item, if it ran.
  [[nodiscard]] std::optional<double> ns_per_item(const std::string& name) const {
    if (auto it = median_.find(name); it != median_.end()) return it->second;
    if (auto it = last_.find(name); it != last_.end()) return it->second;
    return std::nullopt;
  }

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::string counter_;
  std::map<std::string, double> median_, last_;
};

/// Run what --benchmark_filter selects (register the benchmarks first) through a Reporter
/// (collecting_reporter or a class derived from it, constructible from the display reporter),
/// then call summary(reporter, out).
template <typename Reporter, typename Summary>
int run_benchmarks(int argc, char** argv, Summary summary) {
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
  Reporter rep{std::move(inner)};
  benchmark::RunSpecifiedBenchmarks(&rep);
  summary(rep, console ? stdout : stderr);
  benchmark::Shutdown();
  return 0;
}

/// "12.34", or "-" when there is no figure.
inline std::string fmt_ns(std::optional<double> v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *v);
  return buf;
}
/// "1.23x" (top / bottom), or "-" when either is missing or bottom is not positive.
inline std::string fmt_ratio(std::optional<double> top, std::optional<double> bottom) {
  if (!top || !bottom || *bottom <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", *top / *bottom);
  return buf;
}

}  // namespace bench
}  // namespace
