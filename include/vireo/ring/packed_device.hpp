// SPDX-License-Identifier: Apache-2.0
// The device side of a packed virtqueue: pop available lists, write used descriptors, event
// suppression.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "vireo/chain/packed_walker.hpp"
#include "vireo/ring/detail/ring_area.hpp"
#include "vireo/ring/event_idx.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/packed_wire.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/used_entry.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// Device side of a packed virtqueue (virtio 1.3 §2.8) over any guest_memory model.
///
/// Ring areas are mapped once in configure(). pop() polls only the slot at the avail cursor
/// (§2.8.2) and copies every descriptor of the list out of guest memory exactly once while it
/// builds a validated chain, so completing chains out of order is safe: a used descriptor may
/// overwrite slots of a chain that is still in flight, whose segments were already taken.
/// Nothing here allocates, throws, blocks or uses virtual calls. One thread at a time may use a
/// queue.
///
/// Errors are of two kinds. A list whose end cannot be found (desc_not_available,
/// chain_too_long) leaves the ring unparseable and breaks the queue: every later call returns
/// queue_broken until reset(), and the device should set DEVICE_NEEDS_RESET. A malformed list
/// whose end is known (any other chain-band errc, segment_limit, memory errors) is consumed:
/// rejected() then returns its token so the device may complete it with length 0, and the next
/// pop() serves the next list.
template <guest_memory Memory, std::size_t MaxSegments = 64>
class packed_device {
 public:
  using memory_type = Memory;
  using chain_type = chain::descriptor_chain<Memory, MaxSegments>;

  explicit packed_device(Memory& mem) noexcept : mem_(&mem) {}

  /// A configured queue, or the error configure() gave.
  [[nodiscard]] static result<packed_device> create(Memory& mem, const queue_config& cfg) noexcept {
    packed_device q{mem};
    VIREO_TRY(q.configure(cfg));
    return q;
  }

  /// Map the three areas and start from the initial state: both cursors at slot 0, both wrap
  /// counters 1 (§2.8.1), notifications enabled. The device writes used descriptors into the
  /// descriptor ring, so it is mapped read-write; the driver event suppression area is read,
  /// the device one written. Errors: bad_queue_size (not 1..32768), ring_misaligned (§2.8.10.1,
  /// §2.8.11: 16 for the ring, 4 for each event area), ring_not_mapped.
  [[nodiscard]] result<void> configure(const queue_config& cfg) noexcept {
    reset();
    if (!packed_layout::valid_size(cfg.size)) return errc::bad_queue_size;
    auto desc = detail::map_ring_area(*mem_, cfg.desc_table, packed_layout::desc_ring_bytes(cfg.size),
                                      packed_layout::desc_align, access::read_write);
    if (!desc) return desc.error();
    auto driver = detail::map_ring_area(*mem_, cfg.driver_area, packed_layout::event_bytes,
                                        packed_layout::event_align, access::read);
    if (!driver) return driver.error();
    auto device = detail::map_ring_area(*mem_, cfg.device_area, packed_layout::event_bytes,
                                        packed_layout::event_align, access::read_write);
    if (!device) return device.error();
    cfg_ = cfg;
    desc_ = *desc;
    driver_event_ = *driver;
    device_event_ = *device;
    size_ = cfg.size;
    indirect_ = cfg.features.has(transport_feature::indirect_desc);
    event_idx_ = cfg.features.has(transport_feature::event_idx);
    in_order_ = cfg.features.has(transport_feature::in_order);
    ready_ = true;
    return ok();
  }

  /// Map the areas again after the memory layout changed (same addresses, same state).
  /// Errors: those of configure() (the queue is then reset), queue_not_ready, queue_broken.
  [[nodiscard]] result<void> remap() noexcept {
    if (!ready_) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    // Map into a scratch queue and take only its host views: cursors, wrap counters, the
    // notification state and a pending rejected() token stay as they were.
    packed_device fresh{*mem_};
    if (auto r = fresh.configure(cfg_); !r) {
      reset();
      return r.error();
    }
    desc_ = fresh.desc_;
    driver_event_ = fresh.driver_event_;
    device_event_ = fresh.device_event_;
    return ok();
  }

  /// Back to the unconfigured initial state (virtio 1.3 §2.6.1: after a queue reset the device
  /// neither processes nor notifies the queue, and its wrap counters are back to 1).
  /// configure() again to re-enable.
  void reset() noexcept {
    ready_ = false;
    broken_ = false;
    broken_reason_ = errc{};
    avail_slot_ = used_slot_ = 0;
    avail_wrap_ = used_wrap_ = true;
    unsignalled_ = 0;
    signalled_valid_ = false;
    notify_enabled_ = true;
    has_rejected_ = false;
  }

  [[nodiscard]] bool ready() const noexcept { return ready_; }
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  /// The ring error that broke the queue (meaningful when broken()).
  [[nodiscard]] errc broken_reason() const noexcept { return broken_reason_; }
  [[nodiscard]] std::uint16_t size() const noexcept { return size_; }
  [[nodiscard]] const queue_config& config() const noexcept { return cfg_; }
  /// The guest memory this queue reads and writes (a device model writes held buffers through it).
  [[nodiscard]] Memory& memory() const noexcept { return *mem_; }

  /// Positions to save and restore (vhost-user GET/SET_VRING_BASE, live migration). Each is
  /// `slot | wrap_counter << 15`, the encoding QEMU uses for packed rings in those messages.
  using saved_state = queue_state;
  [[nodiscard]] saved_state state() const noexcept {
    return {make_off_wrap(avail_slot_, avail_wrap_), make_off_wrap(used_slot_, used_wrap_)};
  }
  /// Continue from saved positions (as state() encodes them). Precondition: configured, and
  /// each slot (bits 0-14) below size(). A slot out of range, as a hostile front-end may send, is
  /// reduced modulo size(): the queue stays memory-safe, but its positions no longer match the
  /// driver's, so validate the values first.
  void restore(std::uint16_t next_avail, std::uint16_t used_idx) noexcept {
    VIREO_ASSERT(ready_);
    avail_slot_ = static_cast<std::uint16_t>(off_of(next_avail) % size_);
    avail_wrap_ = wrap_of(next_avail);
    used_slot_ = static_cast<std::uint16_t>(off_of(used_idx) % size_);
    used_wrap_ = wrap_of(used_idx);
    unsignalled_ = 0;
    signalled_valid_ = false;
  }

  /// Take the next available chain into `out`. Returns false (and an empty `out`) when nothing
  /// is available. The token's `slots` is the ring slots the list occupied, `id` its buffer id
  /// and `seq` the position (slot | wrap << 15) where it began. Errors: see the class comment;
  /// queue_not_ready; queue_broken.
  /// The common case (a well-formed list is available) is inlined into the caller; errors go
  /// through out-of-line helpers.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<bool> pop_into(chain_type& out) noexcept {
    if (VIREO_UNLIKELY(!ready_)) return not_ready();
    has_rejected_ = false;
    chain::chain_builder<Memory, MaxSegments> b{out, *mem_};  // `out` reads empty() until finish
    chain::packed_list list;
    const std::uint16_t seq = make_off_wrap(avail_slot_, avail_wrap_);
    auto walked = chain::walk_packed_chain(*mem_, desc_, size_, avail_slot_, avail_wrap_,
                                           indirect_, b, list);
    if (VIREO_UNLIKELY(!walked)) return bad_list(walked.error(), list, seq);
    if (!*walked) return false;
    consume(list.slots);
    if (auto done = b.finish(list.id, list.slots, seq); VIREO_UNLIKELY(!done))
      return reject(list, seq, done.error());
    return true;
  }

  /// The next available chain; an empty() chain when nothing is available.
  [[nodiscard]] result<chain_type> pop() noexcept {
    result<chain_type> r{chain_type{}};
    // One return object, so the chain is built in the caller's result (NRVO) and never copied.
    if (auto got = pop_into(*r); VIREO_UNLIKELY(!got)) r = got.error();
    return r;
  }

  /// The token of the chain the last pop() consumed but rejected as malformed, if any.
  [[nodiscard]] std::optional<chain::used_token> rejected() const noexcept {
    if (!has_rejected_) return std::nullopt;
    return rejected_;
  }

  /// Complete one chain with `len` bytes written: write one used descriptor at the used cursor
  /// (§2.8.6: id and len, then the flags with release) and advance the cursor by the slots the
  /// chain occupied. WRITE is set in the used descriptor when len > 0 (§2.8.3: len is reserved
  /// without it). Errors: used_len_too_large (len above the chain's writable bytes: §2.8.4 and
  /// §2.7.8.2 forbid over-reporting), invalid_argument (token.slots is 0 or more than the slots
  /// popped and not yet completed), in_order_violation (IN_ORDER and not the oldest popped
  /// chain), queue_not_ready, queue_broken. Nothing is written on error.
  [[nodiscard]] result<void> push_used(const chain::used_token& t, std::uint32_t len) noexcept {
    VIREO_TRY(check_push(t, len, make_off_wrap(used_slot_, used_wrap_), in_flight_slots()));
    write_used(used_slot_, used_wrap_, t.id, len, std::memory_order_release);
    advance(used_slot_, used_wrap_, t.slots);
    note_pushed(t.slots);
    return ok();
  }
  [[nodiscard]] result<void> push_used(const chain_type& c, std::uint32_t len) noexcept {
    return push_used(c.token(), len);
  }

  /// Complete several chains and publish them at once: every used descriptor is written, and
  /// the first one's flags last (§2.8.9), so the driver sees the whole batch together. Under
  /// IN_ORDER, a batch whose entries all but the last report their whole writable length (and
  /// are not rejected() chains) is
  /// written as a single used descriptor at the first slot naming the last buffer, and the
  /// cursor skips the slots of all of them (§2.8.8). Nothing is written if any entry is invalid
  /// (errors as for push_used).
  [[nodiscard]] result<void> push_used(std::span<const used_entry> batch) noexcept {
    if (batch.empty())
      return ready_ ? ok() : result<void>{broken_ ? errc::queue_broken : errc::queue_not_ready};
    const std::uint32_t in_flight = in_flight_slots();
    bool collapsible = in_order_;
    std::uint16_t slot = used_slot_;
    bool wrap = used_wrap_;
    std::uint32_t total = 0;  // <= in_flight <= size_: the checks below keep it so
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const chain::used_token& t = batch[i].token;
      VIREO_TRY(check_push(t, batch[i].len, make_off_wrap(slot, wrap), in_flight - total));
      advance(slot, wrap, t.slots);
      total += t.slots;
      if (i + 1 < batch.size() && (batch[i].len != t.writable_len || t.rejected)) collapsible = false;
    }
    if (collapsible) {
      write_used(used_slot_, used_wrap_, batch.back().token.id, batch.back().len,
                 std::memory_order_release);
    } else {
      slot = used_slot_;
      wrap = used_wrap_;
      advance(slot, wrap, batch[0].token.slots);
      // The driver reads a later descriptor only after the first, whose release store comes
      // last and publishes these too, so their flags need no ordering of their own.
      for (std::size_t i = 1; i < batch.size(); ++i) {
        write_used(slot, wrap, batch[i].token.id, batch[i].len, std::memory_order_relaxed);
        advance(slot, wrap, batch[i].token.slots);
      }
      write_used(used_slot_, used_wrap_, batch[0].token.id, batch[0].len,
                 std::memory_order_release);
    }
    advance(used_slot_, used_wrap_, total);
    note_pushed(total);
    return ok();
  }

  /// Should the device send a used-buffer notification now? Call after pushing a batch; it
  /// applies the Driver Event Suppression structure (§2.8.10, §2.8.14) to every used descriptor
  /// written since the last notification decision: DISABLE never, ENABLE always, DESC (with
  /// EVENT_IDX) when the used cursor passed slot `off` in phase `wrap`, with the need_event
  /// window. The reserved value 3 counts as ENABLE, as does DESC without EVENT_IDX; flag bits
  /// 2-15 are reserved and ignored.
  [[nodiscard]] bool needs_notification() noexcept {
    if (!ready_ || unsignalled_ == 0) return false;
    // The used flags stores must be visible before we read the driver's suppression structure
    // (§2.8.10), or a driver re-enabling callbacks could be missed; pairs with the driver's
    // fence between writing that structure and polling for used descriptors.
    vireo::detail::full_fence();
    const std::uint32_t count = unsignalled_;
    const bool valid = signalled_valid_;
    unsignalled_ = 0;
    signalled_valid_ = true;
    // A driver writes off_wrap before flags (Linux does, with a barrier between): acquire
    // flags, then read off_wrap, so a DESC comes with its offset.
    const std::uint16_t flags =
        detail::load16(driver_event_ + packed_layout::event_flags, std::memory_order_acquire) & 3u;
    if (flags == event_flag::disable) return false;
    if (flags != event_flag::desc || !event_idx_) return true;
    // The first decision, or a full lap since the last one: the window covers every slot.
    if (!valid || count >= size_) return true;
    const std::uint16_t off_wrap =
        detail::load16(driver_event_ + packed_layout::event_off_wrap, std::memory_order_relaxed);
    // Linear u16 positions: slots of the current used phase are 0..size-1, those of the
    // previous phase -size..-1 (mod 2^16). An event in the other phase is taken as the previous
    // one (Linux, QEMU). old = new - count lies within one lap, so old, new and the event are
    // distinct values modulo 2^16 (2 * 32768 = 2^16) even when size is not a power of two, and
    // need_event() tests event in [old, new) exactly.
    std::uint16_t event = off_of(off_wrap);
    if (wrap_of(off_wrap) != used_wrap_) event = static_cast<std::uint16_t>(event - size_);
    const std::uint16_t new_pos = used_slot_;
    const auto old_pos = static_cast<std::uint16_t>(new_pos - count);
    return need_event(event, new_pos, old_pos);
  }

  /// Ask the driver not to kick: Device Event Suppression flags = DISABLE (a hint: §2.8.10).
  void disable_notifications() noexcept {
    if (!ready_) return;
    notify_enabled_ = false;
    detail::store16(device_event_ + packed_layout::event_flags, event_flag::disable,
                    std::memory_order_relaxed);
  }

  /// Ask for kicks again, then re-check the ring: returns true when the slot at the avail cursor
  /// is available, in which case the device must keep polling instead of waiting for a kick.
  /// With EVENT_IDX asks for a kick when the driver makes the avail cursor's slot available
  /// (off_wrap, then flags = DESC), otherwise flags = ENABLE.
  /// Errors: queue_not_ready, queue_broken.
  [[nodiscard]] result<bool> enable_notifications() noexcept {
    if (!ready_) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    notify_enabled_ = true;
    if (event_idx_) {
      // off_wrap before flags (release), so a driver that sees DESC sees the offset too.
      detail::store16(device_event_ + packed_layout::event_off_wrap,
                      make_off_wrap(avail_slot_, avail_wrap_), std::memory_order_relaxed);
      detail::store16(device_event_ + packed_layout::event_flags, event_flag::desc,
                      std::memory_order_release);
    } else {
      detail::store16(device_event_ + packed_layout::event_flags, event_flag::enable,
                      std::memory_order_relaxed);
    }
    // The one full fence: our store must be visible before we re-read the ring, pairing with
    // the driver's fence between publishing a head and reading our suppression structure.
    vireo::detail::full_fence();
    return packed_flag::is_avail(head_flags(avail_slot_), avail_wrap_);
  }

  /// Number of available chains from the avail cursor on (a hint: only flags are read, at most
  /// size() slots). A list whose end cannot be found counts as one, so that pop() reports it.
  [[nodiscard]] result<std::uint16_t> available() noexcept {
    if (!ready_) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    std::uint16_t slot = avail_slot_;
    bool wrap = avail_wrap_;
    std::uint16_t chains = 0;
    bool at_head = true;
    for (std::uint32_t seen = 0; seen < size_; ++seen) {
      const std::uint16_t f = head_flags(slot);
      if (!packed_flag::is_avail(f, wrap)) break;
      if (at_head) ++chains;
      at_head = (f & desc_flag::next) == 0;
      advance(slot, wrap, 1);
    }
    return chains;
  }

 private:
  VIREO_NOINLINE errc not_ready() const noexcept {
    return broken_ ? errc::queue_broken : errc::queue_not_ready;
  }
  /// The walk failed. A list whose end is unknown leaves the ring unparseable: the queue breaks.
  /// Otherwise the list is consumed and rejected() hands its token back.
  VIREO_NOINLINE errc bad_list(errc e, chain::packed_list list, std::uint16_t seq) noexcept {
    if (list.slots == 0) return fail(e);
    consume(list.slots);
    return reject(list, seq, e);
  }
  VIREO_NOINLINE errc reject(chain::packed_list list, std::uint16_t seq, errc e) noexcept {
    has_rejected_ = true;
    rejected_ = chain::used_token{list.id, list.slots, seq, 0, true};
    return e;
  }
  VIREO_NOINLINE errc fail(errc e) noexcept {
    broken_ = true;
    broken_reason_ = e;
    ready_ = false;
    return e;
  }

  /// Move the avail cursor past a list of `slots` slots.
  VIREO_ALWAYS_INLINE void consume(std::uint16_t slots) noexcept {
    advance(avail_slot_, avail_wrap_, slots);
    if (event_idx_ && notify_enabled_)  // ask for a kick when the next slot is made available
      detail::store16(device_event_ + packed_layout::event_off_wrap,
                      make_off_wrap(avail_slot_, avail_wrap_), std::memory_order_relaxed);
  }

  /// Move a ring position on by `by` slots, flipping the wrap counter when it passes the last
  /// slot (§2.8.1). Precondition: by <= size_ (slot < size_, so one subtraction is enough).
  VIREO_ALWAYS_INLINE void advance(std::uint16_t& slot, bool& wrap, std::uint32_t by) const noexcept {
    std::uint32_t s = std::uint32_t{slot} + by;
    if (s >= size_) {
      s -= size_;
      wrap = !wrap;
    }
    slot = static_cast<std::uint16_t>(s);
  }

  /// Slots popped and not yet completed: the distance from the used cursor to the avail cursor
  /// (0..size_; the wrap counters tell whether the avail cursor is a lap ahead). Only a bad
  /// restore() can put them further apart; the clamp keeps every push inside the ring then.
  [[nodiscard]] std::uint32_t in_flight_slots() const noexcept {
    const std::int32_t d = std::int32_t{avail_slot_} - std::int32_t{used_slot_} +
                           (avail_wrap_ != used_wrap_ ? std::int32_t{size_} : 0);
    if (d < 0) return 0;
    return d > size_ ? size_ : static_cast<std::uint32_t>(d);
  }

  /// The flags of the descriptor at `slot` (acquire: a head's list becomes visible).
  [[nodiscard]] std::uint16_t head_flags(std::uint16_t slot) const noexcept {
    return detail::load16(desc_ + packed_layout::desc_offset(slot) + packed_layout::desc_flags,
                          std::memory_order_acquire);
  }

  result<void> check_push(const chain::used_token& t, std::uint32_t len, std::uint16_t expected_seq,
                          std::uint32_t room) const noexcept {
    if (VIREO_UNLIKELY(!ready_)) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    if (VIREO_UNLIKELY(len > t.writable_len)) return errc::used_len_too_large;
    // A token covering more slots than are in flight would mark slots of lists not yet popped.
    if (VIREO_UNLIKELY(t.slots == 0 || t.slots > room)) return errc::invalid_argument;
    if (in_order_ && VIREO_UNLIKELY(t.seq != expected_seq)) return errc::in_order_violation;
    return ok();
  }

  /// Write one used descriptor: id and len first, then the flags with `order` (§2.8.6; QEMU
  /// also stores flags last). addr is left alone: it is not part of a used descriptor.
  VIREO_ALWAYS_INLINE void write_used(std::uint16_t slot, bool wrap, std::uint16_t id,
                                      std::uint32_t len, std::memory_order order) noexcept {
    std::byte* p = desc_ + packed_layout::desc_offset(slot);
    const le32 l = le32::from(len);
    const le16 i = le16::from(id);
    std::memcpy(p + offsetof(packed_desc, len), &l, sizeof l);
    std::memcpy(p + packed_layout::desc_id, &i, sizeof i);
    // §2.8.1: AVAIL = USED = the used wrap counter. §2.8.3: WRITE means data was written.
    const auto flags = static_cast<std::uint16_t>(packed_flag::used_marks(wrap) |
                                                  (len != 0 ? desc_flag::write : 0u));
    detail::store16(p + packed_layout::desc_flags, flags, order);
  }

  /// Account `slots` more used slots for the next notification decision. Saturates at size_:
  /// a full lap already covers every event position.
  void note_pushed(std::uint32_t slots) noexcept {
    unsignalled_ += slots;  // both terms <= 32768: no overflow
    if (unsignalled_ > size_) unsignalled_ = size_;
  }

  Memory* mem_;
  queue_config cfg_{};
  std::byte* desc_ = nullptr;
  std::byte* driver_event_ = nullptr;
  std::byte* device_event_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t avail_slot_ = 0;   ///< slot of the next list to pop
  std::uint16_t used_slot_ = 0;    ///< slot of the next used descriptor
  std::uint32_t unsignalled_ = 0;  ///< slots used since the last notification decision
  bool avail_wrap_ = true;         ///< phase the next list's head is expected in
  bool used_wrap_ = true;          ///< phase the next used descriptor is written in
  bool indirect_ = false;
  bool event_idx_ = false;
  bool in_order_ = false;
  bool ready_ = false;
  bool broken_ = false;
  bool signalled_valid_ = false;
  bool notify_enabled_ = true;
  bool has_rejected_ = false;
  errc broken_reason_{};
  chain::used_token rejected_{};
};

}  // namespace ring
VIREO_NAMESPACE_END
