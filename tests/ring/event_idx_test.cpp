// SPDX-License-Identifier: Apache-2.0
// EVENT_IDX: need_event() against a brute-force model, and the notification decisions of both
// sides of a split ring across the u16 index wrap (S17, S20; digest §5.6 and §7.4).
#include "split_test_support.hpp"

#include <random>

using namespace vireo_ring_test;
using vireo::ring::need_event;

/// A cheap REQUIRE for the long loops below (doctest's own macros cost more than the ring).
#define EV_REQUIRE(cond)                 \
  do {                                   \
    if (!(cond)) FAIL("failed: " #cond); \
  } while (0)

namespace {

/// Add one chain (one zero-length writable buffer), without the mock's per-call allocations.
bool add_one(mock& m) {
  const buffer b{m.config().desc_table, 0};
  return m.driver().add({}, std::span{&b, 1}).has_value();
}

/// Pop one chain, which must be there.
chain pop_one(device& d) {
  auto c = d.pop();
  if (!c || c->empty()) FAIL("pop found nothing");
  return *c;
}

/// Independent model: is `event` one of the indices old, old+1, ..., new-1 (mod 2^16)? Walks the
/// window one index at a time instead of using the subtraction trick.
bool model_need_event(std::uint16_t event, std::uint16_t new_idx, std::uint16_t old_idx) {
  for (std::uint16_t i = old_idx; i != new_idx; ++i)
    if (i == event) return true;
  return false;
}

}  // namespace

TEST_CASE("need_event: the spec digest examples") {
  CHECK(need_event(0, 1, 0));            // first buffer
  CHECK(need_event(65535, 2, 65534));    // window wraps, 4 entries
  CHECK(!need_event(5, 9, 6));           // event already behind the window
  CHECK(!need_event(7, 7, 7));           // empty window
  CHECK(need_event(6, 9, 6));            // first index of the window
  CHECK(need_event(8, 9, 6));            // last index of the window
  CHECK(!need_event(9, 9, 6));           // new itself is outside
}

TEST_CASE("need_event: equals a brute-force window walk, including across the u16 wrap") {
  std::mt19937 rng{29};
  std::vector<std::uint16_t> olds{0, 1, 2, 100, 32767, 32768, 65530, 65533, 65534, 65535};
  for (int k = 0; k < 40; ++k) olds.push_back(static_cast<std::uint16_t>(rng()));
  std::size_t checked = 0;
  for (const std::uint16_t old : olds) {
    for (std::uint32_t width : {0u, 1u, 2u, 3u, 4u, 5u, 8u, 17u, 64u, 255u}) {
      const auto nw = static_cast<std::uint16_t>(old + width);
      for (int rel = -6; rel <= static_cast<int>(width) + 6; ++rel) {
        const auto ev = static_cast<std::uint16_t>(old + rel);
        if (need_event(ev, nw, old) != model_need_event(ev, nw, old))
          FAIL_CHECK("event " << ev << " new " << nw << " old " << old);
        ++checked;
      }
      for (int r = 0; r < 8; ++r) {  // and events far away
        const auto ev = static_cast<std::uint16_t>(rng());
        if (need_event(ev, nw, old) != model_need_event(ev, nw, old))
          FAIL_CHECK("event " << ev << " new " << nw << " old " << old);
        ++checked;
      }
    }
  }
  CHECK(checked > 5000);
}

TEST_CASE("S17 device: EVENT_IDX decisions over >65536 buffers on a size-4 ring match a need_event model") {
  mock m{opts(4, features(false, true, false))};
  device d{m.memory()};
  configure(d, m);
  std::mt19937 rng{17};
  bool first = true;
  std::uint16_t signalled = 0;  // the model's used.idx at the last decision
  std::uint16_t used = 0;
  std::uint64_t pushed = 0, decisions = 0, got_true = 0, want_true = 0, mismatches = 0;
  std::uint64_t wraps_seen = 0;
  while (pushed < 140000) {
    const int k = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < k; ++i) EV_REQUIRE(add_one(m));
    std::vector<chain> cs;
    cs.reserve(4);
    for (int i = 0; i < k; ++i) cs.push_back(pop_one(d));
    if (rng() % 2) {
      for (auto& c : cs) EV_REQUIRE(d.push_used(c, 0).has_value());
    } else {
      std::vector<used_entry> batch;
      for (auto& c : cs) batch.push_back({c.token(), 0});
      EV_REQUIRE(d.push_used(batch).has_value());
    }
    const std::uint16_t before = used;
    used = static_cast<std::uint16_t>(used + k);
    if (used < before) ++wraps_seen;
    pushed += static_cast<std::uint64_t>(k);
    for (int i = 0; i < k; ++i) EV_REQUIRE(m.driver().reclaim().has_value());
    if (rng() % 4 == 0) continue;  // sometimes decide only after several batches
    // used_event near the window [signalled, used), on both sides of it and inside it.
    const int width = static_cast<std::uint16_t>(used - signalled);
    const auto event = static_cast<std::uint16_t>(signalled + static_cast<int>(rng() % (width + 8)) - 4);
    m.set_used_event(event);
    m.set_avail_flags(static_cast<std::uint16_t>(rng() % 2));  // ignored under EVENT_IDX
    const bool got = d.needs_notification();
    const bool want = first || model_need_event(event, used, signalled);
    first = false;
    signalled = used;
    ++decisions;
    got_true += got;
    want_true += want;
    if (got != want) ++mismatches;
    CHECK(!d.needs_notification());  // nothing pushed since the decision
  }
  CHECK(mismatches == 0);
  CHECK(got_true == want_true);
  CHECK(wraps_seen >= 2);
  CHECK(want_true > decisions / 8);           // both outcomes are well represented
  CHECK(want_true < decisions - decisions / 8);
}

TEST_CASE("S20 driver: EVENT_IDX kick decisions over >65536 buffers on a size-4 ring match a need_event model") {
  mock m{opts(4, features(false, true, false))};
  auto& drv = m.driver();
  device d{m.memory()};
  configure(d, m);
  d.disable_notifications();  // the test owns avail_event
  std::mt19937 rng{20};
  std::uint16_t kicked = 0, avail = 0;
  std::uint64_t added = 0, decisions = 0, got_true = 0, want_true = 0, mismatches = 0;
  while (added < 140000) {
    const int k = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < k; ++i) EV_REQUIRE(add_one(m));
    avail = static_cast<std::uint16_t>(avail + k);
    added += static_cast<std::uint64_t>(k);
    if (rng() % 4 != 0) {
      const int width = static_cast<std::uint16_t>(avail - kicked);
      const auto event = static_cast<std::uint16_t>(kicked + static_cast<int>(rng() % (width + 8)) - 4);
      m.set_avail_event(event);
      m.set_used_flags(static_cast<std::uint16_t>(rng() % 2));  // ignored under EVENT_IDX
      const bool got = drv.needs_kick();
      const bool want = model_need_event(event, avail, kicked);
      kicked = avail;
      ++decisions;
      got_true += got;
      want_true += want;
      if (got != want) ++mismatches;
      CHECK(!drv.needs_kick());  // nothing added since the decision
    }
    for (int i = 0; i < k; ++i) EV_REQUIRE(d.push_used(pop_one(d), 0).has_value());
    for (int i = 0; i < k; ++i) EV_REQUIRE(drv.reclaim().has_value());
  }
  CHECK(mismatches == 0);
  CHECK(got_true == want_true);
  CHECK(want_true > decisions / 8);
  CHECK(want_true < decisions - decisions / 8);
}

TEST_CASE("S20 driver: 65536 adds without a decision force a kick (the u16 window degenerates)") {
  for (const std::uint32_t n : {65535u, 65536u, 65537u}) {
    CAPTURE(n);
    mock m{opts(4, features(false, true, false))};
    auto& drv = m.driver();
    device d{m.memory()};
    configure(d, m);
    d.disable_notifications();
    for (std::uint32_t i = 0; i < n; ++i) {
      EV_REQUIRE(add_one(m));
      EV_REQUIRE(d.push_used(pop_one(d), 0).has_value());
      EV_REQUIRE(drv.reclaim().has_value());
    }
    // avail_event = the current avail.idx: never inside [old, new) for a u16 window, so only
    // the 65536-add guard can (and must) ask for the kick; 65535 adds must not.
    m.set_avail_event(m.avail_idx());
    CHECK(drv.needs_kick() == (n >= 65536));
  }
}

TEST_CASE("S17 device: 65536 pushes without a decision force a notification (the u16 window degenerates)") {
  for (const std::uint32_t n : {65535u, 65536u, 65537u}) {
    CAPTURE(n);
    mock m{opts(4, features(false, true, false))};
    device d{m.memory()};
    configure(d, m);
    EV_REQUIRE(add_one(m));
    EV_REQUIRE(d.push_used(pop_one(d), 0).has_value());
    EV_REQUIRE(m.driver().reclaim().has_value());
    CHECK(d.needs_notification());  // the first decision; now the window is measured
    for (std::uint32_t i = 0; i < n; ++i) {
      EV_REQUIRE(add_one(m));
      EV_REQUIRE(d.push_used(pop_one(d), 0).has_value());
      EV_REQUIRE(m.driver().reclaim().has_value());
    }
    // used_event = the current used.idx: never inside [old, new) for a u16 window. With 65536
    // or more pushes since the last decision every index was published at least once (the
    // driver's used_event included), so the device must notify; with 65535 it must not.
    m.set_used_event(m.used_idx());
    CHECK(d.needs_notification() == (n >= 65536));
  }
}
