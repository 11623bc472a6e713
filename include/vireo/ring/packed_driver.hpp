// SPDX-License-Identifier: Apache-2.0
// The driver side of a packed virtqueue: add lists, buffer ids, kick decision, reclaim.
// Same public API as split_driver, so generic driver code compiles against either layout.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "vireo/ring/detail/ring_area.hpp"
#include "vireo/ring/driver_types.hpp"
#include "vireo/ring/event_idx.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/packed_wire.hpp"
#include "vireo/ring/queue_config.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// Driver side of a packed virtqueue (virtio 1.3 §2.8.21, §2.8.22) for queues of up to
/// MaxQueueSize slots; all bookkeeping is inline (no heap). Buffers are named by a buffer id
/// (< size) taken from a free list; the id goes into every descriptor of a list (Linux does the
/// same; the spec only needs it in the last one, §2.8.6). Used descriptors are written by a
/// device we do not trust: a bad id or length breaks the queue (queue_broken until configure()),
/// like Linux's BAD_RING, instead of corrupting the driver's state.
template <guest_memory Memory, std::size_t MaxQueueSize = 256>
class packed_driver {
  static_assert(MaxQueueSize >= 1 && MaxQueueSize <= max_queue_size);

 public:
  explicit packed_driver(Memory& mem) noexcept : mem_(&mem) {}

  [[nodiscard]] static result<packed_driver> create(Memory& mem, const queue_config& cfg,
                                                    indirect_pool pool = {}) noexcept {
    packed_driver d{mem};
    VIREO_TRY(d.configure(cfg, pool));
    return d;
  }

  /// Map and initialise the rings: the descriptor ring and both event suppression areas are
  /// zeroed and both wrap counters start at 1 (§2.8.1, §2.8.13). `cfg.size` need not be a power
  /// of two. Errors: bad_queue_size (0, above 32768 or above MaxQueueSize), ring_misaligned
  /// (§2.8.11: ring 16, event areas 4), ring_not_mapped, feature_not_negotiated (a pool without
  /// INDIRECT_DESC). Clears a broken state.
  [[nodiscard]] result<void> configure(const queue_config& cfg, indirect_pool pool = {}) noexcept {
    ready_ = false;
    broken_ = false;
    if (!packed_layout::valid_size(cfg.size) || cfg.size > MaxQueueSize) return errc::bad_queue_size;
    auto desc = detail::map_ring_area(*mem_, cfg.desc_table, packed_layout::desc_ring_bytes(cfg.size),
                                      packed_layout::desc_align, access::read_write);
    if (!desc) return desc.error();
    auto drv = detail::map_ring_area(*mem_, cfg.driver_area, packed_layout::event_bytes,
                                     packed_layout::event_align, access::read_write);
    if (!drv) return drv.error();
    auto dev = detail::map_ring_area(*mem_, cfg.device_area, packed_layout::event_bytes,
                                     packed_layout::event_align, access::read_write);
    if (!dev) return dev.error();
    pool_host_ = nullptr;
    if (pool.entries_per_table != 0) {
      if (!cfg.features.has(transport_feature::indirect_desc)) return errc::feature_not_negotiated;
      // Computed in 64 bits: 2^15 tables of 2^16 entries overflow a 32-bit size_t.
      const std::uint64_t bytes_needed =
          std::uint64_t{cfg.size} * pool.entries_per_table * sizeof(packed_desc);
      if (bytes_needed > SIZE_MAX) return errc::ring_not_mapped;
      auto p = detail::map_ring_area(*mem_, pool.base, static_cast<std::size_t>(bytes_needed),
                                     packed_layout::desc_align, access::read_write);
      if (!p) return p.error();
      pool_host_ = *p;
    }
    pool_ = pool;
    desc_ = *desc;
    driver_event_ = *drv;
    device_event_ = *dev;
    size_ = cfg.size;
    event_idx_ = cfg.features.has(transport_feature::event_idx);
    in_order_ = cfg.features.has(transport_feature::in_order);
    // §2.8.13: the ring starts zeroed (a zero slot is neither available nor used in phase 1).
    std::memset(desc_, 0, packed_layout::desc_ring_bytes(size_));
    std::memset(driver_event_, 0, packed_layout::event_bytes);
    std::memset(device_event_, 0, packed_layout::event_bytes);
    for (std::uint32_t i = 0; i < size_; ++i) {
      next_free_[i] = static_cast<std::uint16_t>(i + 1 < size_ ? i + 1 : 0);
      ids_[i] = id_state{};
    }
    free_id_ = 0;
    num_free_ = size_;
    in_flight_ = 0;
    next_avail_ = last_used_ = 0;
    avail_wrap_ = used_wrap_ = true;  // §2.8.1: both wrap counters start at 1
    num_added_ = 0;
    oldest_ = newest_ = 0;
    detach_next_ = 0;
    batch_target_.reset();
    ready_ = true;
    return ok();
  }

  [[nodiscard]] bool ready() const noexcept { return ready_; }
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  [[nodiscard]] errc broken_reason() const noexcept { return broken_reason_; }
  [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
  /// Ring slots not held by a buffer in flight.
  [[nodiscard]] std::uint16_t free_descriptors() const noexcept { return num_free_; }
  [[nodiscard]] std::uint16_t in_flight() const noexcept { return in_flight_; }
  /// How reclaim() treats a used length above the buffer's writable bytes (default strict).
  /// Kept across configure() and reset().
  void set_used_len_mode(used_len_mode m) noexcept { used_len_mode_ = m; }
  [[nodiscard]] used_len_mode used_len_handling() const noexcept { return used_len_mode_; }
  /// Used lengths reclaim() clamped under used_len_mode::clamp.
  [[nodiscard]] std::uint64_t clamped_used_lens() const noexcept { return clamped_used_lens_; }

  /// Make a list of `readable` then `writable` buffers available (§2.8.21.1) and publish it.
  /// A direct list takes one ring slot per buffer, an indirect one a single slot whose table
  /// (in the pool, at the buffer id) holds the buffers. Returns the buffer id, which reclaim()
  /// reports back with `user_data`.
  /// Errors: empty_chain, total_len_overflow (2^32 bytes or more: split's §2.7.5.2 limit, kept
  /// because a used length is 32 bits), ring_full,
  /// invalid_argument (more buffers than the queue size, indirect requested but no pool, or
  /// more buffers than a pool table holds), queue_not_ready, queue_broken. On error nothing was
  /// written.
  [[nodiscard]] result<std::uint16_t> add(std::span<const buffer> readable,
                                          std::span<const buffer> writable,
                                          std::uint64_t user_data = 0,
                                          add_mode mode = add_mode::automatic) noexcept {
    if (VIREO_UNLIKELY(!ready_)) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    const std::size_t n = readable.size() + writable.size();
    if (n == 0) return errc::empty_chain;
    // §2.8.17 / §2.8.19: a list is never longer than the queue size, not even in a table.
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
    // §2.8.17: room for the whole list is checked before the first descriptor is exposed.
    // A free slot implies a free id: every buffer in flight holds at least one slot.
    if (slots > num_free_) return errc::ring_full;

    const std::uint16_t id = free_id_;
    free_id_ = next_free_[id];
    const std::uint16_t head = next_avail_;
    const bool head_wrap = avail_wrap_;
    std::uint16_t head_flags = 0;
    if (indirect) {
      const std::size_t table_off = std::size_t{id} * pool_.entries_per_table * sizeof(packed_desc);
      // §2.8.19: table entries are consecutive, no NEXT; only WRITE means anything in them.
      for (std::size_t i = 0; i < n; ++i) {
        const bool w = i >= readable.size();
        const buffer& b = w ? writable[i - readable.size()] : readable[i];
        write_desc(pool_host_ + table_off + i * sizeof(packed_desc), b.addr.raw(), b.len, 0,
                   w ? desc_flag::write : std::uint16_t{0});
      }
      write_head(head, pool_.base.raw() + table_off,
                 static_cast<std::uint32_t>(n * sizeof(packed_desc)), id);
      head_flags = static_cast<std::uint16_t>(desc_flag::indirect | packed_flag::avail_marks(head_wrap));
      advance(next_avail_, avail_wrap_, 1);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const bool w = i >= readable.size();
        const buffer& b = w ? writable[i - readable.size()] : readable[i];
        // AVAIL/USED follow the wrap counter of each slot: it flips mid-list when the list
        // runs past slot size-1 (§2.8.21.1).
        const auto flags = static_cast<std::uint16_t>((w ? desc_flag::write : 0) |
                                                      (i + 1 < n ? desc_flag::next : 0) |
                                                      packed_flag::avail_marks(avail_wrap_));
        if (i == 0) {
          write_head(next_avail_, b.addr.raw(), b.len, id);
          head_flags = flags;
        } else {
          write_desc(desc_ + packed_layout::desc_offset(next_avail_), b.addr.raw(), b.len, id, flags);
        }
        advance(next_avail_, avail_wrap_, 1);
      }
    }
    ids_[id] = id_state{static_cast<std::uint16_t>(slots), true,
                        static_cast<std::uint32_t>(writable_len), user_data};
    if (in_order_) {  // submission order, for IN_ORDER batches (§2.8.8)
      if (in_flight_ == 0) oldest_ = id;
      else next_in_order_[newest_] = id;
      newest_ = id;
    }
    ++in_flight_;
    num_free_ = static_cast<std::uint16_t>(num_free_ - slots);
    // Saturates at size_: a full lap since the last decision always kicks (needs_kick).
    num_added_ = num_added_ + slots < size_ ? static_cast<std::uint32_t>(num_added_ + slots) : size_;
    // §2.8.21.1.1 / §2.8.17: every other field of the list (and the indirect table) is visible
    // before the head's flags, whose store publishes the list as a whole (release).
    detail::store16(desc_ + packed_layout::desc_offset(head) + packed_layout::desc_flags, head_flags,
                    std::memory_order_release);
    return id;
  }

  /// Should the driver notify the device now (§2.8.10, §2.8.21.3)? Covers every slot published
  /// since the last call. Device Event Suppression flags: DISABLE -> no; DESC with EVENT_IDX ->
  /// did a published slot reach off_wrap (need_event window, so a target inside a multi-slot
  /// list is not jumped over); anything else (ENABLE, DESC without EVENT_IDX, the reserved value
  /// 3) -> yes, since a spurious kick is harmless and a missed one stalls the queue. Reserved
  /// bits 2-15 are ignored.
  [[nodiscard]] bool needs_kick() noexcept {
    if (!ready_ || num_added_ == 0) return false;
    // §2.8.21.3.1: the published flags are visible before we read the device's suppression.
    vireo::detail::full_fence();
    const std::uint32_t added = num_added_;
    num_added_ = 0;
    // §2.8.14: bits 2-15 of flags are reserved; only the two event-flag bits count (as on the
    // device side).
    const std::uint16_t flags = detail::load16(device_event_ + packed_layout::event_flags,
                                               std::memory_order_acquire) & 3u;
    if (flags == event_flag::disable) return false;
    if (flags != event_flag::desc || !event_idx_) return true;
    if (added >= size_) return true;  // a whole lap published: the target was crossed
    const std::uint16_t off_wrap = detail::load16(device_event_ + packed_layout::event_off_wrap,
                                                  std::memory_order_relaxed);
    // Positions are slots relative to the start of the current lap; a target in the other wrap
    // phase lies in the previous lap (Linux virtqueue_kick_prepare_packed). u16 arithmetic
    // wraps on purpose, as need_event expects.
    auto event = off_of(off_wrap);
    if (wrap_of(off_wrap) != avail_wrap_) event = static_cast<std::uint16_t>(event - size_);
    const std::uint16_t now = next_avail_;
    const auto old = static_cast<std::uint16_t>(now - added);
    return need_event(event, now, old);
  }

  /// The next completed buffer, or nullopt when none (§2.8.22). The used descriptor's `len` is
  /// read whether or not its WRITE flag is set (QEMU never sets it). Under IN_ORDER one used
  /// descriptor may name the last buffer of a batch (§2.8.8): the buffers before it come back
  /// one per call, in submission order, with their whole writable length.
  /// Errors (each breaks the queue): used_id_out_of_range, used_id_not_in_flight,
  /// used_len_too_large (above the list's writable bytes, unless set_used_len_mode(clamp));
  /// queue_not_ready, queue_broken.
  [[nodiscard]] result<std::optional<used_buffer>> reclaim() noexcept {
    if (VIREO_UNLIKELY(!ready_)) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    if (batch_target_) {
      const auto [target, len] = *batch_target_;
      const std::uint16_t id = oldest_;
      if (id == target) batch_target_.reset();
      return retire(id, id == target ? len : ids_[id].writable_len);
    }
    std::byte* slot = desc_ + packed_layout::desc_offset(last_used_);
    // §2.8.22: flags first (acquire), then id and len.
    const std::uint16_t flags = detail::load16(slot + packed_layout::desc_flags, std::memory_order_acquire);
    if (!packed_flag::is_used(flags, used_wrap_)) return std::optional<used_buffer>{};
    packed_desc d;  // addr, len, id copied once (flags were read above); the device may
                    // rewrite the slot at any time
    std::memcpy(&d, slot, packed_layout::desc_flags);
    const std::uint32_t id = d.id.get();
    std::uint32_t len = d.len.get();
    if (VIREO_UNLIKELY(id >= size_)) return fail(errc::used_id_out_of_range);
    if (VIREO_UNLIKELY(!ids_[id].in_flight)) return fail(errc::used_id_not_in_flight);
    if (VIREO_UNLIKELY(len > ids_[id].writable_len)) {
      if (used_len_mode_ != used_len_mode::clamp) return fail(errc::used_len_too_large);
      len = ids_[id].writable_len;
      ++clamped_used_lens_;
    }
    if (in_order_ && id != oldest_) {
      // §2.8.8: one used descriptor stands for every buffer up to `id`; the device skipped the
      // slots of all of them. `id` is in flight, so the walk ends within in_flight_ steps.
      std::uint32_t slots = 0;
      std::uint16_t h = oldest_;
      for (std::uint16_t k = 0; k < in_flight_; ++k) {
        slots += ids_[h].ndesc;
        if (h == id) break;
        h = next_in_order_[h];
      }
      advance(last_used_, used_wrap_, slots);
      batch_target_ = std::pair<std::uint16_t, std::uint32_t>{static_cast<std::uint16_t>(id), len};
      return retire(oldest_, ids_[oldest_].writable_len);
    }
    // §2.8.6: the device's used cursor moved by the slots this buffer took, so ours does too.
    advance(last_used_, used_wrap_, ids_[id].ndesc);
    return retire(static_cast<std::uint16_t>(id), len);
  }

  /// Ask the device not to send used-buffer notifications (a hint, §2.8.10): Driver Event
  /// Suppression flags = DISABLE.
  void disable_interrupts() noexcept {
    if (ready_)
      detail::store16(driver_event_ + packed_layout::event_flags, event_flag::disable,
                      std::memory_order_relaxed);
  }

  /// Ask for used-buffer notifications again, then re-check: true when used buffers are already
  /// waiting (the caller must reclaim them rather than wait). With EVENT_IDX this asks for the
  /// next used descriptor (off_wrap = last_used | used_wrap << 15, then flags = DESC), else
  /// flags = ENABLE. As with split_driver, reclaim() does not move off_wrap: call this again
  /// once the queue is drained.
  [[nodiscard]] bool enable_interrupts() noexcept {
    if (!ready_) return false;
    if (event_idx_) {
      detail::store16(driver_event_ + packed_layout::event_off_wrap,
                      make_off_wrap(last_used_, used_wrap_), std::memory_order_relaxed);
      // §2.8.10: off_wrap is visible before the flags that make the device use it.
      detail::store16(driver_event_ + packed_layout::event_flags, event_flag::desc,
                      std::memory_order_release);
    } else {
      detail::store16(driver_event_ + packed_layout::event_flags, event_flag::enable,
                      std::memory_order_relaxed);
    }
    // Closes the race with a device that decided not to notify before seeing our flags.
    vireo::detail::full_fence();
    return batch_target_.has_value() ||
           packed_flag::is_used(detail::load16(desc_ + packed_layout::desc_offset(last_used_) +
                                                   packed_layout::desc_flags,
                                               std::memory_order_acquire),
                                used_wrap_);
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
      id_state& s = ids_[detach_next_];
      if (!s.in_flight) continue;
      s.in_flight = false;
      --in_flight_;
      return s.user_data;
    }
    return std::nullopt;
  }

  /// The next slot the driver will make available and its wrap counter, as `off | wrap << 15`:
  /// what NOTIFICATION_DATA carries in next_off/next_wrap for a packed ring (§2.8.16, §2.9).
  [[nodiscard]] std::uint16_t avail_index() const noexcept {
    return make_off_wrap(next_avail_, avail_wrap_);
  }

 private:
  struct id_state {
    std::uint16_t ndesc = 0;  ///< ring slots the buffer holds
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

  /// Move a ring cursor by `count` slots (count <= size), flipping its wrap counter when it
  /// passes slot size-1 (§2.8.1).
  void advance(std::uint16_t& pos, bool& wrap, std::uint32_t count) const noexcept {
    std::uint32_t p = pos + count;  // < 2 * 32768: no overflow
    if (p >= size_) {
      p -= size_;
      wrap = !wrap;
    }
    pos = static_cast<std::uint16_t>(p);
  }

  static void write_desc(std::byte* at, std::uint64_t addr, std::uint32_t len, std::uint16_t id,
                         std::uint16_t flags) noexcept {
    packed_desc d;
    d.addr.set(addr);
    d.len.set(len);
    d.id.set(id);
    d.flags.set(flags);
    std::memcpy(at, &d, sizeof d);
  }

  /// addr, len and id of a head slot; its flags are stored last, by add().
  /// Field by field: a 14-byte copy of a struct built on the stack stalls store forwarding.
  void write_head(std::uint16_t slot, std::uint64_t addr, std::uint32_t len, std::uint16_t id) noexcept {
    std::byte* p = desc_ + packed_layout::desc_offset(slot);
    const le64 a = le64::from(addr);
    const le32 l = le32::from(len);
    const le16 i = le16::from(id);
    std::memcpy(p + offsetof(packed_desc, addr), &a, sizeof a);
    std::memcpy(p + offsetof(packed_desc, len), &l, sizeof l);
    std::memcpy(p + packed_layout::desc_id, &i, sizeof i);
  }

  result<std::optional<used_buffer>> retire(std::uint16_t id, std::uint32_t len) noexcept {
    id_state& s = ids_[id];
    if (in_order_) oldest_ = next_in_order_[id];
    num_free_ = static_cast<std::uint16_t>(num_free_ + s.ndesc);
    s.in_flight = false;
    --in_flight_;
    next_free_[id] = free_id_;
    free_id_ = id;
    return std::optional<used_buffer>{used_buffer{id, len, s.user_data}};
  }

  Memory* mem_;
  indirect_pool pool_{};
  std::byte* desc_ = nullptr;
  std::byte* driver_event_ = nullptr;  ///< Driver Event Suppression (we write it)
  std::byte* device_event_ = nullptr;  ///< Device Event Suppression (the device writes it)
  std::byte* pool_host_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t free_id_ = 0;     ///< head of the free buffer-id list
  std::uint16_t num_free_ = 0;    ///< free ring slots
  std::uint16_t in_flight_ = 0;   ///< buffers in flight
  std::uint16_t next_avail_ = 0;  ///< next slot to make available
  std::uint16_t last_used_ = 0;   ///< next slot to look at for a used descriptor
  std::uint16_t oldest_ = 0;      ///< IN_ORDER: oldest buffer id in flight
  std::uint16_t newest_ = 0;      ///< IN_ORDER: newest buffer id in flight
  std::uint32_t num_added_ = 0;   ///< slots published since the last kick decision (<= size)
  std::uint16_t detach_next_ = 0; ///< detach_unused(): next buffer id to look at
  bool avail_wrap_ = true;        ///< Driver Ring Wrap Counter (§2.8.1)
  bool used_wrap_ = true;         ///< wrap counter expected in the slot at last_used_
  bool event_idx_ = false;
  bool in_order_ = false;
  used_len_mode used_len_mode_ = used_len_mode::strict;
  std::uint64_t clamped_used_lens_ = 0;
  bool ready_ = false;
  bool broken_ = false;
  errc broken_reason_{};
  std::optional<std::pair<std::uint16_t, std::uint32_t>> batch_target_{};
  std::array<std::uint16_t, MaxQueueSize> next_free_{};
  std::array<std::uint16_t, MaxQueueSize> next_in_order_{};
  std::array<id_state, MaxQueueSize> ids_{};
};

}  // namespace ring
VIREO_NAMESPACE_END
