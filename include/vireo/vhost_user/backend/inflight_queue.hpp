// SPDX-License-Identifier: Apache-2.0
// Inflight I/O tracking over a device queue (vhost-user INFLIGHT_SHMFD; spec "Inflight I/O
// tracking", digest §6.4): every popped chain head is recorded in the shared region, cleared
// when its used entry is published, and a device that starts from a region left by an earlier
// back-end (crashed or restarted) gets the heads still in flight back, oldest first, before any
// new available chain. A decorator: the same API as the queue it wraps (ring::device_queue_api).
// No heap, no OS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "vireo/chain/descriptor_chain.hpp"
#include "vireo/chain/packed_walker.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/ring/layout.hpp"
#include "vireo/ring/packed_wire.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/queue_config.hpp"
#include "vireo/ring/used_entry.hpp"
#include "vireo/vhost_user/backend/inflight.hpp"

VIREO_NAMESPACE_BEGIN
namespace vhost_user::backend {

/// A device queue (split_device, or any_device_queue) that keeps the split-ring inflight region
/// of `attach()` up to date, following the spec's split algorithm:
///  - pop: desc[head].counter = counter++, then desc[head].inflight = 1. A malformed chain the
///    queue consumed (rejected()) is recorded too: the device completes it, and the position
///    arithmetic below counts every head taken from the ring;
///  - push_used (one or a batch): desc[i].next = last_batch_head, last_batch_head = i for each
///    entry; publish used.idx; desc[i].inflight = 0 for each; used_idx = used.idx;
///  - configure() with a region whose version is 0 initialises it (desc_num, used_idx, then
///    version 1). With version 1 it recovers ("When reconnecting"): if used_idx differs from the
///    ring's used.idx, the last batch (used.idx - used_idx entries from last_batch_head along
///    `next`) was published but not cleared, so it is cleared; then every head still marked is
///    resubmitted by pop(), in counter order, before the ring is read again. The queue continues
///    at next_avail = used.idx + (heads in flight), as libvhost-user does: the front-end's base
///    is taken only when nothing is in flight (restore()).
///
/// A packed ring uses the packed region (packed_inflight_layout) and the spec's packed
/// algorithm: pop copies every descriptor of the list (addr, len, id, flags) into entries taken
/// from the free list (head entry: num, counter, inflight, last); a completion returns the
/// entries to the free list, moves used_idx / used_wrap_counter, publishes, clears inflight and
/// then commits old_free_head / old_used_idx / old_used_wrap_counter. configure() recovers by
/// committing a batch the ring shows published, rolling back any other in-progress update,
/// clearing the free entries and resubmitting the heads still marked, in counter order, each
/// walked again from its copies (its ring slots may hold used descriptors by now). Completing a
/// packed chain finds its head entry by scanning the region (buffer id and slot count).
///
/// Not tracked (the queue works as the wrapped one): no region attached, and IN_ORDER
/// (in-order queues need no region: the front-end restarts them at used.idx and the ring still
/// holds the chains; spec "Inflight I/O tracking").
///
/// The region is validated before it is used (the front-end, or a broken back-end, may have
/// left anything there): version 0 or 1, desc_num equal to the size the session announced and
/// not below the ring's size, the last batch inside the ring, every marked head inside the ring.
/// configure() fails with vhost_inflight_invalid otherwise. One thread at a time, like the
/// queue.
template <typename Queue>
  requires ring::device_queue_api<Queue>
class inflight_queue {
 public:
  using memory_type = typename Queue::memory_type;
  using chain_type = typename Queue::chain_type;
  using queue_type = Queue;
  using saved_state = ring::queue_state;

  /// `args` go to the wrapped queue's constructor after the memory (e.g. a logged_queue's log and
  /// vring: inflight_queue<logged_queue<Q>> tracks and logs).
  template <typename... Args>
  explicit inflight_queue(memory_type& mem, Args&... args) noexcept : q_(mem, args...) {}

  /// Track in `area` from the next configure() on; an empty area turns tracking off.
  void attach(inflight_area area) noexcept { area_ = area; }
  [[nodiscard]] const inflight_area& area() const noexcept { return area_; }
  /// The region is in use for this queue (configured, not IN_ORDER, region attached).
  [[nodiscard]] bool tracking() const noexcept { return tracking_; }
  /// Heads from the region still to be handed out by pop() before new chains.
  [[nodiscard]] std::uint16_t pending_resubmits() const noexcept {
    return static_cast<std::uint16_t>(resubmit_total_ - resubmitted_);
  }
  [[nodiscard]] Queue& queue() noexcept { return q_; }
  [[nodiscard]] memory_type& memory() const noexcept { return q_.memory(); }

  /// Configure the queue, then initialise or recover the attached region (see the class comment).
  /// Errors: those of the queue's configure(); vhost_inflight_invalid (the queue is then reset).
  [[nodiscard]] result<void> configure(const ring::queue_config& cfg) noexcept {
    forget();
    VIREO_TRY(q_.configure(cfg));
    if (area_.empty() || cfg.features.has(transport_feature::in_order)) return ok();
    packed_ = cfg.features.has(transport_feature::ring_packed);
    if (auto r = packed_ ? start_packed_region(cfg) : start_region(cfg); !r) {
      q_.reset();
      forget();
      return r;
    }
    tracking_ = true;
    return ok();
  }

  [[nodiscard]] result<void> remap() noexcept { return q_.remap(); }
  void reset() noexcept {
    q_.reset();
    forget();
  }
  [[nodiscard]] bool ready() const noexcept { return q_.ready(); }
  [[nodiscard]] bool broken() const noexcept { return q_.broken(); }
  [[nodiscard]] errc broken_reason() const noexcept { return q_.broken_reason(); }
  [[nodiscard]] std::uint16_t size() const noexcept { return q_.size(); }
  [[nodiscard]] const ring::queue_config& config() const noexcept { return q_.config(); }
  [[nodiscard]] saved_state state() const noexcept { return q_.state(); }

  /// Continue from saved indices (the vring base). When configure() recovered heads in flight,
  /// their position (used.idx + count) stands and the first restore() after it is ignored: the
  /// front-end's base may lag behind after a crash (QEMU resets it to used.idx when
  /// GET_VRING_BASE fails), and the region knows how many heads were taken.
  void restore(std::uint16_t next_avail, std::uint16_t used_idx) noexcept {
    if (keep_position_) {  // once: the restore that follows configure()
      keep_position_ = false;
      return;
    }
    q_.restore(next_avail, used_idx);
    if (tracking_ && packed_) {
      commit_packed_position(q_.state().used_idx);
    } else if (tracking_) {
      split_inflight_region reg{area_.bytes};
      reg.set_used_idx(used_idx);  // restore() wrote used.idx; the region follows it
    }
  }

  /// The next chain: a head to resubmit while any is left, then the ring's next available one.
  /// Errors: the queue's; a resubmitted chain that no longer validates is rejected() like a
  /// popped one (complete it with length 0).
  [[nodiscard]] result<bool> pop_into(chain_type& out) noexcept {
    has_rejected_ = false;
    if (resubmitted_ < resubmit_total_) return packed_ ? resubmit_packed(out) : resubmit_next(out);
    auto got = q_.pop_into(out);
    if (tracking_ && packed_) {
      if (got && *got) record_packed(out.token());
      else if (!got) {
        if (const auto t = q_.rejected()) record_packed(*t);
      }
    } else if (tracking_) {
      if (got && *got) record(out.id());
      else if (!got) {
        if (const auto t = q_.rejected()) record(t->id);
      }
    }
    return got;
  }
  [[nodiscard]] result<chain_type> pop() noexcept {
    result<chain_type> r{chain_type{}};
    if (auto got = pop_into(*r); !got) r = got.error();
    return r;
  }
  [[nodiscard]] std::optional<chain::used_token> rejected() const noexcept {
    if (has_rejected_) return rejected_;
    return q_.rejected();
  }
  /// The wrapped queue's walk_into (a chain again from its head; records nothing).
  [[nodiscard]] result<void> walk_into(std::uint16_t head, std::uint16_t seq,
                                       chain_type& out) const noexcept
    requires requires(const Queue& q, chain_type& c, std::uint16_t u) { q.walk_into(u, u, c); }
  {
    return q_.walk_into(head, seq, out);
  }

  /// Complete one chain (spec: link it as a one-entry batch, publish, clear, then used_idx).
  /// Errors: invalid_argument (token id >= size(), or packed: a token the region does not hold:
  /// nothing is written), the queue's.
  [[nodiscard]] result<void> push_used(const chain::used_token& t, std::uint32_t len) noexcept {
    if (!tracking_) return q_.push_used(t, len);
    if (packed_) {
      const ring::used_entry one{t, len};
      return complete_packed(std::span<const ring::used_entry>{&one, 1});
    }
    if (t.id >= q_.size()) return errc::invalid_argument;
    split_inflight_region reg{area_.bytes};
    link(reg, t.id);
    split_inflight_region::step();
    VIREO_TRY(q_.push_used(t, len));
    split_inflight_region::step();
    reg.set_inflight(t.id, false);
    split_inflight_region::step();
    reg.set_used_idx(q_.state().used_idx);
    return ok();
  }
  [[nodiscard]] result<void> push_used(const chain_type& c, std::uint32_t len) noexcept {
    return push_used(c.token(), len);
  }
  /// Complete a batch with one used.idx update (spec steps 1-3 per entry, then publish, clear all,
  /// used_idx). Errors: invalid_argument (an id >= size(); packed: a token the region does not
  /// hold, or more than max_packed_batch entries: nothing is written), the queue's.
  [[nodiscard]] result<void> push_used(std::span<const ring::used_entry> batch) noexcept {
    if (!tracking_ || batch.empty()) return q_.push_used(batch);
    if (packed_) return complete_packed(batch);
    for (const ring::used_entry& e : batch)
      if (e.token.id >= q_.size()) return errc::invalid_argument;
    split_inflight_region reg{area_.bytes};
    for (const ring::used_entry& e : batch) link(reg, e.token.id);
    split_inflight_region::step();
    VIREO_TRY(q_.push_used(batch));
    split_inflight_region::step();
    for (const ring::used_entry& e : batch) reg.set_inflight(e.token.id, false);
    split_inflight_region::step();
    reg.set_used_idx(q_.state().used_idx);
    return ok();
  }

  [[nodiscard]] bool needs_notification() noexcept { return q_.needs_notification(); }
  void disable_notifications() noexcept { q_.disable_notifications(); }
  /// As the queue's, but true while heads wait to be resubmitted: a restarted device must not
  /// sleep until the next kick with requests still to finish (libvhost-user kicks itself).
  [[nodiscard]] result<bool> enable_notifications() noexcept {
    auto r = q_.enable_notifications();
    if (r && pending_resubmits() != 0) return true;
    return r;
  }
  [[nodiscard]] result<std::uint16_t> available() noexcept {
    auto r = q_.available();
    if (!r) return r;
    return static_cast<std::uint16_t>(*r + pending_resubmits());
  }

 private:
  void forget() noexcept {
    tracking_ = false;
    counter_ = 0;
    resubmit_total_ = resubmitted_ = 0;
    resubmit_limit_ = 0;
    resubmit_slots_ = 0;
    last_counter_ = 0;
    last_index_ = 0;
    used_at_start_ = 0;
    keep_position_ = false;
    packed_ = false;
    has_rejected_ = false;
  }

  /// Spec "When receiving available buffers": counter, then the inflight mark.
  void record(std::uint16_t head) noexcept {
    if (head >= q_.size()) return;  // never handed out: the queue breaks on such a head
    split_inflight_region reg{area_.bytes};
    reg.set_counter(head, counter_++);
    split_inflight_region::step();
    reg.set_inflight(head, true);
  }

  static void link(split_inflight_region& reg, std::uint16_t id) noexcept {
    reg.set_next(id, reg.last_batch_head());
    reg.set_last_batch_head(id);
  }

  /// Initialise (version 0) or recover (version 1) the region for a queue configured as `cfg`.
  [[nodiscard]] result<void> start_region(const ring::queue_config& cfg) noexcept {
    const std::uint16_t n = area_.queue_size;
    if (area_.bytes.size() < inflight_layout::queue_bytes(n) || cfg.size > n)
      return errc::vhost_inflight_invalid;
    // The used.idx the guest sees (the queue's own copy starts at 0 until restore()).
    const auto used_r = q_.memory().load_u16(cfg.device_area.offset(ring::split_layout::used_idx),
                                             std::memory_order_acquire);
    if (!used_r) return used_r.error();
    const std::uint16_t used = *used_r;
    split_inflight_region reg{area_.bytes};
    const std::uint16_t version = reg.version();
    if (version == 0) {
      // A fresh region (GET_INFLIGHT_FD zero-fills it; spec: version 0 = uninitialised).
      reg.set_features(0);
      reg.clear_descs(n);
      reg.set_desc_num(n);
      reg.set_last_batch_head(0);
      reg.set_used_idx(used);
      split_inflight_region::step();
      reg.set_version(inflight_layout::version);
      return ok();
    }
    if (version != inflight_layout::version || reg.desc_num() != n)
      return errc::vhost_inflight_invalid;
    VIREO_TRY(finish_last_batch(reg, cfg.size, used));
    // Count the heads still in flight and check them before anything is handed out.
    std::uint16_t count = 0;
    std::uint64_t next_counter = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto d = static_cast<std::uint16_t>(i);
      if (!reg.inflight(d)) continue;
      if (d >= cfg.size) return errc::vhost_inflight_invalid;
      ++count;
      const std::uint64_t c = reg.counter(d);
      if (c >= next_counter) next_counter = c + 1;
    }
    counter_ = next_counter;
    if (count != 0) {
      resubmit_total_ = count;
      resubmit_limit_ = next_counter;
      used_at_start_ = used;
      keep_position_ = true;
      q_.restore(static_cast<std::uint16_t>(used + count), used);
    }
    return ok();
  }

  /// Spec "When reconnecting", step 1: the last batch was published (used.idx moved) but its
  /// inflight marks were not all cleared. Checked in full before anything is changed.
  [[nodiscard]] static result<void> finish_last_batch(split_inflight_region& reg,
                                                      std::uint16_t ring_size,
                                                      std::uint16_t used) noexcept {
    if (reg.used_idx() == used) return ok();
    const auto batch = static_cast<std::uint16_t>(used - reg.used_idx());
    if (batch > ring_size) return errc::vhost_inflight_invalid;
    std::uint16_t i = reg.last_batch_head();
    for (std::uint16_t k = 0; k < batch; ++k) {
      if (i >= ring_size) return errc::vhost_inflight_invalid;
      if (k + 1 < batch) i = reg.next(i);
    }
    i = reg.last_batch_head();
    for (std::uint16_t k = 0; k < batch; ++k) {
      reg.set_inflight(i, false);
      i = reg.next(i);
    }
    split_inflight_region::step();
    reg.set_used_idx(used);
    return ok();
  }

  /// Hand out the marked head that comes next in (counter, index) order. Scanning the region
  /// each time needs no storage; it runs only while a restarted queue catches up.
  [[nodiscard]] result<bool> resubmit_next(chain_type& out) noexcept {
    split_inflight_region reg{area_.bytes};
    const std::uint16_t size = q_.size();
    bool found = false;
    std::uint16_t best = 0;
    std::uint64_t best_counter = 0;
    for (std::uint32_t i = 0; i < size; ++i) {
      const auto d = static_cast<std::uint16_t>(i);
      if (!reg.inflight(d)) continue;
      const std::uint64_t c = reg.counter(d);
      if (c >= resubmit_limit_) continue;  // recorded after the restart: not a resubmission
      if (resubmitted_ != 0 && (c < last_counter_ || (c == last_counter_ && d <= last_index_)))
        continue;  // handed out already
      if (!found || c < best_counter || (c == best_counter && d < best)) {
        found = true;
        best = d;
        best_counter = c;
      }
    }
    if (!found) {  // completed early (a device may finish a token it kept): nothing left
      resubmitted_ = resubmit_total_;
      return pop_into(out);
    }
    const auto seq = static_cast<std::uint16_t>(used_at_start_ + resubmitted_);
    ++resubmitted_;
    last_counter_ = best_counter;
    last_index_ = best;
    if constexpr (requires(Queue& q, chain_type& c, std::uint16_t u) {
                    q.resubmit_into(u, u, c);
                  }) {
      VIREO_TRY(q_.resubmit_into(best, seq, out));
      return true;
    } else {
      return errc::invalid_argument;  // a packed-only queue configured for a split ring
    }
  }

  // ---- packed rings (spec "Inflight I/O tracking", packed virtqueue steps) ----

  /// Most completions one packed push_used(batch) takes while tracking (a stack array of heads).
  static constexpr std::size_t max_packed_batch = 256;

  /// The region's end-of-list marker is desc_num (DPDK links entry i to i + 1).
  [[nodiscard]] std::uint16_t entries() const noexcept { return area_.queue_size; }

  /// Move a packed position (slot, wrap) on by `by` slots (by <= size).
  void advance(std::uint16_t& slot, bool& wrap, std::uint32_t by) const noexcept {
    std::uint32_t s = std::uint32_t{slot} + by;
    if (s >= q_.size()) {
      s -= q_.size();
      wrap = !wrap;
    }
    slot = static_cast<std::uint16_t>(s);
  }

  /// The used position `off_wrap` (state() encoding) becomes the committed one: used_idx,
  /// used_wrap_counter and their old_ copies, free_head committed too.
  void commit_packed_position(std::uint16_t off_wrap) noexcept {
    packed_inflight_region reg{area_.bytes};
    reg.set_used_idx(ring::off_of(off_wrap));
    reg.set_used_wrap_counter(ring::wrap_of(off_wrap) ? 1 : 0);
    packed_inflight_region::step();
    reg.set_old_free_head(reg.free_head());
    reg.set_old_used_idx(reg.used_idx());
    reg.set_old_used_wrap_counter(reg.used_wrap_counter());
  }

  /// Initialise (version 0) or recover (version 1) a packed region (spec "When reconnecting").
  /// Everything is checked before the queue takes a position from it.
  [[nodiscard]] result<void> start_packed_region(const ring::queue_config& cfg) noexcept {
    const std::uint16_t n = area_.queue_size;
    if (area_.bytes.size() < packed_inflight_layout::queue_bytes(n) || cfg.size > n)
      return errc::vhost_inflight_invalid;
    packed_inflight_region reg{area_.bytes};
    const std::uint16_t version = reg.version();
    if (version == 0) {  // fresh (zero-filled, or as DPDK's GET_INFLIGHT_FD leaves it)
      reg.format(n);
      packed_inflight_region::step();
      reg.set_version(packed_inflight_layout::version);
      return ok();  // position: (0, wrap 1) until restore()
    }
    if (version != packed_inflight_layout::version || reg.desc_num() != n)
      return errc::vhost_inflight_invalid;
    const auto valid_pos = [&](std::uint16_t idx, std::uint8_t wrap) {
      return idx < cfg.size && wrap <= 1;
    };
    if (reg.free_head() > n || reg.old_free_head() > n ||
        !valid_pos(reg.used_idx(), reg.used_wrap_counter()) ||
        !valid_pos(reg.old_used_idx(), reg.old_used_wrap_counter()))
      return errc::vhost_inflight_invalid;
    // Step 1: an update in progress whose used descriptor the ring already shows was published:
    // commit it. Otherwise (step 2) roll back to the committed fields.
    if (reg.used_idx() != reg.old_used_idx() ||
        reg.used_wrap_counter() != reg.old_used_wrap_counter()) {
      const auto flags = q_.memory().load_u16(
          cfg.desc_table.offset(ring::packed_layout::desc_offset(reg.old_used_idx()) +
                                ring::packed_layout::desc_flags),
          std::memory_order_acquire);
      if (!flags) return flags.error();
      if (ring::packed_flag::is_used(*flags, reg.old_used_wrap_counter() != 0)) {
        reg.set_old_free_head(reg.free_head());
        reg.set_old_used_idx(reg.used_idx());
        reg.set_old_used_wrap_counter(reg.used_wrap_counter());
      }
    }
    // The free list to roll back to must end (at n) within n entries.
    std::uint32_t free_count = 0;
    for (std::uint16_t e = reg.old_free_head(); e != n; e = reg.next(e)) {
      if (e > n || ++free_count > n) return errc::vhost_inflight_invalid;
    }
    // Step 2 (roll back), step 3 (entries on the free list are not in flight).
    reg.set_free_head(reg.old_free_head());
    reg.set_used_idx(reg.old_used_idx());
    reg.set_used_wrap_counter(reg.old_used_wrap_counter());
    for (std::uint16_t e = reg.free_head(); e != n; e = reg.next(e)) reg.set_inflight(e, false);
    // Heads in flight: each a list of num (1..ring size) valid entries, all of them together
    // no more slots than the ring has.
    std::uint32_t slots = 0;
    std::uint16_t count = 0;
    std::uint64_t next_counter = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto h = static_cast<std::uint16_t>(i);
      if (!reg.inflight(h)) continue;
      VIREO_TRY(check_packed_entry(reg, h));
      slots += reg.num(h);
      if (slots > cfg.size) return errc::vhost_inflight_invalid;
      ++count;
      const std::uint64_t c = reg.counter(h);
      if (c >= next_counter) next_counter = c + 1;
    }
    counter_ = next_counter;
    std::uint16_t used = reg.used_idx();
    bool used_wrap = reg.used_wrap_counter() != 0;
    const std::uint16_t used_pos = ring::make_off_wrap(used, used_wrap);
    if (count != 0) {
      resubmit_total_ = count;
      resubmit_limit_ = next_counter;
      used_at_start_ = used_pos;
      keep_position_ = true;
      advance(used, used_wrap, slots);  // the heads in flight were taken from the ring
      q_.restore(ring::make_off_wrap(used, used_wrap), used_pos);
    }
    return ok();
  }

  /// A head entry's list: num in 1..ring size, every `next` inside the region, `last` its end.
  [[nodiscard]] result<void> check_packed_entry(const packed_inflight_region& reg,
                                                std::uint16_t h) const noexcept {
    const std::uint16_t num = reg.num(h);
    if (num == 0 || num > q_.size()) return errc::vhost_inflight_invalid;
    std::uint16_t e = h;
    for (std::uint16_t k = 1; k < num; ++k) {
      e = reg.next(e);
      if (e >= entries()) return errc::vhost_inflight_invalid;
    }
    if (reg.last(h) != e) return errc::vhost_inflight_invalid;
    return ok();
  }

  /// Spec "When receiving available buffers" (packed), for the list `t` names: each descriptor
  /// is copied from the ring into the entry at free_head. The slots were read by the queue's
  /// pop a moment ago and the used cursor has not reached them. A region the front-end broke
  /// while in use (free list too short) stops tracking of this list: nothing is written out of
  /// bounds.
  void record_packed(const chain::used_token& t) noexcept {
    packed_inflight_region reg{area_.bytes};
    const std::uint16_t n = entries();
    const std::uint16_t head = reg.old_free_head();
    std::uint16_t slot = ring::off_of(t.seq);
    bool wrap = ring::wrap_of(t.seq);
    if (t.slots == 0 || t.slots > q_.size() || slot >= q_.size() || head >= n) return;
    for (std::uint16_t k = 0; k < t.slots; ++k) {
      const std::uint16_t e = reg.free_head();
      if (e >= n) return;
      std::byte raw[sizeof(ring::packed_desc)]{};
      if (!q_.memory().read(q_.config().desc_table.offset(ring::packed_layout::desc_offset(slot)),
                            raw))
        return;
      const auto d = chain::detail::decode_packed_desc(raw);
      if (k == 0) {
        reg.set_num(head, 0);
        reg.set_counter(head, counter_++);
        packed_inflight_region::step();
        reg.set_inflight(head, true);
      }
      if (k + 1 == t.slots) reg.set_last(head, e);
      reg.set_num(head, static_cast<std::uint16_t>(k + 1));
      reg.set_desc(e, {d.addr, d.len, d.id, d.flags});
      packed_inflight_region::step();
      reg.set_free_head(reg.next(e));
      advance(slot, wrap, 1);
    }
    packed_inflight_region::step();
    reg.set_old_free_head(reg.free_head());
  }

  /// The head entry of the in-flight list `t` names (buffer id in its last copy, slot count),
  /// the oldest if several match; n when none does.
  [[nodiscard]] std::uint16_t find_packed_head(const packed_inflight_region& reg,
                                               const chain::used_token& t) const noexcept {
    const std::uint16_t n = entries();
    std::uint16_t best = n;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto h = static_cast<std::uint16_t>(i);
      if (!reg.inflight(h) || reg.num(h) != t.slots || reg.last(h) >= n) continue;
      if (reg.desc(reg.last(h)).id != t.id) continue;
      if (best == n || reg.counter(h) < reg.counter(best)) best = h;
    }
    return best;
  }

  /// Spec "When supplying used buffers" (packed): free the entries, move used_idx, publish,
  /// clear inflight, commit. Errors: invalid_argument (a token the region does not hold, or the
  /// same head twice in the batch: nothing is written), the queue's (the region is rolled back).
  [[nodiscard]] result<void> complete_packed(std::span<const ring::used_entry> batch) noexcept {
    packed_inflight_region reg{area_.bytes};
    const std::uint16_t n = entries();
    std::uint32_t total = 0;
    for (const ring::used_entry& u : batch) {
      if (u.token.slots == 0 || u.token.slots > q_.size()) return errc::invalid_argument;
      total += u.token.slots;
    }
    if (total > q_.size()) return errc::invalid_argument;
    // Link each chain's entries in front of the free list (a head found twice would make a loop:
    // a found head is taken off the scan by clearing it only after publishing, so check).
    // The batch's heads, found once: the scan of a later token may otherwise pick an earlier
    // head again (a driver that repeats a buffer id). A batch holds at most size() tokens.
    std::array<std::uint16_t, max_packed_batch> heads{};
    if (batch.size() > heads.size()) return errc::invalid_argument;
    std::size_t linked = 0;
    for (const ring::used_entry& u : batch) {
      const std::uint16_t h = find_packed_head(reg, u.token);
      if (h == n) return rollback_packed(reg, errc::invalid_argument);
      for (std::size_t k = 0; k < linked; ++k)
        if (heads[k] == h) return rollback_packed(reg, errc::invalid_argument);
      heads[linked++] = h;
      reg.set_next(reg.last(h), reg.free_head());
      reg.set_free_head(h);
    }
    std::uint16_t slot = ring::off_of(q_.state().used_idx);
    bool wrap = ring::wrap_of(q_.state().used_idx);
    advance(slot, wrap, total);
    reg.set_used_idx(slot);
    reg.set_used_wrap_counter(wrap ? 1 : 0);
    packed_inflight_region::step();
    if (auto r = q_.push_used(batch); !r) return rollback_packed(reg, r.error());
    packed_inflight_region::step();
    for (std::size_t k = 0; k < linked; ++k) reg.set_inflight(heads[k], false);
    packed_inflight_region::step();
    reg.set_old_free_head(reg.free_head());
    reg.set_old_used_idx(reg.used_idx());
    reg.set_old_used_wrap_counter(reg.used_wrap_counter());
    return ok();
  }
  [[nodiscard]] static errc rollback_packed(packed_inflight_region& reg, errc e) noexcept {
    reg.set_free_head(reg.old_free_head());
    reg.set_used_idx(reg.old_used_idx());
    reg.set_used_wrap_counter(reg.old_used_wrap_counter());
    return e;
  }

  /// Hand out the next marked head in (counter, index) order, walked from its copies.
  [[nodiscard]] result<bool> resubmit_packed(chain_type& out) noexcept {
    packed_inflight_region reg{area_.bytes};
    const std::uint16_t n = entries();
    bool found = false;
    std::uint16_t best = 0;
    std::uint64_t best_counter = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto h = static_cast<std::uint16_t>(i);
      if (!reg.inflight(h)) continue;
      const std::uint64_t c = reg.counter(h);
      if (c >= resubmit_limit_) continue;
      if (resubmitted_ != 0 && (c < last_counter_ || (c == last_counter_ && h <= last_index_)))
        continue;
      if (!found || c < best_counter || (c == best_counter && h < best)) {
        found = true;
        best = h;
        best_counter = c;
      }
    }
    if (!found) {
      resubmitted_ = resubmit_total_;
      return pop_into(out);
    }
    std::uint16_t slot = ring::off_of(used_at_start_);
    bool wrap = ring::wrap_of(used_at_start_);
    advance(slot, wrap, resubmit_slots_);
    const std::uint16_t seq = ring::make_off_wrap(slot, wrap);
    ++resubmitted_;
    last_counter_ = best_counter;
    last_index_ = best;
    // The region is shared: check the list again now that it is read for the walk.
    VIREO_TRY(check_packed_entry(reg, best));
    const std::uint16_t num = reg.num(best);
    resubmit_slots_ += num;
    const std::uint16_t id = reg.desc(reg.last(best)).id;
    if (auto r = walk_copies(reg, best, num, id, seq, out); !r) {
      has_rejected_ = true;
      rejected_ = chain::used_token{id, num, seq, 0, true};
      return r.error();
    }
    return true;
  }

  /// Build `out` from the `num` descriptor copies starting at entry `h`, with the rules pop()
  /// applies to ring descriptors (§2.8.7: an INDIRECT descriptor is a list of its own).
  template <typename M, std::size_t Max>
  [[nodiscard]] result<void> walk_copies(const packed_inflight_region& reg, std::uint16_t h,
                                         std::uint16_t num, std::uint16_t id, std::uint16_t seq,
                                         chain::descriptor_chain<M, Max>& out) noexcept {
    chain::chain_builder<M, Max> b{out, q_.memory()};
    const bool indirect_ok = q_.config().features.has(transport_feature::indirect_desc);
    std::uint16_t e = h;
    for (std::uint16_t k = 0; k < num; ++k) {
      if (k != 0) e = reg.next(e);
      if (e >= entries()) return errc::vhost_inflight_invalid;
      const auto d = reg.desc(e);
      if (d.flags & ring::desc_flag::indirect) {
        if (!indirect_ok) return errc::indirect_not_negotiated;
        if (num != 1) return errc::indirect_in_chain;
        if (d.flags & ring::desc_flag::next) return errc::indirect_with_next;
        VIREO_TRY(chain::detail::walk_packed_indirect(q_.memory(), d.addr, d.len, b));
      } else {
        VIREO_TRY(b.add(gpa{d.addr}, d.len, (d.flags & ring::desc_flag::write) != 0));
      }
    }
    return b.finish(id, num, seq);
  }

  Queue q_;
  inflight_area area_{};
  bool tracking_ = false;
  bool packed_ = false;               ///< the packed region and algorithm are in use
  bool has_rejected_ = false;         ///< the last pop resubmitted a list that no longer walks
  chain::used_token rejected_{};
  std::uint32_t resubmit_slots_ = 0;  ///< packed: ring slots of the lists resubmitted so far
  std::uint64_t counter_ = 0;         ///< the next fetch counter (global counter of the spec)
  std::uint16_t resubmit_total_ = 0;  ///< heads found in flight at configure()
  std::uint16_t resubmitted_ = 0;     ///< of those, handed out by pop()
  std::uint64_t resubmit_limit_ = 0;  ///< counters below this were recorded before the restart
  std::uint64_t last_counter_ = 0;    ///< (counter, index) of the last head resubmitted
  std::uint16_t last_index_ = 0;
  std::uint16_t used_at_start_ = 0;   ///< used.idx at configure(): seq of the first resubmission
  bool keep_position_ = false;        ///< the next restore() keeps the recovered position
};

}  // namespace vhost_user::backend
VIREO_NAMESPACE_END
