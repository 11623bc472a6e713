// SPDX-License-Identifier: Apache-2.0
// Dirty logging of what a device queue writes to guest memory through its own host views (spec
// "Migration", digest §6.3, rule B22): the used ring (used elements, used.idx, flags and
// avail_event; packed: the used descriptors and the device event area) when the vring's F_LOG
// flag is set, and the buffers a completed chain wrote. A decorator: the same API as the queue
// it wraps (ring::device_queue_api). No heap, no OS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/used_entry.hpp"
#include "vireo/vhost_user/backend/dirty_log.hpp"
#include "vireo/vhost_user/backend/vring_state.hpp"
#include "vireo/vhost_user/payloads.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// A device queue whose ring writes are marked in `log` while it is active:
///  - used-ring writes, only while `ring.addr_flags` has F_LOG (SET_VRING_ADDR). Split rings log
///    at `ring.log_addr` + the offset in the used ring, as the spec says (log_guest_addr, which
///    QEMU sets to the used ring's guest address). Packed rings write used descriptors into the
///    descriptor ring, which log_guest_addr does not describe; they are logged at their own
///    guest addresses (the log is a bitmap of guest pages either way);
///  - the buffers of a completed chain: push_used(chain, len) marks the first `len` writable
///    bytes; push_used(token, len) walks a split chain again from its head to find them (the
///    pages were already marked when the chain was popped, through logged_memory, but a chain
///    held across a log sync would be lost to the migration otherwise). Packed chains rely on
///    the marks made when they were popped.
/// Marks come after the data is written and before used.idx (or the used flags) publish it.
/// Errors of the log (vhost_log_range) are returned after the completion is published: the
/// session checks at SET_LOG_BASE and SET_VRING_ADDR that the log covers every logged ring.
/// `log` and `ring` (session::dirty_log(), session::vring(i)) must outlive the queue.
template <typename Queue>
  requires ring::device_queue_api<Queue>
class logged_queue {
 public:
  using memory_type = typename Queue::memory_type;
  using chain_type = typename Queue::chain_type;
  using queue_type = Queue;
  using saved_state = ring::queue_state;

  /// `args` go to the wrapped queue's constructor after the memory.
  template <typename... Args>
  logged_queue(memory_type& mem, dirty_log& log, const vring_state& ring, Args&... args) noexcept
      : q_(mem, args...), log_(&log), ring_(&ring) {}

  [[nodiscard]] Queue& queue() noexcept { return q_; }
  [[nodiscard]] memory_type& memory() const noexcept { return q_.memory(); }

  [[nodiscard]] result<void> configure(const ring::queue_config& cfg) noexcept {
    return q_.configure(cfg);
  }
  [[nodiscard]] result<void> remap() noexcept { return q_.remap(); }
  void reset() noexcept { q_.reset(); }
  [[nodiscard]] bool ready() const noexcept { return q_.ready(); }
  [[nodiscard]] bool broken() const noexcept { return q_.broken(); }
  [[nodiscard]] errc broken_reason() const noexcept { return q_.broken_reason(); }
  [[nodiscard]] std::uint16_t size() const noexcept { return q_.size(); }
  [[nodiscard]] const ring::queue_config& config() const noexcept { return q_.config(); }
  [[nodiscard]] saved_state state() const noexcept { return q_.state(); }
  /// Split restore() writes used.idx.
  void restore(std::uint16_t next_avail, std::uint16_t used_idx) noexcept {
    q_.restore(next_avail, used_idx);
    if (!packed()) (void)mark_used(ring::split_layout::used_idx, 2);
  }

  /// The queue's pop; with EVENT_IDX a split pop writes avail_event (a packed one the device
  /// event area).
  [[nodiscard]] result<bool> pop_into(chain_type& out) noexcept {
    auto got = q_.pop_into(out);
    if (q_.config().features.has(transport_feature::event_idx)) (void)mark_event_fields();
    return got;
  }
  [[nodiscard]] result<chain_type> pop() noexcept {
    result<chain_type> r{chain_type{}};
    if (auto got = pop_into(*r); !got) r = got.error();
    return r;
  }
  [[nodiscard]] std::optional<chain::used_token> rejected() const noexcept { return q_.rejected(); }
  /// The wrapped queue's resubmit_into and walk_into, for inflight_queue<logged_queue<Q>> (the
  /// resubmitted chain's buffers are marked through logged_memory as a popped chain's are).
  [[nodiscard]] result<void> resubmit_into(std::uint16_t head, std::uint16_t seq,
                                           chain_type& out) noexcept
    requires requires(Queue& q, chain_type& c, std::uint16_t u) { q.resubmit_into(u, u, c); }
  {
    return q_.resubmit_into(head, seq, out);
  }
  [[nodiscard]] result<void> walk_into(std::uint16_t head, std::uint16_t seq,
                                       chain_type& out) const noexcept
    requires requires(const Queue& q, chain_type& c, std::uint16_t u) { q.walk_into(u, u, c); }
  {
    return q_.walk_into(head, seq, out);
  }

  [[nodiscard]] result<void> push_used(const chain::used_token& t, std::uint32_t len) noexcept {
    if (log_->active() && len != 0) VIREO_TRY(mark_buffers(t, len));
    const saved_state before = q_.state();
    VIREO_TRY(q_.push_used(t, len));
    return mark_completions(before, t.slots, 1);
  }
  /// As push_used(token, len), marking the chain's own writable segments.
  [[nodiscard]] result<void> push_used(const chain_type& c, std::uint32_t len) noexcept {
    if (log_->active() && len != 0) VIREO_TRY(mark_written(c, len));
    const saved_state before = q_.state();
    VIREO_TRY(q_.push_used(c.token(), len));
    return mark_completions(before, c.token().slots, 1);
  }
  [[nodiscard]] result<void> push_used(std::span<const ring::used_entry> batch) noexcept {
    std::uint32_t slots = 0;
    for (const ring::used_entry& e : batch) {
      if (log_->active() && e.len != 0) VIREO_TRY(mark_buffers(e.token, e.len));
      slots += e.token.slots;
    }
    const saved_state before = q_.state();
    VIREO_TRY(q_.push_used(batch));
    return mark_completions(before, slots, static_cast<std::uint32_t>(batch.size()));
  }

  [[nodiscard]] bool needs_notification() noexcept { return q_.needs_notification(); }
  void disable_notifications() noexcept {
    q_.disable_notifications();
    (void)mark_event_fields();
  }
  [[nodiscard]] result<bool> enable_notifications() noexcept {
    auto r = q_.enable_notifications();
    (void)mark_event_fields();
    return r;
  }
  [[nodiscard]] result<std::uint16_t> available() noexcept { return q_.available(); }

 private:
  [[nodiscard]] bool packed() const noexcept {
    return q_.config().features.has(transport_feature::ring_packed);
  }
  [[nodiscard]] bool logging_ring() const noexcept {
    return log_->active() && (ring_->addr_flags & vring_addr_flag::log) != 0 && q_.ready();
  }

  /// `len` bytes at offset `off` of the split used ring, logged at log_guest_addr + off.
  [[nodiscard]] result<void> mark_used(std::size_t off, std::size_t len) noexcept {
    if (!logging_ring()) return ok();
    return log_->mark(ring_->log_addr + off, len);
  }

  /// The suppression fields a pop or a notification change writes.
  [[nodiscard]] result<void> mark_event_fields() noexcept {
    if (!logging_ring()) return ok();
    if (packed())
      return log_->mark(q_.config().device_area.raw(), ring::packed_layout::event_bytes);
    VIREO_TRY(mark_used(ring::split_layout::used_flags, 2));
    return mark_used(ring::split_layout::avail_event(q_.size()), 2);
  }

  /// After `count` completions covering `slots` slots were published from position `before`.
  [[nodiscard]] result<void> mark_completions(saved_state before, std::uint32_t slots,
                                              std::uint32_t count) noexcept {
    if (!logging_ring()) return ok();
    const std::uint32_t n = q_.size();
    if (packed()) {
      // Used descriptors are written from the old used slot on, at most `slots` of them.
      const std::uint32_t first = before.used_idx & 0x7FFFu;
      const std::uint32_t span = slots < n ? slots : n;
      const std::uint64_t table = q_.config().desc_table.raw();
      const std::uint32_t head = span < n - first ? span : n - first;
      VIREO_TRY(log_->mark(table + ring::packed_layout::desc_offset(first),
                           ring::packed_layout::desc_size * head));
      if (span > head) VIREO_TRY(log_->mark(table, ring::packed_layout::desc_size * (span - head)));
      return ok();
    }
    // The used elements written (a wrap splits them in two runs), then used.idx.
    const std::uint32_t first = before.used_idx % n;
    const std::uint32_t elems = count < n ? count : n;
    const std::uint32_t head = elems < n - first ? elems : n - first;
    VIREO_TRY(mark_used(ring::split_layout::used_ring(first),
                        ring::split_layout::used_elem_size * head));
    if (elems > head)
      VIREO_TRY(mark_used(ring::split_layout::used_ring(0),
                          ring::split_layout::used_elem_size * (elems - head)));
    return mark_used(ring::split_layout::used_idx, 2);
  }

  /// The first `len` writable bytes of `c`.
  [[nodiscard]] result<void> mark_written(const chain_type& c, std::uint32_t len) noexcept {
    std::uint64_t left = len;
    for (const chain::segment& s : c.writable()) {
      if (left == 0) break;
      const std::uint64_t n = s.len < left ? s.len : left;
      VIREO_TRY(log_->mark(s.addr.raw(), n));
      left -= n;
    }
    return ok();
  }

  /// The buffers of a chain completed by token: walked again from its head where the layout
  /// allows (split); otherwise the marks made when it was popped stand.
  [[nodiscard]] result<void> mark_buffers(const chain::used_token& t, std::uint32_t len) noexcept {
    if constexpr (requires(const Queue& q, chain_type& c, std::uint16_t u) {
                    q.walk_into(u, u, c);
                  }) {
      if (t.rejected) return ok();
      chain_type c;
      // The walk maps the writable buffers again; through logged_memory that would mark them
      // whole, so logging is held off for it and only the `len` bytes written are marked.
      log_->set_logging(false);
      const auto walked = q_.walk_into(t.id, t.seq, c);
      log_->set_logging(true);
      if (!walked) return ok();  // gone or rewritten by the guest: the pop-time marks stand
      return mark_written(c, len);
    } else {
      return ok();
    }
  }

  Queue q_;
  dirty_log* log_;
  const vring_state* ring_;
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
