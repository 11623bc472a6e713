// SPDX-License-Identifier: Apache-2.0
// The driver side of a split virtqueue: add chains, free-list management, kick decision, reclaim.
#pragma once

#include <array>
#include <atomic>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "vireo/ring/detail/ring_area.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/event_idx.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/split_wire.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// Driver side of a split virtqueue (virtio 1.3 §2.7.13, §2.7.14) for queues of up to
/// MaxQueueSize entries; all bookkeeping is inline (no heap). The used ring is written by a
/// device we do not trust: a bad id, length or index breaks the queue (queue_broken until
/// reset), like Linux's BAD_RING, instead of corrupting the driver's state.
template <guest_memory Memory, std::size_t MaxQueueSize = 256>
class split_driver {
  static_assert(MaxQueueSize >= 1 && MaxQueueSize <= max_queue_size);

 public:
  explicit split_driver(Memory& mem) noexcept : mem_(&mem) {}

  [[nodiscard]] static result<split_driver> create(Memory& mem, const queue_config& cfg,
                                                   indirect_pool pool = {}) noexcept {
    split_driver d{mem};
    VIREO_TRY(d.configure(cfg, pool));
    return d;
  }

  /// Map and initialise the rings (flags and indices 0, used ring zeroed: §2.7.10.1 has the
  /// driver initialise used.flags). Errors: bad_queue_size (also above MaxQueueSize),
  /// ring_misaligned, ring_not_mapped, feature_not_negotiated (a pool without INDIRECT_DESC).
  [[nodiscard]] result<void> configure(const queue_config& cfg, indirect_pool pool = {}) noexcept {
    ready_ = false;
    broken_ = false;
    if (!split_layout::valid_size(cfg.size) || cfg.size > MaxQueueSize) return errc::bad_queue_size;
    auto desc = detail::map_ring_area(*mem_, cfg.desc_table, split_layout::desc_table_bytes(cfg.size),
                                      split_layout::desc_align, access::read_write);
    if (!desc) return desc.error();
    auto avail = detail::map_ring_area(*mem_, cfg.driver_area, split_layout::avail_bytes(cfg.size),
                                       split_layout::avail_align, access::read_write);
    if (!avail) return avail.error();
    auto used = detail::map_ring_area(*mem_, cfg.device_area, split_layout::used_bytes(cfg.size),
                                      split_layout::used_align, access::read_write);
    if (!used) return used.error();
    pool_host_ = nullptr;
    if (pool.entries_per_table != 0) {
      if (!cfg.features.has(transport_feature::indirect_desc)) return errc::feature_not_negotiated;
      const std::size_t bytes_needed =
          std::size_t{cfg.size} * pool.entries_per_table * sizeof(split_desc);
      auto p = detail::map_ring_area(*mem_, pool.base, bytes_needed, split_layout::desc_align,
                                     access::read_write);
      if (!p) return p.error();
      pool_host_ = *p;
    }
    cfg_ = cfg;
    pool_ = pool;
    desc_ = *desc;
    avail_ = *avail;
    used_ = *used;
    size_ = cfg.size;
    mask_ = static_cast<std::uint16_t>(cfg.size - 1);
    event_idx_ = cfg.features.has(transport_feature::event_idx);
    in_order_ = cfg.features.has(transport_feature::in_order);
    std::memset(desc_, 0, split_layout::desc_table_bytes(size_));
    std::memset(avail_, 0, split_layout::avail_bytes(size_));
    std::memset(used_, 0, split_layout::used_bytes(size_));
    for (std::uint32_t i = 0; i < size_; ++i) {
      next_[i] = static_cast<std::uint16_t>(i + 1 < size_ ? i + 1 : 0);
      heads_[i] = head_state{};
    }
    free_head_ = 0;
    num_free_ = size_;
    avail_idx_ = kicked_idx_ = last_used_ = used_shadow_ = 0;
    oldest_ = 0;
    in_flight_ = 0;
    num_added_ = 0;
    detach_next_ = 0;
    batch_target_.reset();
    ready_ = true;
    return ok();
  }

  [[nodiscard]] bool ready() const noexcept { return ready_; }
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  [[nodiscard]] errc broken_reason() const noexcept { return broken_reason_; }
  [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint16_t free_descriptors() const noexcept { return num_free_; }
  [[nodiscard]] std::uint16_t in_flight() const noexcept { return in_flight_; }
  /// How reclaim() treats a used length above the buffer's writable bytes (default strict).
  /// Kept across configure() and reset().
  void set_used_len_mode(used_len_mode m) noexcept { used_len_mode_ = m; }
  [[nodiscard]] used_len_mode used_len_handling() const noexcept { return used_len_mode_; }
  /// Used lengths reclaim() clamped under used_len_mode::clamp.
  [[nodiscard]] std::uint64_t clamped_used_lens() const noexcept { return clamped_used_lens_; }

  /// Make a chain of `readable` then `writable` buffers available (§2.7.13) and publish it.
  /// Returns the head, which reclaim() reports back with `user_data`.
  /// Errors: empty_chain, total_len_overflow (§2.7.5.2: below 2^32), ring_full, invalid_argument
  /// (more buffers than the queue size, indirect requested but no pool, or more buffers than a
  /// pool table holds), queue_not_ready, queue_broken.
  [[nodiscard]] result<std::uint16_t> add(std::span<const buffer> readable,
                                          std::span<const buffer> writable,
                                          std::uint64_t user_data = 0,
                                          add_mode mode = add_mode::automatic) noexcept {
    if (VIREO_UNLIKELY(!ready_)) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    const std::size_t n = readable.size() + writable.size();
    if (n == 0) return errc::empty_chain;
    // §2.7.5.3.1: a driver MUST NOT create a chain longer than the queue size, not even through
    // an indirect table that could hold more entries.
    if (n > size_) return errc::invalid_argument;
    std::uint64_t total = 0, writable_len = 0;
    for (const auto& b : readable) total += b.len;
    for (const auto& b : writable) writable_len += b.len;
    total += writable_len;
    if (total > UINT32_MAX) return errc::total_len_overflow;

    bool indirect = mode == add_mode::indirect;
    if (mode == add_mode::automatic) indirect = n > num_free_ && pool_host_ != nullptr;
    if (indirect && (pool_host_ == nullptr || n > pool_.entries_per_table))
      return errc::invalid_argument;
    const std::size_t slots = indirect ? 1 : n;
    if (slots > num_free_) return errc::ring_full;

    const std::uint16_t head = take_descriptors(static_cast<std::uint16_t>(slots));
    if (indirect) {
      std::byte* table = pool_host_ + std::size_t{head} * pool_.entries_per_table * sizeof(split_desc);
      // §2.7.5.3.1 (and IN_ORDER's rule for tables): entries chain as 1, 2, ...
      write_chain(table, readable, writable, [](std::uint16_t i) {
        return static_cast<std::uint16_t>(i + 1);
      }, 0);
      const std::uint64_t table_gpa =
          pool_.base.raw() + std::uint64_t{head} * pool_.entries_per_table * sizeof(split_desc);
      write_desc(desc_, head, table_gpa, static_cast<std::uint32_t>(n * sizeof(split_desc)),
                 desc_flag::indirect, 0);
    } else {
      write_chain(desc_, readable, writable, [this](std::uint16_t i) { return next_[i]; }, head);
    }
    heads_[head] = head_state{static_cast<std::uint16_t>(slots), true,
                              static_cast<std::uint32_t>(writable_len), user_data};
    ++in_flight_;

    detail::store16(avail_ + split_layout::avail_ring(avail_idx_ & mask_), head, std::memory_order_relaxed);
    ++avail_idx_;
    ++num_added_;
    // §2.7.13.3.1: descriptors and the ring entry are visible before avail.idx (release).
    detail::store16(avail_ + split_layout::avail_idx, avail_idx_, std::memory_order_release);
    return head;
  }

  /// Should the driver notify the device now (§2.7.10)? Covers everything added since the last
  /// call: used.flags without EVENT_IDX, avail_event with the need_event window with it.
  [[nodiscard]] bool needs_kick() noexcept {
    if (!ready_ || num_added_ == 0) return false;
    // §2.7.13.4.1: avail.idx is visible before we read the device's suppression fields.
    vireo::detail::full_fence();
    const std::uint16_t old = kicked_idx_;
    const std::uint32_t added = num_added_;
    kicked_idx_ = avail_idx_;
    num_added_ = 0;
    if (added >= 65536) return true;  // the u16 window can no longer tell: kick to be safe
    if (event_idx_)
      return need_event(detail::load16(used_ + split_layout::avail_event(size_), std::memory_order_relaxed),
                        avail_idx_, old);
    return (detail::load16(used_ + split_layout::used_flags, std::memory_order_relaxed) &
            used_flag::no_notify) == 0;
  }

  /// The next completed buffer, or nullopt when none. Under IN_ORDER a single used element may
  /// stand for a batch (§2.7.9): the buffers before the named one come back one per call with
  /// their whole writable length. Errors (each breaks the queue): used_idx_jump (also when such a
  /// batch is longer than used.idx says), used_id_out_of_range, used_id_not_in_flight,
  /// used_len_too_large (unless set_used_len_mode(clamp)); queue_not_ready, queue_broken.
  [[nodiscard]] result<std::optional<used_buffer>> reclaim() noexcept {
    if (VIREO_UNLIKELY(!ready_)) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    if (batch_target_) {
      const auto [target, len] = *batch_target_;
      if (oldest_ == target) batch_target_.reset();
      return retire(oldest_, oldest_ == target ? len : heads_[oldest_].writable_len);
    }
    if (last_used_ == used_shadow_) {
      const std::uint16_t idx = detail::load16(used_ + split_layout::used_idx, std::memory_order_acquire);
      if (VIREO_UNLIKELY(static_cast<std::uint16_t>(idx - last_used_) > in_flight_))
        return fail(errc::used_idx_jump);
      used_shadow_ = idx;
      if (idx == last_used_) return std::optional<used_buffer>{};
    }
    split_used_elem e;
    std::memcpy(&e, used_ + split_layout::used_ring(last_used_ & mask_), sizeof e);
    const std::uint32_t id = e.id.get();
    std::uint32_t len = e.len.get();
    if (VIREO_UNLIKELY(id >= size_)) return fail(errc::used_id_out_of_range);
    if (VIREO_UNLIKELY(!heads_[id].in_flight)) return fail(errc::used_id_not_in_flight);
    if (VIREO_UNLIKELY(len > heads_[id].writable_len)) {
      if (used_len_mode_ != used_len_mode::clamp) return fail(errc::used_len_too_large);
      len = heads_[id].writable_len;
      ++clamped_used_lens_;
    }
    if (in_order_ && id != oldest_) {
      // §2.7.9: the device advanced used.idx by the batch size. A batch longer than what it
      // published would have us retire buffers the device never completed.
      std::uint16_t batch = 1;
      for (std::uint16_t h = oldest_; h != id && batch <= in_flight_; ++batch)
        h = static_cast<std::uint16_t>((h + heads_[h].ndesc) & mask_);
      if (VIREO_UNLIKELY(batch > static_cast<std::uint16_t>(used_shadow_ - last_used_)))
        return fail(errc::used_idx_jump);
      batch_target_ = std::pair<std::uint16_t, std::uint32_t>{static_cast<std::uint16_t>(id), len};
      return retire(oldest_, heads_[oldest_].writable_len);
    }
    return retire(static_cast<std::uint16_t>(id), len);
  }

  /// Ask the device not to interrupt (a hint: without EVENT_IDX sets NO_INTERRUPT; with it the
  /// flags must stay 0 (§2.7.7.1) and used_event simply stops moving).
  void disable_interrupts() noexcept {
    if (ready_ && !event_idx_)
      detail::store16(avail_ + split_layout::avail_flags, avail_flag::no_interrupt, std::memory_order_relaxed);
  }

  /// Ask for interrupts again, then re-check: true when used buffers are already waiting (the
  /// caller must reclaim them rather than wait).
  [[nodiscard]] bool enable_interrupts() noexcept {
    if (!ready_) return false;
    if (event_idx_)
      detail::store16(avail_ + split_layout::used_event(size_), last_used_, std::memory_order_relaxed);
    else
      detail::store16(avail_ + split_layout::avail_flags, 0, std::memory_order_relaxed);
    vireo::detail::full_fence();
    return detail::load16(used_ + split_layout::used_idx, std::memory_order_acquire) != last_used_ ||
           batch_target_.has_value();
  }

  /// Stop using the queue: after a queue reset (VIRTIO_F_RING_RESET, §2.6.1) or a device reset
  /// the device no longer owns any buffer. No add or reclaim until configure(); the buffers still
  /// in flight stay on the books so that detach_unused() can hand them back.
  void reset() noexcept {
    ready_ = false;
    broken_ = false;
    broken_reason_ = errc{};
    detach_next_ = 0;
  }

  /// After reset() (or once the queue broke): the user_data of one buffer the device never
  /// completed, now forgotten; nullopt when none is left, or while the queue is live (the device
  /// may still own them). Call it until nullopt to free every such buffer (like Linux's
  /// virtqueue_detach_unused_buf), then configure() again.
  [[nodiscard]] std::optional<std::uint64_t> detach_unused() noexcept {
    if (ready_) return std::nullopt;
    for (; detach_next_ < size_; ++detach_next_) {
      head_state& h = heads_[detach_next_];
      if (!h.in_flight) continue;
      h.in_flight = false;
      --in_flight_;
      return h.user_data;
    }
    return std::nullopt;
  }

  /// Current avail index (what a NOTIFICATION_DATA notification carries for split rings, §2.9).
  [[nodiscard]] std::uint16_t avail_index() const noexcept { return avail_idx_; }

 private:
  struct head_state {
    std::uint16_t ndesc = 0;
    bool in_flight = false;
    std::uint32_t writable_len = 0;
    std::uint64_t user_data = 0;
  };

  errc fail(errc e) noexcept {
    broken_ = true;
    broken_reason_ = e;
    ready_ = false;
    return e;
  }

  static void write_desc(std::byte* table, std::uint16_t at, std::uint64_t addr, std::uint32_t len,
                         std::uint16_t flags, std::uint16_t next) noexcept {
    split_desc d;
    d.addr.set(addr);
    d.len.set(len);
    d.flags.set(flags);
    d.next.set(next);
    std::memcpy(table + std::size_t{at} * sizeof d, &d, sizeof d);
  }

  /// Write readable then writable buffers as one NEXT-linked list starting at `first`.
  template <typename NextOf>
  static void write_chain(std::byte* table, std::span<const buffer> readable,
                          std::span<const buffer> writable, NextOf next_of,
                          std::uint16_t first) noexcept {
    const std::size_t n = readable.size() + writable.size();
    std::uint16_t at = first;
    for (std::size_t i = 0; i < n; ++i) {
      const bool w = i >= readable.size();
      const buffer& b = w ? writable[i - readable.size()] : readable[i];
      const bool last = i + 1 == n;
      const std::uint16_t next = last ? 0 : next_of(at);
      write_desc(table, at, b.addr.raw(), b.len,
                 static_cast<std::uint16_t>((w ? desc_flag::write : 0) | (last ? 0 : desc_flag::next)),
                 next);
      at = next;
    }
  }

  /// Reserve `count` descriptors and return the first. IN_ORDER allocates in ring order
  /// (§2.7.5.2: next = x + 1, wrapping to 0), so next_ keeps its initial ring links.
  std::uint16_t take_descriptors(std::uint16_t count) noexcept {
    const std::uint16_t head = free_head_;
    std::uint16_t last = head;
    for (std::uint16_t i = 1; i < count; ++i) last = next_[last];
    free_head_ = next_[last];
    num_free_ = static_cast<std::uint16_t>(num_free_ - count);
    return head;
  }

  result<std::optional<used_buffer>> retire(std::uint16_t head, std::uint32_t len) noexcept {
    head_state& h = heads_[head];
    if (in_order_) {
      oldest_ = static_cast<std::uint16_t>((head + h.ndesc) & mask_);
    } else {
      std::uint16_t last = head;  // give the chain's descriptors back to the free list
      for (std::uint16_t i = 1; i < h.ndesc; ++i) last = next_[last];
      next_[last] = free_head_;
      free_head_ = head;
    }
    num_free_ = static_cast<std::uint16_t>(num_free_ + h.ndesc);
    h.in_flight = false;
    --in_flight_;
    ++last_used_;
    return std::optional<used_buffer>{used_buffer{head, len, h.user_data}};
  }

  Memory* mem_;
  queue_config cfg_{};
  indirect_pool pool_{};
  std::byte* desc_ = nullptr;
  std::byte* avail_ = nullptr;
  std::byte* used_ = nullptr;
  std::byte* pool_host_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t mask_ = 0;
  std::uint16_t free_head_ = 0;
  std::uint16_t num_free_ = 0;
  std::uint16_t avail_idx_ = 0;    ///< our avail.idx
  std::uint16_t kicked_idx_ = 0;   ///< avail.idx at the last kick decision
  std::uint16_t last_used_ = 0;    ///< next used ring index to reclaim
  std::uint16_t used_shadow_ = 0;  ///< last used.idx seen
  std::uint16_t oldest_ = 0;       ///< IN_ORDER: head of the oldest buffer in flight
  std::uint16_t in_flight_ = 0;
  std::uint32_t num_added_ = 0;
  std::uint16_t detach_next_ = 0;  ///< detach_unused(): next head to look at
  bool event_idx_ = false;
  bool in_order_ = false;
  used_len_mode used_len_mode_ = used_len_mode::strict;
  std::uint64_t clamped_used_lens_ = 0;
  bool ready_ = false;
  bool broken_ = false;
  errc broken_reason_{};
  std::optional<std::pair<std::uint16_t, std::uint32_t>> batch_target_{};
  std::array<std::uint16_t, MaxQueueSize> next_{};
  std::array<head_state, MaxQueueSize> heads_{};
};

}  // namespace ring
VIREO_NAMESPACE_END
