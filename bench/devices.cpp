// SPDX-License-Identifier: Apache-2.0
// The virtio-i2c and virtio-gpio device models (i2c::device, gpio::device) over simulated
// back-ends: decode + execute + encode per op, device side, on split and packed rings, against a
// naive baseline device in the same binary, so that the ratios printed at the end come from one
// run on one machine. docs/benchmarks.md ("Device models") explains the rows and the output.
//
//   devices_feed.hpp    split replay and packed lap feeds for any request shape (+ set-up)
//   devices_common.hpp  the ns_per_op counter, the naive baselines' helpers, refill-only rows
//   devices_i2c.hpp     i2c: sim bus (register map, 24C02), ops, Vireo rows, naive device
//   devices_gpio.hpp    gpio: sim chip, ops, Vireo rows, interrupt rows, naive device
// Shared with bench_w1: bench_report.hpp (counter, collecting reporter, main body) and
// naive_split.hpp (the naive split-ring device under both naive baselines).
//
// Nothing allocates in the timed loops except the naive baselines, whose per-request vectors
// are part of what they demonstrate.

#include <array>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "bench_report.hpp"
#include "devices_common.hpp"
#include "devices_feed.hpp"
#include "devices_gpio.hpp"
#include "devices_i2c.hpp"

namespace {

using namespace devbench;
using split = split_replay_feed;
using packed = packed_lap_feed;

/// What a row measures.
enum class impl { vireo_split, vireo_packed, naive_split, overhead };

struct variant {
  const char* op;  ///< the summary row it belongs to
  impl where;
  const char* name;
  void (*fn)(benchmark::State&);
  /// Rows whose ns per op the summary subtracts (work inside the timed loop that is not the
  /// device's: the packed refill, the interrupt rows' edges); nullptr for none.
  std::array<const char*, 2> minus{};
};

constexpr const char* kRefillGroup2 = "i2c/packed/refill_only/group2";
constexpr const char* kRefillProbe = "i2c/packed/refill_only/probe";
constexpr const char* kRefillGpio = "gpio/packed/refill_only";
constexpr const char* kEdges = "gpio/irq/edges_only";

// clang-format off
const variant kVariants[] = {
    {"i2c_reg_read", impl::vireo_split, "i2c/reg_read/split", i2cb::bm_vireo<split, i2cb::reg_read>},
    {"i2c_reg_read", impl::naive_split, "i2c/reg_read/split/naive", i2cb::bm_naive<i2cb::reg_read>},
    {"i2c_reg_read", impl::vireo_packed, "i2c/reg_read/packed", i2cb::bm_vireo<packed, i2cb::reg_read>,
     {kRefillGroup2, nullptr}},
    {"i2c_eeprom16", impl::vireo_split, "i2c/eeprom_read16/split", i2cb::bm_vireo<split, i2cb::eeprom16>},
    {"i2c_eeprom16", impl::naive_split, "i2c/eeprom_read16/split/naive", i2cb::bm_naive<i2cb::eeprom16>},
    {"i2c_eeprom16", impl::vireo_packed, "i2c/eeprom_read16/packed",
     i2cb::bm_vireo<packed, i2cb::eeprom16>, {kRefillGroup2, nullptr}},
    {"i2c_probe", impl::vireo_split, "i2c/probe/split", i2cb::bm_vireo<split, i2cb::probe>},
    {"i2c_probe", impl::naive_split, "i2c/probe/split/naive", i2cb::bm_naive<i2cb::probe>},
    {"i2c_probe", impl::vireo_packed, "i2c/probe/packed", i2cb::bm_vireo<packed, i2cb::probe>,
     {kRefillProbe, nullptr}},

    {"gpio_get_value", impl::vireo_split, "gpio/get_value/split",
     gpiob::bm_vireo_requests<split, gpiob::get_value>},
    {"gpio_get_value", impl::naive_split, "gpio/get_value/split/naive",
     gpiob::bm_naive_requests<gpiob::get_value>},
    {"gpio_get_value", impl::vireo_packed, "gpio/get_value/packed",
     gpiob::bm_vireo_requests<packed, gpiob::get_value>, {kRefillGpio, nullptr}},
    {"gpio_set_value", impl::vireo_split, "gpio/set_value/split",
     gpiob::bm_vireo_requests<split, gpiob::set_value>},
    {"gpio_set_value", impl::naive_split, "gpio/set_value/split/naive",
     gpiob::bm_naive_requests<gpiob::set_value>},
    {"gpio_set_value", impl::vireo_packed, "gpio/set_value/packed",
     gpiob::bm_vireo_requests<packed, gpiob::set_value>, {kRefillGpio, nullptr}},
    {"gpio_get_direction", impl::vireo_split, "gpio/get_direction/split",
     gpiob::bm_vireo_requests<split, gpiob::get_direction>},
    {"gpio_get_direction", impl::naive_split, "gpio/get_direction/split/naive",
     gpiob::bm_naive_requests<gpiob::get_direction>},
    {"gpio_get_direction", impl::vireo_packed, "gpio/get_direction/packed",
     gpiob::bm_vireo_requests<packed, gpiob::get_direction>, {kRefillGpio, nullptr}},
    {"gpio_irq", impl::vireo_split, "gpio/irq/split", gpiob::bm_vireo_irq<split>, {kEdges, nullptr}},
    {"gpio_irq", impl::naive_split, "gpio/irq/split/naive", gpiob::bm_naive_irq, {kEdges, nullptr}},
    {"gpio_irq", impl::vireo_packed, "gpio/irq/packed", gpiob::bm_vireo_irq<packed>,
     {kEdges, kRefillGpio}},

    // What the summary subtracts (and, for reference, the split replay's one store per round).
    {nullptr, impl::overhead, kRefillGroup2, bm_refill_only<packed, i2cb::reg_read>},
    {nullptr, impl::overhead, kRefillProbe, bm_refill_only<packed, i2cb::probe>},
    {nullptr, impl::overhead, kRefillGpio, bm_refill_only<packed, gpiob::get_value>},
    {nullptr, impl::overhead, "gpio/split/refill_only", bm_refill_only<split, gpiob::get_value>},
    {nullptr, impl::overhead, kEdges, gpiob::bm_edges_only},
};
// clang-format on

/// The summary's rows: one per op.
struct op_row {
  const char* op;
  const char* label;
  int chains;  ///< requests (chains) per op
};
constexpr op_row kOps[] = {
    {"i2c_reg_read", "i2c register read (wr 1 + rd 1)", 2},
    {"i2c_eeprom16", "i2c EEPROM read (wr 1 + rd 16)", 2},
    {"i2c_probe", "i2c zero-length probe", 1},
    {"gpio_get_value", "gpio GET_VALUE", 1},
    {"gpio_set_value", "gpio SET_VALUE", 1},
    {"gpio_get_direction", "gpio GET_DIRECTION", 1},
    {"gpio_irq", "gpio IRQ delivery (edge -> VALID)", 1},
};

/// The reporter of this binary: the shared one over ns_per_op.
class ops_reporter : public bench::collecting_reporter {
 public:
  explicit ops_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : bench::collecting_reporter(std::move(inner), kCounter) {}
};

struct figure {
  std::optional<double> ns;        ///< net of what the row's `minus` names, when those ran
  std::optional<double> measured;  ///< as measured
  bool gross = false;              ///< something to subtract did not run: ns is the measured one
};

figure get(const ops_reporter& rep, std::string_view op, impl where) {
  figure f;
  for (const variant& v : kVariants) {
    if (v.op == nullptr || v.where != where || op != v.op) continue;
    f.measured = rep.ns_per_item(v.name);
    f.ns = f.measured;
    if (!f.ns) return f;
    for (const char* m : v.minus) {
      if (m == nullptr) continue;
      if (const auto x = rep.ns_per_item(m)) *f.ns -= *x;
      else f.gross = true;
    }
    return f;
  }
  return f;
}

std::string with_mark(const figure& f) {
  return bench::fmt_ns(f.ns) + (f.gross ? "*" : "");
}

void print_summary(const ops_reporter& rep, std::FILE* out) {
  std::fprintf(out,
               "\nDevice models summary: ns per op (the median with --benchmark_repetitions, else "
               "the run).\nOne op = its requests from available chains to used entries, device "
               "side. Rows net of\nwhat the timed loop holds besides the device: the packed "
               "refill, and the IRQ rows' edges\n(gpio/irq/edges_only); 'measured' is the packed "
               "figure before subtraction.\nvireo/naive below 1: Vireo takes that fraction of "
               "the naive baseline's time (split rings).\n");
  std::fprintf(out, "%-36s %4s %8s %8s %12s %8s %13s %9s\n", "op", "reqs", "vireo", "naive",
               "vireo/naive", "packed", "packed/split", "measured");
  bool any_gross = false;
  for (const op_row& r : kOps) {
    const figure sp = get(rep, r.op, impl::vireo_split);
    const figure nv = get(rep, r.op, impl::naive_split);
    const figure pk = get(rep, r.op, impl::vireo_packed);
    any_gross = any_gross || sp.gross || nv.gross || pk.gross;
    std::fprintf(out, "%-36s %4d %8s %8s %12s %8s %13s %9s\n", r.label, r.chains,
                 with_mark(sp).c_str(), with_mark(nv).c_str(), bench::fmt_ratio(sp.ns, nv.ns).c_str(),
                 with_mark(pk).c_str(), bench::fmt_ratio(pk.ns, sp.ns).c_str(),
                 bench::fmt_ns(pk.measured).c_str());
  }
  if (any_gross)
    std::fprintf(out, "* a row to subtract did not run (filtered out): measured figure\n");
  std::fprintf(out, "\nSubtracted (ns per op of the rows above): refill group2 %s, probe %s, gpio %s;"
               " edges %s;\nsplit replay (not subtracted) %s\n",
               bench::fmt_ns(rep.ns_per_item(kRefillGroup2)).c_str(),
               bench::fmt_ns(rep.ns_per_item(kRefillProbe)).c_str(),
               bench::fmt_ns(rep.ns_per_item(kRefillGpio)).c_str(),
               bench::fmt_ns(rep.ns_per_item(kEdges)).c_str(),
               bench::fmt_ns(rep.ns_per_item("gpio/split/refill_only")).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  for (const variant& v : kVariants) benchmark::RegisterBenchmark(v.name, v.fn);
  const int rc = bench::run_benchmarks<ops_reporter>(argc, argv, print_summary);
  if (rc == 0 && failures() != 0) {
    std::fprintf(stderr, "bench_devices: %d benchmark run(s) failed their set-up or checks\n",
                 failures());
    return 1;
  }
  return rc;
}
