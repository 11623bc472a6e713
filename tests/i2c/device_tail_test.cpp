// SPDX-License-Identifier: Apache-2.0
// i2c::device and groups that do not end where the ring does: an open tail (the last request
// available has FAIL_NEXT) is held, and closed when the ring has no room for another request, when
// a later process() brings nothing for it, or by flush(); groups longer than max_group fail
// whole. Split and packed rings, direct and indirect descriptors.
#include "device_test_support.hpp"

using namespace vireo_i2c_test;

namespace {

constexpr status OK = status::ok;
constexpr status ERR = status::err;
using statuses = std::vector<status>;

/// `n` zero-length writes to 0x50, FAIL_NEXT on every one (an unterminated group).
std::vector<raw> open_probes(std::size_t n, std::uint32_t last_flags = flag::fail_next) {
  std::vector<raw> v;
  for (std::size_t i = 0; i < n; ++i)
    v.push_back({header(0x00A0, i + 1 == n ? last_flags : flag::fail_next)});
  return v;
}

}  // namespace

TEST_CASE_TEMPLATE("tail: a group cut short by a full ring (Linux on QEMU's 4 entries) is closed "
                   "and run, never held",
                   L, split_layout, packed_layout) {
  SUBCASE("direct descriptors: 2 of 3 two-descriptor requests fit in 4") {
    rig_options o;
    o.size = 4;
    auto r = make_rig<L>(o);
    auto reqs = r->transfer({{a7(0x50), direction::write, gpa{0}, 0},
                             {a7(0x50), direction::write, gpa{0}, 0},
                             {a7(0x50), direction::write, gpa{0}, 0}});
    REQUIRE(reqs.size() == 2);  // the driver kicks and waits with FAIL_NEXT on the last one
    CHECK(r->process());
    CHECK(!r->dev.tail_held());
    CHECK(reclaim_all(r->m, reqs) == statuses{OK, OK});
    CHECK(r->bus.transfers() == 1);
    CHECK(r->bus.last_transfer_size() == 2);
    CHECK(r->dev.stats().tails_closed_ring_full == 1);
  }
  SUBCASE("direct descriptors: one three-descriptor write leaves room for no request") {
    rig_options o;
    o.size = 4;
    auto r = make_rig<L>(o);
    const gpa reg = r->put(bytes_of({0x40}));
    const gpa out = r->fresh(2);
    auto reqs = r->transfer({{a7(0x50), direction::write, reg, 1},
                             {a7(0x50), direction::read, out, 2}});
    REQUIRE(reqs.size() == 1);
    r->process();
    CHECK(reclaim_all(r->m, reqs) == statuses{OK});
    CHECK(r->eeprom.pointer() == 0x40);
    CHECK(r->dev.stats().tails_closed_ring_full == 1);
  }
  SUBCASE("indirect descriptors: 4 of 6 one-descriptor requests fit in 4") {
    rig_options o;
    o.size = 4;
    o.indirect = true;
    auto r = make_rig<L>(o);
    std::vector<i2c::message> msgs(6, {a7(0x50), direction::write, gpa{0}, 0});
    auto reqs = r->transfer(msgs, add_mode::indirect);
    REQUIRE(reqs.size() == 4);
    r->process();
    CHECK(!r->dev.tail_held());
    CHECK(reclaim_all(r->m, reqs) == statuses{OK, OK, OK, OK});
    CHECK(r->bus.last_transfer_size() == 4);
    CHECK(r->dev.stats().tails_closed_ring_full == 1);
  }
}

TEST_CASE_TEMPLATE("tail: with room left in the ring an open tail is held, then closed by a later "
                   "process() that brings nothing",
                   L, split_layout, packed_layout) {
  for (const bool indirect : {false, true}) {
    CAPTURE(indirect);
    rig_options o;
    o.indirect = indirect;
    auto r = make_rig<L>(o);
    auto reqs = add_raw(r->m, open_probes(3), indirect ? add_mode::indirect : add_mode::direct);
    CHECK(!r->process());  // nothing completed: nothing to notify
    CHECK(r->dev.tail_held());
    CHECK(r->dev.held() == 3);
    CHECK(r->bus.transfers() == 0);
    CHECK(r->nothing_completed());
    // The next notification brings nothing for the tail: the driver has stopped adding.
    CHECK(r->process());
    CHECK(!r->dev.tail_held());
    CHECK(reclaim_all(r->m, reqs) == statuses{OK, OK, OK});
    CHECK(r->bus.transfers() == 1);
    CHECK(r->bus.last_transfer_size() == 3);
    CHECK(r->dev.stats().tails_closed_quiet == 1);
    // The device goes on with a new group.
    auto next = r->transfer({{a7(0x20), direction::write, gpa{0}, 0}});
    r->process();
    CHECK(reclaim_all(r->m, next) == statuses{OK});
  }
}

TEST_CASE_TEMPLATE("tail: a tail that grows across process() calls stays one group, one transfer",
                   L, split_layout, packed_layout) {
  auto r = make_rig<L>();
  auto first = add_raw(r->m, open_probes(1));
  r->process();
  CHECK(r->dev.held() == 1);
  auto second = add_raw(r->m, open_probes(2));
  r->process();  // grew: still held
  CHECK(r->dev.held() == 3);
  CHECK(r->nothing_completed());
  auto last = add_raw(r->m, {{header(0x00A0, 0)}});
  r->process();  // the terminator: the group of four runs
  CHECK(!r->dev.tail_held());
  CHECK(r->bus.transfers() == 1);
  CHECK(r->bus.last_transfer_size() == 4);
  CHECK(reclaim_n(r->m, 4).size() == 4);
  CHECK(r->dev.stats().requests_ok == 4);
  CHECK(r->dev.stats().tails_closed_quiet == 0);
}

TEST_CASE_TEMPLATE("tail: flush() closes a held tail (the embedder's deadline)", L, split_layout,
                   packed_layout) {
  auto r = make_rig<L>();
  auto reqs = add_raw(r->m, {{header(0x00A0, flag::fail_next), {bytes_of({0x05})}},
                             {header(0x00A0, flag::fail_next | flag::m_rd), {}, {2}}});
  r->process();
  REQUIRE(r->dev.tail_held());
  CHECK(r->nothing_completed());
  auto n = r->dev.flush();
  REQUIRE(n.has_value());
  CHECK(*n);
  CHECK(!r->dev.tail_held());
  CHECK(reclaim_all(r->m, reqs) == statuses{OK, OK});
  CHECK(r->bytes_at(reqs[1].data, 2) == bytes_of({0x05 ^ 0x5A, 0x06 ^ 0x5A}));
  CHECK(r->dev.stats().tails_closed_flush == 1);
  // With nothing held, flush() does nothing.
  auto again = r->dev.flush();
  REQUIRE(again.has_value());
  CHECK(!*again);
  CHECK(r->dev.stats().tails_closed_flush == 1);
}

TEST_CASE_TEMPLATE("tail: a closed tail whose member fails is answered by the group rule", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  auto reqs = add_raw(r->m, {{header(0x00A0, flag::fail_next)},
                             {header(0x00A2, flag::fail_next)},  // 0x51: absent
                             {header(0x00A0, flag::fail_next)}});
  r->process();
  r->process();
  CHECK(reclaim_all(r->m, reqs) == statuses{OK, ERR, ERR});
  CHECK(r->bus.messages() == 1);
}

TEST_CASE_TEMPLATE("max group: a group longer than max_group fails whole, never reaches the bus, "
                   "and the next group works",
                   L, split_layout, packed_layout) {
  rig_options o;
  o.dev.max_group = 4;
  auto r = make_rig<L>(o);
  std::vector<i2c::message> six(6, {a7(0x50), direction::write, gpa{0}, 0});
  auto big = r->transfer(six);
  std::vector<i2c::message> four(4, {a7(0x50), direction::write, gpa{0}, 0});
  auto fits = r->transfer(four);
  r->process();
  CHECK(reclaim_all(r->m, big) == statuses(6, ERR));
  CHECK(reclaim_all(r->m, fits) == statuses(4, OK));
  CHECK(r->bus.transfers() == 1);
  CHECK(r->dev.stats().overflows == 1);
  CHECK(r->dev.stats().groups_not_run == 1);
  CHECK(!r->dev.tail_held());
}

TEST_CASE_TEMPLATE("max group: 42 messages are one transfer, 43 fail (I2C_RDWR_IOCTL_MAX_MSGS)", L,
                   split_layout, packed_layout) {
  rig_options o;
  o.size = 128;
  auto r = make_rig<L>(o);
  REQUIRE(r->dev.max_group == 42);
  std::vector<i2c::message> m42(42, {a7(0x20), direction::write, gpa{0}, 0});
  auto ok42 = r->transfer(m42);
  r->process();
  CHECK(reclaim_all(r->m, ok42) == statuses(42, OK));
  CHECK(r->bus.last_transfer_size() == 42);
  std::vector<i2c::message> m43(43, {a7(0x20), direction::write, gpa{0}, 0});
  auto err43 = r->transfer(m43);
  r->process();
  CHECK(reclaim_all(r->m, err43) == statuses(43, ERR));
  CHECK(r->bus.transfers() == 1);
  CHECK(r->dev.stats().last_error == errc::i2c_group_too_long);
}

TEST_CASE_TEMPLATE("max group: an unterminated overflow is failed as it comes and ended by a quiet "
                   "process() or by flush()",
                   L, split_layout, packed_layout) {
  for (const bool by_flush : {false, true}) {
    CAPTURE(by_flush);
    rig_options o;
    o.dev.max_group = 2;
    auto r = make_rig<L>(o);
    auto over = add_raw(r->m, open_probes(4));
    r->process();
    CHECK(r->dev.tail_held());  // still failing the group until its terminator
    CHECK(r->dev.held() == 0);  // nothing is held: every member is answered already
    CHECK(reclaim_all(r->m, over) == statuses(4, ERR));
    auto more = add_raw(r->m, open_probes(1));  // still the same group: failed at once
    r->process();
    CHECK(reclaim_all(r->m, more) == statuses{ERR});
    if (by_flush) REQUIRE(r->dev.flush().has_value());
    else r->process();  // brings nothing: the overflowing group is over
    CHECK(!r->dev.tail_held());
    auto next = r->transfer({{a7(0x50), direction::write, gpa{0}, 0},
                             {a7(0x50), direction::write, gpa{0}, 0}});
    r->process();
    CHECK(reclaim_all(r->m, next) == statuses{OK, OK});
    CHECK(r->bus.transfers() == 1);
  }
}

TEST_CASE_TEMPLATE("max group: a terminator inside the overflow ends it; what follows is new", L,
                   split_layout, packed_layout) {
  rig_options o;
  o.dev.max_group = 3;
  auto r = make_rig<L>(o);
  auto over = add_raw(r->m, open_probes(6, 0));  // six requests, the last one terminates
  auto next = r->transfer({{a7(0x20), direction::write, gpa{0}, 0}});
  r->process();
  CHECK(reclaim_all(r->m, over) == statuses(6, ERR));
  CHECK(reclaim_all(r->m, next) == statuses{OK});
  CHECK(!r->dev.tail_held());
}

TEST_CASE_TEMPLATE("reset: held chains are dropped; the device serves the reconfigured queue", L,
                   split_layout, packed_layout) {
  auto r = make_rig<L>();
  auto held = add_raw(r->m, open_probes(2));
  r->process();
  REQUIRE(r->dev.tail_held());
  r->dev.reset();
  CHECK(!r->dev.tail_held());
  CHECK(r->dev.held() == 0);
  CHECK(r->nothing_completed());  // dropped, not completed: the driver gets them back by reset
  // Both sides reset their queue (§2.6.1), then work again from the initial state.
  r->m.driver().reset();
  while (r->m.driver().detach_unused()) {
  }
  REQUIRE(r->m.driver().configure(r->m.config(), r->m.pool()).has_value());
  r->q.reset();
  REQUIRE(r->q.configure(r->m.config()).has_value());
  auto next = r->transfer({{a7(0x50), direction::write, gpa{0}, 0}});
  r->process();
  CHECK(reclaim_all(r->m, next) == statuses{OK});
  CHECK(held.size() == 2);
}

TEST_CASE_TEMPLATE("tail: process(budget) stops at its budget; the next call continues it, and "
                   "a tail that grew before the cut is not closed as quiet",
                   L, split_layout, packed_layout) {
  auto r = make_rig<L>();
  (void)add_raw(r->m, open_probes(3));
  REQUIRE(r->dev.process(2).has_value());  // two of the three taken: the cut
  CHECK(r->dev.requests_left());
  CHECK(r->dev.held() == 2);
  REQUIRE(r->dev.process(2).has_value());  // the third: the tail grew in this call
  CHECK_FALSE(r->dev.requests_left());
  CHECK(r->dev.held() == 3);
  CHECK(r->nothing_completed());
  // Cut again right after the group's last chain arrived: the slice that follows brings nothing,
  // yet the tail grew in the cut slice, so it is still held (one call, in two slices).
  (void)add_raw(r->m, open_probes(1));
  REQUIRE(r->dev.process(1).has_value());
  CHECK(r->dev.requests_left());
  REQUIRE(r->dev.process(1).has_value());
  CHECK_FALSE(r->dev.requests_left());
  CHECK(r->dev.tail_held());
  CHECK(r->dev.held() == 4);
  CHECK(r->dev.stats().tails_closed_quiet == 0);
  // A later call with nothing new closes it as quiet, as without a budget.
  REQUIRE(r->dev.process(1).has_value());
  CHECK_FALSE(r->dev.tail_held());
  CHECK(r->bus.transfers() == 1);
  CHECK(r->bus.last_transfer_size() == 4);
  CHECK(r->dev.stats().tails_closed_quiet == 1);
  CHECK(reclaim_n(r->m, 4).size() == 4);
}
