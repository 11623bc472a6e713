// SPDX-License-Identifier: Apache-2.0
// Greybus decode throughput, Vireo against naive parsers in the same binary and run:
//  - message: greybus::decode (header copy + §1 receive checks) + decode_request<Op> (type and
//    exact payload layout) of a GPIO Set Value request and an I2C Transfer request (EEPROM
//    random read: 1-byte write + 8-byte read), against a byte-by-byte parse of the same fields
//    with no validation at all;
//  - manifest: parse_manifest (framing + validation, kernel and strict modes, default view
//    capacity; once with a 4-bundle/8-cport view) of two manifests of shared/vectors/greybus,
//    against a naive descriptor walk that records bundles and cports trusting every size field
//    (bounded by the buffer only, so it cannot overrun);
//  - tracker: one operation_tracker begin() + complete() pair, with the table otherwise empty
//    and with 15 of 16 slots held (the worst-case scan), against a Linux-shaped tracker
//    (counter id cycle % 65535 + 1 without skipping ids in flight, linear list lookup).
// The summary prints ns per item and the ratio Vireo / naive (below 1: Vireo faster).
//
//   bench_greybus_decode [--benchmark_filter=...] [--benchmark_repetitions=N]

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench_report.hpp"
#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/i2c.hpp"
#include "vireo/greybus/manifest.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/operation_tracker.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::const_bytes;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "bench_greybus_decode: %s\n", what);
  std::abort();
}

// ---- Inputs --------------------------------------------------------------------------------------

/// GPIO Set Value, line 3 high, id 0x1234: 10 bytes.
std::vector<std::byte> gpio_set_value_message() {
  std::vector<std::byte> out(64);
  auto n = gb::encode_request<gb::gpio::set_value>(0x1234, gb::gpio::which_value_request{3, 1},
                                                   out);
  if (!n) fail("cannot encode gpio set_value");
  out.resize(*n);
  return out;
}

/// I2C Transfer as Linux sends an EEPROM random read: write the 1-byte word address to 0x50,
/// then read 8 bytes from 0x50 (2 ops + 1 write byte: 23 bytes).
std::vector<std::byte> i2c_transfer_message() {
  std::array<gb::i2c::transfer_op, 2> ops{};
  ops[0].addr.set(0x50);
  ops[0].flags.set(0);
  ops[0].size.set(1);
  ops[1].addr.set(0x50);
  ops[1].flags.set(gb::i2c::op_flag::rd);
  ops[1].size.set(8);
  const std::array<std::byte, 1> word{std::byte{0x10}};
  auto req = gb::i2c::transfer_request::build(ops, word);
  if (!req) fail("cannot build i2c transfer");
  std::vector<std::byte> out(64);
  auto n = gb::encode_request<gb::i2c::transfer>(0x0102, *req, out);
  if (!n) fail("cannot encode i2c transfer");
  out.resize(*n);
  return out;
}

// shared/vectors/greybus/manifests/vm-bridged-phy.mnfb (100 bytes): one Bridged PHY bundle with
// GPIO, I2C, SPI, UART and PWM CPorts 1..5; accepted in both modes.
constexpr std::array<std::uint8_t, 100> vm_bridged_phy{
    0x64, 0x00, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00,
    0x0e, 0x01, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x56, 0x65, 0x6e, 0x64, 0x6f, 0x72,
    0x14, 0x00, 0x02, 0x00, 0x0e, 0x02, 0x56, 0x4d, 0x20, 0x42, 0x72, 0x69, 0x64, 0x67, 0x65, 0x64,
    0x20, 0x50, 0x48, 0x59, 0x08, 0x00, 0x03, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00,
    0x01, 0x00, 0x01, 0x02, 0x08, 0x00, 0x04, 0x00, 0x02, 0x00, 0x01, 0x03, 0x08, 0x00, 0x04, 0x00,
    0x03, 0x00, 0x01, 0x0b, 0x08, 0x00, 0x04, 0x00, 0x04, 0x00, 0x01, 0x04, 0x08, 0x00, 0x04, 0x00,
    0x05, 0x00, 0x01, 0x09,
};
// shared/vectors/greybus/manifests/IID1-simple-i2c-module.mnfb (76 bytes): the manifesto
// example with one I2C CPort; accepted in both modes.
constexpr std::array<std::uint8_t, 76> iid1_simple_i2c{
    0x4c, 0x00, 0x00, 0x01, 0x08, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00,
    0x0b, 0x01, 0x50, 0x72, 0x6f, 0x6a, 0x65, 0x63, 0x74, 0x20, 0x41, 0x72, 0x61, 0x00, 0x00, 0x00,
    0x1c, 0x00, 0x02, 0x00, 0x14, 0x02, 0x53, 0x69, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x49, 0x32, 0x43,
    0x20, 0x49, 0x6e, 0x74, 0x65, 0x72, 0x66, 0x61, 0x63, 0x65, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00,
    0x01, 0x00, 0x01, 0x03, 0x08, 0x00, 0x03, 0x00, 0x01, 0x0a, 0x00, 0x00,
};

template <std::size_t N>
const_bytes as_bytes(const std::array<std::uint8_t, N>& a) {
  return {reinterpret_cast<const std::byte*>(a.data()), a.size()};
}

// ---- Naive parsers: trust every field ------------------------------------------------------------

std::uint16_t rd16(const std::byte* p) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(p[0]) |
                                    (std::to_integer<unsigned>(p[1]) << 8));
}

struct naive_header {
  std::uint16_t size, id;
  std::uint8_t type, result;
};
naive_header naive_parse_header(const std::byte* p) {
  return {rd16(p), rd16(p + 2), std::to_integer<std::uint8_t>(p[4]),
          std::to_integer<std::uint8_t>(p[5])};
}

struct naive_gpio_set {
  naive_header h;
  std::uint8_t which, value;
};
[[gnu::noinline]] naive_gpio_set naive_gpio_set_value(const std::byte* p) {
  return {naive_parse_header(p), std::to_integer<std::uint8_t>(p[8]),
          std::to_integer<std::uint8_t>(p[9])};
}

struct naive_i2c_transfer {
  naive_header h;
  std::uint16_t op_count;
  const std::byte* ops;
  const std::byte* write;
  std::size_t read_total;
};
[[gnu::noinline]] naive_i2c_transfer naive_i2c_parse(const std::byte* p) {
  naive_i2c_transfer t{naive_parse_header(p), rd16(p + 8), p + 10, nullptr, 0};
  std::size_t write_total = 0;
  for (std::size_t i = 0; i < t.op_count; ++i) {
    const std::byte* op = t.ops + 6 * i;
    ((rd16(op + 2) & gb::i2c::op_flag::rd) ? t.read_total : write_total) += rd16(op + 4);
  }
  t.write = t.ops + 6 * t.op_count;
  benchmark::DoNotOptimize(write_total);
  return t;
}

struct naive_manifest {
  std::array<std::pair<std::uint8_t, std::uint8_t>, 32> bundles;  // id, class
  std::array<std::array<std::uint16_t, 3>, 128> cports;           // id, bundle, protocol
  std::size_t n_bundles, n_cports;
};
/// Walk the descriptors by their size fields and record bundles and cports; the only check is
/// the one that keeps the walk inside the buffer.
[[gnu::noinline]] void naive_manifest_walk(const_bytes m, naive_manifest& out) {
  out.n_bundles = out.n_cports = 0;
  const std::byte* p = m.data();
  const std::size_t size = rd16(p);
  std::size_t at = 4;
  while (at + 4 <= size && at + 4 <= m.size()) {
    const std::size_t dsize = rd16(p + at);
    const auto type = std::to_integer<std::uint8_t>(p[at + 2]);
    if (dsize == 0) break;
    if (type == 0x03 && out.n_bundles < out.bundles.size())
      out.bundles[out.n_bundles++] = {std::to_integer<std::uint8_t>(p[at + 4]),
                                      std::to_integer<std::uint8_t>(p[at + 5])};
    if (type == 0x04 && out.n_cports < out.cports.size())
      out.cports[out.n_cports++] = {rd16(p + at + 4), std::to_integer<std::uint8_t>(p[at + 6]),
                                    std::to_integer<std::uint8_t>(p[at + 7])};
    at += dsize;
  }
}

/// A Linux-shaped tracker: ids from a counter (cycle % U16_MAX + 1, no skipping), a linear
/// table searched by id.
struct naive_tracker {
  struct op {
    std::uint16_t id;
    std::uint8_t type;
    bool used;
    std::uint64_t deadline, cookie;
  };
  std::array<op, 16> ops{};
  std::uint32_t cycle = 0;

  [[gnu::noinline]] std::uint16_t begin(std::uint8_t type, std::uint64_t deadline,
                                        std::uint64_t cookie) {
    for (op& o : ops) {
      if (o.used) continue;
      const auto id = static_cast<std::uint16_t>(++cycle % 0xffff + 1);
      o = {id, type, true, deadline, cookie};
      return id;
    }
    return 0;
  }
  [[gnu::noinline]] std::optional<op> complete(std::uint16_t id) {
    for (op& o : ops) {
      if (o.used && o.id == id) {
        o.used = false;
        return o;
      }
    }
    return std::nullopt;
  }
};

// ---- Rows ----------------------------------------------------------------------------------------

void set_bytes(benchmark::State& state, std::size_t bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(bytes));
}

void bm_gpio_vireo(benchmark::State& state) {
  const auto msg = gpio_set_value_message();
  for (auto _ : state) {
    benchmark::DoNotOptimize(msg.data());
    auto m = gb::decode(msg);
    if (!m) {
      state.SkipWithError("decode refused a valid message");
      break;
    }
    auto r = gb::decode_request<gb::gpio::set_value>(*m);
    benchmark::DoNotOptimize(r);
    if (!r) state.SkipWithError("decode_request refused a valid set_value");
  }
  bench::report_per_item(state, 1, "ns_per_item");
  set_bytes(state, msg.size());
}

void bm_gpio_naive(benchmark::State& state) {
  const auto msg = gpio_set_value_message();
  for (auto _ : state) {
    benchmark::DoNotOptimize(msg.data());
    auto r = naive_gpio_set_value(msg.data());
    benchmark::DoNotOptimize(r);
  }
  bench::report_per_item(state, 1, "ns_per_item");
  set_bytes(state, msg.size());
}

void bm_i2c_vireo(benchmark::State& state) {
  const auto msg = i2c_transfer_message();
  for (auto _ : state) {
    benchmark::DoNotOptimize(msg.data());
    auto m = gb::decode(msg);
    if (!m) {
      state.SkipWithError("decode refused a valid message");
      break;
    }
    auto r = gb::decode_request<gb::i2c::transfer>(*m);
    benchmark::DoNotOptimize(r);
    if (!r || r->read_length() != 8) state.SkipWithError("decode_request refused a transfer");
  }
  bench::report_per_item(state, 1, "ns_per_item");
  set_bytes(state, msg.size());
}

void bm_i2c_naive(benchmark::State& state) {
  const auto msg = i2c_transfer_message();
  for (auto _ : state) {
    benchmark::DoNotOptimize(msg.data());
    auto r = naive_i2c_parse(msg.data());
    benchmark::DoNotOptimize(r);
    if (r.read_total != 8) state.SkipWithError("naive parse went wrong");
  }
  bench::report_per_item(state, 1, "ns_per_item");
  set_bytes(state, msg.size());
}

/// parse_manifest with the default view capacity (32 bundles, 128 cports) unless told.
template <const auto& Manifest, gb::manifest_mode Mode, std::size_t CPorts,
          std::size_t MaxBundles = 32, std::size_t MaxCPorts = 128>
void bm_manifest_vireo(benchmark::State& state) {
  const const_bytes bytes = as_bytes(Manifest);
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    auto m = gb::parse_manifest<MaxBundles, MaxCPorts>(bytes, Mode);
    benchmark::DoNotOptimize(m);
    if (!m || m->cports().size() != CPorts) state.SkipWithError("parse_manifest went wrong");
  }
  bench::report_per_item(state, 1, "ns_per_item");
  set_bytes(state, bytes.size());
}

template <const auto& Manifest, std::size_t CPorts>
void bm_manifest_naive(benchmark::State& state) {
  const const_bytes bytes = as_bytes(Manifest);
  naive_manifest out{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(bytes.data());
    naive_manifest_walk(bytes, out);
    benchmark::DoNotOptimize(out);
    if (out.n_cports != CPorts) state.SkipWithError("naive walk went wrong");
  }
  bench::report_per_item(state, 1, "ns_per_item");
  set_bytes(state, bytes.size());
}

/// begin() + complete() of one operation with `Held` others in flight (no deadline).
template <std::size_t Held>
void bm_tracker_vireo(benchmark::State& state) {
  gb::operation_tracker<16> t{gb::connection_state::enabled};
  for (std::size_t i = 0; i < Held; ++i) {
    if (!t.begin(0x02, 0, 0, i)) fail("tracker refused a held op");
  }
  std::uint64_t now = 0;
  for (auto _ : state) {
    auto id = t.begin(gb::gpio::set_value::type, now, gb::default_timeout_ms, now);
    if (!id) {
      state.SkipWithError("begin refused");
      break;
    }
    const gb::header h = gb::make_response_header(*id, gb::gpio::set_value::type, 0, 0);
    auto op = t.complete(h);
    benchmark::DoNotOptimize(op);
    if (!op) state.SkipWithError("complete refused");
    ++now;
  }
  bench::report_per_item(state, 1, "ns_per_item");
}

template <std::size_t Held>
void bm_tracker_naive(benchmark::State& state) {
  naive_tracker t;
  for (std::size_t i = 0; i < Held; ++i) (void)t.begin(0x02, 0, i);
  std::uint64_t now = 0;
  for (auto _ : state) {
    const std::uint16_t id = t.begin(gb::gpio::set_value::type, now + 1000, now);
    const gb::header h = gb::make_response_header(id, gb::gpio::set_value::type, 0, 0);
    auto op = t.complete(h.operation_id.get());
    benchmark::DoNotOptimize(op);
    if (!op) state.SkipWithError("naive complete went wrong");
    ++now;
  }
  bench::report_per_item(state, 1, "ns_per_item");
}

/// One line of the summary: a Vireo row and the naive row it is compared with.
struct pair_row {
  const char* label;
  const char* vireo;
  const char* naive;
};
constexpr std::array kRows{
    pair_row{"message gpio set_value", "message/gpio_set_value/vireo",
             "message/gpio_set_value/naive"},
    pair_row{"message i2c transfer", "message/i2c_transfer/vireo", "message/i2c_transfer/naive"},
    pair_row{"manifest vm-bridged-phy kernel", "manifest/vm_bridged_phy/kernel",
             "manifest/vm_bridged_phy/naive"},
    pair_row{"manifest vm-bridged-phy strict", "manifest/vm_bridged_phy/strict",
             "manifest/vm_bridged_phy/naive"},
    pair_row{"manifest vm-bridged-phy kernel 4/8", "manifest/vm_bridged_phy/kernel_cap4_8",
             "manifest/vm_bridged_phy/naive"},
    pair_row{"manifest IID1-simple-i2c kernel", "manifest/iid1_simple_i2c/kernel",
             "manifest/iid1_simple_i2c/naive"},
    pair_row{"manifest IID1-simple-i2c strict", "manifest/iid1_simple_i2c/strict",
             "manifest/iid1_simple_i2c/naive"},
    pair_row{"tracker begin+complete, 0 held", "tracker/begin_complete/held0/vireo",
             "tracker/begin_complete/held0/naive"},
    pair_row{"tracker begin+complete, 15 held", "tracker/begin_complete/held15/vireo",
             "tracker/begin_complete/held15/naive"},
};

void register_all() {
  using gb::manifest_mode;
  benchmark::RegisterBenchmark("message/gpio_set_value/vireo", bm_gpio_vireo);
  benchmark::RegisterBenchmark("message/gpio_set_value/naive", bm_gpio_naive);
  benchmark::RegisterBenchmark("message/i2c_transfer/vireo", bm_i2c_vireo);
  benchmark::RegisterBenchmark("message/i2c_transfer/naive", bm_i2c_naive);
  benchmark::RegisterBenchmark("manifest/vm_bridged_phy/kernel",
                               bm_manifest_vireo<vm_bridged_phy, manifest_mode::kernel, 5>);
  benchmark::RegisterBenchmark("manifest/vm_bridged_phy/strict",
                               bm_manifest_vireo<vm_bridged_phy, manifest_mode::strict, 5>);
  benchmark::RegisterBenchmark(
      "manifest/vm_bridged_phy/kernel_cap4_8",
      bm_manifest_vireo<vm_bridged_phy, manifest_mode::kernel, 5, 4, 8>);
  benchmark::RegisterBenchmark("manifest/vm_bridged_phy/naive",
                               bm_manifest_naive<vm_bridged_phy, 5>);
  benchmark::RegisterBenchmark("manifest/iid1_simple_i2c/kernel",
                               bm_manifest_vireo<iid1_simple_i2c, manifest_mode::kernel, 1>);
  benchmark::RegisterBenchmark("manifest/iid1_simple_i2c/strict",
                               bm_manifest_vireo<iid1_simple_i2c, manifest_mode::strict, 1>);
  benchmark::RegisterBenchmark("manifest/iid1_simple_i2c/naive",
                               bm_manifest_naive<iid1_simple_i2c, 1>);
  benchmark::RegisterBenchmark("tracker/begin_complete/held0/vireo", bm_tracker_vireo<0>);
  benchmark::RegisterBenchmark("tracker/begin_complete/held0/naive", bm_tracker_naive<0>);
  benchmark::RegisterBenchmark("tracker/begin_complete/held15/vireo", bm_tracker_vireo<15>);
  benchmark::RegisterBenchmark("tracker/begin_complete/held15/naive", bm_tracker_naive<15>);
}

struct item_reporter : bench::collecting_reporter {
  explicit item_reporter(std::unique_ptr<benchmark::BenchmarkReporter> inner)
      : collecting_reporter(std::move(inner), "ns_per_item") {}
};

}  // namespace

int main(int argc, char** argv) {
  register_all();
  return bench::run_benchmarks<item_reporter>(
      argc, argv, [](const item_reporter& rep, std::FILE* out) {
        std::fprintf(out, "\nGreybus decode, ns per item (ratio < 1: Vireo faster)\n");
        std::fprintf(out, "%-34s %10s %10s %8s\n", "item", "vireo", "naive", "ratio");
        for (const pair_row& r : kRows) {
          const auto v = rep.ns_per_item(r.vireo);
          const auto n = rep.ns_per_item(r.naive);
          std::fprintf(out, "%-34s %10s %10s %8s\n", r.label, bench::fmt_ns(v).c_str(),
                       bench::fmt_ns(n).c_str(), bench::fmt_ratio(v, n).c_str());
        }
      });
}
