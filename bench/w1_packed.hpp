// SPDX-License-Identifier: Apache-2.0
// W1 on a packed virtqueue: the refill feed for device-alone runs and the hooks the shared
// driver and two-thread loops need (w1_loops.hpp).
//
// Refill feed. A packed ring cannot be replayed with one index store the way a split ring can:
// the device writes each used descriptor into the head slot of the list it completes (id, len
// and flags), and the wrap phase the device expects flips on every lap. So the chains are laid
// out once through the real packed_driver (via testing::mock_packed_driver), exactly one lap of
// them (128 direct 2-slot lists, or 256 indirect 1-slot lists), and each round re-publishes the
// lap by rewriting only what the device changed or what the new phase needs, per list:
//   - the tail descriptor's flags (direct lists): WRITE | AVAIL/USED of the new phase;
//   - the head's len: the device overwrote it with the used length (1);
//   - the head's flags, last, with release: NEXT or INDIRECT | AVAIL/USED of the new phase.
// The head's addr is never touched by the device, and its id comes back unchanged (the used id
// is the list's buffer id). The phase alternates 1, 0, 1, ... per round, matching the device's
// avail wrap counter, which flips once per lap. That is 3 stores per direct chain (2 per
// indirect one), against split's one store per 256 chains. The refill is timed on its own as
// W1/packed/refill_only (and .../indirect); the summary subtracts it from the device-alone
// figures and also shows the measured (gross) numbers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "vireo/core/atomic_le.hpp"
#include "vireo/core/memory/flat_memory.hpp"
#include "vireo/ring/packed_device.hpp"
#include "vireo/ring/packed_driver.hpp"
#include "vireo/testing/mock_packed_driver.hpp"
#include "w1_common.hpp"

// Internal linkage: this header belongs to the one translation unit bench/w1.cpp, and its
// functions are local to it, as they were in the old single-file bench/split_ring.cpp.
namespace {
namespace w1 {

namespace ring = vireo::ring;
using vireo::flat_memory;
using vireo::transport_feature;
using vireo::testing::mock_packed_driver;

inline mock_packed_driver::options packed_options(bool event_idx, bool indirect) {
  mock_packed_driver::options o;
  o.size = kQueueSize;
  if (event_idx) o.features.set(transport_feature::event_idx);
  if (indirect) {
    o.features.set(transport_feature::indirect_desc);
    o.indirect_entries = 2;
  }
  o.data_bytes = std::size_t{64} << 10;
  return o;
}

/// The W1 packed rings for a device-alone run, and the refill driver that feeds them one lap
/// (kChains chains) per round.
template <bool Indirect>
class packed_feed {
 public:
  using device_type = ring::packed_device<flat_memory>;  // default MaxSegments, as users get it
  static constexpr std::size_t kChains = Indirect ? kQueueSize : kDirectChains;  ///< per round
  static constexpr bool kIndirect = Indirect;

  /// With EVENT_IDX the driver asks for used-buffer notifications once, at slot 0 of phase 1
  /// (what packed_driver::enable_interrupts() writes on a fresh ring) and never moves the
  /// target again, as split's zeroed used_event is never moved; without it the driver area
  /// stays ENABLE (notify every time), as split's avail.flags stays 0.
  explicit packed_feed(bool event_idx) : mock_(packed_options(event_idx, Indirect)) {
    for (std::size_t i = 0; i < kChains; ++i) {
      const auto hdr = header_of(i);
      auto id = mock_.add({const_bytes{hdr}}, {kStatusLen},
                          Indirect ? ring::add_mode::indirect : ring::add_mode::direct, i);
      if (!id) {
        ok_ = false;
        return;
      }
    }
    if (event_idx) (void)mock_.driver().enable_interrupts();
    const ring::queue_config cfg = mock_.config();
    ring_ = mock_.host(cfg.desc_table, ring::packed_layout::desc_ring_bytes(kQueueSize)).data();
    // Record each list as the real driver wrote it, without its AVAIL/USED marks.
    constexpr std::uint16_t kMarks = ring::packed_flag::avail | ring::packed_flag::used;
    std::uint32_t slot = 0;
    for (std::size_t c = 0; c < kChains; ++c) {
      list_rec& l = lists_[c];
      std::byte* head = slot_ptr(slot);
      const std::uint16_t head_flags = flags_at(head);
      l.head = head;
      std::memcpy(&l.head_len, head + offsetof(ring::packed_desc, len), sizeof l.head_len);
      l.head_bits = static_cast<std::uint16_t>(head_flags & ~kMarks);
      if (Indirect) {
        if ((head_flags & ring::desc_flag::indirect) == 0) ok_ = false;
        slot += 1;
      } else {
        // W1 lists are exactly 2 descriptors: head with NEXT, tail without.
        if ((head_flags & ring::desc_flag::next) == 0 || slot + 1 >= kQueueSize) {
          ok_ = false;
          return;
        }
        l.tail = slot_ptr(slot + 1);
        const std::uint16_t tail_flags = flags_at(l.tail);
        if ((tail_flags & ring::desc_flag::next) != 0) ok_ = false;
        l.tail_bits = static_cast<std::uint16_t>(tail_flags & ~kMarks);
        slot += 2;
      }
    }
    if (slot != kQueueSize) ok_ = false;  // exactly one lap, so each round is one phase
  }

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] flat_memory& memory() noexcept { return mock_.memory(); }
  [[nodiscard]] ring::queue_config config() const noexcept { return mock_.config(); }
  [[nodiscard]] mock_packed_driver& mock() noexcept { return mock_; }
  [[nodiscard]] std::byte* ring_base() noexcept { return ring_; }

  /// Re-publish the lap in the next wrap phase (see the file comment). The first round
  /// rewrites phase 1 over the driver's own phase-1 layout, so every round does the same work.
  VIREO_ALWAYS_INLINE void publish_round() noexcept {
    const std::uint16_t marks = ring::packed_flag::avail_marks(phase_);
    for (const list_rec& l : lists_) {
      if constexpr (!Indirect)
        vireo::detail::atomic_store_le16(l.tail + ring::packed_layout::desc_flags,
                                         static_cast<std::uint16_t>(l.tail_bits | marks),
                                         std::memory_order_relaxed);
      std::memcpy(l.head + offsetof(ring::packed_desc, len), &l.head_len, sizeof l.head_len);
      // The head's flags last, with release: they publish the list (§2.8.21.1).
      vireo::detail::atomic_store_le16(l.head + ring::packed_layout::desc_flags,
                                       static_cast<std::uint16_t>(l.head_bits | marks),
                                       std::memory_order_release);
    }
    phase_ = !phase_;
  }

 private:
  struct list_rec {
    std::byte* head = nullptr;
    std::byte* tail = nullptr;       ///< direct lists only
    std::uint32_t head_len = 0;      ///< little-endian bytes of the head's len, as laid out
    std::uint16_t head_bits = 0;     ///< head flags without AVAIL/USED
    std::uint16_t tail_bits = 0;     ///< tail flags without AVAIL/USED
  };

  [[nodiscard]] std::byte* slot_ptr(std::uint32_t slot) noexcept {
    return ring_ + ring::packed_layout::desc_offset(slot);
  }
  [[nodiscard]] static std::uint16_t flags_at(const std::byte* desc) noexcept {
    return vireo::detail::atomic_load_le16(desc + ring::packed_layout::desc_flags,
                                           std::memory_order_relaxed);
  }

  mock_packed_driver mock_;
  bool ok_ = true;
  bool phase_ = true;  ///< wrap phase of the next round (§2.8.1: both counters start at 1)
  std::byte* ring_ = nullptr;
  std::array<list_rec, kChains> lists_{};
};

/// The packed side of the shared driver-alone and two-thread loops.
struct packed_rig {
  using mock_type = mock_packed_driver;
  using driver_type = ring::packed_driver<flat_memory, kQueueSize>;
  using device_type = ring::packed_device<flat_memory>;

  static mock_type::options options(bool event_idx) { return packed_options(event_idx, false); }
  /// A fresh packed ring's driver area says ENABLE (notify on every used descriptor), whereas a
  /// fresh split ring with EVENT_IDX has used_event 0, which is almost never crossed. Asking
  /// once (DESC at slot 0, phase 1) and never again is the packed equivalent of that polling
  /// driver; without EVENT_IDX it writes ENABLE, which the ring already holds.
  static void driver_setup(driver_type& drv) noexcept { (void)drv.enable_interrupts(); }
  /// Likewise for kicks: the device event area starts at ENABLE (kick on every add). A device
  /// asks for kicks with enable_notifications() (DESC with EVENT_IDX, at its avail cursor,
  /// which pop then keeps moving), as a split device's avail_event is moved by every pop.
  static void device_setup(device_type& dev) noexcept { (void)dev.enable_notifications(); }

  /// The minimal "device" of the driver-alone run: completes everything published, in order.
  /// A packed list's length is only known from its NEXT flags, so it reads the flags of each
  /// slot of the list and the id of the last one, then writes one used descriptor (id, len 1,
  /// flags with release) at the head slot. With EVENT_IDX it asks once for a kick at slot 0 of
  /// phase 1, the packed equivalent of split's avail_event left at 0.
  class minimal_device {
   public:
    minimal_device(mock_type& mock, const ring::queue_config& cfg, bool event_idx)
        : ring_(mock.host(cfg.desc_table, ring::packed_layout::desc_ring_bytes(kQueueSize))
                    .data()) {
      if (event_idx) mock.set_device_event(ring::make_off_wrap(0, true), ring::event_flag::desc);
    }

    void complete_all() noexcept {
      for (;;) {
        std::byte* head = slot_ptr(avail_slot_);
        std::uint16_t flags = vireo::detail::atomic_load_le16(
            head + ring::packed_layout::desc_flags, std::memory_order_acquire);
        if (!ring::packed_flag::is_avail(flags, avail_wrap_)) break;
        std::uint32_t slots = 1;
        std::uint32_t last = avail_slot_;
        while ((flags & ring::desc_flag::next) != 0 && slots < kQueueSize) {
          if (++last == kQueueSize) last = 0;
          ++slots;
          flags = vireo::detail::atomic_load_le16(
              slot_ptr(last) + ring::packed_layout::desc_flags, std::memory_order_relaxed);
        }
        std::byte id[2];
        std::memcpy(id, slot_ptr(last) + ring::packed_layout::desc_id, sizeof id);
        advance(avail_slot_, avail_wrap_, slots);
        std::byte* used = slot_ptr(used_slot_);
        const vireo::le32 len = vireo::le32::from(1);
        std::memcpy(used + offsetof(ring::packed_desc, len), &len, sizeof len);
        std::memcpy(used + ring::packed_layout::desc_id, id, sizeof id);
        vireo::detail::atomic_store_le16(
            used + ring::packed_layout::desc_flags,
            static_cast<std::uint16_t>(ring::packed_flag::used_marks(used_wrap_) |
                                       ring::desc_flag::write),
            std::memory_order_release);
        advance(used_slot_, used_wrap_, slots);
      }
    }

   private:
    [[nodiscard]] std::byte* slot_ptr(std::uint32_t slot) noexcept {
      return ring_ + ring::packed_layout::desc_offset(slot);
    }
    static void advance(std::uint16_t& slot, bool& wrap, std::uint32_t by) noexcept {
      std::uint32_t s = slot + by;
      if (s >= kQueueSize) {
        s -= kQueueSize;
        wrap = !wrap;
      }
      slot = static_cast<std::uint16_t>(s);
    }

    std::byte* ring_;
    std::uint16_t avail_slot_ = 0, used_slot_ = 0;
    bool avail_wrap_ = true, used_wrap_ = true;
  };
};

}  // namespace w1
}  // namespace
