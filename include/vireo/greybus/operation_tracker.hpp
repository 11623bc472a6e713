// SPDX-License-Identifier: Apache-2.0
// Operations in flight on one Greybus connection (one CPort): operation id allocation, matching
// a response to its request by id, timeouts, and the per-connection state rules of Linux
// drivers/greybus/connection.c and operation.c (greybus digest §1). Fixed capacity, no
// allocation, no clock of its own: the caller passes its monotonic time in milliseconds.
//
// Unidirectional requests (id 0, §1) never pass through a tracker: nothing waits for them, so
// they take no id and no slot (Linux gb_operation_request_send gives them id 0 and no timer).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

#include "vireo/core/result.hpp"
#include "vireo/greybus/header.hpp"

VIREO_NAMESPACE_BEGIN
namespace greybus {

/// Linux enum gb_connection_state (connection.h). A connection starts disabled; enabled_tx lets
/// it send requests but not receive them (no request handler yet); disconnecting is the teardown
/// phase in which only core operations (CPort Shutdown) may still be sent.
enum class connection_state : std::uint8_t { disabled, enabled_tx, enabled, disconnecting };

/// Linux GB_OPERATION_TIMEOUT_DEFAULT: what a request gets to complete when the caller has no
/// better figure.
inline constexpr std::uint32_t default_timeout_ms = 1000;
/// deadline_ms of an operation begun with timeout 0: it never expires (Linux: timeout 0 = no
/// timer, gb_operation_request_send).
inline constexpr std::uint64_t no_deadline = std::numeric_limits<std::uint64_t>::max();
/// How many ids a request that wants a response can have: 1..65535 (§1: 0 is unidirectional).
inline constexpr std::uint32_t operation_id_count = 0xffff;

/// What the tracker remembers of one request in flight.
struct tracked_operation {
  std::uint16_t id;           ///< operation id sent in the request, 1..65535
  std::uint8_t type;          ///< request type (no response bit)
  std::uint64_t deadline_ms;  ///< absolute, caller's monotonic clock; no_deadline if none
  std::uint64_t cookie;       ///< caller's value, given back on completion/expiry/cancel

  friend constexpr bool operator==(const tracked_operation&,
                                   const tracked_operation&) noexcept = default;
};

/// The requests a connection has sent and still expects a response to, at most MaxPending.
/// Every call is O(MaxPending): one scan of the slot table (MaxPending is meant to be small).
template <std::size_t MaxPending>
class operation_tracker {
  static_assert(MaxPending >= 1, "a tracker holds at least one operation");
  static_assert(MaxPending < operation_id_count, "more slots than operation ids");

 public:
  constexpr operation_tracker() noexcept = default;
  constexpr explicit operation_tracker(connection_state initial) noexcept : state_(initial) {}

  [[nodiscard]] static constexpr std::size_t capacity() noexcept { return MaxPending; }

  [[nodiscard]] constexpr connection_state state() const noexcept { return state_; }
  /// Only the state changes: operations in flight stay, so a teardown sets disconnecting (or
  /// disabled) and then drains them with cancel_one(), as Linux gb_connection_disable sets
  /// DISCONNECTING and then cancels every operation with -ESHUTDOWN.
  constexpr void set_state(connection_state s) noexcept { state_ = s; }

  /// May a request go out in this state: enabled_tx or enabled, and disconnecting too for a
  /// core operation (Linux gb_operation_get_active). Unidirectional requests, which take no id,
  /// are checked with this alone.
  [[nodiscard]] constexpr bool may_send(bool core = false) const noexcept {
    return state_ == connection_state::enabled || state_ == connection_state::enabled_tx ||
           (core && state_ == connection_state::disconnecting);
  }

  /// A request that wants a response: allocates the next free id and records it. Ids follow a
  /// per-connection cycle 1..65535 that wraps to 1, never 0 (§1: id 0 is unidirectional), and
  /// skip ids still in flight, so two operations in flight never share an id. (Linux
  /// gb_operation_request_send takes ++op_cycle % U16_MAX + 1: the same cycle, but its first
  /// id is 2 and it does not skip.) timeout_ms 0: never expires.
  /// Errors: greybus_connection_not_ready (state is not enabled_tx or enabled: Linux
  /// gb_operation_get_active -ENOTCONN), greybus_too_many_operations (MaxPending in flight),
  /// invalid_argument (type has the response bit, or is 0x7f Invalid, which Linux
  /// gb_operation_create_flags refuses to send).
  [[nodiscard]] constexpr result<std::uint16_t> begin(std::uint8_t type, std::uint64_t now_ms,
                                                      std::uint32_t timeout_ms,
                                                      std::uint64_t cookie) noexcept {
    return begin_in(false, type, now_ms, timeout_ms, cookie);
  }

  /// begin() for a core operation (Linux GB_OPERATION_FLAG_CORE: the CPort Shutdown request of
  /// the teardown): allowed in disconnecting too, as gb_operation_get_active allows it.
  [[nodiscard]] constexpr result<std::uint16_t> begin_core(std::uint8_t type,
                                                           std::uint64_t now_ms,
                                                           std::uint32_t timeout_ms,
                                                           std::uint64_t cookie) noexcept {
    return begin_in(true, type, now_ms, timeout_ms, cookie);
  }

  /// A received response header: the matching operation, removed from the table.
  /// Errors: greybus_not_a_request (h is a request), greybus_connection_not_ready (state
  /// disabled: Linux gb_connection_recv drops everything then; the operation stays),
  /// greybus_response_id_zero (id 0: no request ever has it), greybus_unexpected_response (no
  /// request with that id in flight: never sent, already completed, timed out or cancelled;
  /// Linux gb_connection_recv_response drops it), greybus_response_type_mismatch (the id
  /// matches but the type does not; the operation stays in flight so its real response or
  /// its timeout still ends it. Linux matches by id alone: Vireo is stricter here).
  [[nodiscard]] constexpr result<tracked_operation> complete(const header& h) noexcept {
    if (!is_response(h)) return errc::greybus_not_a_request;
    if (state_ == connection_state::disabled) return errc::greybus_connection_not_ready;
    const std::uint16_t id = h.operation_id.get();
    if (id == unidirectional_id) return errc::greybus_response_id_zero;
    slot* s = find_slot(id);
    if (s == nullptr) return errc::greybus_unexpected_response;
    if (s->op.type != operation_type(h)) return errc::greybus_response_type_mismatch;
    return release(*s);
  }

  /// Removes and returns ONE operation whose deadline <= now_ms, the earliest deadline first
  /// (equal deadlines: the one begun first); nullopt if none. Call until nullopt.
  [[nodiscard]] constexpr std::optional<tracked_operation> expire(std::uint64_t now_ms) noexcept {
    slot* best = nullptr;
    for (slot& s : slots_) {
      if (!s.used || s.op.deadline_ms == no_deadline || s.op.deadline_ms > now_ms) continue;
      if (best == nullptr || earlier(s, *best)) best = &s;
    }
    if (best == nullptr) return std::nullopt;
    return release(*best);
  }

  /// The earliest deadline in flight (when the caller must next call expire()), nullopt if no
  /// operation in flight has one.
  [[nodiscard]] constexpr std::optional<std::uint64_t> next_deadline() const noexcept {
    std::optional<std::uint64_t> d;
    for (const slot& s : slots_) {
      if (!s.used || s.op.deadline_ms == no_deadline) continue;
      if (!d || s.op.deadline_ms < *d) d = s.op.deadline_ms;
    }
    return d;
  }

  /// Forget the operation with id `id` (no response is expected any more: a response that
  /// comes later is greybus_unexpected_response). false if no such operation is in flight.
  constexpr bool cancel(std::uint16_t id) noexcept {
    if (id == unidirectional_id) return false;
    slot* s = find_slot(id);
    if (s == nullptr) return false;
    (void)release(*s);
    return true;
  }

  /// For teardown: removes and returns one operation, the most recently begun first (Linux
  /// gb_connection_cancel_operations takes list_last_entry); nullopt when none is left.
  [[nodiscard]] constexpr std::optional<tracked_operation> cancel_one() noexcept {
    slot* last = nullptr;
    for (slot& s : slots_) {
      if (s.used && (last == nullptr || s.order > last->order)) last = &s;
    }
    if (last == nullptr) return std::nullopt;
    return release(*last);
  }

  /// The operation with id `id` if it is in flight (left in the table).
  [[nodiscard]] constexpr std::optional<tracked_operation> find(std::uint16_t id) const noexcept {
    for (const slot& s : slots_) {
      if (s.used && s.op.id == id) return s.op;
    }
    return std::nullopt;
  }

  [[nodiscard]] constexpr std::size_t in_flight() const noexcept { return count_; }

  /// An incoming request may be handled only in state enabled (Linux gb_operation_get_active:
  /// -ENOTCONN in enabled_tx and disconnecting; gb_connection_recv drops everything when
  /// disabled). On an error the request is dropped without a response, as Linux does.
  /// Errors: greybus_not_a_request (h is a response), greybus_connection_not_ready.
  [[nodiscard]] constexpr result<void> accept_incoming(const header& h) const noexcept {
    if (is_response(h)) return errc::greybus_not_a_request;
    if (state_ != connection_state::enabled) return errc::greybus_connection_not_ready;
    return ok();
  }

 private:
  struct slot {
    tracked_operation op{};
    std::uint64_t order = 0;  ///< begin sequence number: ties in expire(), order in cancel_one()
    bool used = false;
  };

  /// Position of `id` after `from` in the id cycle 1..65535 (0 when equal; both non-zero).
  static constexpr std::uint32_t distance(std::uint16_t from, std::uint16_t id) noexcept {
    return id >= from ? std::uint32_t{id} - from : std::uint32_t{id} + operation_id_count - from;
  }
  /// The id `n` places after `id` in the cycle 1..65535. Precondition: n < 65535.
  static constexpr std::uint16_t advance(std::uint16_t id, std::uint32_t n) noexcept {
    const std::uint32_t v = std::uint32_t{id} + n;
    return static_cast<std::uint16_t>(v > operation_id_count ? v - operation_id_count : v);
  }
  static constexpr bool earlier(const slot& a, const slot& b) noexcept {
    return a.op.deadline_ms < b.op.deadline_ms ||
           (a.op.deadline_ms == b.op.deadline_ms && a.order < b.order);
  }

  constexpr result<std::uint16_t> begin_in(bool core, std::uint8_t type, std::uint64_t now_ms,
                                           std::uint32_t timeout_ms,
                                           std::uint64_t cookie) noexcept {
    if ((type & response_bit) != 0 || type == type_invalid) return errc::invalid_argument;
    if (!may_send(core)) return errc::greybus_connection_not_ready;
    if (count_ == MaxPending) return errc::greybus_too_many_operations;
    slot* free = &slots_[0];
    std::uint32_t skip = 0;
    if (count_ != 0) {
      // One scan finds a free slot and marks which of the next MaxPending ids are in flight;
      // with at most MaxPending - 1 of them taken, one of those ids is free.
      std::array<bool, MaxPending> taken{};
      free = nullptr;
      for (slot& s : slots_) {
        if (!s.used) {
          if (free == nullptr) free = &s;
          continue;
        }
        const std::uint32_t d = distance(next_id_, s.op.id);
        if (d < MaxPending) taken[d] = true;
      }
      while (taken[skip]) ++skip;
    }
    const std::uint16_t id = advance(next_id_, skip);
    next_id_ = advance(id, 1);

    std::uint64_t deadline = no_deadline;
    if (timeout_ms != 0) {
      // Saturate short of no_deadline: a deadline too far to represent is still a deadline.
      deadline = now_ms < no_deadline - 1 - timeout_ms ? now_ms + timeout_ms : no_deadline - 1;
    }
    free->op = tracked_operation{id, type, deadline, cookie};
    free->order = begun_++;
    free->used = true;
    ++count_;
    return id;
  }

  constexpr slot* find_slot(std::uint16_t id) noexcept {
    for (slot& s : slots_) {
      if (s.used && s.op.id == id) return &s;
    }
    return nullptr;
  }

  constexpr tracked_operation release(slot& s) noexcept {
    s.used = false;
    --count_;
    return s.op;
  }

  std::array<slot, MaxPending> slots_{};
  std::size_t count_ = 0;
  std::uint64_t begun_ = 0;
  std::uint16_t next_id_ = 1;  ///< the id the next begin() tries first
  connection_state state_ = connection_state::disabled;
};

}  // namespace greybus
VIREO_NAMESPACE_END
