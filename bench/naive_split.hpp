// SPDX-License-Identifier: Apache-2.0
// The naive split-ring device of the bench baselines (bench_w1's (g), bench_devices' naive
// device models): what a straightforward device written without Vireo does with a split
// virtqueue. Each binary is one translation unit that includes this header.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "vireo/core/bytes.hpp"
#include "vireo/core/endian.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/event_idx.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/split_wire.hpp"

// Internal linkage: every function here is local to the one translation unit of its binary.
namespace {
namespace bench {

namespace ring = vireo::ring;
using vireo::bytes;
using vireo::const_bytes;
using vireo::flat_memory;
using vireo::gpa;
using vireo::transport_feature;

/// A split-ring device written the obvious way: every ring and descriptor field goes through
/// the memory model's bounds-checked read()/load_u16() each time it is needed (no mapped ring
/// areas, a descriptor field is re-read on every use), and each popped chain's segments go into
/// a std::vector allocated for that chain. It validates what Vireo's split_device validates for
/// direct chains (index jump, head and next range, hop budget, readable before writable, total
/// length); it has no indirect support. read() and write() copy between a chain's segments and
/// host buffers through the memory model.
class naive_split_device {
 public:
  struct segment {
    std::uint64_t addr;
    std::uint32_t len;
    bool writable;
  };
  struct chain {
    std::uint16_t head = 0;
    std::vector<segment> segs;
  };

  naive_split_device(flat_memory& mem, const ring::queue_config& cfg)
      : mem_(mem), cfg_(cfg), event_idx_(cfg.features.has(transport_feature::event_idx)) {}

  /// 1: `out` holds the next chain; 0: nothing available; -1: error.
  int pop(chain& out) {
    auto idx = mem_.load_u16(cfg_.driver_area.offset(2), std::memory_order_acquire);
    if (!idx) return -1;
    if (*idx == last_avail_) return 0;
    if (static_cast<std::uint16_t>(*idx - last_avail_) > cfg_.size) return -1;
    auto head = mem_.load_u16(cfg_.driver_area.offset(4 + 2u * (last_avail_ % cfg_.size)),
                              std::memory_order_relaxed);
    if (!head || *head >= cfg_.size) return -1;
    ++last_avail_;
    if (event_idx_ &&
        !mem_.store_u16(cfg_.device_area.offset(4 + 8u * cfg_.size), last_avail_,
                        std::memory_order_relaxed))
      return -1;

    std::vector<segment> segs;
    std::uint16_t i = *head;
    bool seen_writable = false;
    std::uint64_t total = 0;
    for (std::uint32_t hops = 0;; ++hops) {
      if (hops == cfg_.size) return -1;
      std::uint16_t flags = 0;
      if (!field(i, 12, flags) || (flags & ring::desc_flag::indirect) != 0) return -1;
      std::uint64_t addr = 0;
      std::uint32_t len = 0;
      if (!field(i, 0, addr) || !field(i, 8, len) || !field(i, 12, flags)) return -1;
      const bool w = (flags & ring::desc_flag::write) != 0;
      if (!w && seen_writable) return -1;
      seen_writable = seen_writable || w;
      total += len;
      if (total > UINT32_MAX || len - 1 > UINT64_MAX - addr) return -1;
      segs.push_back({addr, len, w});
      if (!field(i, 12, flags)) return -1;
      if ((flags & ring::desc_flag::next) == 0) break;
      if (!field(i, 14, i) || i >= cfg_.size) return -1;
    }
    out = chain{*head, std::move(segs)};
    return 1;
  }

  /// Copy the first out.size() readable bytes.
  bool read(const chain& c, bytes out) {
    std::size_t done = 0;
    for (const segment& s : c.segs) {
      if (done == out.size() || s.writable) break;
      const std::size_t n = std::min<std::size_t>(s.len, out.size() - done);
      if (!mem_.read(gpa{s.addr}, out.subspan(done, n))) return false;
      done += n;
    }
    return done == out.size();
  }
  /// Write `in` at the start of the writable bytes.
  bool write(const chain& c, const_bytes in) {
    std::size_t done = 0;
    for (const segment& s : c.segs) {
      if (done == in.size()) break;
      if (!s.writable) continue;
      const std::size_t n = std::min<std::size_t>(s.len, in.size() - done);
      if (!mem_.write(gpa{s.addr}, in.subspan(done, n))) return false;
      done += n;
    }
    return done == in.size();
  }

  bool push_used(const chain& c, std::uint32_t len) {
    const std::uint32_t pos = used_idx_ % cfg_.size;
    vireo::le32 id, l;
    id.set(c.head);
    l.set(len);
    if (!mem_.write(cfg_.device_area.offset(4 + 8u * pos), vireo::as_bytes_of(id)) ||
        !mem_.write(cfg_.device_area.offset(8 + 8u * pos), vireo::as_bytes_of(l)))
      return false;
    ++used_idx_;
    return mem_.store_u16(cfg_.device_area.offset(2), used_idx_, std::memory_order_release)
        .has_value();
  }

  bool needs_notification() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint16_t old = signalled_;
    signalled_ = used_idx_;
    if (event_idx_) {
      auto ev =
          mem_.load_u16(cfg_.driver_area.offset(4 + 2u * cfg_.size), std::memory_order_relaxed);
      return ev && ring::need_event(*ev, used_idx_, old);
    }
    auto flags = mem_.load_u16(cfg_.driver_area.offset(0), std::memory_order_relaxed);
    return flags && (*flags & ring::avail_flag::no_interrupt) == 0;
  }

 private:
  /// One field of descriptor i, read from guest memory through the memory model.
  template <typename T>
  bool field(std::uint16_t i, std::uint32_t offset, T& out) {
    std::array<std::byte, sizeof(T)> raw;
    if (!mem_.read(cfg_.desc_table.offset(16u * i + offset), raw)) return false;
    std::memcpy(&out, raw.data(), sizeof(T));  // little-endian host assumed, as the naive do
    return true;
  }

  flat_memory& mem_;
  ring::queue_config cfg_;
  bool event_idx_;
  std::uint16_t last_avail_ = 0;
  std::uint16_t used_idx_ = 0;
  std::uint16_t signalled_ = 0;
};

}  // namespace bench
}  // namespace
