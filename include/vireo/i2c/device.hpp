// SPDX-License-Identifier: Apache-2.0
// The virtio-i2c device model (virtio spec §5.16.6): pops requests from the requestq, runs each
// FAIL_NEXT group as one combined transfer on a host I2C bus, completes the group in queue order.
// Freestanding: fixed arrays, no heap. Rules and their reasons: docs/i2c.md, "Device model".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "vireo/chain/cursor.hpp"
#include "vireo/core/bytes.hpp"
#include "vireo/core/features.hpp"
#include "vireo/core/result.hpp"
#include "vireo/i2c/address.hpp"
#include "vireo/i2c/bounce.hpp"
#include "vireo/i2c/codec.hpp"
#include "vireo/i2c/host_bus.hpp"
#include "vireo/i2c/wire.hpp"
#include "vireo/ring/queue_api.hpp"
#include "vireo/ring/used_entry.hpp"

VIREO_NAMESPACE_BEGIN
namespace i2c {

/// Messages per host transfer by default: Linux's I2C_RDWR_IOCTL_MAX_MSGS, the most one i2c-dev
/// I2C_RDWR call carries.
inline constexpr std::size_t default_max_group = 42;
/// Bounce bytes by default: i2c-dev's largest message (8192).
inline constexpr std::size_t default_bounce_bytes = 8192;

/// What the device accepts and how it runs groups.
struct device_options {
  /// Negotiated features (VIRTIO_I2C_F_ZERO_LENGTH_REQUEST; the device refused FEATURES_OK
  /// without it, check_driver_features()). Transport bits may be included; they are ignored.
  feature_set features = device_features();
  /// Longest buf the host adapter takes (i2c-dev: 8192); a longer one is malformed.
  std::uint32_t max_len = 65535;
  /// Let reserved 7-bit targets (general call, device ID, ...) reach the bus.
  bool allow_reserved = false;
  /// Most messages the host adapter runs as one transfer (an adapter quirk such as "write then
  /// read only" is 2). 0, or anything above the device's MaxGroup, means MaxGroup.
  std::size_t max_group = 0;
};

/// Counters since construction or clear_stats(). Every popped chain is counted once in
/// requests_ok or requests_err.
struct device_stats {
  std::uint64_t requests_ok = 0;   ///< completed with VIRTIO_I2C_MSG_OK
  std::uint64_t requests_err = 0;  ///< completed with VIRTIO_I2C_MSG_ERR, for any reason
  std::uint64_t malformed = 0;     ///< chains refused by the ring layer or by parse_request()
  std::uint64_t groups = 0;        ///< groups completed (a discarded overflow counts once)
  std::uint64_t transfers = 0;     ///< host transfers: bus.transfer() calls
  std::uint64_t groups_not_run = 0;  ///< groups failed whole before the bus (see device)
  std::uint64_t overflows = 0;     ///< groups longer than max_group
  std::uint64_t bounced = 0;       ///< bufs moved through the bounce area
  std::uint64_t memory_errors = 0;  ///< guest memory errors moving data or writing a status
  std::uint64_t tails_closed_ring_full = 0;  ///< open tails closed: no room for another request
  std::uint64_t tails_closed_quiet = 0;      ///< open tails closed: a process() added nothing
  std::uint64_t tails_closed_flush = 0;      ///< open tails closed by flush()
  errc last_error{};  ///< why the latest ERR was given (errc{}: none yet)
};

/// The device side of a virtio I2C adapter over a device queue (split_device, packed_device or
/// any_device_queue: ring::device_queue_api) and a host bus (host_bus). It holds the chains of
/// one open group inline, up to MaxGroup + 1, and a bounce area of BounceBytes; nothing else.
///
/// Rules (§ from the virtio spec; the reasons are in docs/i2c.md):
///  - Requests are taken and answered in queue order (§5.16.6.4), one group at a time; a group
///    (§5.16.6.1: FAIL_NEXT on all but the last) is one host transfer, bus.transfer(), with one
///    message per request. Its requests before the first one the bus did not complete get OK,
///    that one and the rest ERR (§5.16.6.4: ERR on the first failure, MAY on the rest, which
///    Vireo takes). The group's used entries are pushed with one publish.
///  - No partial transactions: a group with a malformed member (codec error, a chain the ring
///    refused, a header that could not be read) is not put on the bus at all, and every member
///    gets ERR; so is a group whose split bufs overflow the bounce area or whose guest memory
///    faults while it is prepared, and a group longer than max_group (its members are failed as
///    they arrive, until its terminator). I2C_RDWR does the same: it checks every message before
///    the first START.
///  - Zero-copy: a buf that lies in one mapped segment reaches the bus as a view of guest memory;
///    any other buf goes through the bounce area. A write's buf is never written (§5.16.6.4); a
///    read's buf receives exactly len bytes on OK, and zeros on ERR.
///  - An open tail (the last request available has FAIL_NEXT) is held, not run, and closed (run
///    as a group) once nothing more can join it: the held chains leave no room in the ring for
///    another request, or a later process() call takes no new request for it, or flush().
/// One thread at a time calls it. Held requests hold host views of guest memory: flush() (or
/// reset()) before the memory layout changes (the queue's remap()).
template <ring::device_queue_api Queue, host_bus Bus, std::size_t MaxGroup = default_max_group,
          std::size_t BounceBytes = default_bounce_bytes>
class device {
  static_assert(MaxGroup >= 1 && MaxGroup <= 65535, "a group is 1 to 65535 requests");

 public:
  using queue_type = Queue;
  using bus_type = Bus;
  using memory_type = typename Queue::memory_type;
  using chain_type = typename Queue::chain_type;
  using request_type = request<memory_type>;
  static constexpr std::size_t max_group = MaxGroup;
  static constexpr std::size_t bounce_bytes = BounceBytes;

  /// A device over `queue` (configured by the caller) and `bus`; both must outlive it.
  device(Queue& queue, Bus& bus, const device_options& opt = {}) noexcept
      : q_(&queue), bus_(&bus), opt_(opt),
        msgs_(blank_messages(std::make_index_sequence<MaxGroup>{})) {}
  device(const device&) = delete;  // held requests point into this object's chains
  device& operator=(const device&) = delete;

  [[nodiscard]] const device_options& options() const noexcept { return opt_; }
  /// New options (after feature negotiation, say). Requests already held keep the checks they
  /// were parsed with; a lower max_group applies to the group held now as well.
  void set_options(const device_options& opt) noexcept { opt_ = opt; }

  /// Serve the requestq: call on each available-buffer notification (and when
  /// enable_notifications() reports more). Pops every available chain, runs and completes every
  /// group that is complete, holds an open tail or closes it by the rules above. Returns whether
  /// the driver must get a used-buffer notification now (needs_notification() after the pushes).
  /// Calling it without a notification counts as "nothing new came" for a held tail, which is
  /// then closed. Errors: the queue's fatal errors (queue_broken, queue_not_ready, avail_idx_jump,
  /// head_out_of_range, desc_not_available, chain_too_long): the queue must be reset; call
  /// reset() here too. Malformed requests are never errors here: they get ERR.
  /// At most `budget` chains are taken: a driver that keeps adding cannot hold the caller.
  /// requests_left() then says to call again soon; that call continues this one (a tail that
  /// grew in either is not closed as quiet).
  [[nodiscard]] result<bool> process(std::size_t budget = SIZE_MAX) noexcept {
    // The open tail (or the overflowing group) took a request in this call, or in the slice
    // that stopped at its budget just before.
    bool grew = grew_before_cut_;
    grew_before_cut_ = false;
    requests_left_ = false;
    for (std::size_t taken = 0;; ++taken) {
      if (taken == budget) {
        requests_left_ = true;
        grew_before_cut_ = grew;
        return q_->needs_notification();
      }
      slot& s = slots_[held_];  // held_ <= limit() <= MaxGroup: one slot to spare for overflow
      auto got = q_->pop_into(s.chain);
      if (got) {
        if (!*got) break;
        take_chain(s);
      } else {
        const auto token = q_->rejected();
        if (!q_->ready() || !token) return got.error();
        take_refused(s, *token, got.error());
      }
      VIREO_TRY(admit(s, grew));
    }
    if (held_ > 0 && ring_full()) {
      ++stats_.tails_closed_ring_full;
      VIREO_TRY(run_group());
    } else if (held_ > 0 && !grew) {
      ++stats_.tails_closed_quiet;
      VIREO_TRY(run_group());
    } else if (discarding_ && !grew) {
      ++stats_.tails_closed_quiet;
      discarding_ = false;
    }
    return q_->needs_notification();
  }

  /// Close the open tail now: run the held requests as a group (the embedder's deadline passed;
  /// a few milliseconds is plenty for a driver that is still adding). Also ends the discarding of
  /// an overflowing group, so that the next request starts a new group. Returns whether the
  /// driver must be notified. Errors: the queue's (queue_broken, queue_not_ready).
  [[nodiscard]] result<bool> flush() noexcept {
    if (held_ > 0) {
      ++stats_.tails_closed_flush;
      VIREO_TRY(run_group());
    } else if (discarding_) {
      ++stats_.tails_closed_flush;
      discarding_ = false;
    }
    return q_->needs_notification();
  }

  /// The last process() stopped at its budget: chains may be left; call it again soon.
  [[nodiscard]] bool requests_left() const noexcept { return requests_left_; }

  /// True while an open tail is held (or an overflowing group still waits for its terminator):
  /// arm a deadline that calls flush().
  [[nodiscard]] bool tail_held() const noexcept { return held_ > 0 || discarding_; }
  /// Requests held in the open tail.
  [[nodiscard]] std::size_t held() const noexcept { return held_; }

  /// Forget the held chains without completing them (after a device or queue reset, when the
  /// driver owns its buffers again: virtio 1.3 §2.6.1). Counters are kept.
  void reset() noexcept {
    grew_before_cut_ = requests_left_ = false;
    held_ = 0;
    discarding_ = false;
    bounce_.release();
  }

  [[nodiscard]] const device_stats& stats() const noexcept { return stats_; }
  void clear_stats() noexcept { stats_ = device_stats{}; }

 private:
  /// One popped chain of the open group: the chain stays here, in place, until its completion,
  /// because its request's cursors point into the chain's segment list.
  struct slot {
    chain_type chain;                    ///< empty() for a chain the ring refused
    chain::used_token token{};
    std::optional<request_type> req{};  ///< nothing when malformed
    errc error{};                        ///< why it is malformed
    group_link link = group_link::unknown;
    bool bounced = false;  ///< its buf goes through the bounce area (msgs_ has the piece)
  };

  template <std::size_t... I>
  static std::array<host_message, MaxGroup> blank_messages(std::index_sequence<I...>) noexcept {
    const address nobody = *address::seven_bit(0);
    return {{((void)I, host_message{nobody, direction::write, {}})...}};
  }

  [[nodiscard]] std::size_t limit() const noexcept {
    return opt_.max_group == 0 || opt_.max_group > MaxGroup ? MaxGroup : opt_.max_group;
  }
  [[nodiscard]] decode_options decode_opts() const noexcept {
    return {opt_.features, opt_.max_len, opt_.allow_reserved};
  }

  void take_chain(slot& s) noexcept {
    s.token = s.chain.token();
    // Decoded in place: the request's cursors stay where they are built (bench_devices).
    const auto p = parse_request_into(s.req, s.chain, decode_opts());
    s.link = p.link;
    s.bounced = false;
    s.error = p.error;
    if (p.error != errc{}) ++stats_.malformed;
  }
  /// A chain the ring consumed but refused (ring::*_device::rejected()): no segments, no header,
  /// so its link is unknown and it continues its group (fail closed, codec.hpp group_link).
  void take_refused(slot& s, const chain::used_token& token, errc why) noexcept {
    s.chain = chain_type{};
    s.token = token;
    s.req.reset();
    s.error = why;
    s.link = group_link::unknown;
    s.bounced = false;
    ++stats_.malformed;
  }

  /// Put the chain just taken into its group: run the group if it ends here, fail it if it grew
  /// past max_group, keep holding it otherwise.
  [[nodiscard]] result<void> admit(slot& s, bool& grew) noexcept {
    if (discarding_) {
      // The rest of a group that already failed: fail it without executing it (§5.16.6.1).
      const std::uint32_t used = finish(s, status::err);
      stats_.last_error = errc::i2c_group_too_long;
      discarding_ = s.link != group_link::ends_group;
      grew = discarding_;
      return q_->push_used(s.token, used);
    }
    ++held_;
    if (held_ > limit()) {
      // Too long for one host transfer: the whole group fails, including what is still to come.
      ++stats_.overflows;
      discarding_ = s.link != group_link::ends_group;
      grew = discarding_;
      return fail_group(errc::i2c_group_too_long);
    }
    if (s.link == group_link::ends_group) {
      grew = false;
      return run_group();
    }
    grew = true;
    return ok();
  }

  /// The held chains leave the driver no room for another request (rule (a) of the tail). What
  /// the device knows is a lower bound on the descriptors they hold: a packed list its slots
  /// (token.slots); a split chain at least one, and, without VIRTIO_F_INDIRECT_DESC, one per
  /// non-empty segment. The smallest request is out_hdr (readable) + in_hdr (writable): two
  /// descriptors, or one indirect. A lower bound can only close a tail late, never early.
  [[nodiscard]] bool ring_full() const noexcept {
    const bool indirect = q_->config().features.has(transport_feature::indirect_desc);
    std::uint64_t taken = 0;
    for (std::size_t i = 0; i < held_; ++i) {
      const slot& s = slots_[i];
      std::uint64_t cost = s.token.slots;
      if (!indirect && !s.chain.empty()) {
        const std::uint64_t segs = s.chain.readable().size() + s.chain.writable().size();
        if (segs > cost) cost = segs;
      }
      taken += cost;
    }
    const std::uint64_t smallest = indirect ? 1 : 2;
    return taken + smallest > q_->size();
  }

  /// Run the held group as one host transfer and complete it.
  [[nodiscard]] result<void> run_group() noexcept {
    const std::size_t n = held_;
    if (n > limit()) return fail_group(errc::i2c_group_too_long);  // max_group was lowered
    for (std::size_t i = 0; i < n; ++i)
      if (!slots_[i].req) return fail_group(slots_[i].error);
    if (auto prepared = prepare(n); !prepared) return fail_group(prepared.error());
    std::size_t done = bus_->transfer(std::span<const host_message>{msgs_.data(), n});
    ++stats_.transfers;
    if (done > n) done = n;  // a back-end that over-reports
    errc why = done < n ? errc::i2c_transfer_incomplete : errc{};
    for (std::size_t i = 0; i < done; ++i) {
      if (auto d = deliver(i); !d) {  // guest memory refused the bytes: i fails after all
        ++stats_.memory_errors;
        why = d.error();
        done = i;
        break;
      }
    }
    return complete_group(n, done, why);
  }

  /// Fail the held group whole, without a transfer.
  [[nodiscard]] result<void> fail_group(errc why) noexcept {
    ++stats_.groups_not_run;
    return complete_group(held_, 0, why);
  }

  /// Point msgs_[i] at each request's data: a view of guest memory when the buf is one mapped
  /// segment, else a piece of the bounce area (a write's bytes are copied in now, once).
  /// Errors: i2c_bounce_exhausted, or the memory model's error copying a write's buf.
  [[nodiscard]] result<void> prepare(std::size_t n) noexcept {
    bounce_.release();
    for (std::size_t i = 0; i < n; ++i) {
      slot& s = slots_[i];
      request_type& r = *s.req;
      s.bounced = false;
      bytes data{};
      if (!r.zero_length()) {
        if (r.is_read()) {
          chain::writer<memory_type> w = r.read_data();  // a copy: the request's cursor stays
          if (auto v = w.view(r.len()); v) data = *v;
          else s.bounced = true;
        } else {
          chain::reader<memory_type> rd = r.write_data();
          // host_bus promises never to change a write's data, so a read-only view may be
          // passed as std::byte (§5.16.6.4: the device MUST NOT change a write's buf).
          if (auto v = rd.view(r.len()); v) data = {const_cast<std::byte*>(v->data()), r.len()};
          else s.bounced = true;
        }
        if (s.bounced) {
          auto piece = bounce_.take(r.len());
          if (!piece) return piece.error();
          data = *piece;
          ++stats_.bounced;
          if (!r.is_read()) {
            chain::reader<memory_type> rd = r.write_data();
            if (auto copied = rd.read(data); !copied) {
              ++stats_.memory_errors;
              return copied.error();
            }
          }
        }
      }
      msgs_[i] = host_message{r.target(), r.dir(), data};
    }
    return ok();
  }

  /// After the bus completed message i: account a read's bytes in its request (a view was
  /// written in place; a bounced piece is copied into guest memory now).
  [[nodiscard]] result<void> deliver(std::size_t i) noexcept {
    request_type& r = *slots_[i].req;
    if (!r.is_read() || r.zero_length()) return ok();
    if (!slots_[i].bounced) return r.read_data().skip(r.len());
    return r.read_data().write(msgs_[i].data);
  }

  /// Complete the held group: requests before `first_failed` OK, the rest ERR (group_status),
  /// and push the used entries with one publish.
  [[nodiscard]] result<void> complete_group(std::size_t n, std::size_t first_failed,
                                            errc why) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      const status st = group_status(i, first_failed);
      batch_[i] = ring::used_entry{slots_[i].token, finish(slots_[i], st)};
    }
    if (why != errc{}) stats_.last_error = why;
    ++stats_.groups;
    held_ = 0;
    bounce_.release();
    // One publish. A chain the ring refused is never folded into an IN_ORDER batch entry
    // (used_token::rejected): the driver gets its length 0.
    VIREO_TRY(q_->push_used(std::span<const ring::used_entry>{batch_.data(), n}));
    return ok();
  }

  /// Write the status of one request (ERR through reject_request() for a malformed one) and
  /// return its used length; 0 when guest memory failed or the ring refused the chain.
  [[nodiscard]] std::uint32_t finish(slot& s, status st) noexcept {
    if (st == status::ok) ++stats_.requests_ok;
    else ++stats_.requests_err;
    if (s.chain.empty()) return 0;  // refused by the ring: no writable part to put ERR in
    auto used = s.req ? s.req->complete(st) : reject_request(s.chain, decode_opts());
    if (!used) {
      ++stats_.memory_errors;
      stats_.last_error = used.error();
      return 0;
    }
    return *used;
  }

  Queue* q_;
  Bus* bus_;
  device_options opt_;
  std::array<slot, MaxGroup + 1> slots_{};
  std::array<host_message, MaxGroup> msgs_;
  std::array<ring::used_entry, MaxGroup + 1> batch_{};
  bounce_area<BounceBytes> bounce_{};
  std::size_t held_ = 0;
  bool discarding_ = false;  ///< failing the rest of an overflowing group until its terminator
  bool requests_left_ = false;    ///< the last process() stopped at its budget
  bool grew_before_cut_ = false;  ///< ... and the tail had grown in it
  device_stats stats_{};
};

}  // namespace i2c
VIREO_NAMESPACE_END
