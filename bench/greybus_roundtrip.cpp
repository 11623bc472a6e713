// SPDX-License-Identifier: Apache-2.0
// bench_greybus_roundtrip: one GPIO set_value round trip, driver call to checked answer, both
// ends in one process, over the same simulated chip two ways in the same run:
//   greybus/<layout>      host::gpio_client::set_value -> ap::call -> ap_driver (ap_to_module)
//                         -> module_device -> module::interface -> gpio_responder -> chip, and the
//                         response back over module_to_ap (docs/greybus-virtio.md);
//   virtio_gpio/<layout>  gpio::driver::set_value -> requestq -> gpio::device -> chip, and the
//                         2-byte response back (virtio 1.3 §5.18).
// Each op runs the device side once (the greybus host's `progress`, virtio-gpio's kick) and
// alternates low/high on an output line. The greybus host's clock is a counter (no system call
// in the loop; its timeouts never fire). Nothing allocates in the timed loops. The summary gives
// ns per round trip and the ratio greybus / virtio-gpio per layout.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench_report.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/gpio/device.hpp"
#include "vireo/gpio/driver.hpp"
#include "vireo/gpio/sim/chip.hpp"
#include "vireo/greybus/host/ap.hpp"
#include "vireo/greybus/host/gpio_client.hpp"
#include "vireo/greybus/manifest_builder.hpp"
#include "vireo/greybus/module/gpio_responder.hpp"
#include "vireo/greybus/module/module.hpp"
#include "vireo/greybus/virtio/ap_driver.hpp"
#include "vireo/greybus/virtio/module_device.hpp"
#include "vireo/ring/any_device_queue.hpp"
#include "vireo/ring/any_driver_queue.hpp"
#include "vireo/ring/driver_env.hpp"
#include "vireo/ring/driver_region.hpp"
#include "vireo/ring/layout.hpp"

namespace {

namespace ring = vireo::ring;
namespace gpio = vireo::gpio;
namespace gb = vireo::greybus;
namespace gbv = vireo::greybus::virtio;
using vireo::gpa;

constexpr const char* kCounter = "ns_per_op";
constexpr std::uint16_t kQueueSize = 16;
constexpr std::uint16_t kChipLines = 4;
constexpr std::uint16_t kVirtioLine = 0;     ///< host line driven through virtio-gpio
constexpr std::uint16_t kGreybusLine = 1;    ///< host line driven through Greybus (its line 0)
constexpr std::uint16_t kGpioCport = 1;

using memory = vireo::flat_memory;
using chip_type = gpio::sim::chip<kChipLines, 16>;
using device_queue = ring::any_device_queue<memory, 8>;
using driver_queue = ring::any_driver_queue<memory, kQueueSize>;
using gpio_device = gpio::device<device_queue, chip_type, kChipLines>;
using gpio_front_end = gpio::driver<memory, driver_queue, kChipLines>;
using interface_type = gb::module::interface<>;
using gpio_responder = gb::module::gpio_responder<chip_type>;
using module_device = gbv::module_device<interface_type, device_queue>;
using ap_driver = gbv::ap_driver<memory, driver_queue, 4, 4>;

struct tick_clock {
  std::uint64_t* now;
  std::uint64_t operator()() const noexcept { return ++*now; }
};
using host_type = gb::host::ap<ap_driver, tick_clock>;
using gpio_client = gb::host::gpio_client<host_type>;

int& failures() {
  static int n = 0;
  return n;
}
void fail(benchmark::State& state, const char* why) {
  ++failures();
  state.SkipWithError(why);
}

/// Hands out aligned guest ranges front to back.
struct planner {
  gpa base;
  std::size_t at = 0;
  gpa take(std::size_t n, std::size_t align) {
    at = (at + align - 1) / align * align;
    const gpa g = base.offset(at);
    at += n;
    return g;
  }
  ring::queue_config queue(const vireo::feature_set& f) {
    if (ring::layout_of(f) == ring::queue_layout::packed) {
      namespace L = ring::packed_layout;
      const gpa d = take(L::desc_ring_bytes(kQueueSize), L::desc_align);
      const gpa drv = take(L::event_bytes, L::event_align);
      const gpa dev = take(L::event_bytes, L::event_align);
      return {kQueueSize, d, drv, dev, f};
    }
    namespace L = ring::split_layout;
    const gpa d = take(L::desc_table_bytes(kQueueSize), L::desc_align);
    const gpa a = take(L::avail_bytes(kQueueSize), L::avail_align);
    const gpa u = take(L::used_bytes(kQueueSize), L::used_align);
    return {kQueueSize, d, a, u, f};
  }
};

/// One simulated chip reachable two ways, both stacks in one guest memory. Built once per
/// layout, outside the timed loops; not movable (the stacks reference each other).
struct world {
  std::vector<std::byte> ram = std::vector<std::byte>(std::size_t{1} << 18);
  memory mem{vireo::bytes{ram.data(), ram.size()}, gpa{0x4000'0000}};
  planner plan{gpa{0x4000'0000}};
  chip_type chip{kChipLines};
  bool ok = false;

  // virtio-gpio (requestq + an eventq the device model needs, unused: no F_IRQ).
  device_queue vg_dev_rq{mem}, vg_dev_eq{mem};
  driver_queue vg_drv_rq{mem};
  std::optional<gpio_device> vg_dev;
  std::optional<gpio_front_end> vg_fe;

  // greybus over the binding.
  std::array<std::byte, 128> manifest{};
  std::optional<gpio_responder> gb_gpio;
  std::optional<interface_type> gb_iface;
  device_queue gb_dev_rx{mem}, gb_dev_tx{mem};
  driver_queue gb_ap_tx{mem}, gb_ap_rx{mem};
  std::optional<module_device> gb_dev;
  std::optional<ap_driver> gb_ap;
  std::uint64_t now = 0;
  std::optional<host_type> host;
  std::optional<gpio_client> client;

  explicit world(bool packed) { ok = build(packed); }
  world(const world&) = delete;

  /// virtio-gpio's surroundings: a kick runs the device model at once.
  auto env() {
    return ring::env_callbacks{[this](std::uint16_t) { (void)vg_dev->process_requests(); },
                               [this] { (void)vg_dev->process_requests(); }};
  }
  /// The greybus host's progress: run the module's virtio device.
  auto progress() {
    return [this] { (void)gb_dev->process(); };
  }

  bool build(bool packed) {
    vireo::feature_set f{vireo::transport_feature::version_1};
    if (packed) f.set(vireo::transport_feature::ring_packed);

    // virtio-gpio: device, FEATURES_OK without F_IRQ, front-end, line 0 an output.
    const auto rq = plan.queue(f), eq = plan.queue(f);
    if (!vg_dev_rq.configure(rq) || !vg_dev_eq.configure(eq) || !vg_drv_rq.configure(rq)) return false;
    auto d = gpio_device::create(chip, vg_dev_rq, vg_dev_eq, gpio::device_options{false});
    if (!d) return false;
    vg_dev.emplace(std::move(*d));
    if (!vg_dev->set_driver_features(f)) return false;
    const std::uint64_t fe_bytes = gpio_front_end::region_size(vg_dev->params());
    auto fe = gpio_front_end::create(mem, vg_drv_rq, nullptr,
                                     ring::driver_region{plan.take(fe_bytes, 64), fe_bytes},
                                     vg_dev->config(), f);
    if (!fe) return false;
    vg_fe.emplace(std::move(*fe));
    if (!vg_fe->direction_output(kVirtioLine, gpio::level::low, env())) return false;

    // greybus: manifest with one GPIO bundle exposing host line 1, the module, the binding.
    gb::manifest_builder b{manifest};
    if (!b.add_interface(0, 0) || !b.add_bundle(1, 0x0a) || !b.add_cport(kGpioCport, 1, 0x02))
      return false;
    auto size = b.finish();
    if (!size) return false;
    const std::uint16_t lines[] = {kGreybusLine};
    auto g = gpio_responder::create(chip, lines);
    if (!g) return false;
    gb_gpio.emplace(std::move(*g));
    auto i = interface_type::create(vireo::const_bytes{manifest}.first(*size));
    if (!i) return false;
    gb_iface.emplace(std::move(*i));
    if (!gb_iface->attach(kGpioCport, *gb_gpio)) return false;
    const auto to_module = plan.queue(f), to_ap = plan.queue(f);
    if (!gb_dev_rx.configure(to_module) || !gb_dev_tx.configure(to_ap) ||
        !gb_ap_tx.configure(to_module) || !gb_ap_rx.configure(to_ap))
      return false;
    gb_dev.emplace(*gb_iface, gb_dev_rx, gb_dev_tx);
    const auto cfg = gb_dev->config();
    const std::uint64_t ap_bytes = ap_driver::region_size(cfg);
    auto ap = ap_driver::create(mem, gb_ap_tx, gb_ap_rx,
                                ring::driver_region{plan.take(ap_bytes, 64), ap_bytes}, cfg);
    if (!ap) return false;
    gb_ap.emplace(std::move(*ap));
    if (plan.at > ram.size()) return false;
    host.emplace(*gb_ap, tick_clock{&now});
    if (!host->enumerate(progress())) return false;
    auto c = gpio_client::bind(*host, kGpioCport);
    if (!c) return false;
    client.emplace(*c);
    return static_cast<bool>(client->direction_out(0, false, progress()));
  }
};

world& get_world(bool packed) {
  static std::unique_ptr<world> w[2];
  auto& slot = w[packed ? 1 : 0];
  if (!slot) slot = std::make_unique<world>(packed);
  return *slot;
}

template <bool Packed>
void bm_greybus(benchmark::State& state) {
  world& w = get_world(Packed);
  if (!w.ok) return fail(state, "set-up failed");
  auto progress = w.progress();
  bool high = false;
  for (auto _ : state) {
    high = !high;
    auto r = w.client->set_value(0, high, progress);
    benchmark::DoNotOptimize(r);
    if (!r) return fail(state, "set_value failed");
  }
  if ((w.chip.driven(kGreybusLine) == gpio::level::high) != high)
    return fail(state, "the chip does not drive what was set");
  bench::report_per_item(state, 1, kCounter);
}

template <bool Packed>
void bm_virtio_gpio(benchmark::State& state) {
  world& w = get_world(Packed);
  if (!w.ok) return fail(state, "set-up failed");
  auto env = w.env();
  bool high = false;
  for (auto _ : state) {
    high = !high;
    auto r = w.vg_fe->set_value(kVirtioLine, high ? gpio::level::high : gpio::level::low, env);
    benchmark::DoNotOptimize(r);
    if (!r) return fail(state, "set_value failed");
  }
  if ((w.chip.driven(kVirtioLine) == gpio::level::high) != high)
    return fail(state, "the chip does not drive what was set");
  bench::report_per_item(state, 1, kCounter);
}

class rt_reporter : public bench::collecting_reporter {
 public:
  explicit rt_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : bench::collecting_reporter(std::move(inner), kCounter) {}
};

void print_summary(const rt_reporter& rep, std::FILE* out) {
  std::fprintf(out,
               "\nGPIO set_value round trip, ns per op (the median with --benchmark_repetitions, "
               "else the run).\nSame process, same simulated chip; greybus/virtio-gpio above 1: "
               "the binding takes that many times as long.\n");
  std::fprintf(out, "%-8s %10s %12s %18s\n", "layout", "greybus", "virtio-gpio",
               "greybus/virtio-gpio");
  for (const char* layout : {"split", "packed"}) {
    const auto g = rep.ns_per_item(std::string("greybus/set_value/") + layout);
    const auto v = rep.ns_per_item(std::string("virtio_gpio/set_value/") + layout);
    std::fprintf(out, "%-8s %10s %12s %18s\n", layout, bench::fmt_ns(g).c_str(),
                 bench::fmt_ns(v).c_str(), bench::fmt_ratio(g, v).c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("greybus/set_value/split", bm_greybus<false>);
  benchmark::RegisterBenchmark("virtio_gpio/set_value/split", bm_virtio_gpio<false>);
  benchmark::RegisterBenchmark("greybus/set_value/packed", bm_greybus<true>);
  benchmark::RegisterBenchmark("virtio_gpio/set_value/packed", bm_virtio_gpio<true>);
  const int rc = bench::run_benchmarks<rt_reporter>(argc, argv, print_summary);
  if (rc == 0 && failures() != 0) {
    std::fprintf(stderr, "bench_greybus_roundtrip: %d benchmark run(s) failed\n", failures());
    return 1;
  }
  return rc;
}
