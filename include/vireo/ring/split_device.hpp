// SPDX-License-Identifier: Apache-2.0
// The device side of a split virtqueue: pop available chains, push used, notification suppression.
#pragma once

#include <atomic>
#include <cstring>
#include <optional>
#include <span>

#include "vireo/chain/split_walker.hpp"
#include "vireo/ring/detail/ring_area.hpp"
#include "vireo/ring/event_idx.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/used_entry.hpp"

VIREO_NAMESPACE_BEGIN
namespace ring {

/// Device side of a split virtqueue (virtio 1.3 §2.7) over any guest_memory model.
///
/// Ring areas are mapped once in configure(); every descriptor is copied out of guest memory
/// exactly once while pop() builds a validated chain. Nothing here allocates, throws, blocks or
/// uses virtual calls. One thread at a time may use a queue.
///
/// Errors are of two kinds. Ring corruption (avail_idx_jump, head_out_of_range) breaks the
/// queue: every later call returns queue_broken until reset(), and the device should set
/// DEVICE_NEEDS_RESET. A malformed chain (any chain-band errc, segment_limit, memory errors)
/// consumes that one head: rejected() then returns its token so the device may complete it
/// with length 0, and the next pop() serves the next chain.
template <guest_memory Memory, std::size_t MaxSegments = 64>
class split_device {
 public:
  using memory_type = Memory;
  using chain_type = chain::descriptor_chain<Memory, MaxSegments>;

  explicit split_device(Memory& mem) noexcept : mem_(&mem) {}

  /// A configured queue, or the error configure() gave.
  [[nodiscard]] static result<split_device> create(Memory& mem, const queue_config& cfg) noexcept {
    split_device q{mem};
    VIREO_TRY(q.configure(cfg));
    return q;
  }

  /// Map the three areas and start from the initial state (indices 0, notifications enabled).
  /// Errors: bad_queue_size, ring_misaligned (§2.7.1: 16/2/4), ring_not_mapped.
  [[nodiscard]] result<void> configure(const queue_config& cfg) noexcept {
    reset();
    if (!split_layout::valid_size(cfg.size)) return errc::bad_queue_size;
    auto desc = detail::map_ring_area(*mem_, cfg.desc_table, split_layout::desc_table_bytes(cfg.size),
                                      split_layout::desc_align, access::read);
    if (!desc) return desc.error();
    auto avail = detail::map_ring_area(*mem_, cfg.driver_area, split_layout::avail_bytes(cfg.size),
                                       split_layout::avail_align, access::read);
    if (!avail) return avail.error();
    auto used = detail::map_ring_area(*mem_, cfg.device_area, split_layout::used_bytes(cfg.size),
                                      split_layout::used_align, access::read_write);
    if (!used) return used.error();
    cfg_ = cfg;
    desc_ = *desc;
    avail_ = *avail;
    used_ = *used;
    size_ = cfg.size;
    mask_ = static_cast<std::uint16_t>(cfg.size - 1);
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
    // Map into a scratch queue and take only its host views: every index, the IN_ORDER
    // sequence, the notification state and a pending rejected() token stay as they were.
    split_device fresh{*mem_};
    if (auto r = fresh.configure(cfg_); !r) {
      reset();
      return r.error();
    }
    desc_ = fresh.desc_;
    avail_ = fresh.avail_;
    used_ = fresh.used_;
    return ok();
  }

  /// Back to the unconfigured initial state (virtio 1.3 §2.6.1: after a queue reset the device
  /// neither processes nor notifies the queue). configure() again to re-enable.
  void reset() noexcept {
    ready_ = false;
    broken_ = false;
    broken_reason_ = errc{};
    last_avail_ = avail_shadow_ = used_idx_ = signalled_used_ = next_push_seq_ = 0;
    signalled_valid_ = false;
    pushed_ = false;
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

  /// Indices to save and restore (vhost-user GET/SET_VRING_BASE, live migration).
  using saved_state = queue_state;
  [[nodiscard]] saved_state state() const noexcept { return {last_avail_, used_idx_}; }
  /// Continue from saved indices. Precondition: configured.
  void restore(std::uint16_t next_avail, std::uint16_t used_idx) noexcept {
    VIREO_ASSERT(ready_);
    last_avail_ = avail_shadow_ = next_avail;
    used_idx_ = signalled_used_ = used_idx;
    next_push_seq_ = next_avail;  // under IN_ORDER everything before next_avail is complete
    signalled_valid_ = false;
    detail::store16(used_ + split_layout::used_idx, used_idx_, std::memory_order_release);
  }

  /// Take the next available chain into `out`. Returns false (and an empty `out`) when nothing
  /// is available. Errors: see the class comment; queue_not_ready; queue_broken.
  /// The common case (a chain is pending and well formed) is inlined into the caller; refills,
  /// empty rings and errors go through out-of-line helpers.
  [[nodiscard]] VIREO_ALWAYS_INLINE result<bool> pop_into(chain_type& out) noexcept {
    if (VIREO_UNLIKELY(!ready_)) return not_ready();
    has_rejected_ = false;
    if (VIREO_UNLIKELY(last_avail_ == avail_shadow_)) {
      auto more = refresh_avail();
      if (VIREO_UNLIKELY(!more)) return more.error();
      if (!*more) return nothing_available(out);
    }
    const std::uint16_t seq = last_avail_;
    // Entries before avail_shadow_ were published by the acquire load in refresh_avail().
    const std::uint16_t head =
        detail::load16(avail_ + split_layout::avail_ring(seq & mask_), std::memory_order_relaxed);
    last_avail_ = static_cast<std::uint16_t>(seq + 1);
    if (event_idx_ && notify_enabled_)  // ask for a kick when the next entry is published
      detail::store16(used_ + split_layout::avail_event(size_), last_avail_, std::memory_order_relaxed);
    if (VIREO_UNLIKELY(head >= size_)) return fail(errc::head_out_of_range);

    chain::chain_builder<Memory, MaxSegments> b{out, *mem_};
    auto walked = chain::walk_split_chain(*mem_, desc_, size_, head, indirect_, b);
    if (VIREO_LIKELY(walked.has_value())) walked = b.finish(head, 1, seq);
    if (VIREO_UNLIKELY(!walked)) return reject(head, seq, walked.error());
    return true;
  }

  /// The next available chain; an empty() chain when nothing is available.
  [[nodiscard]] result<chain_type> pop() noexcept {
    result<chain_type> r{chain_type{}};
    // One return object, so the chain is built in the caller's result (NRVO) and never copied:
    // a copy right after pop_into() also reloads the fields it just stored, too early for
    // store-to-load forwarding (about 14 ns per chain in bench/w1.cpp).
    if (auto got = pop_into(*r); VIREO_UNLIKELY(!got)) r = got.error();
    return r;
  }

  /// The token of the chain the last pop() consumed but rejected as malformed, if any.
  [[nodiscard]] std::optional<chain::used_token> rejected() const noexcept {
    if (!has_rejected_) return std::nullopt;
    return rejected_;
  }

  /// Walk the chain that starts at descriptor `head` into `out` again, without consuming an
  /// available entry: a chain popped before a device restart and not completed, which the
  /// restarted device must finish first (vhost-user "Inflight I/O tracking": resubmit the
  /// in-flight heads). The descriptors are read (and validated) afresh; `seq` becomes the
  /// token's seq. Complete the chain with push_used() as any other.
  /// Errors: head_out_of_range (head >= size(); nothing is consumed and the queue stays usable),
  /// the chain errors of pop() (rejected() then returns the head's token, to complete with
  /// length 0), queue_not_ready, queue_broken.
  [[nodiscard]] result<void> resubmit_into(std::uint16_t head, std::uint16_t seq,
                                           chain_type& out) noexcept {
    if (!ready_) return not_ready();
    has_rejected_ = false;
    auto walked = walk_into(head, seq, out);
    if (!walked && head < size_) return reject(head, seq, walked.error());
    return walked;
  }

  /// Walk the chain at descriptor `head` into `out` as pop() would build it, and record nothing:
  /// no index moves and rejected() is unchanged (e.g. to find the buffers of a chain completed
  /// by token: vhost-user dirty logging). The guest may have rewritten the descriptors since the
  /// chain was popped; the walk validates what is there now.
  /// Errors: head_out_of_range, the chain errors of pop(), queue_not_ready, queue_broken.
  [[nodiscard]] result<void> walk_into(std::uint16_t head, std::uint16_t seq,
                                       chain_type& out) const noexcept {
    if (!ready_) return not_ready();
    chain::chain_builder<Memory, MaxSegments> b{out, *mem_};  // `out` reads empty() until finish
    if (head >= size_) return errc::head_out_of_range;
    VIREO_TRY(chain::walk_split_chain(*mem_, desc_, size_, head, indirect_, b));
    return b.finish(head, 1, seq);
  }

  /// Complete one chain with `len` bytes written (virtio 1.3 §2.7.8) and publish it.
  /// Errors: used_len_too_large (len above the chain's writable bytes: §2.7.8.2 forbids
  /// over-reporting), in_order_violation (IN_ORDER and not the oldest popped chain),
  /// queue_not_ready, queue_broken.
  [[nodiscard]] result<void> push_used(const chain::used_token& t, std::uint32_t len) noexcept {
    VIREO_TRY(check_push(t, len, next_push_seq_));
    write_used_elem(used_idx_, t.id, len);
    const std::uint16_t old = used_idx_++;
    ++next_push_seq_;
    publish_used(old);
    return ok();
  }
  [[nodiscard]] result<void> push_used(const chain_type& c, std::uint32_t len) noexcept {
    return push_used(c.token(), len);
  }

  /// Complete several chains and publish them with one index update. Under IN_ORDER, a batch
  /// whose entries all but the last report their whole writable length (and are not rejected()
  /// chains) is written as a single
  /// used element naming the last buffer (§2.7.9 batching). Nothing is written if any entry is
  /// invalid (errors as for push_used).
  [[nodiscard]] result<void> push_used(std::span<const used_entry> batch) noexcept {
    if (batch.empty())
      return ready_ ? ok() : result<void>{broken_ ? errc::queue_broken : errc::queue_not_ready};
    bool collapsible = in_order_;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      VIREO_TRY(check_push(batch[i].token, batch[i].len,
                           static_cast<std::uint16_t>(next_push_seq_ + i)));
      const chain::used_token& t = batch[i].token;
      if (i + 1 < batch.size() && (batch[i].len != t.writable_len || t.rejected)) collapsible = false;
    }
    if (collapsible) {
      write_used_elem(used_idx_, batch.back().token.id, batch.back().len);
    } else {
      for (std::size_t i = 0; i < batch.size(); ++i)
        write_used_elem(static_cast<std::uint16_t>(used_idx_ + i), batch[i].token.id, batch[i].len);
    }
    const std::uint16_t old = used_idx_;
    used_idx_ = static_cast<std::uint16_t>(used_idx_ + batch.size());
    next_push_seq_ = static_cast<std::uint16_t>(next_push_seq_ + batch.size());
    publish_used(old);
    return ok();
  }

  /// Should the device send a used-buffer notification now? Call after pushing a batch; it
  /// applies avail.flags (no EVENT_IDX, §2.7.7.2) or used_event with the need_event window
  /// (EVENT_IDX) to everything pushed since the last notification decision.
  [[nodiscard]] bool needs_notification() noexcept {
    if (!ready_ || !pushed_) return false;
    // §2.7.7.2 / vhost: the used.idx store must be visible before we read the driver's
    // suppression fields, or a driver re-enabling interrupts could be missed.
    vireo::detail::full_fence();
    pushed_ = false;
    const std::uint16_t old = signalled_used_;
    const bool valid = signalled_valid_;
    signalled_used_ = used_idx_;
    signalled_valid_ = true;
    if (!event_idx_)
      return (detail::load16(avail_ + split_layout::avail_flags, std::memory_order_relaxed) &
              avail_flag::no_interrupt) == 0;
    if (!valid) return true;
    const std::uint16_t event =
        detail::load16(avail_ + split_layout::used_event(size_), std::memory_order_relaxed);
    return need_event(event, used_idx_, old);
  }

  /// Ask the driver not to kick (a hint: §2.7.10). Without EVENT_IDX sets NO_NOTIFY; with it,
  /// stops advancing avail_event.
  void disable_notifications() noexcept {
    if (!ready_) return;
    notify_enabled_ = false;
    if (!event_idx_)
      detail::store16(used_ + split_layout::used_flags, used_flag::no_notify, std::memory_order_relaxed);
  }

  /// Ask for kicks again, then re-check the ring: returns true when chains became available,
  /// in which case the device must keep polling instead of waiting for a kick.
  /// Errors: avail_idx_jump, queue_not_ready, queue_broken.
  [[nodiscard]] result<bool> enable_notifications() noexcept {
    if (!ready_) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    notify_enabled_ = true;
    if (event_idx_)
      detail::store16(used_ + split_layout::avail_event(size_), last_avail_, std::memory_order_relaxed);
    else
      detail::store16(used_ + split_layout::used_flags, 0, std::memory_order_relaxed);
    // The one full fence: our store must be visible before we re-read avail.idx, pairing with
    // the driver's fence between publishing avail.idx and reading our suppression field.
    vireo::detail::full_fence();
    return refresh_avail();
  }

  /// Number of chains published by the driver and not yet popped.
  [[nodiscard]] result<std::uint16_t> available() noexcept {
    if (!ready_) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    VIREO_TRY(refresh_avail());
    return static_cast<std::uint16_t>(avail_shadow_ - last_avail_);
  }

 private:
  VIREO_NOINLINE errc not_ready() const noexcept {
    return broken_ ? errc::queue_broken : errc::queue_not_ready;
  }
  VIREO_NOINLINE result<bool> nothing_available(chain_type& out) noexcept {
    chain::chain_builder<Memory, MaxSegments> clear{out, *mem_};  // leaves `out` empty()
    return false;
  }
  /// A malformed chain: its head is consumed, rejected() hands its token back.
  VIREO_NOINLINE errc reject(std::uint16_t head, std::uint16_t seq, errc e) noexcept {
    has_rejected_ = true;
    rejected_ = chain::used_token{head, 1, seq, 0, true};
    return e;
  }
  VIREO_NOINLINE errc fail(errc e) noexcept {
    broken_ = true;
    broken_reason_ = e;
    ready_ = false;
    return e;
  }

  /// Load avail.idx (acquire: the ring entries and descriptors it covers become visible).
  /// Returns whether anything is pending. Errors: avail_idx_jump (breaks the queue).
  VIREO_NOINLINE result<bool> refresh_avail() noexcept {
    const std::uint16_t idx = detail::load16(avail_ + split_layout::avail_idx, std::memory_order_acquire);
    // Free-running u16 indices: the difference wraps on purpose. More than `size` pending
    // entries cannot come from a conforming driver (§2.7.6: the ring holds `size` entries).
    if (VIREO_UNLIKELY(static_cast<std::uint16_t>(idx - last_avail_) > size_))
      return fail(errc::avail_idx_jump);
    avail_shadow_ = idx;
    return idx != last_avail_;
  }

  result<void> check_push(const chain::used_token& t, std::uint32_t len,
                          std::uint16_t expected_seq) const noexcept {
    if (VIREO_UNLIKELY(!ready_)) return broken_ ? errc::queue_broken : errc::queue_not_ready;
    if (VIREO_UNLIKELY(len > t.writable_len)) return errc::used_len_too_large;
    if (VIREO_UNLIKELY(t.id >= size_)) return errc::invalid_argument;
    if (in_order_ && VIREO_UNLIKELY(t.seq != expected_seq)) return errc::in_order_violation;
    return ok();
  }

  void write_used_elem(std::uint16_t at, std::uint16_t id, std::uint32_t len) noexcept {
    split_used_elem e;
    e.id.set(id);
    e.len.set(len);
    std::memcpy(used_ + split_layout::used_ring(at & mask_), &e, sizeof e);
  }

  /// Publish used.idx after it moved from `old`.
  void publish_used(std::uint16_t old) noexcept {
    // §2.7.8.2: buffer data and the used element are visible before used.idx (release).
    detail::store16(used_ + split_layout::used_idx, used_idx_, std::memory_order_release);
    pushed_ = true;
    // 65536 or more entries since the last notification decision: the u16 window
    // [signalled_used_, used_idx_) has wrapped onto itself and need_event() can no longer see
    // the driver's used_event in it. Forget the old decision point, so the next decision
    // notifies (as vhost does in vhost_add_used_n). The subtractions wrap on purpose: this push
    // moved the index past signalled_used_ iff used_idx_ - signalled_used_ < used_idx_ - old.
    if (static_cast<std::uint16_t>(used_idx_ - signalled_used_) <
        static_cast<std::uint16_t>(used_idx_ - old))
      signalled_valid_ = false;
  }

  Memory* mem_;
  queue_config cfg_{};
  std::byte* desc_ = nullptr;
  std::byte* avail_ = nullptr;
  std::byte* used_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t mask_ = 0;
  std::uint16_t last_avail_ = 0;     ///< next avail ring index to pop
  std::uint16_t avail_shadow_ = 0;   ///< last avail.idx seen
  std::uint16_t used_idx_ = 0;       ///< our used.idx
  std::uint16_t signalled_used_ = 0; ///< used.idx at the last notification decision
  std::uint16_t next_push_seq_ = 0;  ///< IN_ORDER: seq of the next chain to complete
  bool indirect_ = false;
  bool event_idx_ = false;
  bool in_order_ = false;
  bool ready_ = false;
  bool broken_ = false;
  bool signalled_valid_ = false;
  bool pushed_ = false;
  bool notify_enabled_ = true;
  errc broken_reason_{};
  bool has_rejected_ = false;
  chain::used_token rejected_{};
};

}  // namespace ring
VIREO_NAMESPACE_END
