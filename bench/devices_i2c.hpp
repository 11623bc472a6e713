// SPDX-License-Identifier: Apache-2.0
// bench_devices, virtio-i2c: the simulated back-end, the three measured operations, Vireo's
// device model (i2c::device) over the bench feeds, and the naive baseline device.
//
// Ops (per op: from available chains to used entries, device side; docs/benchmarks.md):
//   reg_read   write(register number, 1 byte) + read(1 byte) to a register map at 0x48: a
//              FAIL_NEXT group of 2 requests, one combined transfer (i2cget, SMBus read byte)
//   eeprom16   write(word address, 1 byte) + read(16 bytes) to a 24C02 at 0x50: a group of 2
//              (at24's random read)
//   probe      a zero-length write to 0x48: 1 request (i2cdetect -q, SMBus Quick)
// Each request has the buffers Linux's i2c-virtio gives it, as direct descriptors: out_hdr (R),
// buf (R for a write, W for a read; none for zero length), in_hdr (W).
#pragma once

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "devices_common.hpp"
#include "devices_feed.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/device.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/i2c/sim/bus.hpp"
#include "vireo/i2c/sim/eeprom_24c02.hpp"
#include "vireo/i2c/sim/register_map.hpp"
#include "vireo/i2c/wire.hpp"

// Internal linkage: this header belongs to the one translation unit bench/devices.cpp.
namespace {
namespace devbench::i2cb {

namespace i2c = vireo::i2c;
using bus_type = i2c::sim::bus<8>;

inline constexpr std::uint16_t kRegsAt = 0x48;
inline constexpr std::uint16_t kEepromAt = 0x50;
inline constexpr std::uint8_t kRegister = 0x10;
inline constexpr std::uint8_t kRegisterValue = 0x5A;
inline constexpr std::uint8_t kWordAddress = 0x20;
inline constexpr std::uint32_t kEepromLen = 16;

/// The simulated bus with its two targets, attached once. Not movable: the bus refers to them.
struct backend {
  bus_type bus;
  i2c::sim::register_map<256> regs;
  i2c::sim::eeprom_24c02 eeprom;
  bool ok = true;

  backend() {
    regs.set(kRegister, kRegisterValue);
    for (std::size_t i = 0; i < eeprom.size; ++i)
      eeprom.contents()[i] = static_cast<std::byte>(i ^ 0xA5);
    ok = bus.attach(*i2c::address::seven_bit(kRegsAt), regs).has_value() &&
         bus.attach(*i2c::address::seven_bit(kEepromAt), eeprom).has_value();
  }
  backend(const backend&) = delete;
  backend& operator=(const backend&) = delete;
};

/// The out_hdr bytes of a request, as the driver codec writes them.
inline std::vector<std::byte> header(std::uint16_t at, i2c::direction dir, bool fail_next) {
  const auto h = i2c::make_out_hdr(*i2c::address::seven_bit(at), dir, fail_next);
  const auto b = vireo::as_bytes_of(*h);
  return {b.begin(), b.end()};
}
inline constexpr std::byte kOk{static_cast<std::uint8_t>(i2c::status::ok)};

/// The queue sizes: split rings are powers of two; a packed body must fill exactly one lap, so
/// its size is the largest multiple of a group's descriptors up to 256.
template <std::uint16_t SplitSize, std::uint16_t PackedSize>
struct sizes {
  template <typename Feed>
  static constexpr std::uint16_t size() {
    return Feed::is_packed ? PackedSize : SplitSize;
  }
  /// Split: every round publishes the whole ring (256 chains); packed: one lap.
  template <typename Feed>
  static constexpr std::size_t round() {
    return size<Feed>();
  }
};

/// write(register) + read(1): 6 descriptors per group; 42 groups in 256 (split) or 252 (packed).
struct reg_read : sizes<256, 252> {
  static constexpr std::size_t chains_per_op = 2;
  static std::vector<chain_shape> body(std::uint16_t size) {
    std::vector<chain_shape> out;
    for (std::size_t g = 0; g < size / 6u; ++g) {
      out.push_back({{header(kRegsAt, i2c::direction::write, true), {std::byte{kRegister}}},
                     {1},
                     {kOk}});
      out.push_back({{header(kRegsAt, i2c::direction::read, false)},
                     {1, 1},
                     {std::byte{kRegisterValue}, kOk}});
    }
    return out;
  }
};

/// write(word address) + read(16): the same descriptor counts as reg_read.
struct eeprom16 : sizes<256, 252> {
  static constexpr std::size_t chains_per_op = 2;
  static std::vector<chain_shape> body(std::uint16_t size) {
    std::vector<std::byte> expect;
    for (std::uint32_t i = 0; i < kEepromLen; ++i)
      expect.push_back(static_cast<std::byte>((kWordAddress + i) ^ 0xA5));
    expect.push_back(kOk);
    std::vector<chain_shape> out;
    for (std::size_t g = 0; g < size / 6u; ++g) {
      out.push_back({{header(kEepromAt, i2c::direction::write, true), {std::byte{kWordAddress}}},
                     {1},
                     {kOk}});
      out.push_back({{header(kEepromAt, i2c::direction::read, false)}, {kEepromLen, 1}, expect});
    }
    return out;
  }
};

/// A zero-length write: out_hdr + in_hdr, 2 descriptors; 128 requests per 256.
struct probe : sizes<256, 256> {
  static constexpr std::size_t chains_per_op = 1;
  static std::vector<chain_shape> body(std::uint16_t size) {
    std::vector<chain_shape> out;
    for (std::size_t i = 0; i < size / 2u; ++i)
      out.push_back({{header(kRegsAt, i2c::direction::write, false)}, {1}, {kOk}});
    return out;
  }
};

// ---- Vireo --------------------------------------------------------------------------------------

/// Vireo's i2c::device over the feed's rings and the simulated bus: per iteration the feed
/// publishes a round, then one process() call pops, runs and completes all of it (one host
/// transfer per group, one used publish per group, one notification check per call).
template <typename Feed, typename Op>
void bm_vireo(benchmark::State& state) {
  using queue_type = typename Feed::queue_type;
  using device_type = i2c::device<queue_type, bus_type>;
  Feed feed{Op::template size<Feed>()};
  const auto shapes = Op::body(feed.size());
  auto be = std::make_unique<backend>();
  queue_type q{feed.memory()};
  if (!feed.lay_out(shapes, Op::template round<Feed>(), Op::chains_per_op) || !be->ok ||
      !q.configure(feed.config())) {
    fail(state, "set-up failed");
    return;
  }
  auto dev = std::make_unique<device_type>(q, be->bus);  // 43 chains inline: not on the stack
  std::uint64_t notifications = 0;
  bool stopped = false;  // a failure inside the loop: break, then return
  for (auto _ : state) {
    feed.publish_round();
    const auto r = dev->process();
    if (VIREO_UNLIKELY(!r)) {
      fail(state, "process() failed");
      stopped = true;
      break;
    }
    notifications += *r;
    benchmark::ClobberMemory();
  }
  if (stopped) return;
  const auto& st = dev->stats();
  if (st.requests_err != 0 || st.malformed != 0 || dev->tail_held() ||
      st.requests_ok != state.iterations() * feed.chains_per_round() || !feed.check_body()) {
    fail(state, "wrong answers");
    return;
  }
  benchmark::DoNotOptimize(notifications);
  report_ops(state, feed.chains_per_round() / Op::chains_per_op);
}

// ---- The naive baseline ----------------------------------------------------------------------

/// The same device written the obvious way, on the naive split device (naive_split.hpp): each
/// request's readable part is copied into a std::vector, out_hdr is parsed with memcpy from it
/// and checked as i2c::decode_request() checks it (same order, same address rules, using the
/// same pure address decoder), the group is collected in a std::vector of requests each owning a
/// std::vector for its data, the bus gets one transfer per group with messages pointing into
/// those vectors, and each answer (a read's bytes and the status) is built in a std::vector and
/// copied into the chain's writable part, then pushed used. Open tails are held until a call
/// that adds nothing to them, as Vireo does; malformed requests fail their group.
class naive_device {
 public:
  naive_device(flat_memory& mem, const ring::queue_config& cfg, bus_type& bus)
      : ring_(mem, cfg), bus_(bus) {}

  /// 1 or 0: whether to notify; -1: a ring error.
  int process() {
    bool grew = false;
    while (true) {
      naive_chain c;
      const int got = ring_.pop(c);
      if (got < 0) return -1;
      if (got == 0) break;
      pending p = parse(std::move(c));
      const bool fail_next = p.fail_next;
      group_.push_back(std::move(p));
      grew = fail_next;
      if (!fail_next && !run_group()) return -1;
    }
    if (!group_.empty() && !grew && !run_group()) return -1;
    return ring_.needs_notification() ? 1 : 0;
  }

  std::uint64_t ok = 0, err = 0;

 private:
  struct pending {
    naive_chain chain;
    bool valid = false;
    bool fail_next = true;  ///< an unreadable header continues its group (fails closed)
    bool read = false;
    std::optional<i2c::address> target;
    std::size_t writable = 0;
    std::vector<std::byte> data;  ///< a write's bytes, or room for a read's
  };

  pending parse(naive_chain&& c) {
    pending p;
    p.writable = writable_len(c);
    std::vector<std::byte> in;
    const bool copied = copy_in(ring_, c, in);
    p.chain = std::move(c);
    if (!copied || in.size() < 8) return p;
    std::uint16_t addr = 0;
    std::uint32_t flags = 0;
    std::memcpy(&addr, in.data(), 2);  // little-endian host assumed, as the naive do
    std::memcpy(&flags, in.data() + 4, 4);
    p.fail_next = (flags & i2c::flag::fail_next) != 0;
    p.read = (flags & i2c::flag::m_rd) != 0;
    const std::size_t readable = in.size() - 8;
    if (p.writable == 0 || (flags & i2c::flag::reserved) != 0) return p;
    if (p.read ? readable != 0 : p.writable != 1) return p;
    const std::size_t len = p.read ? p.writable - 1 : readable;
    if (len > 65535) return p;
    const auto target = i2c::decode_address(i2c::encoded_address{addr});
    if (!target || target->is_reserved()) return p;
    p.target = *target;
    if (p.read) p.data.assign(len, std::byte{0});
    else p.data.assign(in.begin() + 8, in.end());
    p.valid = true;
    return p;
  }

  bool run_group() {
    std::size_t done = 0;
    bool all_valid = true;
    for (const pending& p : group_) all_valid = all_valid && p.valid;
    if (all_valid) {
      std::vector<i2c::host_message> msgs;
      for (pending& p : group_)
        msgs.push_back({*p.target, p.read ? i2c::direction::read : i2c::direction::write,
                        std::span<std::byte>{p.data}});
      done = bus_.transfer(msgs);
    }
    for (std::size_t i = 0; i < group_.size(); ++i) {
      pending& p = group_[i];
      const bool good = i < done;
      std::vector<std::byte> out;
      if (p.valid && p.read && good) out = p.data;
      else if (p.writable > 0) out.assign(p.writable - 1, std::byte{0});  // zeros before ERR
      if (p.writable > 0)
        out.push_back(std::byte{static_cast<std::uint8_t>(good ? i2c::status::ok : i2c::status::err)});
      if (!ring_.write(p.chain, out) ||
          !ring_.push_used(p.chain, static_cast<std::uint32_t>(out.size())))
        return false;
      ++(good ? ok : err);
    }
    group_.clear();
    return true;
  }

  naive_ring ring_;
  bus_type& bus_;
  std::vector<pending> group_;
};

/// The naive device over the same split rings and back-end as bm_vireo<split_replay_feed, Op>.
template <typename Op>
[[gnu::flatten]] void bm_naive(benchmark::State& state) {
  split_replay_feed feed{Op::template size<split_replay_feed>()};
  const auto shapes = Op::body(feed.size());
  auto be = std::make_unique<backend>();
  if (!feed.lay_out(shapes, Op::template round<split_replay_feed>(), Op::chains_per_op) ||
      !be->ok) {
    fail(state, "set-up failed");
    return;
  }
  naive_device dev{feed.memory(), feed.config(), be->bus};
  std::uint64_t notifications = 0;
  bool stopped = false;  // a failure inside the loop: break, then return
  for (auto _ : state) {
    feed.publish_round();
    const int r = dev.process();
    if (VIREO_UNLIKELY(r < 0)) {
      fail(state, "naive process() failed");
      stopped = true;
      break;
    }
    notifications += static_cast<unsigned>(r);
    benchmark::ClobberMemory();
  }
  if (stopped) return;
  if (dev.err != 0 || dev.ok != state.iterations() * feed.chains_per_round() ||
      !feed.check_body()) {
    fail(state, "wrong answers");
    return;
  }
  benchmark::DoNotOptimize(notifications);
  report_ops(state, feed.chains_per_round() / Op::chains_per_op);
}

}  // namespace devbench::i2cb
}  // namespace
