// SPDX-License-Identifier: Apache-2.0
// W1 on a split virtqueue: the replay feed for device-alone runs, the hooks the shared driver
// and two-thread loops need (w1_loops.hpp), and the naive baseline device (g).
//
// Replay feed. The chains are laid out once through the real split_driver (via
// testing::mock_split_driver); after that, descriptors and avail ring entries never change,
// because position p and p + 256 of the avail ring are the same slot. So one round of 256
// chains is published by a single avail.idx += 256 (one 16-bit store, measured on its own as
// W1/refill_only). Direct chains take 2 of the 256 descriptors, so 128 chains fit and the avail
// ring names each head twice per round; the device side does not track heads in flight, so this
// is invisible to it.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/split_device.hpp"
#include "vireo/ring/split_driver.hpp"
#include "vireo/testing/mock_split_driver.hpp"
#include "naive_split.hpp"
#include "w1_common.hpp"

// Internal linkage: this header belongs to the one translation unit bench/w1.cpp, and its
// functions are local to it, as they were in the old single-file bench/split_ring.cpp.
namespace {
namespace w1 {

namespace ring = vireo::ring;
using vireo::bytes;
using vireo::flat_memory;
using vireo::gpa;
using vireo::transport_feature;
using vireo::testing::mock_split_driver;

inline mock_split_driver::options split_options(bool event_idx, bool indirect) {
  mock_split_driver::options o;
  o.size = kQueueSize;
  if (event_idx) o.features.set(transport_feature::event_idx);
  if (indirect) {
    o.features.set(transport_feature::indirect_desc);
    o.indirect_entries = 2;
  }
  o.data_bytes = std::size_t{64} << 10;
  return o;
}

/// The W1 split rings for a device-alone run, and the replay driver that feeds them: chains
/// laid out through the real driver, then every avail slot filled, so that each round
/// publishes 256 valid chains with one avail.idx store.
template <bool Indirect>
class split_feed {
 public:
  using device_type = ring::split_device<flat_memory>;  // default MaxSegments, as users get it
  static constexpr std::size_t kChains = kQueueSize;    ///< chains per round
  static constexpr bool kIndirect = Indirect;

  explicit split_feed(bool event_idx) : mock_(split_options(event_idx, Indirect)) {
    const std::size_t chains = Indirect ? kQueueSize : kDirectChains;
    std::vector<std::uint16_t> heads;
    for (std::size_t i = 0; i < chains; ++i) {
      const auto hdr = header_of(i);
      auto h = mock_.add({const_bytes{hdr}}, {kStatusLen},
                         Indirect ? ring::add_mode::indirect : ring::add_mode::direct, i);
      if (!h) {
        ok_ = false;
        return;
      }
      heads.push_back(*h);
    }
    for (std::size_t pos = 0; pos < kQueueSize; ++pos)
      mock_.set_avail_ring(static_cast<std::uint16_t>(pos), heads[pos % chains]);
    mock_.set_avail_idx(0);  // the replay driver publishes one round at a time
  }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] flat_memory& memory() noexcept { return mock_.memory(); }
  [[nodiscard]] ring::queue_config config() const noexcept { return mock_.config(); }
  [[nodiscard]] mock_split_driver& mock() noexcept { return mock_; }

  /// Publish the next round of kChains chains: one 16-bit store.
  void publish_round() noexcept {
    avail_idx_ = static_cast<std::uint16_t>(avail_idx_ + kChains);
    mock_.set_avail_idx(avail_idx_);
  }

 private:
  mock_split_driver mock_;
  bool ok_ = true;
  std::uint16_t avail_idx_ = 0;
};

/// The split side of the shared driver-alone and two-thread loops.
struct split_rig {
  using mock_type = mock_split_driver;
  using driver_type = ring::split_driver<flat_memory, kQueueSize>;
  using device_type = ring::split_device<flat_memory>;

  static mock_type::options options(bool event_idx) { return split_options(event_idx, false); }
  /// Nothing to do: a zeroed used_event (never moved) is what an EVENT_IDX driver that only
  /// polls leaves behind, and the device moves avail_event on every pop by default.
  static void driver_setup(driver_type&) noexcept {}
  static void device_setup(device_type&) noexcept {}

  /// The minimal "device" of the driver-alone run: completes everything published, in order,
  /// by copying avail heads to the used ring (len 1) without walking any chain.
  class minimal_device {
   public:
    minimal_device(mock_type& mock, const ring::queue_config& cfg, bool /*event_idx*/)
        : avail_(mock.host(cfg.driver_area, ring::split_layout::avail_bytes(kQueueSize)).data()),
          used_(mock.host(cfg.device_area, ring::split_layout::used_bytes(kQueueSize)).data()) {}

    void complete_all() noexcept {
      const std::uint16_t avail_idx = vireo::detail::atomic_load_le16(
          avail_ + ring::split_layout::avail_idx, std::memory_order_acquire);
      while (next_avail_ != avail_idx) {
        const std::uint16_t head = vireo::detail::atomic_load_le16(
            avail_ + ring::split_layout::avail_ring(next_avail_ & (kQueueSize - 1)),
            std::memory_order_relaxed);
        ring::split_used_elem e;
        e.id.set(head);
        e.len.set(1);
        std::memcpy(used_ + ring::split_layout::used_ring(used_idx_ & (kQueueSize - 1)), &e,
                    sizeof e);
        ++next_avail_;
        ++used_idx_;
      }
      vireo::detail::atomic_store_le16(used_ + ring::split_layout::used_idx, used_idx_,
                                       std::memory_order_release);
    }

   private:
    std::byte* avail_;
    std::byte* used_;
    std::uint16_t next_avail_ = 0, used_idx_ = 0;
  };
};

// ---- (g): the naive baseline device ------------------------------------------------------------

/// The same W1 device step written the obvious way, with the naive split device of
/// naive_split.hpp (shared with bench_devices): see there.
using naive_device = bench::naive_split_device;

/// (g): naive device, single push and needs_notification per chain: compare with (a).
/// flatten: in this translation unit (larger than the old bench/split_ring.cpp) GCC 12 stops
/// inlining flat_memory::read() and load_u16() into the naive device, which doubles its time
/// (about 80 instead of 42 ns per chain). Inlining everything here gives back the code the old
/// binary got, so (g) and naive / vireo still compare with history.
[[gnu::flatten]] inline void bm_naive_device(benchmark::State& state) {
  split_feed<false> feed{false};
  if (!feed.ok()) {
    state.SkipWithError("W1 set-up failed");
    return;
  }
  naive_device dev{feed.memory(), feed.config()};
  naive_device::chain chain;
  std::uint64_t notifications = 0;
  for (auto _ : state) {
    feed.publish_round();
    bool failed = false;
    for (std::size_t k = 0; k < split_feed<false>::kChains; ++k) {
      if (VIREO_UNLIKELY(dev.pop(chain) != 1)) {
        failed = true;
        break;
      }
      std::array<std::byte, kHeaderLen> hdr;
      if (VIREO_UNLIKELY(!dev.read(chain, hdr))) {
        failed = true;
        break;
      }
      const std::byte status = hdr[0] ^ hdr[kHeaderLen - 1];
      if (VIREO_UNLIKELY(!dev.write(chain, const_bytes{&status, 1}) || !dev.push_used(chain, 1))) {
        failed = true;
        break;
      }
      notifications += dev.needs_notification();
    }
    if (VIREO_UNLIKELY(failed)) {
      state.SkipWithError("naive device step failed");
      break;
    }
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(notifications);
  report_chains(state, split_feed<false>::kChains);
}

}  // namespace w1
}  // namespace
