// SPDX-License-Identifier: Apache-2.0
// greybus::operation_tracker: id allocation and wrap-around, request/response matching under
// reordering, timeouts, cancellation, and the per-connection state rules of Linux
// drivers/greybus/connection.c and operation.c.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "vireo/greybus/gpio.hpp"
#include "vireo/greybus/header.hpp"
#include "vireo/greybus/message.hpp"
#include "vireo/greybus/operation_tracker.hpp"

namespace {

namespace gb = vireo::greybus;
using vireo::errc;
using state = gb::connection_state;

/// The header of a successful response to request (id, type).
gb::header response(std::uint16_t id, std::uint8_t type, std::uint8_t result = 0) {
  return gb::make_response_header(id, type, result, 0);
}

template <std::size_t N>
gb::operation_tracker<N> enabled_tracker() {
  return gb::operation_tracker<N>{state::enabled};
}

/// The error of a result, nullopt if it holds a value (so a wrong success fails the check
/// instead of trapping in result::error()).
template <typename R>
std::optional<errc> err(const R& r) {
  if (r.has_value()) return std::nullopt;
  return r.error();
}

/// begin() that must succeed; returns the id.
template <std::size_t N>
std::uint16_t must_begin(gb::operation_tracker<N>& t, std::uint8_t type, std::uint64_t now,
                         std::uint32_t timeout, std::uint64_t cookie) {
  auto id = t.begin(type, now, timeout, cookie);
  REQUIRE(id.has_value());
  return *id;
}

/// begin() then complete() of one operation: the id it used.
template <std::size_t N>
std::uint16_t round_trip(gb::operation_tracker<N>& t) {
  const std::uint16_t id = must_begin(t, 0x09, 0, gb::default_timeout_ms, 0);
  REQUIRE(t.complete(response(id, 0x09)).has_value());
  return id;
}

}  // namespace

TEST_CASE("greybus tracker: ids count 1, 2, 3 per connection, never 0, and are recorded") {
  auto t = enabled_tracker<4>();
  CHECK(gb::default_timeout_ms == 1000);  // Linux GB_OPERATION_TIMEOUT_DEFAULT
  CHECK(t.capacity() == 4);
  CHECK(t.in_flight() == 0);
  CHECK(must_begin(t, 0x02, 100, 1000, 11) == 1);
  CHECK(must_begin(t, 0x09, 100, 1000, 22) == 2);
  CHECK(must_begin(t, 0x08, 150, 500, 33) == 3);
  CHECK(t.in_flight() == 3);
  CHECK(t.find(2) == gb::tracked_operation{2, 0x09, 1100, 22});
  CHECK(t.find(3) == gb::tracked_operation{3, 0x08, 650, 33});
  CHECK_FALSE(t.find(4).has_value());
  CHECK_FALSE(t.find(0).has_value());

  // Completed ids are not handed out again until the cycle comes round: 4 follows 3.
  REQUIRE(t.complete(response(1, 0x02)).has_value());
  CHECK(must_begin(t, 0x02, 200, 1000, 44) == 4);

  // Each connection has its own cycle.
  auto other = enabled_tracker<4>();
  CHECK(must_begin(other, 0x02, 0, 1000, 0) == 1);
}

TEST_CASE("greybus tracker: with nothing held, 65535 is followed by 1, never 0") {
  auto t = enabled_tracker<2>();
  std::uint32_t out_of_sequence = 0;
  for (std::uint32_t i = 1; i <= 65535; ++i)
    if (round_trip(t) != i) ++out_of_sequence;
  CHECK(out_of_sequence == 0);
  CHECK(round_trip(t) == 1);
  CHECK(round_trip(t) == 2);
}

TEST_CASE("greybus tracker: ids wrap from 65535 to 1, skipping 0 and ids still in flight") {
  auto t = enabled_tracker<8>();
  // Ids 1 and 2 stay in flight for a whole cycle (no timeout, so nothing expires them).
  CHECK(must_begin(t, 0x02, 0, 0, 1) == 1);
  CHECK(must_begin(t, 0x02, 0, 0, 2) == 2);
  // Walk ids 3..65534 with begin+complete pairs.
  std::uint16_t last = 0;
  for (std::uint32_t i = 3; i <= 65534; ++i) last = round_trip(t);
  CHECK(last == 65534);
  // 65535 is the last id; the next wraps to 1 and 2, which are in flight: 3 comes next.
  const std::uint16_t a = must_begin(t, 0x03, 0, 1000, 3);
  const std::uint16_t b = must_begin(t, 0x03, 0, 1000, 4);
  CHECK(a == 65535);
  CHECK(b == 3);
  // The old ids still match their own operations.
  CHECK(t.complete(response(1, 0x02))->cookie == 1);
  // 4 follows; 1 is free again but the cycle goes on forward.
  CHECK(must_begin(t, 0x03, 0, 1000, 5) == 4);
  CHECK(t.in_flight() == 4);  // 2, 65535, 3, 4
  CHECK(t.find(2).has_value());
  CHECK(t.find(65535)->cookie == 3);
}

TEST_CASE("greybus tracker: a run of in-flight ids across the wrap point is skipped") {
  auto t = enabled_tracker<4>();
  // Ids 1 and 2 are held; round trips take 3..65534; 65535 is held too.
  CHECK(must_begin(t, 0x05, 0, 0, 1) == 1);
  CHECK(must_begin(t, 0x05, 0, 0, 2) == 2);
  for (std::uint32_t i = 3; i <= 65534; ++i) (void)round_trip(t);
  CHECK(must_begin(t, 0x05, 0, 0, 3) == 65535);
  // Second cycle through the one free slot: 3..65534 again (1, 2 skipped at the wrap).
  std::uint16_t first = 0, last = 0;
  for (std::uint32_t i = 3; i <= 65534; ++i) {
    last = round_trip(t);
    if (first == 0) first = last;
  }
  CHECK(first == 3);
  CHECK(last == 65534);
  // Now the cycle is back at 65535 with 65535, 1 and 2 in flight: the run crosses the wrap.
  CHECK(must_begin(t, 0x05, 0, 0, 4) == 3);
  CHECK(t.in_flight() == 4);
  CHECK(err(t.begin(0x05, 0, 0, 5)) == errc::greybus_too_many_operations);
  CHECK(t.cancel(65535));
  CHECK(must_begin(t, 0x05, 0, 0, 5) == 4);
  CHECK(t.find(65535) == std::nullopt);
  CHECK(t.find(1)->cookie == 1);
  CHECK(t.find(2)->cookie == 2);
}

TEST_CASE("greybus tracker: a full table refuses begin until an operation ends") {
  auto t = enabled_tracker<3>();
  for (std::uint16_t i = 1; i <= 3; ++i) CHECK(must_begin(t, 0x09, 0, 1000, i) == i);
  auto r = t.begin(0x09, 0, 1000, 4);
  REQUIRE_FALSE(r.has_value());
  CHECK(err(r) == errc::greybus_too_many_operations);
  CHECK(t.in_flight() == 3);  // the refusal took nothing
  REQUIRE(t.complete(response(2, 0x09)).has_value());
  CHECK(t.in_flight() == 2);
  CHECK(must_begin(t, 0x09, 0, 1000, 4) == 4);  // no id was consumed by the refusal
  CHECK(err(t.begin(0x09, 0, 1000, 5)) == errc::greybus_too_many_operations);
}

TEST_CASE("greybus tracker: responses out of order each complete their own operation") {
  auto t = enabled_tracker<8>();
  const std::array<std::uint8_t, 5> types{0x02, 0x03, 0x08, 0x09, 0x0c};
  for (std::size_t i = 0; i < types.size(); ++i)
    CHECK(must_begin(t, types[i], 0, 1000, 100 + i) == i + 1);
  // Responses come back 4, 1, 5, 3, 2.
  const std::array<std::uint16_t, 5> order{4, 1, 5, 3, 2};
  std::size_t left = types.size();
  for (const std::uint16_t id : order) {
    auto op = t.complete(response(id, types[id - 1u]));
    REQUIRE(op.has_value());
    CHECK(op->id == id);
    CHECK(op->type == types[id - 1u]);
    CHECK(op->cookie == 100u + id - 1u);
    CHECK(op->deadline_ms == 1000);
    CHECK(t.in_flight() == --left);
  }
}

TEST_CASE("greybus tracker: an error response completes the operation like a success") {
  // The result byte is the caller's business (decode_response reports it); the op is done.
  auto t = enabled_tracker<2>();
  const std::uint16_t id = must_begin(t, 0x09, 0, 1000, 7);
  auto op = t.complete(response(id, 0x09, static_cast<std::uint8_t>(gb::status::invalid)));
  REQUIRE(op.has_value());
  CHECK(op->cookie == 7);
  CHECK(t.in_flight() == 0);
}

TEST_CASE("greybus tracker: a duplicate response is unexpected") {
  auto t = enabled_tracker<4>();
  const std::uint16_t id = must_begin(t, 0x08, 0, 1000, 1);
  (void)must_begin(t, 0x08, 0, 1000, 2);
  REQUIRE(t.complete(response(id, 0x08)).has_value());
  auto again = t.complete(response(id, 0x08));
  REQUIRE_FALSE(again.has_value());
  CHECK(err(again) == errc::greybus_unexpected_response);
  CHECK(t.in_flight() == 1);  // the other operation is untouched
  // A response to an id never sent, and one with id 0 (never a request's id).
  CHECK(err(t.complete(response(77, 0x08))) == errc::greybus_unexpected_response);
  gb::header zero = response(1, 0x08);
  zero.operation_id.set(0);
  CHECK(err(t.complete(zero)) == errc::greybus_response_id_zero);
}

TEST_CASE("greybus tracker: a response after a timeout or a cancel is unexpected") {
  auto t = enabled_tracker<4>();
  const std::uint16_t late = must_begin(t, 0x09, 1000, 100, 1);     // deadline 1100
  const std::uint16_t dropped = must_begin(t, 0x09, 1000, 500, 2);  // deadline 1500
  auto gone = t.expire(1100);
  REQUIRE(gone.has_value());
  CHECK(*gone == gb::tracked_operation{late, 0x09, 1100, 1});
  CHECK(err(t.complete(response(late, 0x09))) == errc::greybus_unexpected_response);

  CHECK(t.cancel(dropped));
  CHECK_FALSE(t.cancel(dropped));  // already gone
  CHECK_FALSE(t.cancel(0));
  CHECK(err(t.complete(response(dropped, 0x09))) == errc::greybus_unexpected_response);
  CHECK(t.in_flight() == 0);
  CHECK_FALSE(t.next_deadline().has_value());
}

TEST_CASE("greybus tracker: a response of another type leaves the operation in flight") {
  auto t = enabled_tracker<4>();
  const std::uint16_t id = must_begin(t, 0x09, 0, 1000, 5);  // GPIO set_value
  auto wrong = t.complete(response(id, 0x08));                // get_value response, same id
  REQUIRE_FALSE(wrong.has_value());
  CHECK(err(wrong) == errc::greybus_response_type_mismatch);
  CHECK(t.in_flight() == 1);
  CHECK(t.find(id) == gb::tracked_operation{id, 0x09, 1000, 5});
  // The real response still completes it.
  auto right = t.complete(response(id, 0x09));
  REQUIRE(right.has_value());
  CHECK(right->cookie == 5);
  CHECK(t.in_flight() == 0);
}

TEST_CASE("greybus tracker: complete and begin refuse the wrong direction or a bad type") {
  auto t = enabled_tracker<4>();
  const std::uint16_t id = must_begin(t, 0x09, 0, 1000, 1);
  // A request header with the same id is no response.
  CHECK(err(t.complete(gb::make_request_header(id, 0x09, 0))) == errc::greybus_not_a_request);
  CHECK(t.in_flight() == 1);
  // The type passed to begin is a request type.
  CHECK(err(t.begin(0x89, 0, 1000, 2)) == errc::invalid_argument);
  CHECK(err(t.begin(gb::type_invalid, 0, 1000, 2)) == errc::invalid_argument);
  CHECK(err(t.begin_core(0x80, 0, 1000, 2)) == errc::invalid_argument);
  CHECK(t.in_flight() == 1);
  CHECK(must_begin(t, 0x09, 0, 1000, 3) == 2);  // no id consumed by the refusal
}

TEST_CASE("greybus tracker: expire takes the earliest deadline first; next_deadline follows") {
  auto t = enabled_tracker<8>();
  CHECK_FALSE(t.next_deadline().has_value());
  CHECK_FALSE(t.expire(1'000'000).has_value());
  const std::uint16_t a = must_begin(t, 0x02, 0, 300, 1);    // 300
  const std::uint16_t b = must_begin(t, 0x02, 0, 100, 2);    // 100
  const std::uint16_t c = must_begin(t, 0x02, 50, 250, 3);   // 300, begun after a
  const std::uint16_t d = must_begin(t, 0x02, 0, 1000, 4);   // 1000
  const std::uint16_t e = must_begin(t, 0x02, 0, 0, 5);      // never
  CHECK(t.next_deadline() == std::optional<std::uint64_t>{100});

  CHECK_FALSE(t.expire(99).has_value());  // deadline 100 is not reached at 99
  auto first = t.expire(100);             // deadline <= now: due
  REQUIRE(first.has_value());
  CHECK(first->id == b);
  CHECK_FALSE(t.expire(100).has_value());
  CHECK(t.next_deadline() == std::optional<std::uint64_t>{300});

  // At 5000 everything with a deadline is due: 300 (a, then c: begun later), then 1000.
  auto second = t.expire(5000);
  auto third = t.expire(5000);
  auto fourth = t.expire(5000);
  REQUIRE(second.has_value());
  REQUIRE(third.has_value());
  REQUIRE(fourth.has_value());
  CHECK(second->id == a);
  CHECK(third->id == c);
  CHECK(third->deadline_ms == 300);
  CHECK(fourth->id == d);
  CHECK(fourth->cookie == 4);
  // The operation without a timeout never expires.
  CHECK_FALSE(t.expire(gb::no_deadline).has_value());
  CHECK_FALSE(t.next_deadline().has_value());
  CHECK(t.in_flight() == 1);
  CHECK(t.find(e)->deadline_ms == gb::no_deadline);
}

TEST_CASE("greybus tracker: a deadline past the clock's range saturates and still expires") {
  auto t = enabled_tracker<2>();
  const std::uint64_t near_end = gb::no_deadline - 10;
  const std::uint16_t id = must_begin(t, 0x02, near_end, 1000, 1);
  CHECK(t.find(id)->deadline_ms == gb::no_deadline - 1);
  CHECK(t.next_deadline() == std::optional<std::uint64_t>{gb::no_deadline - 1});
  CHECK_FALSE(t.expire(gb::no_deadline - 2).has_value());
  CHECK(t.expire(gb::no_deadline - 1)->id == id);
}

TEST_CASE("greybus tracker: unidirectional operations never take an id or a slot") {
  // A unidirectional request (GPIO IRQ Event) is encoded with id 0 and no tracker is involved:
  // nothing waits for it. The tracker's id cycle is not advanced by it.
  auto t = enabled_tracker<2>();
  CHECK(must_begin(t, gb::gpio::set_value::type, 0, 1000, 1) == 1);
  std::array<std::byte, 16> buf{};
  auto n = gb::encode_unidirectional<gb::gpio::irq_event>(gb::gpio::which_request{3}, buf);
  REQUIRE(n.has_value());
  auto m = gb::decode(vireo::const_bytes{buf.data(), *n});
  REQUIRE(m.has_value());
  CHECK(m->id() == gb::unidirectional_id);
  CHECK(m->unidirectional());
  CHECK(t.in_flight() == 1);
  CHECK(must_begin(t, gb::gpio::set_value::type, 0, 1000, 2) == 2);
  // Received, it is an incoming request like any other (accepted when enabled) ...
  CHECK(t.accept_incoming(m->hdr).has_value());
  // ... and no "response" with id 0 can ever complete anything.
  gb::header fake = m->hdr;
  fake.type = static_cast<std::uint8_t>(fake.type | gb::response_bit);
  CHECK(err(t.complete(fake)) == errc::greybus_response_id_zero);
  CHECK(t.in_flight() == 2);
}

TEST_CASE("greybus tracker: begin needs enabled_tx or enabled; begin_core also disconnecting") {
  gb::operation_tracker<4> t;  // a connection starts disabled (Linux gb_connection_create)
  CHECK(t.state() == state::disabled);
  CHECK(err(t.begin(0x02, 0, 1000, 0)) == errc::greybus_connection_not_ready);
  CHECK(err(t.begin_core(gb::type_cport_shutdown, 0, 1000, 0)) ==
        errc::greybus_connection_not_ready);

  t.set_state(state::enabled_tx);
  CHECK(must_begin(t, 0x02, 0, 1000, 1) == 1);
  t.set_state(state::enabled);
  CHECK(must_begin(t, 0x02, 0, 1000, 2) == 2);

  t.set_state(state::disconnecting);
  CHECK(t.state() == state::disconnecting);
  CHECK(err(t.begin(0x02, 0, 1000, 3)) == errc::greybus_connection_not_ready);
  // CPort Shutdown is a core operation: Linux sends it while disconnecting.
  auto shutdown = t.begin_core(gb::type_cport_shutdown, 0, 1000, 4);
  REQUIRE(shutdown.has_value());
  CHECK(*shutdown == 3);
  // Responses still complete while disconnecting (Linux drops received data only when
  // disabled): the ops in flight were kept by set_state.
  CHECK(t.in_flight() == 3);
  CHECK(t.complete(response(3, gb::type_cport_shutdown))->cookie == 4);
  CHECK(t.complete(response(1, 0x02))->cookie == 1);

  t.set_state(state::disabled);
  CHECK(err(t.begin(0x02, 0, 1000, 5)) == errc::greybus_connection_not_ready);
  // Disabled: a response is refused and the operation stays for the teardown to cancel.
  CHECK(err(t.complete(response(2, 0x02))) == errc::greybus_connection_not_ready);
  CHECK(t.in_flight() == 1);
  CHECK(t.cancel_one()->id == 2);
}

TEST_CASE("greybus tracker: accept_incoming only in enabled") {
  gb::operation_tracker<2> t;
  const gb::header request = gb::make_request_header(0x1234, 0x09, 2);
  const gb::header unidirectional = gb::make_request_header(0, 0x0e, 1);
  const std::array<std::pair<state, bool>, 4> rules{{{state::disabled, false},
                                                     {state::enabled_tx, false},
                                                     {state::enabled, true},
                                                     {state::disconnecting, false}}};
  for (const auto& rule : rules) {
    const state s = rule.first;
    const bool accepted = rule.second;
    CAPTURE(static_cast<int>(s));
    t.set_state(s);
    auto r = t.accept_incoming(request);
    auto u = t.accept_incoming(unidirectional);
    CHECK(r.has_value() == accepted);
    CHECK(u.has_value() == accepted);
    if (!accepted) {
      CHECK(err(r) == errc::greybus_connection_not_ready);
      CHECK(err(u) == errc::greybus_connection_not_ready);
    }
  }
  // A response is no incoming request, whatever the state.
  t.set_state(state::enabled);
  CHECK(err(t.accept_incoming(response(5, 0x09))) == errc::greybus_not_a_request);
}

TEST_CASE("greybus tracker: teardown drains every operation with cancel_one, newest first") {
  auto t = enabled_tracker<8>();
  for (std::uint64_t c = 1; c <= 5; ++c) (void)must_begin(t, 0x09, 0, 1000, c);
  REQUIRE(t.complete(response(2, 0x09)).has_value());  // ids in flight: 1, 3, 4, 5
  CHECK(must_begin(t, 0x09, 0, 1000, 6) == 6);         // reuses the freed slot of id 2

  t.set_state(state::disconnecting);
  std::vector<std::uint64_t> cancelled;
  while (auto op = t.cancel_one()) cancelled.push_back(op->cookie);
  CHECK(cancelled == std::vector<std::uint64_t>{6, 5, 4, 3, 1});
  CHECK(t.in_flight() == 0);
  CHECK_FALSE(t.cancel_one().has_value());
  CHECK_FALSE(t.next_deadline().has_value());
  // Late responses to the cancelled operations are unexpected.
  CHECK(err(t.complete(response(5, 0x09))) == errc::greybus_unexpected_response);
  // Re-enabled, the id cycle continues where it was.
  t.set_state(state::enabled);
  CHECK(must_begin(t, 0x09, 0, 1000, 7) == 7);
}

TEST_CASE("greybus tracker: the tracker works in constant expressions") {
  constexpr auto ids = [] {
    gb::operation_tracker<2> t{state::enabled};
    std::array<std::uint16_t, 3> out{};
    out[0] = *t.begin(0x02, 0, 10, 0);
    out[1] = *t.begin(0x02, 0, 10, 0);
    (void)t.complete(gb::make_response_header(1, 0x02, 0, 0));
    out[2] = *t.begin(0x02, 0, 10, 0);
    return out;
  }();
  static_assert(ids[0] == 1 && ids[1] == 2 && ids[2] == 3);
  CHECK(ids[2] == 3);
}

TEST_CASE("greybus tracker: random begin/complete/expire/cancel against a reference model") {
  // The model: a map id -> op, the id cycle done the slow way (step until free).
  struct model {
    std::map<std::uint16_t, gb::tracked_operation> ops;
    std::uint16_t next = 1;
    std::uint64_t order = 0;
    std::map<std::uint16_t, std::uint64_t> begun;  // id -> begin order
  };
  constexpr std::size_t cap = 6;
  gb::operation_tracker<cap> t{state::enabled};
  model m;
  std::mt19937 rng(0x6b);
  std::uint64_t now = 0;
  std::size_t completed = 0, expired = 0, refused = 0, mismatched = 0;
  for (int step = 0; step < 20000; ++step) {
    now += rng() % 7;
    const unsigned what = rng() % 10;
    if (what < 3) {
      const std::uint8_t type = static_cast<std::uint8_t>(rng() % 4 + 2);
      const std::uint32_t timeout = rng() % 120;
      auto id = t.begin(type, now, timeout, static_cast<std::uint64_t>(step));
      if (m.ops.size() == cap) {
        REQUIRE_FALSE(id.has_value());
        CHECK(err(id) == errc::greybus_too_many_operations);
        ++refused;
        continue;
      }
      while (m.ops.contains(m.next)) m.next = static_cast<std::uint16_t>(m.next % 0xffff + 1);
      REQUIRE(id.has_value());
      REQUIRE(*id == m.next);
      m.ops[*id] = gb::tracked_operation{*id, type, timeout ? now + timeout : gb::no_deadline,
                                         static_cast<std::uint64_t>(step)};
      m.begun[*id] = m.order++;
      m.next = static_cast<std::uint16_t>(m.next % 0xffff + 1);
    } else if (what < 7) {
      // A response to a random recent id, sometimes of the wrong type.
      const std::uint16_t id = static_cast<std::uint16_t>(m.next > 8 ? m.next - 1 - rng() % 8
                                                                     : rng() % 8 + 1);
      auto it = m.ops.find(id);
      std::uint8_t type = static_cast<std::uint8_t>(rng() % 4 + 2);
      if (it != m.ops.end() && rng() % 4 != 0) type = it->second.type;
      auto r = t.complete(response(id, type));
      if (it == m.ops.end()) {
        REQUIRE(err(r) == errc::greybus_unexpected_response);
      } else if (it->second.type != type) {
        REQUIRE(err(r) == errc::greybus_response_type_mismatch);
        ++mismatched;
      } else {
        REQUIRE(r.has_value());
        CHECK(*r == it->second);
        m.ops.erase(it);
        ++completed;
      }
    } else if (what < 9) {
      auto e = t.expire(now);
      std::optional<gb::tracked_operation> want;
      for (const auto& [id, op] : m.ops) {
        if (op.deadline_ms == gb::no_deadline || op.deadline_ms > now) continue;
        if (!want || op.deadline_ms < want->deadline_ms ||
            (op.deadline_ms == want->deadline_ms && m.begun[id] < m.begun[want->id]))
          want = op;
      }
      REQUIRE(e == want);
      if (want) {
        m.ops.erase(want->id);
        ++expired;
      }
    } else {
      const std::uint16_t id = static_cast<std::uint16_t>(m.next > 8 ? m.next - 1 - rng() % 8
                                                                     : rng() % 8 + 1);
      CHECK(t.cancel(id) == (m.ops.erase(id) == 1));
    }
    REQUIRE(t.in_flight() == m.ops.size());
    std::optional<std::uint64_t> want_deadline;
    for (const auto& [id, op] : m.ops)
      if (op.deadline_ms != gb::no_deadline && (!want_deadline || op.deadline_ms < *want_deadline))
        want_deadline = op.deadline_ms;
    REQUIRE(t.next_deadline() == want_deadline);
  }
  // The run exercised every path.
  MESSAGE("completed ", completed, ", expired ", expired, ", refused ", refused, ", mismatched ",
          mismatched);
  CHECK(completed > 1000);
  CHECK(expired > 500);
  CHECK(refused > 50);
  CHECK(mismatched > 100);
}
